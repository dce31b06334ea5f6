"""The demo generator: deterministic, every kind, valid, consistent, unique, streamed."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from itertools import islice

from fapiaohub.demo.generator import (
    DEMO_MONTHS,
    demo_taxpayers,
    generate_taxpayer_month,
    iter_demo_invoices,
)
from fapiaohub.domain.codes import FPLX
from fapiaohub.domain.validation import is_valid_uscc, validate_invoice


def test_same_seed_same_invoices_other_seed_other_invoices() -> None:
    first = [item.invoice.to_doc() for item in iter_demo_invoices(300)]
    assert first == [item.invoice.to_doc() for item in iter_demo_invoices(300)]
    assert first != [item.invoice.to_doc() for item in iter_demo_invoices(300, seed=7)]


def test_every_kind_both_directions_and_every_month() -> None:
    items = list(iter_demo_invoices(400))
    assert {item.invoice.fplx for item in items} == set(FPLX)
    assert {item.invoice.kpyf for item in items} == set(DEMO_MONTHS)
    assert {item.direction for item in items if item.invoice.fplx == "17"} == {"jx"}
    assert {(item.nsrsbh, item.direction) for item in items} == {
        (tp.nsrsbh, d) for tp in demo_taxpayers() for d in ("jx", "xx")}


def test_invoices_validate_and_belong_to_their_side() -> None:
    for item in iter_demo_invoices(3000):
        inv = item.invoice
        assert [f for f in validate_invoice(inv) if f.severity == "reject"] == [], inv.key
        assert (inv.gfsbh if item.direction == "jx" else inv.xfsbh) == item.nsrsbh
        assert inv.je + inv.se == inv.jshj
        assert sum((line.je for line in inv.lines), Decimal(0)) == inv.je


def test_identities_are_unique() -> None:
    keys = Counter((item.nsrsbh, item.direction, item.invoice.key) for item in iter_demo_invoices(5000))
    assert max(keys.values()) == 1


def test_voided_and_red_flushed_invoices_with_their_red_invoices() -> None:
    items = [item.invoice for item in iter_demo_invoices(5000)]
    statuses = Counter(inv.fpzt_dm for inv in items)
    assert statuses["2"] > 0
    assert statuses["8"] > 0
    assert statuses["7"] > 0
    by_key = {inv.key: inv for inv in items}
    reds = [inv for inv in items if inv.jshj < 0]
    assert reds
    for red in reds:
        blue = by_key[red.bz.split("：")[1]]
        assert blue.fpzt_dm in ("7", "8")
        assert blue.fplx == red.fplx
        assert (red.jshj == -blue.jshj) == (blue.fpzt_dm == "8")


def test_taxpayers_have_valid_codes() -> None:
    assert all(is_valid_uscc(tp.nsrsbh) for tp in demo_taxpayers())


def test_stream_is_lazy() -> None:
    # a million-invoice stream starts at once: nothing is built ahead
    assert len(list(islice(iter_demo_invoices(1_000_000), 5))) == 5


def test_sandbox_month_is_stable_and_belongs_to_the_taxpayer() -> None:
    nsrsbh = demo_taxpayers()[0].nsrsbh
    first = [inv.to_doc() for inv in generate_taxpayer_month(nsrsbh, "x", "xx", 202503, 30)]
    assert first == [inv.to_doc() for inv in generate_taxpayer_month(nsrsbh, "x", "xx", 202503, 30)]
    assert len(first) == 30
    assert {doc["xfsbh"] for doc in first} == {nsrsbh}
    other_month = {inv.key for inv in generate_taxpayer_month(nsrsbh, "x", "xx", 202504, 30)}
    assert not other_month & {inv.key for inv in generate_taxpayer_month(nsrsbh, "x", "xx", 202503, 30)}
