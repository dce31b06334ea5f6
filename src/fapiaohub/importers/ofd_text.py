"""OFD page text by position: every TextCode of the pages and their templates placed on the page (mm), and
the readers built on positions: a label's value, the party blocks, the line-item table, the 备注 area."""

from __future__ import annotations

import math
import posixpath
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lxml import etree

ROW_TOLERANCE = 1.6  # mm: baselines of a label and its value differ by a few tenths; table rows are 4 mm apart
_SPACE = re.compile(r"\s+")


def local(element: etree._Element) -> str:
    """An element's name without its namespace ('' for comments and processing instructions)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if local(child) == name]


def descendants(element: etree._Element, name: str) -> Iterable[etree._Element]:
    return (node for node in element.iter() if local(node) == name)


def key(text: str) -> str:
    """A printed text as labels are compared: NFKC (Kangxi radicals such as ⼈ become 人, full-width
    brackets and colons ASCII), no whitespace, no trailing colon."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).rstrip(":")


def _char_width(char: str) -> float:
    return 1.0 if unicodedata.east_asian_width(char) in ("W", "F") else 0.55


def _floats(spec: str | None) -> list[float]:
    out = []
    for part in (spec or "").split():
        try:
            out.append(float(part))
        except ValueError:
            return []
    return out


def _deltas(spec: str | None) -> list[float]:
    """DeltaX/DeltaY as advances, the "g <count> <value>" abbreviation expanded."""
    parts, out, i = (spec or "").split(), [], 0
    try:
        while i < len(parts):
            if parts[i] == "g":
                out.extend([float(parts[i + 2])] * min(int(parts[i + 1]), 10000))
                i += 3
            else:
                out.append(float(parts[i]))
                i += 1
    except (ValueError, IndexError):
        return []
    return out


@dataclass(slots=True)
class Text:
    """One TextCode on a page: its text as written (stripped) and where it starts (baseline, mm)."""

    obj: str  # the TextObject's ID (what CustomTag ObjectRefs name)
    page: int  # index of the page it is drawn on
    raw: str
    x: float
    y: float
    width: float
    size: float
    template: bool = False
    rotated: bool = False
    chars: list[tuple[str, float]] = field(default_factory=list)  # (NFKC char, x) for each non-space char

    @property
    def key(self) -> str:
        return key(self.raw)

    @property
    def centre(self) -> float:
        return self.x + self.width / 2

    @property
    def x_end(self) -> float:
        return self.x + self.width


