"""The e-tax bureau's 全量发票查询导出结果.xlsx: 信息汇总表 (lines), 发票基础信息 (invoices) and 特定业务 sheets.

The workbook is read in passes over its sheets (a zip lets sheets be read in any order), so that
memory stays flat whatever the number of lines (docs/formats/bureau-export.md):

1. 特定业务 sheets (small): their 特定要素 / 铁路 xcdList values by identity, in a bounded map.
2. 信息汇总表, streamed: it repeats the invoice's header on every line, so each invoice is
   assembled from its consecutive rows, checked against its 发票基础信息 totals, given its step 1
   elements and yielded; only one invoice is held at a time.
3. 发票基础信息, read alongside step 2 (in this process, while a child scans the line sheet):
   each invoice's 金额/税额/价税合计 cells by identity (数电发票号码, else 发票代码:发票号码), read on
   only as far as the invoice being finished. The bureau lists invoices in the same order in both
   sheets, so a cell or two is held at a time; a workbook in another order holds what it passes
   (the cells, not the invoices), at most the whole sheet's.
4. Invoices of 发票基础信息 without lines (none in real exports): a second pass over that sheet.
"""

from __future__ import annotations

import itertools
import zipfile
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import python_calamine
from lxml import etree

from fapiaohub.domain.codes import (
    RAILWAY_BUSINESS_NAMES,
    STATUS_BY_NAME,
    TDYWLX,
    TOLL_BUSINESS,
    TOLL_DIGITAL,
    business_code,
    kind_by_name,
    normalise_name,
)
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.money import ValueParseError, parse_amount, parse_datetime, parse_rate
from fapiaohub.domain.validation import LINE_TOLERANCE, TOTAL_TOLERANCE
from fapiaohub.importers.base import ImportRecord, Parsed, Rejected, Skipped, SourceRef, UnreadableFile, checked
from fapiaohub.importers.bureau_sheets import HEADER_ROWS, SheetPlan, classify, describe_other
from fapiaohub.importers.row_process import rows_in_child
from fapiaohub.importers.xlsx_stream import SheetError, StreamingWorkbook, cell_extent

MAX_UNCOMPRESSED = 1024**3  # an export of a few hundred thousand rows is far below this
STREAM_ABOVE = 100 * 1024**2  # worksheet XML bytes above which rows are streamed (see _Book)
CHILD_ABOVE = 32 * 1024**2  # a streamed sheet larger than this is read by a child process (row_process)
# calamine's bounding box (see _Book._boxes_fit): a cell costs it about 32 bytes; a real export's box is
# about 1.3× its XML, so a box above 64 MiB + 4× the sheet's XML bytes is not a real sheet's
CALAMINE_CELL_BYTES = 32
CALAMINE_BOX_FLOOR = 64 * 1024**2
CALAMINE_BOX_PER_BYTE = 4
MAX_RATIO = 200  # a member this much larger than its compressed size, and over 100 MB, is a bomb
MAX_SPECIAL_ROWS = 500_000  # 特定业务 rows held at once (about 300 bytes each)
REPEATED = ("开票日期", "发票票种", "销方识别号", "购方识别号", "发票状态")  # the same on every row of an invoice
NO_NUMBER = "--"  # what 税控 rows hold in 数电发票号码
_UNREADABLE = (SheetError, KeyError, ValueError, etree.XMLSyntaxError, zipfile.BadZipFile, zlib.error, EOFError)

RowError = ValueParseError  # a cell that cannot be read; the message names the column and the value


