"""PDF e-invoices (税控 电子普票/专票, 数电 普票/专票, 通行费 printouts) read from their text layer by position."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from fapiaohub.domain import codes
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.money import ValueParseError, parse_amount, parse_rate
from fapiaohub.importers.base import Parsed, Rejected, SourceRef, UnreadableFile, checked
from fapiaohub.importers.pdf_qr import QrFields, parse_payload, read_qr
from fapiaohub.importers.pdf_shape import ShapeValues, read_by_shape
from fapiaohub.importers.pdf_streams import TooLarge, check_streams
from fapiaohub.importers.pdf_text import Line, Page, TextLayerError, read_pages

MAX_PDF_BYTES = 20 * 1024 * 1024
READ_KINDS = frozenset({"08", "10", "81", "82"})
PREVIEW_MARK = "仅供预览"
RATE_EXEMPT = "税率为免税或不征税：按 0 记"
RATE_NOT_STATED = "税率印作 ***（差额征税）：未标明，按 0 记"
QR_DISAGREES = "二维码与票面文字不一致"
NO_QR = "二维码未读出：未与票面核对"
SHAPE_READ = "票面文字位置不可用：按值的形状和绘制顺序读取"
MORE_PAGES = "PDF 超过 3 页：只读前 3 页"


def _label(word: str) -> str:
    """A printed label: its characters may be spaced out (校 验 码, 合    计); the colon is optional."""
    return r"[ \t]*".join(re.escape(char) for char in word)


_COLON = r"[ \t]*[:：]"
_AMOUNT = re.compile(r"[¥￥]?[ \t]*(-?[\d,]*\d\.\d{1,2}|\*{3})")
_DATE = re.compile(r"(\d{4})[ \t]*年?[ \t]*(\d{1,2})[ \t]*月?[ \t]*(\d{1,2})[ \t]*日?")
_DIGITAL_TITLE = re.compile(r"电子发票[（(][^（()）]{2,16}[)）]")
_TAXCTRL_TITLE = re.compile(r"增值税电子(专用|普通)发票([（(]通行费[)）])?")


@dataclass(slots=True)
class Found:
    """A labelled value and where its label is."""

    value: str
    x: float
    y: float


@dataclass(slots=True)
class Reading:
    """Everything read off the pages, before it becomes an Invoice."""

    fplx: str
    fpdm: str = ""
    fphm: str = ""
    kprq: datetime | None = None
    jym: str = ""
    gfmc: str = ""
    gfsbh: str = ""
    xfmc: str = ""
    xfsbh: str = ""
    je: Decimal | None = None
    se: Decimal | None = None
    jshj: Decimal | None = None
    kpr: str = ""
    bz: str = ""
    lines: list[InvoiceLine] = field(default_factory=list)
    special: list[dict[str, str]] = field(default_factory=list)
    tdywlx: str = ""
    flags: list[str] = field(default_factory=list)
    by_shape: bool = False


class NotReadable(ValueError):  # noqa: N818 - a verdict on a file
    """A field the invoice needs is not on the page (the record is rejected, naming the field)."""


def read_pdf(path: Path) -> Iterator[Parsed | Rejected]:
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_PDF_BYTES:
        raise UnreadableFile(path, f"PDF larger than {MAX_PDF_BYTES // 1024**2} MB; an e-invoice is a few hundred KB")
    try:
        check_streams(path.read_bytes())  # before pdfminer or pdfium inflate anything whole
    except TooLarge as exc:
        raise UnreadableFile(path, str(exc)) from None
    try:
        pages, page_count = read_pages(path)
    except TextLayerError as exc:
        raise UnreadableFile(path, str(exc)) from None
    if not pages or not any(page.runs for page in pages):
        raise UnreadableFile(path, "PDF has no text layer (a scan or an image); fapiaohub does not do OCR")
    source = SourceRef(path.name)
    flat = "".join(run.text for page in pages for run in page.runs)
    if PREVIEW_MARK in flat:
        yield Rejected(source, f"a preview ({PREVIEW_MARK}) with placeholder values, not an issued invoice")
        return
    try:
        reading = _read(pages)
    except NotReadable as exc:
        yield Rejected(source, f"cannot read the invoice from the PDF text: {exc}")
        return
    placeholder = _placeholder(reading)
    if placeholder:
        yield Rejected(source, f"placeholder values ({placeholder}): a preview or a template, not an issued invoice")
        return
    if page_count > len(pages):
        reading.flags.append(MORE_PAGES)
    problem = _cross_check(reading, [p for p in map(parse_payload, read_qr(path)) if p is not None])
    if problem is not None:
        yield Rejected(source, problem)
        return
    try:
        invoice = _invoice(reading)
    except NotReadable as exc:
        yield Rejected(source, f"cannot read the invoice from the PDF text: {exc}")
        return
    yield checked(invoice, source, reading.flags)


def _placeholder(reading: Reading) -> str:
    """Previews whose 仅供预览 mark is not text still carry placeholder values: masked ids (`…XXXX`) or a
    number that is Java's Long.MAX_VALUE (an unset field of the issuing software)."""
    if reading.fphm == str(2**63 - 1):
        return f"发票号码 {reading.fphm}"
    masked = [value for value in (reading.gfsbh, reading.xfsbh) if "XXX" in value]
    return f"纳税人识别号 {masked[0]}" if masked else ""


