"""The finance-ready xlsx export: the bureau's 全量发票查询 layout, which `fapiaohub import` reads back, with
widths, a frozen filtered header, number formats, totals without 作废, and flags and status history.

The sheets and columns are those of shapes.bureau_layout (the real export, docs/formats/bureau-export.md);
what this adds is presentation and three trailing columns on 发票基础信息 that the importer ignores
(it reads columns by name). Kinds and statuses are named as everywhere in fapiaohub's exports
(domain.codes FPLX and FPZT: exports_common), which the importer also reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from fapiaohub.domain.codes import DIGITAL_ONLY
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.exports.common import Record, history_text, kind_name, status_name
from fapiaohub.shapes.bureau_layout import (
    BASIC_HEADER,
    BUSINESS_NAMES,
    DIGITAL_SOURCE,
    LINE_HEADER,
    RAILWAY_BUSINESS,
    SPECIAL_COMMON,
    SPECIAL_SHEETS,
    TAX_CONTROL_SOURCE,
    rate_text,
    special_elements,
)

VOID = "2"  # fpztDm 作废: left out of the totals (red invoices are in them, with their negative amounts)
TOTALS_LABEL = "合计行（不含作废发票）"  # starts with 合计: the importer skips the row
EXTRA_COLUMNS = ["明细条数", "校验提示", "状态历史"]  # right of 备注 on 发票基础信息; not read back
INVOICE_HEADER = [*BASIC_HEADER, *EXTRA_COLUMNS]
MONEY_FORMAT = "#,##0.00"
MONEY = frozenset({"金额", "税额", "价税合计"})
WIDTHS = {"序号": 7, "发票代码": 14, "发票号码": 12, "数电发票号码": 23, "销方识别号": 22, "销方名称": 32,
          "购方识别号": 22, "购买方名称": 32, "开票日期": 20, "税收分类编码": 21, "特定业务类型": 16,
          "货物或应税劳务名称": 34, "规格型号": 14, "单位": 8, "数量": 12, "单价": 14, "金额": 16, "税率": 8,
          "税额": 15, "价税合计": 16, "发票来源": 20, "发票票种": 30, "发票状态": 10, "是否正数发票": 12,
          "发票风险等级": 12, "开票人": 10, "备注": 40, "明细条数": 10, "校验提示": 44, "状态历史": 44}
DEFAULT_WIDTH = 18
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_TOTAL_FONT = Font(bold=True)


def number_or_text(text: str) -> Any:
    """数量/单价 as a number when it is one and the importer reads the number back as the same text
    (it prints integers bare and other numbers from their shortest repr): "2", "88.495575221239".
    Text otherwise, so that a re-import is exact: "", "1.50", "约2", "1,000"."""
    if not text:
        return text
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    if not value.is_finite():
        return text
    number = float(value)
    if number.is_integer():
        return int(number) if str(int(number)) == text else text
    return number if format(Decimal(repr(number)), "f") == text else text


class _Sheet:
    """A write-only sheet with a styled, frozen, filtered header and fixed widths (write-only
    sheets take widths and panes before their first row; the filter's range once all rows are in)."""

    def __init__(self, book: Workbook, title: str, header: list[str]) -> None:
        self.sheet: WriteOnlyWorksheet = book.create_sheet(title)
        self.header = header
        for index, name in enumerate(header, start=1):
            self.sheet.column_dimensions[get_column_letter(index)].width = WIDTHS.get(name, DEFAULT_WIDTH)
        self.sheet.freeze_panes = "A2"
        self.sheet.append([self._cell(name, _HEADER_FONT, _HEADER_FILL) for name in header])
        self.rows = 0

    def _cell(self, value: Any, font: Font | None = None, fill: PatternFill | None = None) -> WriteOnlyCell:
        cell = WriteOnlyCell(self.sheet, value=value)
        if font is not None:
            cell.font = font
        if fill is not None:
            cell.fill = fill
        return cell

    def append(self, values: dict[str, Any], font: Font | None = None) -> None:
        row: list[Any] = []
        for name in self.header:
            value = values.get(name, "")
            if name in MONEY and isinstance(value, Decimal):
                cell = self._cell(value, font)
                cell.number_format = MONEY_FORMAT
                row.append(cell)
            elif font is not None or (isinstance(value, str) and value.startswith("=")):
                cell = self._cell(value, font)
                if isinstance(value, str):
                    cell.data_type = "s"  # text, even when it starts with = (openpyxl would write a formula)
                row.append(cell)
            else:
                row.append(value)
        self.sheet.append(row)

    def data(self, values: dict[str, Any]) -> None:
        self.rows += 1
        self.append({"序号": self.rows, **values})

    def close(self, totals: dict[str, Any] | None = None) -> None:
        """Set the filter over the header and the data rows (a totals row below stays out of it)."""
        last = get_column_letter(len(self.header))
        self.sheet.auto_filter.ref = f"A1:{last}{self.rows + 1}"
        if totals is not None:
            self.append(totals, _TOTAL_FONT)


def _common(inv: Invoice, kind: str, status: str) -> dict[str, Any]:
    digital = inv.fplx in DIGITAL_ONLY
    return {
        "发票代码": "" if digital else inv.fpdm, "发票号码": "" if digital else inv.fphm,
        "数电发票号码": inv.fphm if digital else "--", "销方识别号": inv.xfsbh, "销方名称": inv.xfmc,
        "购方识别号": inv.gfsbh, "购买方名称": inv.gfmc, "开票日期": inv.kprq.strftime("%Y-%m-%d %H:%M:%S"),
        "发票来源": DIGITAL_SOURCE if digital else TAX_CONTROL_SOURCE, "发票票种": kind, "发票状态": status,
        "是否正数发票": "否" if inv.jshj < 0 else "是", "发票风险等级": "正常", "开票人": inv.kpr, "备注": inv.bz,
    }


def _line(inv: Invoice, line: InvoiceLine) -> dict[str, Any]:
    business = RAILWAY_BUSINESS if inv.fplx == "51" else BUSINESS_NAMES.get(inv.tdywlx, "")
    return {"税收分类编码": line.spbm, "特定业务类型": business, "货物或应税劳务名称": line.mc, "规格型号": line.ggxh,
            "单位": line.jldw, "数量": number_or_text(line.sl), "单价": number_or_text(line.dj), "金额": line.je,
            "税率": rate_text(line.slv), "税额": line.se, "价税合计": line.je + line.se}


def _discard(book: Workbook) -> None:
    """After a failure: end each sheet's XML stream and remove its temporary file, so that nothing is
    left behind and no 'Exception ignored' noise reaches stderr when the generators are collected."""
    for sheet in book.worksheets:
        with suppress(Exception):
            sheet.close()
        writer = getattr(sheet, "_writer", None)
        if writer is not None:
            with suppress(Exception):
                writer.cleanup()


def write_finance_xlsx(path: Path, records: Iterable[Record]) -> None:
    """Write the records' invoices to ``path`` (streamed: one invoice in memory at a time)."""
    book = Workbook(write_only=True)
    try:
        _write(book, records)
    except BaseException:
        _discard(book)
        raise
    book.save(path)


def _write(book: Workbook, records: Iterable[Record]) -> None:
    lines = _Sheet(book, "信息汇总表", LINE_HEADER)
    invoices = _Sheet(book, "发票基础信息", INVOICE_HEADER)
    special: dict[str, _Sheet] = {}
    line_total = [Decimal("0.00")] * 3
    invoice_total = [Decimal("0.00")] * 3
    void_invoices = void_lines = 0
    for record in records:
        inv = record.invoice
        common = _common(inv, kind_name(inv.fplx), status_name(inv.fpzt_dm))
        void = inv.fpzt_dm == VOID
        for line in inv.lines:
            lines.data({**common, **_line(inv, line)})
            if void:
                void_lines += 1
            else:
                line_total = [line_total[0] + line.je, line_total[1] + line.se, line_total[2] + line.je + line.se]
        if void:
            void_invoices += 1
        else:
            invoice_total = [invoice_total[0] + inv.je, invoice_total[1] + inv.se, invoice_total[2] + inv.jshj]
        invoices.data({**common, "金额": inv.je, "税额": inv.se, "价税合计": inv.jshj, "明细条数": len(inv.lines),
                       "校验提示": "；".join(record.flags), "状态历史": history_text(inv.fpzt_dm, record.history)})
        found = special_elements(inv)
        if found is None:
            continue
        code, elements = found
        name, columns = SPECIAL_SHEETS[code]
        sheet = special.get(code)
        if sheet is None:  # write-only sheets keep their creation order: 特定业务 sheets after the two main ones
            sheet = special[code] = _Sheet(book, name, [*SPECIAL_COMMON, *(column for column, _ in columns)])
        for element in elements:
            sheet.data({**common, **{column: element.get(key, "") for column, key in columns}})
    lines.close({"序号": TOTALS_LABEL, "金额": line_total[0], "税额": line_total[1], "价税合计": line_total[2],
                 "备注": f"{lines.rows - void_lines} 行明细合计；不含作废发票的 {void_lines} 行"})
    invoices.close({"序号": TOTALS_LABEL, "金额": invoice_total[0], "税额": invoice_total[1],
                    "价税合计": invoice_total[2],
                    "备注": f"{invoices.rows - void_invoices} 张发票合计；不含作废发票 {void_invoices} 张"})
    for sheet in special.values():
        sheet.close()
