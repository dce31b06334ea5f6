"""Writes canonical invoices in the bureau's 全量发票查询 export format (for tests and exports).

Money cells hold the exact Decimal (an xlsx number) formatted with two decimals; layout "both"
writes the line sheet and the invoice sheet of fapiaohub's own export in one pass."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from fapiaohub.domain.codes import TDYWLX
from fapiaohub.domain.invoice import Invoice, InvoiceLine

LINE_HEADER = ["序号", "发票代码", "发票号码", "数电发票号码", "销方识别号", "销方名称", "购方识别号", "购买方名称",
               "开票日期", "税收分类编码", "特定业务类型", "货物或应税劳务名称", "规格型号", "单位", "数量", "单价",
               "金额", "税率", "税额", "价税合计", "发票来源", "发票票种", "发票状态", "是否正数发票",
               "发票风险等级", "开票人", "备注"]
LINE_ONLY = {"税收分类编码", "特定业务类型", "货物或应税劳务名称", "规格型号", "单位", "数量", "单价"}
BASIC_HEADER = [name for name in LINE_HEADER if name not in LINE_ONLY]
BUREAU_NAMES = {
    "81": "数电发票（增值税专用发票）", "82": "数电发票（普通发票）", "01": "增值税专用发票", "04": "增值税普通发票",
    "08": "增值税电子专用发票", "10": "增值税电子普通发票", "11": "增值税普通发票（卷式）", "14": "通行费电子普通发票",
    "03": "机动车销售统一发票", "15": "二手车销售统一发票", "51": "数电发票（铁路电子客票）",
    "61": "数电发票（航空运输电子客票行程单）", "84": "数电纸质发票（增值税专用发票）", "85": "数电纸质发票（普通发票）",
    "83": "数电发票（机动车销售统一发票）", "87": "数电纸质发票（机动车销售统一发票）",
    "70": "数电发票（二手车销售统一发票）", "88": "数电纸质发票（二手车销售统一发票）", "8208": "数电发票（通行费发票）",
    "17": "海关缴款书",
}
STATUS_NAMES = {"0": "正常", "2": "已作废", "3": "已红冲", "7": "已红冲-部分", "8": "已红冲-全额"}
DIGITAL_NUMBER_KINDS = {"81", "82", "83", "70", "51", "61", "8208"}
VARIATIONS = {"text_numbers", "text_dates", "percent_rates", "summary_sheet", "blank_rows", "two_sheets",
              "shuhao_header", "title_row"}


def _money(amount: Decimal, variations: set[str]) -> Any:
    return f"{amount:,.2f}" if "text_numbers" in variations else amount


def _rate(line: InvoiceLine, variations: set[str]) -> Any:
    return f"{(line.slv * 100).normalize():f}%" if "percent_rates" in variations else float(line.slv)


def _rows(inv: Invoice, layout: str, variations: set[str]) -> list[list[Any]]:
    digital = inv.fplx in DIGITAL_NUMBER_KINDS
    when: Any = inv.kprq.strftime("%Y-%m-%d %H:%M:%S") if "text_dates" in variations else inv.kprq
    common = {
        "发票代码": "" if digital else inv.fpdm, "发票号码": "" if digital else inv.fphm,
        "数电发票号码": inv.fphm if digital else "", "销方识别号": inv.xfsbh, "销方名称": inv.xfmc,
        "购方识别号": inv.gfsbh, "购买方名称": inv.gfmc, "开票日期": when,
        "发票来源": "电子发票服务平台" if digital else "增值税发票管理系统", "发票票种": BUREAU_NAMES[inv.fplx],
        "发票状态": STATUS_NAMES[inv.fpzt_dm], "是否正数发票": "否" if inv.jshj < 0 else "是",
        "发票风险等级": "正常", "开票人": inv.kpr, "备注": inv.bz,
    }
    if layout == "basic":
        rate = inv.lines[0].slv if inv.lines else 0
        values = {**common, "金额": _money(inv.je, variations), "税额": _money(inv.se, variations),
                  "价税合计": _money(inv.jshj, variations), "税率": float(rate)}
        return [[values.get(name, "") for name in BASIC_HEADER]]
    rows = []
    for line in inv.lines:
        values = {**common, "税收分类编码": line.spbm, "特定业务类型": TDYWLX.get(inv.tdywlx, ""),
                  "货物或应税劳务名称": line.mc, "规格型号": line.ggxh, "单位": line.jldw, "数量": line.sl,
                  "单价": line.dj, "金额": _money(line.je, variations), "税率": _rate(line, variations),
                  "税额": _money(line.se, variations), "价税合计": _money(line.je + line.se, variations)}
        rows.append([values.get(name, "") for name in LINE_HEADER])
    return rows


def _cells(sheet: WriteOnlyWorksheet, row: list[Any]) -> list[Any]:
    cells = []
    for value in row:
        if isinstance(value, Decimal):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = "0.00"
            value = cell
        cells.append(value)
    return cells


def write_bureau_export(path: Path, invoices: Iterable[Invoice], *, layout: str = "lines",
                        variations: set[str] | frozenset[str] = frozenset()) -> int:
    """Write an export; returns the number of data rows (of the line sheet, for layout "both")."""
    unknown = set(variations) - VARIATIONS
    if unknown or layout not in ("lines", "basic", "both"):
        raise ValueError(f"unknown layout {layout!r} or variations {sorted(unknown)}")
    workbook = Workbook(write_only=True)
    layouts = ["lines", "basic"] if layout == "both" else [layout]
    names = {"lines": "发票明细", "basic": "发票信息"} if layout == "both" else {layout: "发票基础信息"}
    sheets: dict[str, list[WriteOnlyWorksheet]] = {}
    for kind in layouts:
        header = list(LINE_HEADER if kind == "lines" else BASIC_HEADER)
        if "shuhao_header" in variations:
            header[header.index("数电发票号码")] = "数电票号码"
        sheets[kind] = [workbook.create_sheet(names[kind])]
        if "two_sheets" in variations:
            sheets[kind].append(workbook.create_sheet(f"{names[kind]}(2)"))
        for sheet in sheets[kind]:
            if "title_row" in variations:
                sheet.append(["全量发票查询导出结果"])
            sheet.append(header)
    counts = dict.fromkeys(layouts, 0)
    for number, inv in enumerate(invoices):
        for kind in layouts:
            sheet = sheets[kind][number % len(sheets[kind])]
            for row in _rows(inv, kind, set(variations)):
                counts[kind] += 1
                sheet.append(_cells(sheet, [counts[kind], *row[1:]]))
            if "blank_rows" in variations and number % 7 == 0:
                sheet.append([])
    if "summary_sheet" in variations:
        for kind in layouts:
            for sheet in sheets[kind]:
                sheet.append(["合计"])
        summary = workbook.create_sheet("信息汇总表")
        summary.append(["发票份数", "金额合计"])
        summary.append([counts[layouts[0]], 0])
    workbook.save(path)
    return counts[layouts[0]]