# --- kind -------------------------------------------------------------------------------------------------


def _business(lines: list[Line]) -> str:
    """The tdywlx of a 特定业务 label printed above the title (成品油, 旅客运输服务, 建筑服务 …); '' for none."""
    for line in lines:
        text = re.sub(r"\s+", "", line.text())
        if _DIGITAL_TITLE.search(text):
            return ""
        code = codes.business_code(text)
        if code:
            return code
    return ""


def _kind(lines: list[Line], code: str) -> str:
    """The fplx from the title, wherever it is printed (the first text may be a 特定业务 label, a seal glyph,
    a print header), else from digits 11-12 of a 12-digit 发票代码."""
    for line in lines:
        text = re.sub(r"\s+", "", line.text())
        match = _DIGITAL_TITLE.search(text)
        if match:
            kind = codes.kind_by_name(match.group())
            if kind:
                return kind
        match = _TAXCTRL_TITLE.search(text)
        if match:  # 增值税电子普通发票（通行费） is a kind of its own (14), not read from PDF
            return "14" if match.group(2) else "08" if match.group(1) == "专用" else "10"
    if len(code) == 12:
        by_code = {"11": "10", "13": "08"}.get(code[10:12])
        if by_code:
            return by_code
    raise NotReadable("no invoice title (电子发票（…）/ 增值税电子…发票) and no 发票代码 that names the kind")


# --- labelled values ----------------------------------------------------------------------------------------


def _labelled(lines: list[Line], pattern: str) -> list[Found]:
    """The value of every occurrence of a label: the rest of its field on the same line, else the next field
    on that line if it is not a label itself, else the field in the line below that starts under the label."""
    regex = re.compile(pattern)
    out: list[Found] = []
    for index, line in enumerate(lines):
        text, xs = line.located()
        for match in regex.finditer(text):
            rest = text[match.end():]
            fields = rest.split("\t")
            value = fields[0].strip()
            if not value and len(fields) > 1 and not re.search(r"[:：]\s*$", fields[1]):
                value = fields[1].strip()
            x = xs[match.start()] if match.start() < len(xs) else line.runs[0].x0
            if not value:
                value = _below(lines, index, x)
            out.append(Found(value, x, (line.top + line.bottom) / 2))
    return out


def _below(lines: list[Line], index: int, x: float) -> str:
    line = lines[index]
    height = line.bottom - line.top
    for other in lines[index + 1:index + 3]:
        if other.top - line.bottom > 1.5 * height:
            break
        for text, x0, x1 in other.segments():
            if x0 - height <= x <= x1 and not re.search(r"[:：]", text):
                return text.strip()
    return ""


def _first(lines: list[Line], pattern: str) -> str:
    return next((found.value for found in _labelled(lines, pattern) if found.value), "")


