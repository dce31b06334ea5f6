"""数电 XML: round trip through the project's writer, missing elements, hostile XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from fapiaohub.demo.generator import iter_demo_invoices
from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import Parsed, Rejected, UnreadableFile
from tests.writers.einvoice_xml import write_einvoice_xml


def digital_invoices() -> list:
    return [i.invoice for i in iter_demo_invoices(400) if i.invoice.fplx in ("81", "82", "51", "61")][:20]


def test_round_trip(tmp_path: Path) -> None:
    invoices = digital_invoices()
    assert {inv.fplx for inv in invoices} >= {"81", "82"}
    for number, inv in enumerate(invoices):
        path = tmp_path / f"{number}.xml"
        write_einvoice_xml(path, inv)
        (record,) = list(read_invoices(path))
        assert isinstance(record, Parsed), record
        got = record.invoice
        assert (got.key, got.fplx, got.kprq, got.je, got.se, got.jshj) == (inv.key, inv.fplx, inv.kprq, inv.je, inv.se, inv.jshj)
        assert (got.xfsbh, got.xfmc, got.gfsbh, got.gfmc, got.xsfdzdh, got.gmfyhzh) == (
            inv.xfsbh, inv.xfmc, inv.gfsbh, inv.gfmc, inv.xsfdzdh, inv.gmfyhzh)
        assert [(l.mc, l.je, l.se, l.slv, l.spbm, l.sl, l.dj) for l in got.lines] == [
            (l.mc, l.je, l.se, l.slv, l.spbm, l.sl, l.dj) for l in inv.lines]


def test_missing_total_is_rejected_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.xml"
    write_einvoice_xml(path, digital_invoices()[0])
    path.write_text(path.read_text(encoding="utf-8").replace("TotalTax-includedAmount", "Other"), encoding="utf-8")
    (record,) = list(read_invoices(path))
    assert isinstance(record, Rejected) and "TotalTax-includedAmount" in record.reason


def test_invalid_buyer_id_is_rejected(tmp_path: Path) -> None:
    inv = digital_invoices()[0]
    inv.gfsbh = inv.gfsbh[:-1] + ("A" if inv.gfsbh[-1] != "A" else "B")
    path = tmp_path / "buyer.xml"
    write_einvoice_xml(path, inv)
    (record,) = list(read_invoices(path))
    assert isinstance(record, Rejected) and "gfsbh" in record.reason


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