def _check_archive(path: Path) -> int:
    """Refuse zip bombs before any reader inflates them; returns the worksheets' XML size."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFile(path, f"not an xlsx workbook (xlsx files are zip archives): {exc}") from None
    if sum(m.file_size for m in members) > MAX_UNCOMPRESSED:
        raise UnreadableFile(path, f"decompresses to more than {MAX_UNCOMPRESSED // 1024**2} MB")
    for member in members:
        if member.file_size > 100 * 1024**2 and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise UnreadableFile(path, f"member {member.filename} is compressed "
                                       f"{member.file_size // max(member.compress_size, 1)}:1 (a zip bomb?)")
    return sum(m.file_size for m in members if m.filename.startswith("xl/worksheets/"))


class _Book:
    """The sheets of a workbook, readable in any order and more than once. calamine is the fastest
    reader but holds a whole sheet in memory (about 1.3× its XML): workbooks whose sheets are larger
    than STREAM_ABOVE are streamed instead (xlsx_stream: about as fast, flat in memory), and a
    streamed sheet over CHILD_ABOVE is read by a child process (row_process), so that reading and
    the rest of the import use two cores. Headers are always peeked at by streaming (cheap)."""

    def __init__(self, path: Path, sheet_bytes: int) -> None:
        self.path = path
        try:
            self.archive = zipfile.ZipFile(path)
            self.stream = StreamingWorkbook(self.archive)
            self.sheets = self.stream.sheets()
        except (*_UNREADABLE, OSError) as exc:
            raise UnreadableFile(path, f"cannot open the workbook: {exc}") from None
        self.calamine: Any = None
        if sheet_bytes <= STREAM_ABOVE and self._boxes_fit():
            try:
                self.calamine = python_calamine.CalamineWorkbook.from_path(str(path))
            except Exception as exc:  # noqa: BLE001 - calamine raises several types for broken workbooks
                self.close()
                raise UnreadableFile(path, f"cannot open the workbook: {exc}") from None

    def _boxes_fit(self) -> bool:
        """Whether calamine may read the sheets: it allocates each sheet's bounding box (rows ×
        columns that its cell references span, CALAMINE_CELL_BYTES a cell) whatever the cells
        present, so cells at A1 and XFD1048576 would ask for 512 GiB and abort the process. A box
        out of proportion to the sheet's bytes is streamed instead (flat memory)."""
        for _, member in self.sheets:
            try:
                size = self.archive.getinfo(member).file_size
                rows, columns = cell_extent(self.archive, member)
            except (*_UNREADABLE, OSError):
                return False  # the streaming reader will say what is wrong with it
            if rows * columns * CALAMINE_CELL_BYTES > CALAMINE_BOX_FLOOR + CALAMINE_BOX_PER_BYTE * size:
                return False
        return True

    def close(self) -> None:
        if self.calamine is not None:
            self.calamine.close()
        self.archive.close()

    def head(self, name: str, member: str) -> list[list[Any]]:
        rows = self._readable(name, self.stream.rows(member))
        try:
            return list(itertools.islice(rows, HEADER_ROWS))
        finally:
            rows.close()

    def rows(self, plan: SheetPlan, *, here: bool = False) -> Iterator[tuple[int, list[Any]]]:
        """(1-based row number, cells) of the rows below the header; ``here``: read in this process
        whatever the sheet's size (a sheet read alongside another that a child reads)."""
        if self.calamine is not None:
            try:
                rows: Iterator[list[Any]] = iter(self.calamine.get_sheet_by_name(plan.name).iter_rows())
            except Exception as exc:  # noqa: BLE001 - calamine raises several types for broken sheets
                raise UnreadableFile(self.path, f"sheet {plan.name!r} cannot be read: {exc}") from None
        else:
            big = (not here and plan.member in self.stream.names
                   and self.archive.getinfo(plan.member).file_size > CHILD_ABOVE)
            rows = rows_in_child(self.path, plan.member) if big else self.stream.rows(plan.member)
        numbered = enumerate(self._readable(plan.name, rows), start=1)
        for number, _ in numbered:
            if number == plan.header_row:
                break
        return numbered

    def _readable(self, sheet: str, rows: Iterator[list[Any]]) -> Generator[list[Any], None, None]:
        """Rows of a sheet; a sheet that turns out to be broken halfway makes the whole file
        unreadable (the caller's transaction then stores nothing from it)."""
        try:
            yield from rows
        except _UNREADABLE as exc:
            raise UnreadableFile(self.path, f"sheet {sheet!r} cannot be read: {exc}") from None


def read_bureau_export(path: Path) -> Iterator[ImportRecord]:
    """Invoices of a bureau export, each with its file/sheet/first row; bad invoices as Rejected,
    sheets not understood as Skipped. UnreadableFile for a workbook that is not an export."""
    path = Path(path)
    book = _Book(path, _check_archive(path))
    try:
        plans, heads = [], {}
        for name, member in book.sheets:
            heads[name] = book.head(name, member)
            plans.append(classify(name, member, heads[name]))
        if not any(p.role in ("lines", "basic") for p in plans):
            raise UnreadableFile(path, describe_other(heads))
        del heads
        for plan in plans:
            if plan.role == "other":
                yield Skipped(SourceRef(path.name, plan.name), f"sheet {plan.name!r} is not read: {plan.why}")
        yield from _Import(path.name, book, plans).records()
    finally:
        book.close()