def _date(text: str) -> datetime | None:
    match = _DATE.search(text)
    if match is None:
        digits = re.sub(r"\D", "", text)
        if len(digits) != 8:
            return None
        year, month, day = digits[:4], digits[4:6], digits[6:]
    else:
        year, month, day = match.groups()
    try:
        return datetime(int(year), int(month), int(day))
    except ValueError:
        return None


# --- parties --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Side:
    name: str
    x: float
    top: float
    bottom: float


def _sides(page: Page) -> list[_Side]:
    """The 购买方 / 销售方 block labels: a 购 or 销 with 买/售 under it (vertical) or after it."""
    out: list[_Side] = []
    runs = page.runs
    for run in runs:
        head = run.text[:1]
        if head not in ("购", "销") or (len(run.text) > 1 and run.text[1] not in "买售"):
            continue
        side = "gf" if head == "购" else "xf"
        bottom = run.bottom
        for other in sorted(runs, key=lambda r: r.top):
            if abs(other.x0 - run.x0) < run.height and bottom <= other.top < bottom + run.height:
                bottom = other.bottom
        out.append(_Side(side, run.x0, run.top, bottom))
    return out


def _assign(found: list[Found], sides: list[_Side]) -> dict[str, str]:
    """Buyer or seller for each labelled value: the nearest block label to its left (vertical distance to the
    block, then horizontal); without block labels, the first is the buyer and the second the seller."""
    out: dict[str, str] = {}
    values = [f for f in found if f.value]
    if not sides:
        for side, item in zip(("gf", "xf"), sorted(values, key=lambda f: (f.y, f.x)), strict=False):
            out[side] = item.value
        return out
    for item in values:
        left = [s for s in sides if s.x <= item.x + 1]
        if not left:
            continue
        best = min(left, key=lambda s: (max(s.top - item.y, item.y - s.bottom, 0.0) + (item.x - s.x) / 10))
        out.setdefault(best.name, item.value)
    return out


_NAME = r"(?<!项目)(?<!目)" + _label("名称") + _COLON
_TAX_ID = r"(?:纳税人识别号|识别号)" + _COLON


# --- amounts ------------------------------------------------------------------------------------------------


def _money(text: str, what: str) -> Decimal:
    if text == "***":
        return Decimal("0.00")
    try:
        return parse_amount(text, what)
    except ValueParseError as exc:
        raise NotReadable(f"{what}: {exc}") from None


def _totals(page: Page, lines: list[Line]) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """合计 金额 and 税额, and 价税合计 after （小写）: the amounts to the right of each label whose middles lie
    within the label's height (the ¥ figures are often drawn a little higher or lower than the label)."""
    je = se = jshj = None
    total = re.compile(r"(?<!税)(?<!价)" + _label("合计") + r"(?![ \t]*[(（])")
    small = re.compile(r"[(（][ \t]*小[ \t]*写[ \t]*[)）]")
    for line in lines:
        text, xs = line.located()
        for regex, kind in ((total, "total"), (small, "small")):
            match = regex.search(text)
            if match is None or (kind == "total" and je is not None) or (kind == "small" and jshj is not None):
                continue
            x = xs[match.end() - 1]
            middle, height = (line.top + line.bottom) / 2, line.bottom - line.top
            near = sorted((r for r in page.runs if r.x0 > x and abs(r.middle - middle) < 0.75 * height),
                          key=lambda r: r.x0)
            amounts = _AMOUNT.findall(" ".join(r.text for r in near))
            if kind == "total" and len(amounts) >= 2:
                je, se = _money(amounts[0], "合计金额"), _money(amounts[1], "合计税额")
            elif kind == "small" and amounts:
                jshj = _money(amounts[0], "价税合计（小写）")
    return je, se, jshj


# --- line items ---------------------------------------------------------------------------------------------

