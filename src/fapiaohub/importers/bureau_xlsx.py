"""The e-tax bureau's 全量发票查询导出结果.xlsx, both layouts, with the variations seen in the wild.

Columns are found by header name (any sheet whose header row has 发票号码 and 开票日期; the summary
sheet 信息汇总表 and a final 合计 row are skipped). Rows of one invoice are grouped by identity (数电
发票号码, else 发票代码+发票号码). The bureau writes them consecutively, so an invoice is complete when
the identity changes: the reader keeps one invoice in memory, not the workbook's. Rows of an invoice
that reappear after it was completed are rejected, not merged.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import python_calamine
from lxml import etree

from fapiaohub.domain.codes import STATUS_BY_NAME, TDYWLX, business_code, kind_by_name, normalise_name
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.money import ValueParseError, parse_amount, parse_datetime, parse_rate
from fapiaohub.importers.base import Parsed, Rejected, SourceRef, UnreadableFile, checked
from fapiaohub.importers.row_process import rows_in_child
from fapiaohub.importers.xlsx_stream import SheetError, StreamingWorkbook

MAX_UNCOMPRESSED = 1024**3  # an export of a few hundred thousand rows is far below this
STREAM_ABOVE = 100 * 1024**2  # worksheet XML bytes above which rows are streamed (see _sheets)
CHILD_ABOVE = 32 * 1024**2  # a streamed sheet larger than this is read by a child process (row_process)
MAX_RATIO = 200  # a member this much larger than its compressed size, and over 100 MB, is a bomb
SUMMARY_SHEET = "信息汇总表"
CENT = Decimal("0.01")
LINE_COLUMNS = ("税收分类编码", "货物或应税劳务名称", "规格型号", "单位", "数量", "单价")
HEADER_ALIASES = {"数电票号码": "数电发票号码", "购方名称": "购买方名称", "购买方识别号": "购方识别号",
                  "销售方识别号": "销方识别号", "销售方名称": "销方名称", "发票类型": "发票票种"}
REPEATED = ("开票日期", "发票票种", "销方识别号", "购方识别号", "发票状态")  # the same on every row of an invoice
REQUIRED = ("发票号码", "开票日期", "销方识别号", "购方识别号", "金额", "税额", "价税合计", "发票票种")

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
            raise UnreadableFile(path, f"member {member.filename} is compressed {member.file_size // max(member.compress_size, 1)}:1 (a zip bomb?)")
    return sum(m.file_size for m in members if m.filename.startswith("xl/worksheets/"))


def _sheets(path: Path, sheet_bytes: int) -> Iterator[tuple[str, Iterator[list[Any]]]]:
    """(name, rows) of each sheet. calamine is the fastest reader but holds a whole sheet in memory
    (about 1.3× its XML); workbooks whose sheets are larger than STREAM_ABOVE are streamed instead
    (xlsx_stream: about as fast, flat in memory), and a streamed sheet over CHILD_ABOVE is read by
    a child process (row_process), so that reading and the rest of the import use two cores."""
    if sheet_bytes <= STREAM_ABOVE:
        try:
            workbook = python_calamine.CalamineWorkbook.from_path(str(path))
        except Exception as exc:  # noqa: BLE001 - calamine raises several types for broken workbooks
            raise UnreadableFile(path, f"cannot open the workbook: {exc}") from None
        try:
            for name in workbook.sheet_names:
                try:
                    yield name, iter(workbook.get_sheet_by_name(name).iter_rows())
                except Exception as exc:  # noqa: BLE001
                    raise UnreadableFile(path, f"sheet {name!r} cannot be read: {exc}") from None
        finally:
            workbook.close()
        return
    try:
        archive = zipfile.ZipFile(path)
        book = StreamingWorkbook(archive)
        sheets = book.sheets()
    except (KeyError, ValueError, etree.XMLSyntaxError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise UnreadableFile(path, f"cannot open the workbook: {exc}") from None
    try:
        for name, member in sheets:
            big = member in book.names and archive.getinfo(member).file_size > CHILD_ABOVE
            rows = rows_in_child(path, member) if big else book.rows(member)
            yield name, _readable(path, name, rows)
    finally:
        archive.close()


def _readable(path: Path, sheet: str, rows: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """Rows of a streamed sheet; a sheet that turns out to be broken halfway makes the whole file
    unreadable (the caller's transaction then stores nothing from it)."""
    try:
        yield from rows
    except (SheetError, etree.XMLSyntaxError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise UnreadableFile(path, f"sheet {sheet!r} cannot be read: {exc}") from None


def read_bureau_export(path: Path) -> Iterator[Parsed | Rejected]:
    """Invoices of a bureau export, each with its file/sheet/first row; bad invoices as Rejected."""
    path = Path(path)
    sheet_bytes = _check_archive(path)
    found = False
    with_lines: set[str] = set()
    for sheet_name, rows in _sheets(path, sheet_bytes):
        if sheet_name.strip() == SUMMARY_SHEET:
            continue
        header = _find_header(rows)
        if header is None:
            continue
        columns, header_row = header
        missing = [name for name in REQUIRED if name not in columns]
        if missing:
            raise UnreadableFile(path, f"sheet {sheet_name!r} lacks the columns {'、'.join(missing)}")
        found = True
        yield from _SheetReader(path.name, sheet_name, columns, with_lines).invoices(rows, header_row)
    if not found:
        raise UnreadableFile(path, "no sheet has the 全量发票查询 header (发票号码, 开票日期, 金额, …)")


def _find_header(rows: Iterator[list[Any]]) -> tuple[dict[str, int], int] | None:
    """The column index of each known header name, and the header's 1-based row number; the header
    is one of the first five rows (a title row may stand above it)."""
    for number, row in enumerate(rows, start=1):
        names = [HEADER_ALIASES.get(normalise_name(str(c)), normalise_name(str(c))) for c in row]
        if "发票号码" in names and "开票日期" in names:
            return {name: index for index, name in enumerate(names) if name}, number
        if number >= 5:
            return None
    return None


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


def _amount(value: Any, column: str) -> Decimal:
    return parse_amount(value, column)


_RATES: dict[tuple[type, Any], tuple[Decimal, str | None]] = {}  # a sheet has a handful of distinct rates


def _rate(value: Any) -> tuple[Decimal, str | None]:
    """The rate as a fraction, and a flag for 免税/不征税 (stored as 0)."""
    known = _RATES.get((value.__class__, value))
    if known is None:
        known = _read_rate(value)
        if len(_RATES) < 1024:
            _RATES[(value.__class__, value)] = known
    return known


def _read_rate(value: Any) -> tuple[Decimal, str | None]:
    rate = parse_rate(value, "税率")
    text = _text(value).replace(" ", "")
    if rate is None:
        return Decimal(0), f"税率为{text}（差额征税，未注明税率）"
    if rate == 0 and text not in ("", "0", "0%"):
        return rate, f"税率为{text}"
    return rate, None


def _date(value: Any) -> datetime:
    return parse_datetime(value, "开票日期")


@dataclass
class _Pending:
    """The rows of the invoice being assembled."""

    key: str
    first_row: int
    invoice: Invoice | None
    errors: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    row_totals: Decimal = Decimal(0)
    red: bool = False  # 是否正数发票 = 否
    repeated: list[Any] = field(default_factory=list)  # the first row's REPEATED cells


class _SheetReader:
    """Assembles the invoices of one sheet from its rows. Cells are found by column index: every
    row is padded to the header's width plus one always-empty cell, where the columns a sheet
    lacks point."""

    def __init__(self, file: str, sheet: str, columns: dict[str, int], with_lines: set[str]) -> None:
        self.file, self.sheet = file, sheet
        self.lines_layout = all(name in columns for name in ("货物或应税劳务名称", "税率"))
        self.completed: set[str] = set()
        # keys read with their lines from a line-layout sheet of this workbook (fapiaohub's own
        # export has both sheets): basic-layout rows of those invoices add nothing and are skipped
        self.with_lines = with_lines
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

    def invoices(self, rows: Iterator[list[Any]], header_row: int) -> Iterator[Parsed | Rejected]:
        pending: _Pending | None = None
        width, empty = self.width, self.empty
        for number, row in enumerate(rows, start=header_row + 1):
            if _blank(row):
                continue
            first = row[0]
            if first.__class__ is str and first.lstrip().startswith("合计"):
                continue
            if len(row) < width:
                row.extend([None] * (width - len(row)))
            else:
                row[empty] = None  # a cell right of the header: nobody reads it
            key = self._identity(row)
            if not self.lines_layout and key in self.with_lines:
                continue
            if pending is not None and key != pending.key:
                yield self._finish(pending)
                pending = None
            if pending is None:
                if key in self.completed:
                    yield Rejected(SourceRef(self.file, self.sheet, number),
                                   f"rows of invoice {key} are not consecutive: its earlier rows were "
                                   "already imported; sort the export by invoice")
                    continue
                pending = _Pending(key, number, None)
            self._add_row(pending, row, number)
        if pending is not None:
            yield self._finish(pending)

    def _identity(self, row: list[Any]) -> str:
        digital = _text(row[self.digital])
        if digital:
            return digital
        code, number = _text(row[self.fpdm]), _text(row[self.fphm])
        return f"{code}:{number}" if code else number  # the canonical Invoice.key

    def _add_row(self, pending: _Pending, row: list[Any], number: int) -> None:
        try:
            if pending.invoice is None:
                pending.invoice = self._header(row, pending)
                pending.repeated = [row[index] for index in self.repeated]
            elif [row[index] for index in self.repeated] != pending.repeated:
                self._check_repeated(pending, row)
            if self.lines_layout:
                line, flag = self._line(row)
                pending.invoice.lines.append(line)
                pending.row_totals += _amount(row[self.jshj], "价税合计")
                if flag and flag not in pending.flags:
                    pending.flags.append(flag)
        except RowError as exc:
            pending.errors.append(f"row {number}: {exc}")

    def _check_repeated(self, pending: _Pending, row: list[Any]) -> None:
        """Every row of an invoice repeats its header cells; a row that disagrees is corrupt."""
        for name, index, first in zip(REPEATED, self.repeated, pending.repeated, strict=True):
            value = row[index]
            if value != first:
                if name == "开票日期" and _date(value) == _date(first):
                    continue  # the same moment written differently
                raise RowError(f"{name} {_text(value)!r} differs from the invoice's first row ({_text(first)!r})")

    def _header(self, row: list[Any], pending: _Pending) -> Invoice:
        kind_name = _text(row[self.kind])
        fplx = kind_by_name(kind_name)
        if fplx is None:
            raise RowError(f"发票票种 {kind_name!r} is not a known invoice kind")
        digital = _text(row[self.digital])
        fpdm, fphm = ("", digital) if digital else (_text(row[self.fpdm]), _text(row[self.fphm]))
        if not fphm:
            raise RowError("发票号码 and 数电发票号码 are both empty")
        if fpdm and len(fpdm) == 11:  # a 12-digit code stored as a number lost its leading 0
            fpdm = "0" + fpdm
        if fphm.isdigit() and len(fphm) < 8 and not digital:
            fphm = fphm.zfill(8)
        status_text = _text(row[self.status]) or "正常"
        status = STATUS_BY_NAME.get(status_text.replace(" ", ""))
        if status is None:
            raise RowError(f"发票状态 {status_text!r} is not a known status")
        risk = _text(row[self.risk])
        if risk and risk != "正常":
            pending.flags.append(f"发票风险等级：{risk}")
        business = _text(row[self.business])
        inv = Invoice(
            fplx=fplx, fpdm=fpdm, fphm=fphm, kprq=_date(row[self.kprq]),
            je=Decimal(0), se=Decimal(0), jshj=Decimal(0),
            xfsbh=_text(row[self.xfsbh]).upper(), xfmc=_text(row[self.xfmc]),
            gfsbh=_text(row[self.gfsbh]).upper(), gfmc=_text(row[self.gfmc]),
            kpr=_text(row[self.kpr]), bz=_text(row[self.bz]), fpzt_dm=status,
            tdywlx=business_code(business) or (business if business in TDYWLX else ""),
        )
        if not self.lines_layout:
            inv.je = _amount(row[self.je], "金额")
            inv.se = _amount(row[self.se], "税额")
            inv.jshj = _amount(row[self.jshj], "价税合计")
        pending.red = _text(row[self.positive]) == "否"
        return inv

    def _line(self, row: list[Any]) -> tuple[InvoiceLine, str | None]:
        rate, flag = _rate(row[self.rate])
        return InvoiceLine(
            mc=_text(row[self.mc]), je=_amount(row[self.je], "金额"), se=_amount(row[self.se], "税额"),
            slv=rate, spbm=_text(row[self.spbm]), ggxh=_text(row[self.ggxh]),
            sl=_text(row[self.sl]).replace(",", ""), jldw=_text(row[self.jldw]),
            dj=_text(row[self.dj]).replace(",", ""),
        ), flag

    def _finish(self, pending: _Pending) -> Parsed | Rejected:
        self.completed.add(pending.key)
        if self.lines_layout:
            self.with_lines.add(pending.key)
        source = SourceRef(self.file, self.sheet, pending.first_row)
        inv = pending.invoice
        if pending.errors or inv is None:
            return Rejected(source, f"invoice {pending.key}: " + "; ".join(pending.errors))
        if self.lines_layout:
            inv.je = sum((line.je for line in inv.lines), Decimal("0.00"))
            inv.se = sum((line.se for line in inv.lines), Decimal("0.00"))
            inv.jshj = pending.row_totals
        if pending.red and inv.jshj > 0:
            return Rejected(source, f"invoice {pending.key}: 是否正数发票 is 否 but 价税合计 {inv.jshj} is positive")
        result = checked(inv, source, pending.flags)
        if isinstance(result, Rejected):
            return Rejected(source, f"invoice {pending.key}: {result.reason}")
        return result


def _blank(row: list[Any]) -> bool:
    """Whether a row has no value (cells of only spaces count as empty)."""
    for value in row:
        if value is not None and (value.__class__ is not str or value.strip()):
            return False
    return True