def _text(value: Any) -> str:
    if value.__class__ is str:  # most cells: tested first
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    return str(value).strip()


_RATES: dict[tuple[type, Any], tuple[Decimal, str | None]] = {}  # a sheet has a handful of distinct rates


def _rate(value: Any) -> tuple[Decimal, str | None]:
    """The rate as a fraction, and a flag for 免税/不征税 (stored as 0) or *** (not stated)."""
    known = _RATES.get((value.__class__, value))
    if known is None:
        rate = parse_rate(value, "税率")
        text = _text(value).replace(" ", "")
        if rate is None:
            known = Decimal(0), f"税率为{text}（差额征税，未注明税率）"
        elif rate == 0 and text not in ("", "0", "0%"):
            known = rate, f"税率为{text}"
        else:
            known = rate, None
        if len(_RATES) < 1024:
            _RATES[(value.__class__, value)] = known
    return known


class _Cells:
    """A sheet's column positions. Rows are padded to the header's width plus one always-empty
    cell, where the columns a sheet lacks point."""

    def __init__(self, plan: SheetPlan) -> None:
        columns = plan.columns
        self.empty = max(columns.values()) + 1
        self.width = self.empty + 1

        def at(name: str) -> int:
            return columns.get(name, self.empty)

        self.fpdm, self.fphm, self.digital = at("发票代码"), at("发票号码"), at("数电发票号码")
        self.kind, self.kprq, self.status, self.risk = at("发票票种"), at("开票日期"), at("发票状态"), at("发票风险等级")
        self.xfsbh, self.xfmc, self.gfsbh, self.gfmc = at("销方识别号"), at("销方名称"), at("购方识别号"), at("购买方名称")
        self.kpr, self.bz, self.business, self.positive = at("开票人"), at("备注"), at("特定业务类型"), at("是否正数发票")
        self.je, self.se, self.jshj, self.rate = at("金额"), at("税额"), at("价税合计"), at("税率")
        self.mc, self.spbm, self.ggxh = at("货物或应税劳务名称"), at("税收分类编码"), at("规格型号")
        self.sl, self.jldw, self.dj = at("数量"), at("单位"), at("单价")
        self.repeated = [at(name) for name in REPEATED]

    def pad(self, row: list[Any]) -> list[Any]:
        if len(row) < self.width:
            row.extend([None] * (self.width - len(row)))
        else:
            row[self.empty] = None  # a cell right of the header: nobody reads it
        return row

    def identity(self, row: list[Any]) -> str:
        """The canonical Invoice.key: the 数电 number, else 发票代码:发票号码 (税控 rows hold -- as 数电 number)."""
        digital = _text(row[self.digital])
        if digital and digital != NO_NUMBER:
            return digital
        code, number = _text(row[self.fpdm]), _text(row[self.fphm])
        return f"{code}:{number}" if code else number

    def header(self, row: list[Any], flags: list[str]) -> tuple[Invoice, bool]:
        """The invoice's header fields from one of its rows (amounts 0), and whether it is red."""
        kind_name = _text(row[self.kind])
        fplx = kind_by_name(kind_name)
        if fplx is None:
            raise RowError(f"发票票种 {kind_name!r} is not a known invoice kind")
        digital = _text(row[self.digital])
        fpdm, fphm = ("", digital) if digital and digital != NO_NUMBER else (_text(row[self.fpdm]), _text(row[self.fphm]))
        if not fphm:
            raise RowError("发票号码 and 数电发票号码 are both empty")
        status_text = _text(row[self.status]) or "正常"
        status = STATUS_BY_NAME.get(status_text.replace(" ", ""))
        if status is None:
            raise RowError(f"发票状态 {status_text!r} is not a known status")
        risk = _text(row[self.risk])
        if risk and risk != "正常":
            flags.append(f"发票风险等级：{risk}")
        inv = Invoice(
            fplx=fplx, fpdm=fpdm, fphm=fphm, kprq=parse_datetime(row[self.kprq], "开票日期"),
            je=Decimal(0), se=Decimal(0), jshj=Decimal(0),
            xfsbh=_text(row[self.xfsbh]).upper(), xfmc=_text(row[self.xfmc]),
            gfsbh=_text(row[self.gfsbh]).upper(), gfmc=_text(row[self.gfmc]),
            kpr=_text(row[self.kpr]), bz=_text(row[self.bz]), fpzt_dm=status,
        )
        return inv, _text(row[self.positive]) == "否"

    def line(self, row: list[Any]) -> tuple[InvoiceLine, str | None]:
        rate, flag = _rate(row[self.rate])
        return InvoiceLine(
            mc=_text(row[self.mc]), je=parse_amount(row[self.je], "金额"), se=parse_amount(row[self.se], "税额"),
            slv=rate, spbm=_text(row[self.spbm]), ggxh=_text(row[self.ggxh]),
            sl=_text(row[self.sl]).replace(",", ""), jldw=_text(row[self.jldw]),
            dj=_text(row[self.dj]).replace(",", ""),
        ), flag


