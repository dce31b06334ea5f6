"""PDF e-invoices read by position from synthetic files in each real layout, and the files refused."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pdfplumber
import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from fapiaohub.demo.generator import iter_demo_invoices
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.importers import pdf as pdf_module
from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import Parsed, Rejected, UnreadableFile
from fapiaohub.importers.pdf import NO_QR, QR_DISAGREES, RATE_EXEMPT, RATE_NOT_STATED, SHAPE_READ
from tests.writers.pdf import Options, write_pdf

D = Decimal


def _demo(fplx: str) -> Invoice:
    return next(i.invoice for i in iter_demo_invoices(400) if i.invoice.fplx == fplx)


def _with_lines(inv: Invoice, lines: list[InvoiceLine], **changes: Any) -> Invoice:
    je = sum((line.je for line in lines), D("0"))
    se = sum((line.se for line in lines), D("0"))
    return dataclasses.replace(inv, lines=lines, je=je, se=se, jshj=je + se,
                               kprq=datetime(inv.kprq.year, inv.kprq.month, inv.kprq.day), **changes)


def _read_one(path: Path) -> Parsed | Rejected:
    records = list(read_invoices(path))
    assert len(records) == 1
    record = records[0]
    assert isinstance(record, Parsed | Rejected)
    return record


def _parsed(path: Path) -> Parsed:
    record = _read_one(path)
    assert isinstance(record, Parsed), record
    return record


def _assert_header(got: Invoice, want: Invoice) -> None:
    assert (got.fplx, got.fpdm, got.fphm, got.kprq, got.je, got.se, got.jshj) == (
        want.fplx, want.fpdm, want.fphm, want.kprq, want.je, want.se, want.jshj)
    assert (got.gfmc, got.gfsbh, got.xfmc, got.xfsbh, got.kpr, got.jym) == (
        want.gfmc, want.gfsbh, want.xfmc, want.xfsbh, want.kpr, want.jym)


def _lines(inv: Invoice) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return [(line.mc, line.je, line.se, line.slv) for line in inv.lines]


@pytest.mark.parametrize("split_date", [False, True])
def test_a_taxctrl_special_invoice_with_check_code_groups_and_lines(tmp_path: Path, split_date: bool) -> None:
    inv = _with_lines(_demo("08"), [
        InvoiceLine(mc="*经纪代理服务*经纪代理服务", je=D("24519.05"), se=D("735.57"), slv=D("0.03"), jldw="月", sl="1",
                    dj="24519.05"),
        InvoiceLine(mc="*谷物*大米", je=D("100.00"), se=D("0.00"), slv=D("0"), jldw="千克", sl="20", dj="5"),
    ], jym="18001801513030862041")
    path = tmp_path / "taxctrl.pdf"
    write_pdf(path, inv, Options(split_date=split_date))
    record = _parsed(path)
    _assert_header(record.invoice, inv)
    assert _lines(record.invoice) == _lines(inv)
    assert record.invoice.lines[0].jldw == "月"
    assert record.invoice.lines[0].dj == "24519.05"
    assert RATE_EXEMPT in record.flags
    assert NO_QR not in record.flags
    assert not any(QR_DISAGREES in flag for flag in record.flags)


def test_a_taxctrl_invoice_with_its_lines_in_a_details_list_on_page_two(tmp_path: Path) -> None:
    lines = [InvoiceLine(mc=f"*办公用品*文件夹{n}", je=D("10.00") * n, se=D("1.30") * n, slv=D("0.13"), jldw="个",
                         sl=str(n), dj="10") for n in range(1, 11)]
    inv = _with_lines(_demo("08"), lines, jym="18001801513030862041")
    path = tmp_path / "details.pdf"
    write_pdf(path, inv, Options(details=True))
    record = _parsed(path)
    _assert_header(record.invoice, inv)
    assert _lines(record.invoice) == _lines(inv)  # no 详见 row, no 序号 in the names, no 小计/总计 rows


def test_a_taxctrl_ordinary_invoice_kind_comes_from_its_title(tmp_path: Path) -> None:
    inv = _with_lines(_demo("10"), [InvoiceLine(mc="*餐饮服务*餐费", je=D("97.09"), se=D("2.91"), slv=D("0.03"))],
                      jym="03592687143600112233")
    path = tmp_path / "ordinary.pdf"
    write_pdf(path, inv, Options(province="浙江"))
    got = _parsed(path).invoice
    assert got.fplx == "10"
    assert got.fpdm == inv.fpdm
    assert got.jym == inv.jym


def test_a_taxctrl_toll_invoice_is_not_mistaken_for_an_ordinary_one(tmp_path: Path) -> None:
    inv = dataclasses.replace(_demo("14"), jym="03592687143600112233")
    path = tmp_path / "toll14.pdf"
    write_pdf(path, inv)
    record = _read_one(path)
    assert isinstance(record, Rejected)
    assert "(14)" in record.reason


def test_a_digital_ordinary_invoice_with_yuan_sign_apart_and_remarks(tmp_path: Path) -> None:
    inv = _with_lines(_demo("82"), [
        InvoiceLine(mc="*餐饮服务*餐饮费", je=D("1455.45"), se=D("14.55"), slv=D("0.01"), sl="1",
                    dj="1455.44554455446"),
        InvoiceLine(mc="*经纪代理服务*代理费", je=D("50.00"), se=D("0.00"), slv=D("0"), spbm=""),
    ], bz="购方开户银行:某银行; 银行账号:6222000011112222;\n差额征税：2.00。")
    path = tmp_path / "digital.pdf"
    write_pdf(path, inv)
    record = _parsed(path)
    _assert_header(record.invoice, inv)
    assert record.invoice.fpdm == ""
    assert record.invoice.tdywlx == ""
    assert _lines(record.invoice) == _lines(inv)
    assert "".join(record.invoice.bz.split()) == "".join(inv.bz.split())
    assert "某银行; 银行账号" in record.invoice.bz  # a drawn space is kept


def test_a_wrapped_item_name_is_one_line_item(tmp_path: Path) -> None:
    inv = _with_lines(_demo("81"), [
        InvoiceLine(mc="*信息技术服务*软件开发及系统集成技术服务费", je=D("1000.00"), se=D("60.00"), slv=D("0.06")),
        InvoiceLine(mc="*现代服务*咨询费", je=D("200.00"), se=D("12.00"), slv=D("0.06")),
    ])
    path = tmp_path / "wrapped.pdf"
    write_pdf(path, inv, Options(wrap_names=12))
    assert _lines(_parsed(path).invoice) == _lines(inv)


def test_a_rate_printed_as_stars_is_zero_with_a_flag(tmp_path: Path) -> None:
    base = _demo("81")
    inv = _with_lines(base, [InvoiceLine(mc="*经纪代理服务*代理费", je=D("98.00"), se=D("0.06"), slv=D("0"))])
    path = tmp_path / "stars.pdf"
    write_pdf(path, dataclasses.replace(inv, lines=[dataclasses.replace(inv.lines[0], slv=None)]))  # type: ignore[arg-type]
    record = _parsed(path)
    assert record.invoice.fplx == "81"
    assert record.invoice.lines[0].slv == 0
    assert record.invoice.lines[0].se == D("0.06")
    assert RATE_NOT_STATED in record.flags


def test_a_toll_browser_printout_is_8208_with_its_special_elements(tmp_path: Path) -> None:
    inv = _with_lines(_demo("82"), [InvoiceLine(mc="*经营租赁*通行费", je=D("28.50"), se=D("0.85"), slv=D("0.03"))],
                      fplx="8208", tdywlx="08",
                      special=[{"cph": "云A12345", "cllx": "客车", "txrqq": "20260205", "txrqz": "20260206"}])
    path = tmp_path / "toll.pdf"
    write_pdf(path, inv)
    with pdfplumber.open(path) as pdf:
        first_word = pdf.pages[0].extract_words()[0]["text"]
    assert "/" in first_word  # the print header comes first, not the title
    record = _parsed(path)
    _assert_header(record.invoice, inv)
    assert record.invoice.tdywlx == "08"
    assert record.invoice.special == inv.special
    assert _lines(record.invoice) == _lines(inv)


def test_an_ordinary_digital_invoice_without_toll_columns_stays_82(tmp_path: Path) -> None:
    inv = _with_lines(_demo("82"), [InvoiceLine(mc="*经营租赁*通行费", je=D("10.00"), se=D("0.30"), slv=D("0.03"))])
    path = tmp_path / "notoll.pdf"
    write_pdf(path, inv)
    got = _parsed(path).invoice
    assert (got.fplx, got.tdywlx, got.special) == ("82", "", [])


def test_kangxi_labels_seal_glyphs_and_a_business_label_before_the_title(tmp_path: Path) -> None:
    inv = _with_lines(_demo("81"), [InvoiceLine(mc="*运输服务*客运服务费", je=D("91.74"), se=D("8.26"), slv=D("0.09"))])
    path = tmp_path / "kangxi.pdf"
    write_pdf(path, inv, Options(kangxi=True, seal=True, business_label="旅客运输服务"))
    with pdfplumber.open(path) as pdf:
        text = pdf.pages[0].extract_text()
        first_drawn = pdf.pages[0].chars[0]["text"]
    assert "电\u2f26发票" in text
    assert "\u2f45" in text
    assert first_drawn == "章"
    assert text.startswith("旅客运输服务")
    record = _parsed(path)
    _assert_header(record.invoice, inv)
    assert _lines(record.invoice) == _lines(inv)
    assert record.invoice.tdywlx == "09"  # from the 特定业务 label above the title


@pytest.mark.parametrize("qr", ["auto", "wrong"])
def test_values_drawn_off_the_page_are_read_by_shape_and_checked_against_the_qr_code(tmp_path: Path, qr: str) -> None:
    inv = _with_lines(_demo("82"), [InvoiceLine(mc="*餐饮服务*餐饮费", je=D("1455.45"), se=D("14.55"), slv=D("0.01"))])
    wrong = f"01,32,,{inv.fphm},999.99,{inv.kprq:%Y%m%d},,A1B2"
    path = tmp_path / "converted.pdf"
    write_pdf(path, inv, Options(off_page=True, qr="auto" if qr == "auto" else wrong))
    record = _read_one(path)
    if qr == "wrong":  # read by shape and contradicted: the text cannot be trusted
        assert isinstance(record, Rejected)
        assert "QR" in record.reason
        return
    assert isinstance(record, Parsed), record
    _assert_header(record.invoice, inv)
    assert _lines(record.invoice) == _lines(inv)
    assert SHAPE_READ in record.flags


def test_a_preview_is_rejected_naming_the_file(tmp_path: Path) -> None:
    inv = dataclasses.replace(_demo("82"), fphm="9223372036854775807", gfsbh="9111000007311XXXX")
    path = tmp_path / "preview.pdf"
    write_pdf(path, inv, Options(preview=True, qr=None))
    record = _read_one(path)
    assert isinstance(record, Rejected)
    assert record.source.file == "preview.pdf"
    assert "仅供预览" in record.reason


def test_placeholder_values_are_rejected_even_without_the_preview_mark(tmp_path: Path) -> None:
    inv = dataclasses.replace(_demo("82"), gfsbh="9111000007311XXXXX")
    path = tmp_path / "template.pdf"
    write_pdf(path, inv, Options(qr=None))
    record = _read_one(path)
    assert isinstance(record, Rejected)
    assert "XXXX" in record.reason


def test_a_pdf_without_text_layer_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    write_pdf(path, _demo("82"), Options(text_layer=False))
    with pytest.raises(UnreadableFile, match="no text layer"):
        list(read_invoices(path))


def test_a_qr_code_that_disagrees_with_the_text_is_flagged(tmp_path: Path) -> None:
    inv = _with_lines(_demo("82"), [InvoiceLine(mc="*餐饮服务*餐饮费", je=D("100.00"), se=D("1.00"), slv=D("0.01"))])
    other = f"01,32,,{inv.fphm[:-1]}{(int(inv.fphm[-1]) + 1) % 10},{inv.jshj:.2f},{inv.kprq:%Y%m%d},,A1B2"
    path = tmp_path / "qr.pdf"
    write_pdf(path, inv, Options(qr=other))
    record = _parsed(path)
    flags = [flag for flag in record.flags if flag.startswith(QR_DISAGREES)]
    assert len(flags) == 1
    assert "号码" in flags[0]
    assert record.invoice.fphm == inv.fphm  # the text is what is stored


def test_a_qr_code_that_agrees_raises_no_flag(tmp_path: Path) -> None:
    inv = _with_lines(_demo("82"), [InvoiceLine(mc="*餐饮服务*餐饮费", je=D("100.00"), se=D("1.00"), slv=D("0.01"))])
    path = tmp_path / "qr.pdf"
    write_pdf(path, inv)
    record = _parsed(path)
    assert not any(flag.startswith(QR_DISAGREES) for flag in record.flags)
    assert NO_QR not in record.flags


def test_a_broken_pdf_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"garbage" * 100)
    with pytest.raises(UnreadableFile):
        list(read_invoices(path))


def test_a_pdf_over_the_size_bound_is_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.pdf"
    write_pdf(path, _demo("82"))
    monkeypatch.setattr(pdf_module, "MAX_PDF_BYTES", 1000)
    with pytest.raises(UnreadableFile, match="larger than"):
        list(read_invoices(path))


def test_a_pdf_that_is_not_an_invoice_is_rejected(tmp_path: Path) -> None:

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    path = tmp_path / "letter.pdf"
    page = canvas.Canvas(str(path))
    page.setFont("STSong-Light", 10)
    page.drawString(50, 800, "会议通知")
    page.save()
    record = _read_one(path)
    assert isinstance(record, Rejected)
    assert "title" in record.reason
