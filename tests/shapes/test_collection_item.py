"""The renderer against the seed: key sets and JSON types per family, exact money, derived fields."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest

from fapiaohub.domain.codes import FPLX, ROLL_TICKET, Family, family_of
from fapiaohub.shapes.collection_item import collection_item, render_collection_item
from tests.factories import sample_invoice
from tests.seedspec import (
    assert_same_shape,
    collection_examples,
    collection_failure_example,
    collection_success_examples,
    shape,
)


def expected_shape(fplx: str) -> dict:
    expected = copy.deepcopy(shape(collection_examples()[family_of(fplx)]))
    if family_of(fplx) is Family.VAT and fplx != ROLL_TICKET:
        for key in ("hsdj", "hsje"):  # 卷票-only line fields, so the seed marks them
            del expected["hwxx"][0][key]
    return expected


def test_the_seed_has_seven_success_examples_and_one_failure() -> None:
    envelope = {"corpId", "reqId", "code", "success", "message", "data"}
    assert len(collection_success_examples()) == 7
    assert all(set(e["value"]) == envelope for e in collection_success_examples())
    assert set(collection_failure_example()["value"]) == envelope
    assert collection_failure_example()["value"]["data"] is None


@pytest.mark.parametrize("fplx", sorted(FPLX))
def test_every_kind_renders_the_seed_shape_of_its_family(fplx: str) -> None:
    rendered = json.loads(render_collection_item(sample_invoice(fplx)))
    assert_same_shape(rendered, expected_shape(fplx))


def test_a_drifted_key_or_type_is_caught() -> None:
    rendered = json.loads(render_collection_item(sample_invoice("01")))
    for mutate in (lambda d: d.pop("kpyf"), lambda d: d.update(extra=""), lambda d: d.update(je="792.92"),
                   lambda d: d["hwxx"][0].update(sl=1)):
        drifted = copy.deepcopy(rendered)
        mutate(drifted)
        with pytest.raises(AssertionError):
            assert_same_shape(drifted, expected_shape("01"))


def test_money_keeps_its_exact_digits() -> None:
    raw = render_collection_item(sample_invoice("01"))
    assert b'"jshj":896.00' in raw
    assert b'"je":792.92' in raw
    assert b'"se":103.08' in raw
    assert b'"dj":"92.920353982300885"' in raw
    red = sample_invoice("82")
    red.je, red.se, red.jshj = Decimal("-792.92"), Decimal("-103.08"), Decimal("-896.00")
    assert b'"jshj":-896.00' in render_collection_item(red)


def test_derived_fields() -> None:
    inv = sample_invoice("82")
    item = collection_item(inv)
    assert item["kpyf"] == 202503
    assert isinstance(item["kpyf"], int)
    assert item["kprq"] == "2025-03-14 09:26:53"
    assert item["mxts"] == 2
    assert item["slv"] == Decimal("0.13")
    vat = collection_item(sample_invoice("01"))
    assert [line["mxxh"] for line in vat["hwxx"]] == [1, 2]
    customs = collection_item(sample_invoice("17"))
    assert customs["tfrq"] == "2025-03-14"
    assert customs["tfyf"] == 202503
    assert customs["jkshm"] == sample_invoice("17").fphm
    assert customs["skje"] == Decimal("103.08")
    motor = collection_item(sample_invoice("03"))
    assert motor["xhdwsbh"] == sample_invoice("03").xfsbh
    assert motor["zzsse"] == Decimal("103.08")
    assert motor["cjhm"] == "LGXCE4CB8P0123456"


def test_mixed_rates_take_the_largest_lines_rate() -> None:
    inv = sample_invoice("81")
    inv.lines[1].slv = Decimal("0.06")
    assert collection_item(inv)["slv"] == Decimal("0.13")


def test_unknown_special_keys_are_dropped_and_missing_ones_empty() -> None:
    inv = sample_invoice("81")
    inv.special = [{"cfd": "深圳", "not_in_the_seed": "x"}]
    element = collection_item(inv)["tdysList"][0]
    assert element["cfd"] == "深圳"
    assert element["qyd"] == ""
    assert "not_in_the_seed" not in element
