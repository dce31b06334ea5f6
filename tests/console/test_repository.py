"""The ledger's reads: a counterparty prefix read as merged index ranges answers exactly what the
plain filter does, page by page on both databases, and the totals line follows every write and adds
up the invoices, from the months' own sums or over the invoices."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from fapiaohub.console import repository
from fapiaohub.console.repository import LedgerFilter
from fapiaohub.domain.invoice import Invoice
from fapiaohub.store.invoices import store_invoices
from tests.conftest import Seeded
from tests.console.conftest import Browser


def _pages(engine: Engine, corp_id: str, f: LedgerFilter, sort: str) -> list[list[int]]:
    """Every page of the ledger (size 7), following the keyset cursor as the console does."""
    pages: list[list[int]] = []
    after: tuple[Any, int] | None = None
    with engine.connect() as conn:
        while True:
            rows = repository.ledger_page(conn, corp_id, f, sort, after, 7)
            if not rows:
                return pages
            pages.append([row.id for row in rows])
            last = rows[-1]
            after = (last.kprq if sort.startswith("kprq") else last.jshj, last.id)


def _matches(inv: Invoice, direction: str, prefix: str) -> bool:
    sbh, name = (inv.xfsbh, inv.xfmc) if direction == "jx" else (inv.gfsbh, inv.gfmc)
    return name.startswith(prefix) or sbh.startswith(prefix.upper())


def _tagged(seller: Invoice, number: int, **fields: Any) -> Invoice:
    """A copy of a 数电 invoice under a new number, with some fields changed."""
    return dataclasses.replace(seller, fphm=f"{seller.fphm[:-6]}{number:06d}", **fields)


@pytest.fixture
def counterparties(writable_seeded: Seeded, engine: Engine) -> Seeded:
    """The seeded corporation plus invoices whose counterparty name starts like a 税号 (found by
    name and by 税号 at once) and whose names differ only in case."""
    nsrsbh, tp = next(iter(writable_seeded.taxpayers.items()))
    digital = [inv for inv in writable_seeded.invoices[(nsrsbh, "jx")] if not inv.fpdm and len(inv.fphm) == 20]
    extra = [
        _tagged(digital[0], 1, xfmc=f"{digital[0].xfsbh[:6]}号商行"),
        _tagged(digital[1], 2, xfmc=f"{digital[0].xfsbh[:6]}号商行", kprq=digital[0].kprq),
        _tagged(digital[2], 3, xfmc="abc贸易有限公司"),
        _tagged(digital[3], 4, xfmc="ABC贸易有限公司"),
    ]
    with engine.begin() as conn:
        store_invoices(conn, tp, "jx", extra)
    writable_seeded.invoices[(nsrsbh, "jx")] += extra
    return writable_seeded


@pytest.mark.parametrize("sort", ["kprq_desc", "kprq_asc"])
def test_counterparty_ranges_answer_what_the_filter_does(counterparties: Seeded, engine: Engine,
                                                         monkeypatch: pytest.MonkeyPatch, sort: str) -> None:
    seeded = counterparties
    corp_id = seeded.tenant.corp_id
    nsrsbh, tp = next(iter(seeded.taxpayers.items()))
    received = seeded.invoices[(nsrsbh, "jx")]
    both = next(inv for inv in received if inv.xfmc.endswith("号商行"))  # name and 税号 start alike
    prefixes = [received[0].xfmc[:2], received[0].xfmc, both.xfsbh[:6], both.xfsbh[:6].lower(), "abc",
                "no such counterparty"]
    filters = [LedgerFilter(party=prefix, **scope) for prefix in prefixes
               for scope in ({}, {"taxpayer_id": tp.id}, {"taxpayer_id": tp.id, "direction": "jx"},
                             {"taxpayer_id": tp.id, "first": datetime(2025, 3, 1), "before": datetime(2025, 9, 1)})]
    for f in filters:
        merged = _pages(engine, corp_id, f, sort)
        with monkeypatch.context() as patch:
            patch.setattr(repository, "PARTY_BRANCHES", 0)  # every prefix is "common": the plain filter
            plain = _pages(engine, corp_id, f, sort)
        assert merged == plain, f
        expected = [
            inv for (owner, direction), invoices in seeded.invoices.items() for inv in invoices
            if (f.taxpayer_id is None or owner == nsrsbh) and (f.direction in (None, direction))
            and (f.first is None or inv.kprq >= f.first) and (f.before is None or inv.kprq < f.before)
            and _matches(inv, direction, f.party or "")]
        assert sum(len(page) for page in merged) == len(expected), f


def test_the_prefix_is_case_sensitive_on_both_databases(counterparties: Seeded, engine: Engine) -> None:
    with engine.connect() as conn:
        rows = repository.ledger_page(conn, counterparties.tenant.corp_id, LedgerFilter(party="abc"),
                                      "kprq_desc", None, 50)
    assert [row.xfmc for row in rows] == ["abc贸易有限公司"]


def test_the_totals_line_follows_a_write(browser_for: Callable[[str, str], Browser], writable_seeded: Seeded,
                                         engine: Engine) -> None:
    browser = browser_for(writable_seeded.tenant.corp_id, "viewer")
    nsrsbh, tp = next(iter(writable_seeded.taxpayers.items()))
    received = writable_seeded.invoices[(nsrsbh, "jx")]
    query = f"/console/ledger?taxpayer={tp.id}&party={received[0].xfmc}"

    def count() -> int:
        total = re.search(r'data-total="count">(\d+)<', browser.http.get(query).text)
        assert total
        return int(total.group(1))

    before = count()
    assert count() == before  # read again (the second time from the process's totals)
    digital = next(inv for inv in received if not inv.fpdm and len(inv.fphm) == 20)
    with engine.begin() as conn:
        store_invoices(conn, tp, "jx", [_tagged(digital, 9, xfmc=received[0].xfmc, xfsbh=received[0].xfsbh)])
    assert count() == before + 1


def test_a_new_counterparty_is_found_after_a_write(browser_for: Callable[[str, str], Browser],
                                                   writable_seeded: Seeded, engine: Engine) -> None:
    """The counterparties a prefix matches are kept under the months' version: a page viewed
    before a write must not hide a counterparty the write brought."""
    browser = browser_for(writable_seeded.tenant.corp_id, "viewer")
    nsrsbh, tp = next(iter(writable_seeded.taxpayers.items()))
    received = writable_seeded.invoices[(nsrsbh, "jx")]
    query = f"/console/ledger?taxpayer={tp.id}&party=缓存测试"
    before = browser.http.get(query)
    assert before.status_code == 200
    assert "缓存测试商行" not in before.text
    assert browser.http.get(query).text.count("缓存测试商行") == 0  # the empty answer, now kept
    digital = next(inv for inv in received if not inv.fpdm and len(inv.fphm) == 20)
    with engine.begin() as conn:
        store_invoices(conn, tp, "jx", [_tagged(digital, 10, xfmc="缓存测试商行")])
    assert "缓存测试商行" in browser.http.get(query).text


def _expected(seeded: Seeded, keep: Callable[[str, str, Invoice], bool]) -> tuple[int, Decimal, Decimal, Decimal]:
    """count, je, se, jshj of the tests' own copy of the invoices that ``keep`` selects."""
    chosen = [inv for (nsrsbh, direction), invoices in seeded.invoices.items() for inv in invoices
              if keep(nsrsbh, direction, inv)]
    return (len(chosen), sum((inv.je for inv in chosen), Decimal(0)), sum((inv.se for inv in chosen), Decimal(0)),
            sum((inv.jshj for inv in chosen), Decimal(0)))


