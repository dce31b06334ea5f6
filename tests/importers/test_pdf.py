"""PDF e-invoices from their text layer: round trips, no text layer, not a PDF."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from fapiaohub.demo.generator import iter_demo_invoices
from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import Parsed, Rejected, UnreadableFile
from fapiaohub.importers.ofd import NO_LINES
from tests.writers.pdf import write_pdf


@pytest.mark.parametrize("fplx", ["81", "82", "08", "10"])
def test_round_trip(tmp_path: Path, fplx: str) -> None:
    inv = next(i.invoice for i in iter_demo_invoices(400) if i.invoice.fplx == fplx)
    path = tmp_path / "invoice.pdf"
    write_pdf(path, inv)
    (record,) = list(read_invoices(path))
    assert isinstance(record, Parsed), record
    got = record.invoice
    assert (got.fplx, got.fpdm, got.fphm, got.kprq.date(), got.je, got.se, got.jshj) == (
        inv.fplx, inv.fpdm, inv.fphm, inv.kprq.date(), inv.je, inv.se, inv.jshj)
    assert (got.gfmc, got.gfsbh, got.xfmc, got.xfsbh, got.jym, got.kpr) == (
        inv.gfmc, inv.gfsbh, inv.xfmc, inv.xfsbh, inv.jym, inv.kpr)
    assert NO_LINES in record.flags


def test_a_pdf_without_text_layer_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    page = canvas.Canvas(str(path))
    page.rect(50, 50, 200, 100, fill=1)
    page.save()
    with pytest.raises(UnreadableFile, match="no text layer"):
        list(read_invoices(path))


def test_a_broken_pdf_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"garbage" * 100)
    with pytest.raises(UnreadableFile):
        list(read_invoices(path))


def test_a_pdf_that_is_not_an_invoice_is_rejected(tmp_path: Path) -> None:
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    path = tmp_path / "letter.pdf"
    page = canvas.Canvas(str(path))
    page.setFont("STSong-Light", 10)
    page.drawString(50, 800, "会议通知")
    page.save()
    (record,) = list(read_invoices(path))
    assert isinstance(record, Rejected) and "title" in record.reason
