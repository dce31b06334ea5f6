"""The one amount, rate and date parser every input goes through."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from fapiaohub.domain.money import ValueParseError, parse_amount, parse_datetime, parse_rate


@pytest.mark.parametrize(("raw", "expected"), [
    ("12,345.60", "12345.60"), ("¥12345.6", "12345.60"), ("￥ 1，234.56", "1234.56"), (23.5, "23.50"),
    (1234.5600000000001, "1234.56"), (0.1 + 0.2, "0.30"), (7, "7.00"), (Decimal("-0.005"), "-0.01"),
    ("0.125", "0.13"), ("-28.50", "-28.50"), ("100元", "100.00"),
])
def test_amounts_are_read_to_the_cent_half_up(raw: object, expected: str) -> None:
    assert parse_amount(raw, "je") == Decimal(expected)
    assert str(parse_amount(raw, "je")) == expected  # always two decimals: the stored digits


@pytest.mark.parametrize("raw", ["", "***", "abc", None, True, float("nan"), "Infinity", "1.2.3"])
def test_what_is_not_an_amount_is_refused_naming_the_field(raw: object) -> None:
    with pytest.raises(ValueParseError, match="金额"):
        parse_amount(raw, "金额")


@pytest.mark.parametrize(("raw", "expected"), [
    ("13%", "0.13"), ("9%", "0.09"), ("0.06", "0.06"), (0.03, "0.03"), ("3", "0.03"), ("1.5%", "0.015"),
    ("免税", "0"), ("不征税", "0"), ("0%", "0"), ("", "0"), ("13 %", "0.13"),
])
def test_rates_are_fractions(raw: object, expected: str) -> None:
    assert parse_rate(raw, "税率") == Decimal(expected)


def test_a_rate_printed_as_stars_is_not_stated() -> None:
    assert parse_rate("***", "税率") is None


@pytest.mark.parametrize("raw", ["abc", "100%", "-3%", None])
def test_what_is_not_a_rate_is_refused(raw: object) -> None:
    with pytest.raises(ValueParseError, match="税率"):
        parse_rate(raw, "税率")


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-01-15 09:30:05", datetime(2026, 1, 15, 9, 30, 5)),
    ("2026-01-15", datetime(2026, 1, 15)),
    ("2020年07月23日", datetime(2020, 7, 23)),
    ("20260115", datetime(2026, 1, 15)),
    ("20260205103000000", datetime(2026, 2, 5, 10, 30)),
    ("2026/01/15 08:00:00", datetime(2026, 1, 15, 8)),
    ("2026-01-15T08:00:00", datetime(2026, 1, 15, 8)),
    (datetime(2026, 1, 15, 8, 0, 0, 123), datetime(2026, 1, 15, 8)),
    (date(2026, 1, 15), datetime(2026, 1, 15)),
    (46037.5, datetime(2026, 1, 15, 12)),  # an Excel serial day number
])
def test_issue_times_in_every_real_form(raw: object, expected: datetime) -> None:
    assert parse_datetime(raw, "开票日期") == expected


@pytest.mark.parametrize("raw", ["", "2026-13-01", "yesterday", None, "2026-01-15 25:00:00"])
def test_what_is_not_a_time_is_refused(raw: object) -> None:
    with pytest.raises(ValueParseError, match="开票日期"):
        parse_datetime(raw, "开票日期")