def _skip(row: list[Any]) -> bool:
    """Whether a row holds no invoice: blank (cells of only spaces count as empty), or the
    invoice sheet's 合计行 (序号 合计行, only 金额 and 税额 filled)."""
    first = row[0] if row else None
    if first.__class__ is str and first.lstrip().startswith("合计"):
        return True
    for value in row:
        if value is not None and (value.__class__ is not str or value.strip()):
            return False
    return True


@dataclass(slots=True)
class _Totals:
    """An invoice's 发票基础信息 cells: amounts as the sheet holds them (parsed when used) and where."""

    je: Any
    se: Any
    jshj: Any
    sheet: str
    row: int


@dataclass
class _Pending:
    """The line rows of the invoice being assembled."""

    key: str
    first_row: int
    last_row: int = 0
    invoice: Invoice | None = None
    errors: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    line_jshj: Decimal = Decimal(0)
    red: bool = False  # 是否正数发票 = 否
    business: str = ""  # 特定业务类型 of its first line that has one
    repeated: list[Any] = field(default_factory=list)  # the first row's REPEATED cells


class _Import:
    """The passes over one workbook (see the module's docstring)."""

    def __init__(self, file: str, book: _Book, plans: list[SheetPlan]) -> None:
        self.file, self.book = file, book
        self.lines = [p for p in plans if p.role == "lines"]
        self.basic = [p for p in plans if p.role == "basic"]
        self.specials = [p for p in plans if p.role in ("special", "railway")]
        self.totals: dict[str, _Totals] = {}
        # identity → ((index of the 特定业务 sheet in self.specials, row, values), …)
        self.extras: dict[str, tuple[tuple[int, int, tuple[str, ...]], ...]] = {}
        self.done: set[str] = set()  # identities already yielded (or rejected)
        self.listed: dict[str, int] = {}  # identity → its row in 发票基础信息, for those read so far
        self.basic_rows = self._basic_rows()

    def records(self) -> Iterator[ImportRecord]:
        for index, plan in enumerate(self.specials):
            yield from self._read_extras(index, plan)
        for plan in self.lines:
            yield from self._read_lines(plan)
        yield from self._read_totals(None)  # the rest of 发票基础信息
        if self.totals:  # invoices listed without lines
            for plan in self.basic:
                yield from self._read_basic_invoices(plan)
        for key, entries in self.extras.items():
            index, row, _ = entries[0]
            yield Rejected(SourceRef(self.file, self.specials[index].name, row),
                           f"invoice {key} is listed only in 特定业务 sheet {self.specials[index].name!r}, "
                           "not in 信息汇总表 or 发票基础信息: it has no amounts")

    # --- step 3: 发票基础信息 amounts, read alongside the lines -------------------------------------

    def _basic_rows(self) -> Iterator[tuple[SheetPlan, _Cells, int, list[Any]]]:
        for plan in self.basic:
            cells = _Cells(plan)
            for number, row in self.book.rows(plan, here=True):
                if not _skip(row):
                    yield plan, cells, number, cells.pad(row)

    def _read_totals(self, until: str | None) -> Iterator[ImportRecord]:
        """Read 发票基础信息 on until invoice ``until`` has its totals (None: to the end), keeping
        the totals of every invoice passed; rows that name no invoice, or one named already, are
        rejected."""
        if until is not None and until in self.listed:
            return
        for plan, cells, number, row in self.basic_rows:
            key = cells.identity(row)
            source = SourceRef(self.file, plan.name, number)
            if not key:
                yield Rejected(source, "发票号码 and 数电发票号码 are both empty")
            elif key in self.listed:
                yield Rejected(source, f"invoice {key} is listed twice in {plan.name!r} (rows "
                                       f"{self.listed[key]} and {number}); the second row is not read")
            else:
                self.listed[key] = number
                self.totals[key] = _Totals(row[cells.je], row[cells.se], row[cells.jshj], plan.name, number)
                if key == until:
                    return

    # --- step 1: 特定业务 sheets -------------------------------------------------------------

    def _read_extras(self, index: int, plan: SheetPlan) -> Iterator[ImportRecord]:
        cells = _Cells(plan)
        shared: dict[str, str] = {}  # equal values (dates, plates, 客车) held once
        held = sum(len(entries) for entries in self.extras.values())
        for number, row in self.book.rows(plan):
            if _skip(row):
                continue
            row = cells.pad(row)
            key = cells.identity(row)
            if not key:
                yield Rejected(SourceRef(self.file, plan.name, number), "发票号码 and 数电发票号码 are both empty")
                continue
            held += 1
            if held > MAX_SPECIAL_ROWS:
                raise UnreadableFile(self.file, f"more than {MAX_SPECIAL_ROWS} rows in 特定业务 sheets; "
                                                "export fewer months at a time")
            if len(shared) > 65536:
                shared.clear()
            values = tuple(shared.setdefault(text, text) for text in
                           (_text(row[column]) for _, column in plan.element_columns))
            self.extras[key] = (*self.extras.get(key, ()), (index, number, values))

    def _attach_extras(self, key: str, inv: Invoice) -> None:
        for index, _, values in self.extras.pop(key, ()):
            plan = self.specials[index]
            element = {name: value for (name, _), value in zip(plan.element_columns, values, strict=True) if value}
            if plan.role == "railway":
                inv.itinerary.append(element)
            else:
                inv.special.append(element)
                if not inv.tdywlx and plan.business:
                    inv.tdywlx = plan.business

    # --- step 2: 信息汇总表 lines --------------------------------------------------------------

    def _read_lines(self, plan: SheetPlan) -> Iterator[ImportRecord]:
        cells = _Cells(plan)
        pending: _Pending | None = None
        for number, row in self.book.rows(plan):
            if _skip(row):
                continue
            row = cells.pad(row)
            key = cells.identity(row)
            if pending is not None and key != pending.key:
                yield from self._read_totals(pending.key)
                yield self._finish(plan, pending)
                pending = None
            if pending is None:
                if key in self.done:
                    yield Rejected(SourceRef(self.file, plan.name, number),
                                   f"rows of invoice {key} are not consecutive: its earlier rows were "
                                   "already imported; sort the export by invoice")
                    continue
                pending = _Pending(key, number)
            pending.last_row = number
            self._add_line(cells, pending, row, number)
        if pending is not None:
            yield from self._read_totals(pending.key)
            yield self._finish(plan, pending)

    def _add_line(self, cells: _Cells, pending: _Pending, row: list[Any], number: int) -> None:
        try:
            if pending.invoice is None:
                pending.invoice, pending.red = cells.header(row, pending.flags)
                pending.repeated = [row[index] for index in cells.repeated]
            elif [row[index] for index in cells.repeated] != pending.repeated:
                self._check_repeated(cells, pending, row)
            if not pending.business:
                pending.business = _text(row[cells.business])
            line, flag = cells.line(row)
            pending.invoice.lines.append(line)
            pending.line_jshj += parse_amount(row[cells.jshj], "价税合计")
            if flag and flag not in pending.flags:
                pending.flags.append(flag)
        except RowError as exc:
            pending.errors.append(f"row {number}: {exc}")

    @staticmethod
    def _check_repeated(cells: _Cells, pending: _Pending, row: list[Any]) -> None:
        """Every row of an invoice repeats its header cells; a row that disagrees is corrupt."""
        for name, index, first in zip(REPEATED, cells.repeated, pending.repeated, strict=True):
            value = row[index]
            if value != first:
                if name == "开票日期" and parse_datetime(value, name) == parse_datetime(first, name):
                    continue  # the same moment written differently
                raise RowError(f"{name} {_text(value)!r} differs from the invoice's first row ({_text(first)!r})")

    def _finish(self, plan: SheetPlan, pending: _Pending) -> Parsed | Rejected:
        key = pending.key
        self.done.add(key)
        totals = self.totals.pop(key, None)
        source = SourceRef(self.file, plan.name, pending.first_row)
        inv = pending.invoice
        if pending.errors or inv is None:
            self.extras.pop(key, None)
            return Rejected(source, f"invoice {key}: " + "; ".join(pending.errors))
        line_je = sum((line.je for line in inv.lines), Decimal("0.00"))
        line_se = sum((line.se for line in inv.lines), Decimal("0.00"))
        if totals is None:  # a line sheet without 发票基础信息: the totals are the lines'
            inv.je, inv.se, inv.jshj = line_je, line_se, pending.line_jshj
        else:
            try:
                inv.je, inv.se, inv.jshj = self._amounts(totals)
            except RowError as exc:
                self.extras.pop(key, None)
                return Rejected(SourceRef(self.file, totals.sheet, totals.row), f"invoice {key}: {exc}")
            mismatch = self._mismatch(inv, line_je, line_se, plan, pending, totals)
            if mismatch:
                self.extras.pop(key, None)
                return Rejected(SourceRef(self.file, totals.sheet, totals.row), f"invoice {key}: {mismatch}")
        return self._complete(inv, key, source, pending.red, pending.business, pending.flags)

    @staticmethod
    def _amounts(totals: _Totals) -> tuple[Decimal, Decimal, Decimal]:
        return (parse_amount(totals.je, "金额"), parse_amount(totals.se, "税额"),
                parse_amount(totals.jshj, "价税合计"))

    @staticmethod
    def _mismatch(inv: Invoice, line_je: Decimal, line_se: Decimal, plan: SheetPlan, pending: _Pending,
                  totals: _Totals) -> str:
        """Whether 发票基础信息's 金额/税额 disagree with the sum of the invoice's lines: 金额 exactly,
        税额 within the rounding the validation rules allow (税控 invoices round the total tax)."""
        rows = (f"row {pending.first_row}" if pending.first_row == pending.last_row
                else f"rows {pending.first_row}–{pending.last_row}")
        where = f"in sheet {totals.sheet!r} row {totals.row}"
        lines = f"the sum of its lines in sheet {plan.name!r} {rows}"
        if inv.je != line_je:
            return f"金额 {inv.je} {where} differs from {lines} ({line_je})"
        if abs(inv.se - line_se) > min(LINE_TOLERANCE * len(inv.lines), TOTAL_TOLERANCE):
            return f"税额 {inv.se} {where} differs from {lines} ({line_se})"
        return ""

    def _complete(self, inv: Invoice, key: str, source: SourceRef, red: bool, business: str,
                  flags: list[str]) -> Parsed | Rejected:
        """Business type, 特定业务 elements, red check and the domain rules."""
        if business and normalise_name(business) not in RAILWAY_BUSINESS_NAMES:
            code = business_code(business)
            if code is None and business in TDYWLX:
                code = business
            if code is None:
                flags.append(f"特定业务类型 {business!r} 未知")
            inv.tdywlx = code or ""
        self._attach_extras(key, inv)
        if inv.fplx == TOLL_DIGITAL and not inv.tdywlx:
            inv.tdywlx = TOLL_BUSINESS
        elif inv.tdywlx == TOLL_BUSINESS and inv.fplx == "82":
            inv.fplx = TOLL_DIGITAL  # a 数电 普票 of 特定业务 通行费 is the 通行费 kind
        if red and inv.jshj > 0:
            return Rejected(source, f"invoice {key}: 是否正数发票 is 否 but 价税合计 {inv.jshj} is positive")
        result = checked(inv, source, flags)
        if isinstance(result, Rejected):
            return Rejected(source, f"invoice {key}: {result.reason}")
        return result

    # --- step 4: invoices of 发票基础信息 without lines ---------------------------------------

    def _read_basic_invoices(self, plan: SheetPlan) -> Iterator[ImportRecord]:
        cells = _Cells(plan)
        for number, row in self.book.rows(plan):
            if _skip(row):
                continue
            row = cells.pad(row)
            key = cells.identity(row)
            totals = self.totals.get(key)
            if totals is None or totals.sheet != plan.name or totals.row != number:
                continue
            del self.totals[key]
            self.done.add(key)
            source = SourceRef(self.file, plan.name, number)
            flags: list[str] = []
            try:
                inv, red = cells.header(row, flags)
                inv.je, inv.se, inv.jshj = self._amounts(totals)
            except RowError as exc:
                self.extras.pop(key, None)
                yield Rejected(source, f"invoice {key}: row {number}: {exc}")
                continue
            yield self._complete(inv, key, source, red, "", flags)
