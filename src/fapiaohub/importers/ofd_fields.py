"""Values of an OFD invoice as both variants read them: amounts, dates, rates with their flags, the printed
kind (title), and line items checked against the totals before they are kept."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from fapiaohub.domain.codes import KIND_BY_NAME, kind_by_name, normalise_name
from fapiaohub.domain.invoice import InvoiceLine
from fapiaohub.domain.money import UNSTATED_RATE_WORDS, ValueParseError, parse_amount, parse_datetime, parse_rate
from fapiaohub.domain.validation import LINE_TOLERANCE, TOTAL_TOLERANCE
from fapiaohub.importers.ofd_document import OfdError
from fapiaohub.importers.ofd_text import Text

NO_LINES = "明细未解析"
RATE_NOT_STATED = "税率未标明（差额征税），按0记录"
TAX_FREE = "免税/不征税，税率按0记录"
TAX_STARS = "税额为***（免税），按0记录"
# titles carry a province before the kind: 浙江增值税电子普通发票, 内蒙古增值税电子专用发票
_PROVINCE_PREFIX = 4
_TITLE_KINDS = sorted(((name, code) for name, code in KIND_BY_NAME.items() if "发票" in name and len(name) >= 6),
                      key=lambda item: len(item[0]), reverse=True)


def amount(text: str, what: str) -> Decimal:
    try:
        return parse_amount(text, what)
    except ValueParseError as exc:
        raise OfdError(str(exc)) from None


def is_amount(text: str) -> bool:
    try:
        parse_amount(text, "")
    except ValueParseError:
        return False
    return True


def tax_amount(text: str, what: str, flags: list[str]) -> Decimal:
    """A tax amount; ``***`` (免税) is 0, with a flag."""
    if text.strip() in UNSTATED_RATE_WORDS:
        if TAX_STARS not in flags:
            flags.append(TAX_STARS)
        return Decimal("0.00")
    return amount(text, what)


def date(text: str, what: str) -> datetime:
    try:
        return parse_datetime(text, what)
    except ValueParseError as exc:
        raise OfdError(str(exc)) from None


def is_date(text: str) -> bool:
    try:
        parse_datetime(text, "")
    except ValueParseError:
        return False
    return True


def rate(text: str, what: str, flags: list[str]) -> Decimal:
    """A line's rate as a fraction: 免税/不征税 → 0 and ``***`` (差额征税, not stated) → 0, each flagged."""
    try:
        value = parse_rate(text, what)
    except ValueParseError as exc:
        raise OfdError(str(exc)) from None
    if value is None:
        if RATE_NOT_STATED not in flags:
            flags.append(RATE_NOT_STATED)
        return Decimal(0)
    if value == 0 and text.strip() not in ("0", "0%", "0.00", "") and TAX_FREE not in flags:
        flags.append(TAX_FREE)
    return value


def title_kind(title: str) -> str | None:
    """The fplx a printed title states, province prefix allowed (贵州增值税电子专用发票 → 08)."""
    name = normalise_name(title)
    found = kind_by_name(name)
    if found:
        return found
    for kind_name, code in _TITLE_KINDS:
        if name.endswith(kind_name) and len(name) - len(kind_name) <= _PROVINCE_PREFIX:
            return code
    return None


def printed_kind(texts: Iterable[Text]) -> str | None:
    """The kind of the topmost printed title among page and template texts."""
    for text in sorted(texts, key=lambda t: (t.page, t.y)):
        if "票" in text.raw and not text.rotated:
            code = title_kind(text.raw)
            if code:
                return code
    return None


def line_from_cells(cells: dict[str, str], flags: list[str], where: str) -> InvoiceLine:
    """A line item from its cells (role → printed text)."""
    return InvoiceLine(
        mc=cells.get("mc", "").strip(), je=amount(cells.get("je", ""), f"{where} 金额"),
        se=tax_amount(cells.get("se", ""), f"{where} 税额", flags),
        slv=rate(cells.get("slv", ""), f"{where} 税率", flags), spbm=cells.get("spbm", "").strip(),
        ggxh=cells.get("ggxh", "").strip(), jldw=cells.get("jldw", "").strip(), sl=cells.get("sl", "").strip(),
        dj=cells.get("dj", "").strip(),
    )


def lines_agree(lines: list[InvoiceLine], je: Decimal, se: Decimal) -> bool:
    """Whether lines read from page text add up to the totals (a misread table is not kept)."""
    if not lines:
        return False
    line_je = sum((line.je for line in lines), Decimal(0))
    line_se = sum((line.se for line in lines), Decimal(0))
    return line_je == je and abs(line_se - se) <= min(LINE_TOLERANCE * len(lines), TOTAL_TOLERANCE)
