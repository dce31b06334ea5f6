"""Amounts, tax rates and issue times as real inputs write them: one parser each, one rounding rule.

Every importer, the upstream item parser and the write endpoints read values through these
functions, so that "12,345.60", "¥12345.6", 12345.6 (an xlsx number) and "12345.60" are the same
amount everywhere. The rounding rule, written once: **an amount is rounded to the cent, half up**
(四舍五入, the bureau's own rule). Inputs hold at most two decimals; a float from a spreadsheet can
carry binary noise (1234.5600000000001) that this removes. Whether more than two decimals are an
error is a validation question (domain.validation.is_cent_exact), not a parsing one.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# characters that decorate an amount without changing it: thousands separators, currency signs
_DECORATION = str.maketrans("", "", ",，¥￥元 \u3000\t\r\n")
# rates printed instead of a number: 免税/不征税/免征 are a zero rate
ZERO_RATE_WORDS = frozenset({"免税", "不征税", "免征", "免征增值税", "出口零税率"})
# 差额征税 invoices print *** instead of the rate: the rate is not stated
UNSTATED_RATE_WORDS = frozenset({"***", "**", "*"})


class ValueParseError(ValueError):
    """A value that is not what its field must hold; the message names the field and the value."""


def parse_amount(value: Any, field: str) -> Decimal:
    """An amount in yuan, rounded to the cent half up. Accepts Decimal, int, float (read by its
    shortest repr, so 23.5 stays 23.5, never 23.499999…) and text with thousands separators,
    currency signs or spaces. Refuses booleans, empty text, NaN and infinities."""
    if value.__class__ is Decimal:
        amount = value
    elif isinstance(value, float):  # an xlsx number, a bureau export's amounts: tested early (bool is no float)
        amount = Decimal(repr(value))
    elif isinstance(value, bool) or value is None:
        raise ValueParseError(f"{field} {value!r} is not an amount")
    elif isinstance(value, int):
        amount = Decimal(value)
    else:
        text = str(value).translate(_DECORATION)
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueParseError(f"{field} {str(value).strip()!r} is not an amount") from None
    if not amount.is_finite():
        raise ValueParseError(f"{field} {value!r} is not an amount")
    return amount.quantize(CENT, ROUND_HALF_UP)


def parse_rate(value: Any, field: str) -> Decimal | None:
    """A tax rate as a fraction (``Decimal("0.13")``) from ``13%``, ``0.13``, ``13`` or an xlsx
    number; 免税/不征税 are 0; ``***`` (差额征税) is None: the file does not state the rate."""
    if isinstance(value, bool) or value is None:
        raise ValueParseError(f"{field} {value!r} is not a tax rate")
    text = (format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value)).strip()
    text = text.replace(" ", "").replace("％", "%")
    if text in UNSTATED_RATE_WORDS:
        return None
    if text in ZERO_RATE_WORDS or text in ("", "0"):
        return Decimal(0)
    try:
        rate = Decimal(text.removesuffix("%"))
    except InvalidOperation:
        raise ValueParseError(f"{field} {text!r} is not a tax rate") from None
    if text.endswith("%") or rate >= 1:
        rate /= 100
    if not rate.is_finite() or not 0 <= rate < 1:
        raise ValueParseError(f"{field} {text!r} is not a tax rate")
    return rate.normalize()


# Formats of issue times seen in real files, most common first. Times are the bureau's local time
# (Asia/Shanghai) and are kept naive.
_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d",
    "%Y%m%d", "%Y%m%d%H%M%S", "%Y年%m月%d日 %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
)
_EXCEL_EPOCH = datetime(1899, 12, 30)


def parse_datetime(value: Any, field: str) -> datetime:
    """An issue time as a naive local datetime, seconds precision. Accepts datetime and date
    values, Excel serial day numbers, and text in every format real files use (``2026-01-15
    09:30:00``, ``2026-01-15``, ``2020年07月23日``, ``20260115``, ``20260205103000000`` …)."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0, tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, float | int) and not isinstance(value, bool) and 20000 < value < 80000:
        return (_EXCEL_EPOCH + timedelta(days=value)).replace(microsecond=0)  # a serial day number
    text = "" if value is None else str(value).strip()
    if len(text) == 19 and text[4] == "-" and text[10] == " ":  # the bureau's form: the C fast path
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    if len(text) == 17 and text.isdigit():  # yyyyMMddHHmmssSSS (数电 XML)
        text = text[:14]
    for pattern in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueParseError(f"{field} {text!r} is not a date")