_COLUMN_WORDS = (
    ("no", ("序号",)),  # 销货清单 rows are numbered; the number is not part of the name
    ("mc", ("货物或应税劳务、服务名称", "货物或应税劳务名称", "货物（劳务）名称", "货物(劳务)名称", "项目名称", "名称")),
    ("ggxh", ("规格型号",)), ("jldw", ("单位",)), ("sl", ("数量",)), ("dj", ("单价",)), ("je", ("金额",)),
    ("slv", ("税率/征收率", "税率", "征收率")), ("se", ("税额",)), ("cph", ("车牌号码", "车牌号")),
    ("cllx", ("车辆类型",)), ("txrqq", ("通行日期起",)), ("txrqz", ("通行日期止",)),
)
_HEADER = re.compile("|".join(f"(?P<{key}>{'|'.join(_label(word) for word in words)})" for key, words in _COLUMN_WORDS))
_TABLE_END = re.compile(r"合[ \t]*计|小[ \t]*计|总[ \t]*计|价税合计|备[ \t]*注")


def _columns(line: Line) -> list[tuple[str, float]] | None:
    """The columns of a table header row, each with the centre of its printed name."""
    text, lefts, rights = line.boxed()
    out: list[tuple[str, float]] = []
    for match in _HEADER.finditer(text):
        key = match.lastgroup
        if key is None or any(k == key for k, _ in out):
            continue
        out.append((key, (lefts[match.start()] + rights[match.end() - 1]) / 2))
    keys = {k for k, _ in out}
    return out if {"mc", "je", "se"} <= keys else None


def _table(lines: list[Line], reading: Reading) -> None:
    """Line items from the table under the header row (项目名称 … 金额 税率 税额): every run goes to the column
    whose header is nearest; a row without 金额 continues the previous item's name (wrapped)."""
    rows: list[dict[str, str]] = []
    header: list[tuple[str, float]] | None = None
    end = 0.0
    for index, line in enumerate(lines):
        if header is None:
            header = _columns(line)
            # The table ends at the first 合计/小计/价税合计/备注 below the header; the ¥ totals may be drawn
            # a little above the 合计 label, so a row must lie wholly above that label's top.
            end = next((other.top for other in lines[index + 1:] if _TABLE_END.search(other.text())), float("inf"))
            continue
        if _TABLE_END.search(line.text()) or (line.top + line.bottom) / 2 >= end:
            header = None
            continue
        cells: dict[str, str] = {}
        for run in line.runs:
            middle = (run.x0 + run.x1) / 2
            key = min(header, key=lambda column: abs(column[1] - middle))[0]
            cells[key] = cells.get(key, "") + run.text
        if "详见" in cells.get("mc", "") and "清单" in cells.get("mc", ""):
            continue
        if cells.get("je", "").startswith(("¥", "￥")):  # a total, not an item
            continue
        if cells.get("je"):
            rows.append(cells)
        elif rows:  # a wrapped name (or 规格型号, 单位) continues the item above
            for key in ("mc", "ggxh", "jldw"):
                if cells.get(key):
                    rows[-1][key] = rows[-1].get(key, "") + cells[key]
    for cells in rows:
        reading.lines.append(_line(cells, reading))
        if "txrqq" in cells or "cph" in cells:
            reading.special.append({key: cells.get(key, "") for key in ("cph", "cllx", "txrqq", "txrqz")})


def _line(cells: dict[str, str], reading: Reading) -> InvoiceLine:
    name = cells.get("mc", "")
    rate_text = cells.get("slv", "").strip()
    try:
        rate = parse_rate(rate_text, "税率") if rate_text else None
    except ValueParseError as exc:
        raise NotReadable(f"line {name!r}: {exc}") from None
    if rate is None:
        if RATE_NOT_STATED not in reading.flags:
            reading.flags.append(RATE_NOT_STATED)
        rate = Decimal("0")
    elif rate == 0 and rate_text in ("免税", "不征税") and RATE_EXEMPT not in reading.flags:
        reading.flags.append(RATE_EXEMPT)
    return InvoiceLine(mc=name, je=_money(cells["je"], f"line {name!r} 金额"),
                       se=_money(cells.get("se", "").strip() or "***", f"line {name!r} 税额"), slv=rate,
                       ggxh=cells.get("ggxh", ""), sl=cells.get("sl", ""), jldw=cells.get("jldw", ""),
                       dj=cells.get("dj", ""))


