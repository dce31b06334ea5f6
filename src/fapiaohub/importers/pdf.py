"""PDF e-invoices, from their text layer (issued e-invoices have one; scans need OCR, which
fapiaohub does not do). Header fields are read by their printed labels; lines are not
reconstructed from the page layout, so the invoice carries the flag 明细未解析."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from pdfminer.high_level import extract_text
from pdfminer.pdfparser import PDFSyntaxError

from fapiaohub.domain.invoice import Invoice
from fapiaohub.domain.money import parse_amount
from fapiaohub.importers.base import Parsed, Rejected, SourceRef, UnreadableFile, checked
from fapiaohub.importers.ofd import NO_LINES

MAX_PDF_BYTES = 20 * 1024 * 1024
TITLES = (("增值税电子专用发票", "08"), ("增值税电子普通发票", "10"), ("增值税专用发票", "81"), ("普通发票", "82"))
_NUMBER = re.compile(r"发票号码[:：]\s*(\d{8,20})")
_CODE = re.compile(r"发票代码[:：]\s*(\d{10,12})")
_DATE = re.compile(r"开票日期[:：]\s*(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_NAME = re.compile(r"名\s*称[:：]\s*(\S+)")
_TAX_ID = re.compile(r"(?:统一社会信用代码/纳税人识别号|纳税人识别号)[:：]\s*([0-9A-Z]{15,20})")
_TOTALS = re.compile(r"合\s*计\s*[¥￥]?\s*(-?[\d,]+\.\d{2})\s*[¥￥]?\s*(-?[\d,]+\.\d{2})")
_GRAND = re.compile(r"[（(]\s*小写\s*[)）]\s*[¥￥]?\s*(-?[\d,]+\.\d{2})")
_CHECK = re.compile(r"校\s*验\s*码[:：]\s*([\d ]{20,30})")
_DRAWER = re.compile(r"开票人[:：]\s*(\S+)")


def _amount(text: str) -> Decimal:
    return parse_amount(text, "金额")


def read_pdf(path: Path) -> Iterator[Parsed | Rejected]:
    path = Path(path)
    if path.stat().st_size > MAX_PDF_BYTES:
        raise UnreadableFile(path, f"PDF larger than {MAX_PDF_BYTES // 1024**2} MB; an e-invoice is a few hundred KB")
    try:
        text = extract_text(str(path), maxpages=3)
    except (PDFSyntaxError, ValueError, TypeError, KeyError) as exc:
        raise UnreadableFile(path, f"not a readable PDF: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - pdfminer raises its own types for encrypted/broken files
        raise UnreadableFile(path, f"not a readable PDF: {type(exc).__name__}") from None
    if not text.strip():
        raise UnreadableFile(path, "PDF has no text layer; scanned invoices need OCR, which fapiaohub does not do")
    source = SourceRef(path.name)
    try:
        invoice = _invoice(text)
    except ValueError as exc:
        yield Rejected(source, f"cannot read the invoice from the PDF text: {exc}")
        return
    yield checked(invoice, source, [NO_LINES])


def _first(pattern: re.Pattern[str], text: str, what: str) -> re.Match[str]:
    match = pattern.search(text)
    if match is None:
        raise ValueError(f"{what} not found")
    return match


def _invoice(text: str) -> Invoice:
    title = text.strip().splitlines()[0]
    fplx = next((code for needle, code in TITLES if needle in title), None)
    if fplx is None:
        raise ValueError(f"the title {title!r} names no invoice kind fapiaohub reads from PDF")
    code = _CODE.search(text)
    if fplx in ("81", "82") and code:
        raise ValueError("a 数电 title with a 发票代码")
    year, month, day = _first(_DATE, text, "开票日期").groups()
    names = _NAME.findall(text)
    ids = _TAX_ID.findall(text)
    if len(names) < 2 or len(ids) < 1:
        raise ValueError("购买方/销售方 名称 and 纳税人识别号 not found")
    je, se = (_amount(v) for v in _first(_TOTALS, text, "合计 金额/税额").groups())
    check = _CHECK.search(text)
    drawer = _DRAWER.search(text)
    return Invoice(
        fplx=fplx, fpdm=code.group(1) if code else "", fphm=_first(_NUMBER, text, "发票号码").group(1),
        kprq=datetime(int(year), int(month), int(day)), je=je, se=se,
        jshj=_amount(_first(_GRAND, text, "价税合计（小写）").group(1)),
        gfmc=names[0], xfmc=names[1], gfsbh=ids[0] if len(ids) > 1 else "", xfsbh=ids[-1],
        jym=check.group(1).replace(" ", "") if check else "", kpr=drawer.group(1) if drawer else "",
    )
