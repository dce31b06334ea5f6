"""Values of a PDF invoice whose positions are unusable (an OFD conversion that draws values off the page),
recognised by their shape and taken in drawing order."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from fapiaohub.importers.pdf_text import Page, Run

_NUMBER = re.compile(r"\d{20}")
_DAY = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_ID = re.compile(r"[0-9A-Z]{15,20}")
_AMOUNT = re.compile(r"[¥￥]?(-?\d+\.\d{2})")
_CAPITAL = re.compile(r"[零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整负]+")
_ITEM = re.compile(r"\*[^*]+\*.*")
_RATE = re.compile(r"\d{1,2}%|免税|不征税|\*{3}")
_FREE = re.compile(r"[\u4e00-\u9fff（）()·]{2,}")


@dataclass(slots=True)
class ShapeValues:
    number: str = ""
    day: datetime | None = None
    buyer: str = ""
    seller: str = ""
    buyer_id: str = ""
    seller_id: str = ""
    je: Decimal | None = None
    se: Decimal | None = None
    jshj: Decimal | None = None
    drawer: str = ""
    lines: list[dict[str, str]] = field(default_factory=list)


def _merged(runs: list[Run]) -> list[str]:
    """Runs in drawing order, with a lone ¥ joined to the amount drawn after it."""
    out: list[str] = []
    for run in sorted(runs, key=lambda r: r.order):
        if out and out[-1] in ("¥", "￥") and _AMOUNT.fullmatch(run.text):
            out[-1] += run.text
        else:
            out.append(run.text)
    return out


def read_by_shape(page: Page) -> ShapeValues:
    """The 20-digit number, the one date, the two tax ids (buyer first), the ¥ amounts that add up
    (金额 + 税额 = 价税合计), the two free texts drawn just before the first tax id (buyer, seller names),
    a 2-4 character free text before them (开票人), and items: a `*类别*名称` text followed by its numbers."""
    texts = _merged(page.runs)
    values = ShapeValues()
    numbers = [t for t in texts if _NUMBER.fullmatch(t)]
    if len(numbers) == 1:
        values.number = numbers[0]
    days = [m for t in texts if (m := _DAY.fullmatch(t))]
    if len(days) == 1:
        year, month, day = days[0].groups()
        try:
            values.day = datetime(int(year), int(month), int(day))
        except ValueError:
            values.day = None
    id_at = [i for i, t in enumerate(texts) if _ID.fullmatch(t) and t not in numbers and not t.isdigit()
             or (_ID.fullmatch(t) and len(t) in (18, 20) and t not in numbers and t.isdigit())]
    if len(id_at) >= 2:
        values.buyer_id, values.seller_id = texts[id_at[0]], texts[id_at[1]]
    free = [i for i, t in enumerate(texts) if _FREE.fullmatch(t) and not _CAPITAL.fullmatch(t)
            and not t.endswith(("：", ":"))]
    if id_at:
        before = [i for i in free if i < id_at[0]]
        if len(before) >= 2:
            values.buyer, values.seller = texts[before[-2]], texts[before[-1]]
            people = [texts[i] for i in before[:-2] if 2 <= len(texts[i]) <= 4]
            values.drawer = people[-1] if people else ""
    _totals(texts, values)
    _items(texts, values)
    return values


def _totals(texts: list[str], values: ShapeValues) -> None:
    money = [Decimal(m.group(1)) for t in texts if t[:1] in ("¥", "￥") and (m := _AMOUNT.fullmatch(t))]
    for i in range(len(money) - 2):
        if money[i] + money[i + 1] == money[i + 2]:
            values.je, values.se, values.jshj = money[i], money[i + 1], money[i + 2]
            return


def _items(texts: list[str], values: ShapeValues) -> None:
    for i, text in enumerate(texts):
        if not _ITEM.fullmatch(text):
            continue
        following: list[str] = []
        for other in texts[i + 1:]:
            if _ITEM.fullmatch(other) or not (_RATE.fullmatch(other) or _is_number(other)):
                break
            following.append(other)
        rate_at = next((k for k, t in enumerate(following) if _RATE.fullmatch(t)), None)
        if rate_at is None or rate_at == 0 or rate_at + 1 >= len(following):
            continue
        values.lines.append({"mc": text, "je": following[rate_at - 1], "slv": following[rate_at],
                             "se": following[rate_at + 1]})


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True