# --- 备注 ----------------------------------------------------------------------------------------------------


def _remark(page: Page, lines: list[Line]) -> str:
    """The text to the right of the 备注 label, between the label's top and its bottom (备 above 注)."""
    label = None
    for run in page.runs:
        if run.text.startswith("备"):
            below = [r for r in page.runs if r.text.startswith("注") and abs(r.x0 - run.x0) < run.height
                     and 0 <= r.top - run.bottom < 5 * run.height]
            if re.match(r"备[ \t]*注", run.text) or below:
                bottom = min(below, key=lambda r: r.top).bottom if below else run.bottom
                label = (run.x1, run.top - run.height, bottom + run.height)
                break
    if label is None:
        return ""
    x1, top, bottom = label
    parts = []
    for line in lines:
        chosen = [r for r in line.runs if r.x0 > x1 and top <= (r.top + r.bottom) / 2 <= bottom
                  and not r.text.startswith("注")]
        if chosen:
            parts.append(Line(chosen).text().replace("\t", " "))
    return "\n".join(parts).strip()


# --- the whole reading --------------------------------------------------------------------------------------


def _read(pages: list[Page]) -> Reading:
    page = pages[0]
    lines = page.lines()
    code = re.sub(r"\D", "", _first(lines, _label("发票代码") + _COLON))
    reading = Reading(fplx=_kind(lines, code), fpdm=code)
    if reading.fplx not in READ_KINDS:
        raise NotReadable(f"an invoice of kind {codes.FPLX.get(reading.fplx, (reading.fplx,))[0]} "
                          f"({reading.fplx}); fapiaohub reads 电子普票/专票 and 数电 普票/专票 from PDF")
    if reading.fplx in ("81", "82"):
        reading.fpdm = ""
        reading.tdywlx = _business(lines)
    number = _first(lines, _label("发票号码") + _COLON)
    digits = re.match(r"\d{8,20}", number.replace(" ", ""))
    reading.fphm = digits.group() if digits else ""
    reading.kprq = _date(_first(lines, _label("开票日期") + _COLON))
    check = _first(lines, _label("校验码") + _COLON).replace(" ", "")
    reading.jym = check if re.fullmatch(r"\d{20}", check) else ""
    sides = _sides(page)
    names = _assign(_labelled(lines, _NAME), sides)
    ids = _assign(_labelled(lines, _TAX_ID), sides)
    reading.gfmc, reading.xfmc = names.get("gf", ""), names.get("xf", "")
    reading.gfsbh = _tax_id(ids.get("gf", ""))
    reading.xfsbh = _tax_id(ids.get("xf", ""))
    reading.je, reading.se, reading.jshj = _totals(page, lines)
    reading.kpr = _person(_first(lines, _label("开票人") + _COLON))
    reading.bz = _remark(page, lines)
    details = any("清单" in line.text() and "详见" in line.text() for line in lines)
    for other in pages if details else pages[:1]:
        _table(other.lines(), reading)
    broken = page.off_page() > 3
    if broken or not reading.fphm:
        _fill_by_shape(reading, read_by_shape(page), replace=broken)
    _toll(reading, lines)
    return reading


def _tax_id(text: str) -> str:
    match = re.match(r"[0-9A-Z]{15,20}", text.replace(" ", ""))
    return match.group() if match else ""


def _person(text: str) -> str:
    return re.split(r"[ \t]", text.strip(), maxsplit=1)[0] if text.strip() else ""


def _toll(reading: Reading, lines: list[Line]) -> None:
    """通行费: the table has 车牌号 / 通行日期 columns (the title says 普通发票 only); canonical 8208 / 08."""
    toll_item = any("通行费" in line.mc for line in reading.lines)
    if reading.fplx == "82" and reading.special and toll_item:
        reading.fplx = codes.TOLL_DIGITAL
        reading.tdywlx = codes.TOLL_BUSINESS
    else:
        # Only the toll columns are read as 特定要素; other 特定业务 tables are known not to be read.
        reading.special = []


