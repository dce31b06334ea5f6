"""The ledger's query string → checked filters, sort and keyset cursor; each bad field is named, none is fatal."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fapiaohub.console.repository import SORTS, LedgerFilter
from fapiaohub.domain.codes import FPLX, FPZT

MONTH = re.compile(r"^(\d{4})-?(\d{2})$")
PAGE_SIZE = 50
FILTER_KEYS = ("taxpayer", "direction", "from", "to", "fplx", "status", "party", "min", "max", "sort")


@dataclass
class LedgerQuery:
    filter: LedgerFilter
    sort: str
    after: tuple[Any, int] | None
    values: dict[str, str]  # the accepted fields as typed, to refill the form and build links
    errors: list[str] = field(default_factory=list)


def parse_month(text: str) -> tuple[int, int] | None:
    match = MONTH.match(text.strip())
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    return (year, month) if 1 <= month <= 12 and 2000 <= year <= 2100 else None


def _month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1)


def _next_month(year: int, month: int) -> datetime:
    return datetime(year + 1, 1, 1) if month == 12 else datetime(year, month + 1, 1)


def _amount(text: str) -> Decimal | None:
    try:
        value = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse(params: Mapping[str, str], taxpayer_ids: set[int]) -> LedgerQuery:
    """Read the filters; a field that does not parse is dropped and named in ``errors``."""
    errors: list[str] = []
    values: dict[str, str] = {}
    kwargs: dict[str, Any] = {}
    raw = {key: (params.get(key) or "").strip() for key in (*FILTER_KEYS, "after")}
    if raw["taxpayer"]:
        if raw["taxpayer"].isdigit() and int(raw["taxpayer"]) in taxpayer_ids:
            kwargs["taxpayer_id"] = int(raw["taxpayer"])
            values["taxpayer"] = raw["taxpayer"]
        else:
            errors.append(f"纳税人（taxpayer）无效：{raw['taxpayer']}")
    if raw["direction"]:
        if raw["direction"] in ("jx", "xx"):
            kwargs["direction"] = values["direction"] = raw["direction"]
        else:
            errors.append(f"方向（direction）只能是jx或xx：{raw['direction']}")
    for key, label in (("from", "起始月份"), ("to", "截止月份")):
        if raw[key]:
            month = parse_month(raw[key])
            if month is None:
                errors.append(f"{label}（{key}）应为yyyy-MM：{raw[key]}")
                continue
            values[key] = f"{month[0]:04d}-{month[1]:02d}"
            if key == "from":
                kwargs["first"] = _month_start(*month)
            else:
                kwargs["before"] = _next_month(*month)
    if raw["fplx"]:
        if raw["fplx"] in FPLX:
            kwargs["fplx"] = values["fplx"] = raw["fplx"]
        else:
            errors.append(f"发票类型（fplx）未知：{raw['fplx']}")
    if raw["status"]:
        if raw["status"] in FPZT:
            kwargs["status"] = values["status"] = raw["status"]
        else:
            errors.append(f"发票状态（status）未知：{raw['status']}")
    if raw["party"]:
        kwargs["party"] = values["party"] = raw["party"][:100]
    for key, target, label in (("min", "min_amount", "最小金额"), ("max", "max_amount", "最大金额")):
        if raw[key]:
            amount = _amount(raw[key])
            if amount is None:
                errors.append(f"{label}（{key}）不是数字：{raw[key]}")
            else:
                kwargs[target] = amount
                values[key] = raw[key]
    sort = raw["sort"] if raw["sort"] in SORTS else "kprq_desc"
    if raw["sort"] and raw["sort"] not in SORTS:
        errors.append(f"排序（sort）未知：{raw['sort']}")
    if sort != "kprq_desc":
        values["sort"] = sort
    after = parse_cursor(raw["after"], sort) if raw["after"] else None
    if raw["after"] and after is None:
        errors.append("分页位置（after）无效，已回到第一页")
    return LedgerQuery(LedgerFilter(**kwargs), sort, after, values, errors)


def cursor(row: Any, sort: str) -> str:
    """The (sort value, id) of a row, as the next page's ``after``."""
    column = SORTS[sort][0]
    value = row.kprq.isoformat() if column == "kprq" else f"{row.jshj:.2f}"
    return f"{value}~{row.id}"


def parse_cursor(text: str, sort: str) -> tuple[Any, int] | None:
    value, _, ident = text.rpartition("~")
    if not ident.isdigit() or not value:
        return None
    if SORTS[sort][0] == "kprq":
        try:
            return datetime.fromisoformat(value), int(ident)
        except ValueError:
            return None
    amount = _amount(value)
    return (amount, int(ident)) if amount is not None else None


class VersionedCache:
    """What the ledger derives from a whole filtered set, per (corporation, filters), kept under the
    version of the months it reads (repository.ledger_version): the totals line, and the
    counterparties a prefix matches. Paging through a filtered set sums it and finds its
    counterparties once, not on every page, and any write to those months changes the version, so
    a stale value is never used. Per process, least recently used out first."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()  # routes run in a thread pool

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()  # outside the lock: a slow sum must not hold up other pages
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value