def test_the_totals_and_the_overview_add_up_the_invoices(writable_seeded: Seeded, engine: Engine) -> None:
    """Whole months are summed from the months' own sums, other filters over the invoices: both
    give what the invoices add up to, and the months' sums follow a write."""
    corp_id = writable_seeded.tenant.corp_id
    nsrsbh, tp = next(iter(writable_seeded.taxpayers.items()))
    received = writable_seeded.invoices[(nsrsbh, "jx")]
    month = sorted({inv.kpyf for inv in received})[len({inv.kpyf for inv in received}) // 2]  # months on both sides
    some = next(inv for inv in received if inv.kpyf == month)
    kind = some.fplx
    start = datetime(month // 100, month % 100, 1)
    cases: list[tuple[LedgerFilter, Callable[[str, str, Invoice], bool]]] = [
        (LedgerFilter(), lambda n, d, inv: True),
        (LedgerFilter(taxpayer_id=tp.id, direction="jx"), lambda n, d, inv: n == nsrsbh and d == "jx"),
        (LedgerFilter(fplx=kind, first=start), lambda n, d, inv: inv.fplx == kind and inv.kpyf >= month),
        (LedgerFilter(before=start), lambda n, d, inv: inv.kpyf < month),
        (LedgerFilter(first=start + timedelta(days=3)), lambda n, d, inv: inv.kprq >= start + timedelta(days=3)),
        (LedgerFilter(taxpayer_id=tp.id, direction="jx", party=some.xfmc),
         lambda n, d, inv: n == nsrsbh and d == "jx" and inv.xfmc.startswith(some.xfmc)),
    ]

    def check() -> None:
        with engine.connect() as conn:
            for f, keep in cases:
                assert tuple(repository.ledger_totals(conn, corp_id, f)) == _expected(writable_seeded, keep), f
            overview = {(row.direction, row.kpyf): (row.count, row.je, row.se, row.jshj)
                        for row in repository.monthly_totals(conn, corp_id, tp.id, 190001, 299912)}
            by_kind = {(row.direction, row.key): (row.count, row.je, row.se, row.jshj)
                       for row in repository.month_split(conn, corp_id, tp.id, month, "fplx")}
            assert repository.latest_month(conn, corp_id, tp.id) == max(kpyf for _, kpyf in overview)
        assert overview == {(d, kpyf): _expected(writable_seeded, lambda n, dd, inv, d=d, kpyf=kpyf:
                                                 n == nsrsbh and dd == d and inv.kpyf == kpyf)
                            for d in ("jx", "xx") for kpyf in {inv.kpyf for inv in writable_seeded.invoices[(nsrsbh, d)]}}
        assert by_kind == {(d, fplx): _expected(writable_seeded, lambda n, dd, inv, d=d, fplx=fplx:
                                                n == nsrsbh and dd == d and inv.kpyf == month and inv.fplx == fplx)
                           for d in ("jx", "xx") for fplx in {inv.fplx for inv in writable_seeded.invoices[(nsrsbh, d)]
                                                              if inv.kpyf == month}}

    check()
    digital = next(inv for inv in writable_seeded.invoices[(nsrsbh, "jx")] if not inv.fpdm and len(inv.fphm) == 20)
    added = _tagged(digital, 11, je=Decimal("1000.01"), se=Decimal("130.00"), jshj=Decimal("1130.01"))
    with engine.begin() as conn:
        store_invoices(conn, tp, "jx", [added])
    writable_seeded.invoices[(nsrsbh, "jx")].append(added)
    check()