def _fill_by_shape(reading: Reading, shape: ShapeValues, replace: bool) -> None:
    """Values taken by their shape and drawing order. On a page whose values are drawn outside it (a broken
    OFD conversion) labels and values are not where each other are, so every value comes from the shape
    reading (`replace`); otherwise it only fills what the labels did not give."""
    reading.by_shape = True
    reading.flags.append(SHAPE_READ)
    pairs = (("fphm", shape.number), ("kprq", shape.day), ("gfmc", shape.buyer), ("xfmc", shape.seller),
             ("gfsbh", shape.buyer_id), ("xfsbh", shape.seller_id), ("kpr", shape.drawer))
    for name, value in pairs:
        if replace or not getattr(reading, name):
            setattr(reading, name, value)
    if replace or reading.je is None or reading.se is None or reading.jshj is None:
        reading.je, reading.se, reading.jshj = shape.je, shape.se, shape.jshj
    if replace:
        reading.lines, reading.special, reading.bz = [], [], ""
    if not reading.lines:
        for cells in shape.lines:
            reading.lines.append(_line(cells, reading))


# --- QR -------------------------------------------------------------------------------------------------------


def _cross_check(reading: Reading, codes_read: list[QrFields]) -> str | None:
    """Compare the QR code with the text: a disagreement is a flag; where the text was read by shape (no
    usable positions) the QR code is the better witness and a disagreement rejects the invoice."""
    if not codes_read:
        reading.flags.append(NO_QR)
        return None
    qr = codes_read[0]
    problems = []
    if qr.number != reading.fphm:
        problems.append(f"号码 {qr.number} ≠ {reading.fphm}")
    if qr.code and qr.code != reading.fpdm:
        problems.append(f"发票代码 {qr.code} ≠ {reading.fpdm}")
    if reading.kprq is not None and qr.day != f"{reading.kprq:%Y%m%d}":
        problems.append(f"日期 {qr.day} ≠ {reading.kprq:%Y%m%d}")
    try:
        amount = Decimal(qr.amount)
    except ArithmeticError:
        amount = None
    # 税控 codes carry the amount without tax; 数电 codes (real files) carry 价税合计: either agrees.
    if amount is None or all(amount != value for value in (reading.je, reading.jshj) if value is not None):
        problems.append(f"金额 {qr.amount} ≠ {reading.je}/{reading.jshj}")
    if qr.check and reading.jym and qr.check != reading.jym:
        problems.append(f"校验码 {qr.check} ≠ {reading.jym}")
    if not problems:
        return None
    if reading.by_shape:
        return f"the QR code disagrees with the text read by shape ({'; '.join(problems)}): the text cannot be trusted"
    reading.flags.append(f"{QR_DISAGREES}: {'; '.join(problems)}")
    return None


# --- assembly -----------------------------------------------------------------------------------------------


def _invoice(r: Reading) -> Invoice:
    missing = [label for label, value in (("发票号码", r.fphm), ("开票日期", r.kprq), ("合计金额", r.je),
                                          ("合计税额", r.se), ("价税合计", r.jshj)) if value in (None, "")]
    if missing:
        raise NotReadable(f"{', '.join(missing)} not found")
    if r.fplx in ("08", "10") and not r.fpdm:
        raise NotReadable("发票代码 not found on a 税控 invoice")
    assert r.kprq is not None
    assert r.je is not None
    assert r.se is not None
    assert r.jshj is not None
    return Invoice(fplx=r.fplx, fpdm=r.fpdm, fphm=r.fphm, kprq=r.kprq, je=r.je, se=r.se, jshj=r.jshj,
                   gfmc=r.gfmc, gfsbh=r.gfsbh, xfmc=r.xfmc, xfsbh=r.xfsbh, jym=r.jym, kpr=r.kpr, bz=r.bz,
                   tdywlx=r.tdywlx, lines=r.lines, special=r.special)
