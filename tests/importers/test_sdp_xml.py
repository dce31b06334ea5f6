"""数电 XML: the real layout (as tests/writers/einvoice_xml writes it) and its variants, toll
invoices, missing elements, hostile XML."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from fapiaohub.demo.generator import iter_demo_invoices
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import Parsed, Rejected, UnreadableFile
from tests.writers.einvoice_xml import einvoice_xml, write_einvoice_xml


def digital_invoices() -> list[Invoice]:
    """数电 专票/普票 without 特定业务 (the writer writes only Toll under SpecificInformation)."""
    return [i.invoice for i in iter_demo_invoices(400) if i.invoice.fplx in ("81", "82") and not i.invoice.tdywlx][:20]


def toll_invoice() -> Invoice:
    return Invoice(
        fplx="8208", fphm="26447910000000012345", kprq=datetime(2026, 1, 15), je=Decimal("23.5"),
        se=Decimal("0.21"), jshj=Decimal("23.71"), xfsbh="91440300MA5DEM0019", xfmc="某某高速公路有限公司",
        gfsbh="91310115MA1DEM002X", gfmc="某某科技有限公司", kpr="张三", tdywlx="08",
        special=[{"cph": "粤B12345", "cllx": "客车", "txrqq": "2026-01-13 18:53:32", "txrqz": "2026-01-13 19:10:05"}],
        lines=[InvoiceLine(mc="*经营租赁*通行费", je=Decimal("23.5"), se=Decimal("0.21"), slv=Decimal("0.09"),
                           spbm="3040502020301000000", dj="23.5")],
    )


def read_one(path: Path) -> Parsed | Rejected:
    (record,) = list(read_invoices(path))
    assert not isinstance(record, Parsed) or record.source.file == path.name
    return record  # type: ignore[return-value]


def test_the_writer_writes_the_real_layout() -> None:
    data = einvoice_xml(toll_invoice())
    assert data.startswith(b"<EInvoice><Header>")
    assert b"\n" not in data
    assert b"xmlns" not in data
    assert b"<IssueTime>2026-01-15</IssueTime>" in data
    assert b"<RequestTime>2026-01-15 03:00:17</RequestTime>" in data
    assert b"<EInvoiceType><LabelCode>01</LabelCode><LabelName>\xe7\x94\xb5\xe5\xad\x90\xe5\x8f\x91\xe7\xa5\xa8" in data
    assert b"<StartDatesOfPassage>20260113185332000</StartDatesOfPassage>" in data
    assert b"<RedEInvoice/>" in data
    assert b"<TotalAmWithoutTax>23.5</TotalAmWithoutTax>" in data


def test_round_trip_of_vat_invoices(tmp_path: Path) -> None:
    invoices = digital_invoices()
    assert {inv.fplx for inv in invoices} == {"81", "82"}
    for number, inv in enumerate(invoices):
        path = tmp_path / f"{number}.xml"
        write_einvoice_xml(path, inv)
        record = read_one(path)
        assert isinstance(record, Parsed), record
        got = record.invoice
        assert got.kprq == datetime.combine(inv.kprq.date(), datetime.min.time())  # the date only: midnight
        assert (got.key, got.fplx, got.je, got.se, got.jshj, got.tdywlx, got.special) == (
            inv.key, inv.fplx, inv.je, inv.se, inv.jshj, "", [])
        assert (got.xfsbh, got.xfmc, got.gfsbh, got.gfmc, got.xsfdzdh, got.gmfyhzh, got.kpr, got.bz) == (
            inv.xfsbh, inv.xfmc, inv.gfsbh, inv.gfmc, inv.xsfdzdh, inv.gmfyhzh, inv.kpr, inv.bz)
        assert [(x.mc, x.je, x.se, x.slv, x.spbm, x.sl, x.dj, x.jldw) for x in got.lines] == [
            (x.mc, x.je, x.se, x.slv, x.spbm, x.sl, x.dj, x.jldw) for x in inv.lines]


def test_toll_is_known_by_the_toll_element_not_the_labels(tmp_path: Path) -> None:
    path = tmp_path / "toll.xml"
    write_einvoice_xml(path, toll_invoice())
    record = read_one(path)
    assert isinstance(record, Parsed), record
    got = record.invoice
    assert (got.fplx, got.tdywlx, got.fpdm, got.fphm) == ("8208", "08", "", "26447910000000012345")
    assert got.special == toll_invoice().special  # passage times normalised to yyyy-MM-dd HH:mm:ss
    assert (got.je, got.se, got.jshj) == (Decimal("23.50"), Decimal("0.21"), Decimal("23.71"))
    assert got.kprq == datetime(2026, 1, 15)  # IssueTime's day at midnight, never RequestTime
    assert got.lines[0].slv == Decimal("0.09")
    assert got.lines[0].spbm == "3040502020301000000"


def test_without_the_toll_element_the_same_labels_make_a_plain_invoice(tmp_path: Path) -> None:
    path = tmp_path / "plain.xml"
    path.write_bytes(einvoice_xml(toll_invoice(), omit=("Toll",)))
    record = read_one(path)
    assert isinstance(record, Parsed)
    assert (record.invoice.fplx, record.invoice.tdywlx) == ("82", "")


def test_special_invoice_label(tmp_path: Path) -> None:
    path = tmp_path / "special.xml"
    inv = next(i for i in digital_invoices() if i.fplx == "81")
    path.write_bytes(einvoice_xml(inv))
    record = read_one(path)
    assert isinstance(record, Parsed)
    assert record.invoice.fplx == "81"


@pytest.mark.parametrize("variant", [{"pretty": True}, {"declaration": True}, {"namespace": True},
                                     {"pretty": True, "declaration": True, "namespace": True}])
def test_producer_variants_read_the_same(tmp_path: Path, variant: dict[str, bool]) -> None:
    path = tmp_path / "variant.xml"
    path.write_bytes(einvoice_xml(toll_invoice(), **variant))
    record = read_one(path)
    assert isinstance(record, Parsed), record
    assert (record.invoice.fplx, record.invoice.special, record.invoice.jshj) == (
        "8208", toll_invoice().special, Decimal("23.71"))


def test_an_issue_time_with_its_time_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "time.xml"
    path.write_bytes(einvoice_xml(replace(toll_invoice(), kprq=datetime(2026, 1, 15, 9, 30, 5)), with_time=True))
    record = read_one(path)
    assert isinstance(record, Parsed)
    assert record.invoice.kprq == datetime(2026, 1, 15, 9, 30, 5)


def test_missing_optional_elements_are_empty(tmp_path: Path) -> None:
    path = tmp_path / "sparse.xml"
    sparse = replace(toll_invoice(), gfsbh="", gfmc="某人")
    path.write_bytes(einvoice_xml(sparse, omit=("Drawer", "BuyerIdNum", "SellerName", "AdditionalInformation",
                                                "SpecificInformation", "TaxClassificationCode", "UnPrice", "EIid")))
    record = read_one(path)
    assert isinstance(record, Parsed), record
    got = record.invoice
    assert (got.kpr, got.gfsbh, got.xfmc, got.bz, got.fplx, got.tdywlx) == ("", "", "", "", "82", "")
    assert (got.fphm, got.lines[0].spbm, got.lines[0].dj) == ("26447910000000012345", "", "")


@pytest.mark.parametrize("element", ["IssueTime", "TotalTax-includedAmount", "TotalAmWithoutTax", "TotalTaxAm",
                                     "SellerIdNum", "EInvoiceData", "Amount"])
def test_a_missing_required_element_is_rejected_naming_it(tmp_path: Path, element: str) -> None:
    path = tmp_path / "missing.xml"
    path.write_bytes(einvoice_xml(toll_invoice(), omit=(element,)))
    record = read_one(path)
    assert isinstance(record, Rejected), record
    assert element in record.reason


def test_a_missing_invoice_number_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "number.xml"
    path.write_bytes(einvoice_xml(toll_invoice(), omit=("InvoiceNumber", "EIid")))
    record = read_one(path)
    assert isinstance(record, Rejected)
    assert "InvoiceNumber" in record.reason


def test_an_unreadable_amount_is_rejected_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "amount.xml"
    path.write_bytes(einvoice_xml(toll_invoice()).replace(b"<TotalTaxAm>0.21<", b"<TotalTaxAm>abc<"))
    record = read_one(path)
    assert isinstance(record, Rejected)
    assert "TotalTaxAm" in record.reason
    assert "abc" in record.reason


def test_an_unknown_vat_label_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "label.xml"
    inv = digital_invoices()[0]
    path.write_bytes(einvoice_xml(inv).replace(b"<GeneralOrSpecialVAT><LabelCode>0", b"<GeneralOrSpecialVAT><LabelCode>9"))
    record = read_one(path)
    assert isinstance(record, Rejected)
    assert "GeneralOrSpecialVAT" in record.reason


def test_empty_red_element_means_nothing_and_other_specific_elements_are_flagged(tmp_path: Path) -> None:
    plain = tmp_path / "plain.xml"
    plain.write_bytes(einvoice_xml(toll_invoice()))
    record = read_one(plain)
    assert isinstance(record, Parsed)
    assert record.flags == []
    other = tmp_path / "other.xml"
    other.write_bytes(einvoice_xml(toll_invoice(), red_info=True).replace(
        b"<RedEInvoice>", b"<Construction><Place>X</Place></Construction><RedEInvoice>"))
    record = read_one(other)
    assert isinstance(record, Parsed)
    assert record.invoice.fplx == "8208"
    assert any("Construction" in flag for flag in record.flags)
    assert any("RedEInvoice" in f for f in record.flags)


def test_invalid_buyer_id_is_rejected(tmp_path: Path) -> None:
    inv = digital_invoices()[0]
    inv.gfsbh = inv.gfsbh[:-1] + ("A" if inv.gfsbh[-1] != "A" else "B")
    path = tmp_path / "buyer.xml"
    write_einvoice_xml(path, inv)
    record = read_one(path)
    assert isinstance(record, Rejected)
    assert "gfsbh" in record.reason


@pytest.mark.parametrize(
    "content",
    [b"<EInvoice><Header>", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><EInvoice>&e;</EInvoice>',
     b"<Invoice/>"],
)
def test_hostile_or_foreign_xml_is_unreadable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as caught:
        list(read_invoices(path))
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd leaks into the message