def _codes(obj: etree._Element, page: int, template: bool) -> list[Text]:
    ctm = _floats(obj.get("CTM"))
    a, b, c, d, e, f = ctm if len(ctm) == 6 else (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    box = _floats(obj.get("Boundary"))
    bx, by = (box[0], box[1]) if len(box) >= 2 else (0.0, 0.0)
    scale = math.sqrt(abs(a * d - b * c)) or 1.0
    try:
        size = float(obj.get("Size") or 3.0)
    except ValueError:
        size = 3.0
    # CGTransform CodeCount: how many characters the producer drew glyphs for
    glyphs = sum(int(n) for t in obj.iter() if local(t) == "CGTransform" for n in [t.get("CodeCount", "0")]
                 if n.isdigit())
    out = []
    x = y = 0.0
    for code in obj.iter():
        if local(code) != "TextCode":
            continue
        raw = "".join(code.itertext())
        # a TextCode without X/Y continues where the previous one ended
        x = _floats(code.get("X"))[0] if _floats(code.get("X")) else x
        y = _floats(code.get("Y"))[0] if _floats(code.get("Y")) else y
        # pretty-printed TextCodes wrap the value in a newline and indentation that is not drawn: the
        # advances (DeltaX) belong to the value itself
        stripped = raw.strip()
        deltas = _deltas(code.get("DeltaX"))
        # one producer draws no glyph for a space and gives it no advance: its DeltaX counts the other chars
        visible = sum(1 for char in stripped if not char.isspace())
        skip_spaces = visible != len(stripped) and (len(deltas) == visible - 1 or glyphs == visible)
        inner, pos, index = [], 0.0, 0
        for char in stripped:
            inner.append(pos)
            if skip_spaces and char.isspace():
                continue
            pos += deltas[index] if index < len(deltas) else size * _char_width(char)
            index += 1
        start = 0.0
        width = (inner[-1] + size * _char_width(stripped[-1])) if stripped else 0.0
        tx, ty = x + start, y
        px, py = bx + a * tx + c * ty + e, by + b * tx + d * ty + f
        chars = [(unicodedata.normalize("NFKC", ch)[:1], bx + a * (x + off) + c * ty + e)
                 for ch, off in zip(stripped, inner, strict=False) if not ch.isspace()]
        out.append(Text(obj.get("ID", ""), page, stripped, px, py, width * scale, size * scale, template,
                        rotated=abs(b) > 1e-6 or abs(c) > 1e-6, chars=chars))
    return out


def page_texts(content: etree._Element, page: int, template: bool = False) -> list[Text]:
    """Every TextCode of a page (or template) content, in drawing order."""
    texts: list[Text] = []
    for obj in descendants(content, "TextObject"):
        texts.extend(_codes(obj, page, template))
    return texts


def template_ids(content: etree._Element) -> list[str]:
    return [node.get("TemplateID", "") for node in descendants(content, "Template")]


def resolve(base_dir: str, loc: str) -> str:
    """An archive member from a location written in an OFD file (relative to base_dir, or from the root)."""
    loc = loc.strip().replace("\\", "/")
    path = loc.lstrip("/") if loc.startswith("/") else posixpath.join(base_dir, loc)
    return posixpath.normpath(path)


# --- reading by position ----------------------------------------------------------------------------------

def same_row(one: Text, other: Text, tolerance: float = ROW_TOLERANCE) -> bool:
    return abs(one.y - other.y) <= tolerance


def find(texts: Iterable[Text], *labels: str) -> list[Text]:
    """Texts that are exactly one of the labels (compared by key), top to bottom, left to right."""
    wanted = {key(label) for label in labels}
    return sorted((t for t in texts if t.key in wanted), key=lambda t: (round(t.y), t.x))


def value_right_of(texts: list[Text], label: Text, is_label: Callable[[Text], bool],
                   accept: Callable[[str], bool] | None = None) -> str:
    """The first value printed right of a label on its row, before the next label: '' when none."""
    following = [t for t in texts if t is not label and same_row(t, label) and t.x > label.x + 0.5 and t.raw
                 and not t.rotated]
    stops = [t.x for t in following if is_label(t) and t.x > label.x_end - 1.0]
    limit = min(stops, default=math.inf)
    values = sorted((t for t in following if not is_label(t) and t.x < limit - 0.1), key=lambda t: t.x)
    for value in values:
        if accept is None or accept(value.raw):
            return value.raw
    return ""


def rows(texts: Iterable[Text], tolerance: float = ROW_TOLERANCE) -> list[list[Text]]:
    """Texts grouped into rows by baseline, top to bottom, each row left to right."""
    out: list[list[Text]] = []
    for text in sorted(texts, key=lambda t: t.y):
        if out and abs(text.y - out[-1][0].y) <= tolerance:
            out[-1].append(text)
        else:
            out.append([text])
    return [sorted(row, key=lambda t: t.x) for row in out]


@dataclass(frozen=True, slots=True)
class Column:
    label: str  # the header label's key, e.g. 金额, 车牌号
    x: float
    x_end: float
    y: float

    @property
    def centre(self) -> float:
        return (self.x + self.x_end) / 2


def split_header(text: Text, labels: Iterable[str]) -> list[Column] | None:
    """The column labels a header text consists of (one text may hold several, e.g. the toll platform's
    `车牌号车辆类型 通行日期起通行日期止金额税率/征收率税额`); None unless the whole text is header labels."""
    chars = text.chars
    string = "".join(ch for ch, _ in chars)
    if not string:
        return None
    ordered = sorted({key(label) for label in labels}, key=len, reverse=True)
    columns, i = [], 0
    while i < len(string):
        for label in ordered:
            if string.startswith(label, i):
                last = i + len(label) - 1
                char_w = text.size * _char_width(string[last])
                end = chars[last][1] + char_w if len(chars) > 1 else text.x_end
                columns.append(Column(label, chars[i][1] if len(chars) > 1 else text.x, end, text.y))
                i += len(label)
                break
        else:
            return None
    if len(columns) == 1:  # one label: its extent is the text's
        return [Column(columns[0].label, text.x, text.x_end, text.y)]
    return columns


# --- the line-item table ----------------------------------------------------------------------------------

NAME_LABELS = ("项目名称", "货物或应税劳务、服务名称", "货物或应税劳务,服务名称", "货物或应税劳务名称", "货物(劳务)名称",
               "商品名称", "货物名称")
ROLE_BY_LABEL = {"规格型号": "ggxh", "单位": "jldw", "数量": "sl", "单价": "dj", "金额": "je", "税率/征收率": "slv",
                 "税率": "slv", "征收率": "slv", "税额": "se", "序号": "xh"}
# rows that end a table (or a page of a 销货清单): the totals, the 备注 box
STOP_KEYS = frozenset({"合计", "合", "小计", "总计", "价税合计(大写)", "备注", "备"})
TOTAL_NAMES = frozenset({"小计", "合计", "总计", "原价合计", "折扣额合计"})


def header_roles(special_keys: dict[str, str]) -> dict[str, str]:
    """Header label key → the role of its column: an InvoiceLine field, or ``special:<key>`` for a 特定要素."""
    roles = {key(label): "mc" for label in NAME_LABELS}
    roles.update({key(label): role for label, role in ROLE_BY_LABEL.items()})
    for label, special in special_keys.items():
        roles.setdefault(key(label), f"special:{special}")
    return roles


def _header(texts: list[Text], roles: dict[str, str]) -> list[tuple[str, Column]] | None:
    found: list[tuple[str, Column]] = []
    for text in texts:
        if text.rotated:
            continue
        columns = split_header(text, roles)
        if columns:
            found.extend((roles[column.label], column) for column in columns)
    for row in rows_of_columns(found):
        have = {role for role, _ in row}
        if {"mc", "je", "se"} <= have:
            # a column this reader has no role for still holds its values apart from its neighbours'
            y = row[0][1].y
            for text in texts:
                if abs(text.y - y) <= ROW_TOLERANCE and text.raw and not text.rotated and not split_header(text, roles):
                    row.append((f"other:{text.key}", Column(text.key, text.x, text.x_end, text.y)))
            return row
    return None


def rows_of_columns(found: list[tuple[str, Column]]) -> list[list[tuple[str, Column]]]:
    out: list[list[tuple[str, Column]]] = []
    for item in sorted(found, key=lambda item: item[1].y):
        if out and abs(item[1].y - out[-1][0][1].y) <= ROW_TOLERANCE:
            out[-1].append(item)
        else:
            out.append([item])
    return out


def read_table(texts: list[Text], roles: dict[str, str], is_amount: Callable[[str], bool]) -> list[dict[str, str]] | None:
    """The line items of one page's table, each as role → text; None when the page has no line table.

    Columns come from the header labels' positions; a value belongs to the column whose label centre is
    nearest its own centre. A row with an amount starts an item; a row without one continues the item
    above (names and other text cells wrap onto further rows)."""
    header = _header(texts, roles)
    if header is None:
        return None
    header_y = max(column.y for _, column in header)
    below = [t for t in texts if t.y > header_y + ROW_TOLERANCE]
    stop = min((t.y for t in below if t.key in STOP_KEYS), default=math.inf)
    labels = set(roles) | STOP_KEYS
    body = [t for t in below if t.y < stop - ROW_TOLERANCE and not t.template and not t.rotated and t.raw
            and t.key not in labels]
    items: list[dict[str, str]] = []
    pending: dict[str, str] = {}
    for row in rows(body):
        cells: dict[str, str] = {}
        for text in row:
            role, _ = min(header, key=lambda item: abs(item[1].centre - text.centre))
            cells[role] = cells.get(role, "") + text.raw
        if key(cells.get("mc", "")) in TOTAL_NAMES:
            break
        if is_amount(cells.get("je", "")):
            for role, value in pending.items():
                cells[role] = value + cells.get(role, "")
            pending = {}
            items.append(cells)
        else:
            target = items[-1] if items else pending
            for role, value in cells.items():
                if role in ("je", "se", "slv", "sl", "dj", "xh"):
                    continue
                target[role] = target.get(role, "") + value
    return items
