"""Validation rules of domain.md §4, against real-world codes and hand-checked arithmetic."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from fapiaohub.domain.validation import (
    Finding,
    check_amounts,
    classify_taxpayer_id,
    describe_fpdm,
    is_valid_sdphm,
    is_valid_uscc,
    uscc_check_char,
    validate_invoice,
    write_findings,
)
from tests.factories import sample_invoice


@pytest.mark.parametrize("code", ["91440113761945615X", "91440101891439198G"])
def test_real_codes_from_the_unify_seed_are_valid(code: str) -> None:
    assert is_valid_uscc(code)


def test_check_character_by_hand() -> None:
    # 91440113761945615: Σ code×weight = 9·1+1·3+4·9+4·27+0·19+1·26+1·16+3·17+7·20+6·29+1·25
    #   +9·13+4·8+5·24+6·10+1·30+5·28 = 1087; 1087 mod 31 = 2; (31 − 2) mod 31 = 29 → 'X'
    assert uscc_check_char("91440113761945615") == "X"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("91440113761945615X", "uscc"),
        ("91440113761945615Y", "invalid"),  # wrong check character
        ("9144011376194561IX", "invalid"),  # I is not in the alphabet
        ("914401137619456", "legacy"),  # 15 characters: an older tax id
        ("44011376194561512345", "legacy"),  # 20 characters
        ("12345", "invalid"),
        ("", "invalid"),
    ],
)
def test_classify_taxpayer_ids(code: str, kind: str) -> None:
    assert classify_taxpayer_id(code) == kind


def test_fpdm_structure() -> None:
    ten = describe_fpdm("4400201360")  # 8th digit 3: 普票
    assert ten is not None
    assert (ten.region, ten.year, ten.kind) == ("4400", "20", "3")
    twelve = describe_fpdm("044002100411")
    assert twelve is not None
    assert (twelve.region, twelve.year, twelve.batch, twelve.kind) == ("4400", "21", "004", "11")
    assert describe_fpdm("144002100411") is None
    assert describe_fpdm("44002") is None
    assert describe_fpdm("04400210041A") is None


def test_sdphm_structure() -> None:
    assert is_valid_sdphm("25442000000012345678")
    assert not is_valid_sdphm("25992000000012345678")  # 99 is no province
    assert not is_valid_sdphm("2544200000001234567")


def test_amounts() -> None:
    inv = sample_invoice("01")
    assert check_amounts(inv) == []
    inv.jshj = Decimal("896.01")
    assert [f.field for f in check_amounts(inv)] == ["jshj"]
    inv = sample_invoice("01")
    inv.lines[0].se += Decimal("0.12")  # within 0.06 × 2 lines
    assert check_amounts(inv) == []
    inv.lines[0].se += Decimal("0.01")
    assert [f.field for f in check_amounts(inv)] == ["hwxx.se"]
    inv = sample_invoice("01")
    inv.lines[0].je += Decimal("0.01")
    assert [f.field for f in check_amounts(inv)] == ["hwxx.je"]


def test_red_invoice_amounts() -> None:
    red = sample_invoice("82")
    red.je, red.se, red.jshj = Decimal("-792.92"), Decimal("-103.08"), Decimal("-896.00")
    for line in red.lines:
        line.je, line.se = -line.je, -line.se
    assert check_amounts(red) == []
    red.je, red.se = Decimal("-999.00"), Decimal("103.00")
    assert "je" in [f.field for f in check_amounts(red)]


@pytest.mark.parametrize("fplx", ["01", "04", "08", "10", "11", "14", "03", "15", "17", "81", "82", "84",
                                  "85", "83", "87", "70", "88", "51", "61", "8208"])
def test_samples_of_every_kind_pass(fplx: str) -> None:
    assert [f for f in validate_invoice(sample_invoice(fplx)) if f.severity == "reject"] == []


def test_identity_and_party_findings() -> None:
    bad_number = sample_invoice("81")
    bad_number.fphm = "2544200000001234567"
    assert [f.field for f in validate_invoice(bad_number)] == ["fphm"]
    bad_buyer = sample_invoice("01")
    bad_buyer.gfsbh = "91310115MA1K4LTA0X"
    assert [(f.field, f.severity) for f in validate_invoice(bad_buyer)] == [("gfsbh", "reject")]
    legacy = sample_invoice("01")
    legacy.gfsbh = "310115123456789"
    assert [(f.field, f.severity) for f in validate_invoice(legacy)] == [("gfsbh", "flag")]
    person = sample_invoice("82")
    person.gfsbh = ""
    assert [(f.field, f.severity) for f in validate_invoice(person)] == [("gfsbh", "flag")]
    special = sample_invoice("01")
    special.gfsbh = ""
    assert [(f.field, f.severity) for f in validate_invoice(special)] == [("gfsbh", "reject")]


@pytest.mark.parametrize("region", ["92", "93", "95", "91", "94"])
def test_numbers_of_the_planned_cities_are_valid(region: str) -> None:
    # 青岛 92, 宁波 93 and 深圳 95 are seen in real invoices: they issue under codes of their own
    assert is_valid_sdphm(f"26{region}2000000123456789"[:20])


def test_a_number_with_no_region_is_not() -> None:
    assert not is_valid_sdphm("26992000000123456789")
    assert not is_valid_sdphm("26002000000123456789")


def _fields_of(findings: list[Finding]) -> list[str]:
    return [finding.field for finding in findings]


def test_write_findings_name_what_a_write_door_refuses() -> None:
    """The fast path (texts and amounts tested whole) finds exactly what the field-by-field rules do."""
    clean = sample_invoice("01")
    assert write_findings(clean) == []
    whole_and_tenths = dataclasses.replace(clean, je=Decimal("100"), se=Decimal("13.5"), jshj=Decimal("113.5"))
    assert write_findings(whole_and_tenths) == []  # fewer than two decimals are cents too
    line = clean.lines[0]
    cases = [
        (dataclasses.replace(clean, gfmc="甲\x00乙"), ["gfmc"]),
        (dataclasses.replace(clean, xfmc="公" * 101), ["xfmc"]),
        (dataclasses.replace(clean, je=Decimal("10.001")), ["je"]),
        (dataclasses.replace(clean, jshj=Decimal("1e20")), ["jshj"]),
        (dataclasses.replace(clean, lines=[dataclasses.replace(line, mc="a\x00")]), ["lines[0].mc"]),
        (dataclasses.replace(clean, lines=[line, dataclasses.replace(line, jldw="件" * 51)]), ["lines[1].jldw"]),
        (dataclasses.replace(clean, lines=[dataclasses.replace(line, se=Decimal("1.234"))]), ["lines[0].se"]),
        (dataclasses.replace(clean, lines=[dataclasses.replace(line, je=Decimal("NaN"))]), ["lines[0].je"]),
        (dataclasses.replace(clean, lines=[dataclasses.replace(line, slv=Decimal("1.3"))]), ["lines[0].slv"]),
    ]
    for invoice, fields in cases:
        found = write_findings(invoice)
        assert _fields_of(found) == fields, (fields, found)
        assert all(finding.severity == "reject" for finding in found)
