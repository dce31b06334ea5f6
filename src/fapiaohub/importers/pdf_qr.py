"""The QR code printed on a PDF e-invoice: found on the rendered first page and parsed into its fields."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import zxingcpp

MAX_RENDER_PIXELS = 2400  # longest side of the rendered page, whatever page size the file declares
_PAYLOAD = re.compile(r"^01,(\w{2}),(\d*),(\d{8,20}),(-?[\d.]+),(\d{8}),([\d ]*),")


@dataclass(frozen=True, slots=True)
class QrFields:
    """`01,<type>,<发票代码>,<号码>,<amount>,<yyyyMMdd>,<校验码>,<hash>` as printed in the code."""

    kind: str
    code: str
    number: str
    amount: str
    day: str
    check: str
    text: str


def parse_payload(text: str) -> QrFields | None:
    match = _PAYLOAD.match(text.strip())
    if match is None:
        return None
    kind, code, number, amount, day, check = match.groups()
    return QrFields(kind, code, number, amount, day, check.replace(" ", ""), text.strip())


def read_qr(path: Path) -> list[str]:
    """The texts of the QR codes on page 1 (empty when there is none or it cannot be decoded)."""

    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError:
        return []
    try:
        if len(document) == 0:
            return []
        page = document[0]
        width, height = page.get_size()
        # Twice the nominal size reads the small codes reliably; capped so that a declared giant
        # page does not become a giant bitmap.
        scale = min(2.0, MAX_RENDER_PIXELS / max(width, height, 1.0))
        image = page.render(scale=scale, grayscale=True).to_pil()
        return [result.text for result in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))]
    except (pdfium.PdfiumError, ValueError, OSError):
        return []
    finally:
        document.close()
