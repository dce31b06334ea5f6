"""Writes canonical invoices in the layout of the bureau's 全量发票查询导出结果.xlsx (tests, the bench, fapiaohub's xlsx export).

The real layout (docs/formats/bureau-export.md): 信息汇总表 (one row per line, the invoice header
repeated), 发票基础信息 (one row per invoice, then a 合计行), then one 特定业务 sheet per kind of
特定要素 present. 序号, dates, 税率, 数量 and 单价 are text; amounts are numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from fapiaohub.domain.codes import DIGITAL_ONLY, TDYWLX
from fapiaohub.domain.invoice import Invoice, InvoiceLine

LINE_HEADER = ["序号", "发票代码", "发票号码", "数电发票号码", "销方识别号", "销方名称", "购方识别号", "购买方名称",
               "开票日期", "税收分类编码", "特定业务类型", "货物或应税劳务名称", "规格型号", "单位", "数量", "单价",
               "金额", "税率", "税额", "价税合计", "发票来源", "发票票种", "发票状态", "是否正数发票",
               "发票风险等级", "开票人", "备注"]
BASIC_HEADER = ["序号", "发票代码", "发票号码", "数电发票号码", "销方识别号", "销方名称", "购方识别号", "购买方名称",
                "开票日期", "金额", "税额", "价税合计", "发票来源", "发票票种", "发票状态", "是否正数发票",
                "发票风险等级", "开票人", "备注"]
SPECIAL_COMMON = [name for name in BASIC_HEADER if name not in ("金额", "税额", "价税合计")]
# 特定业务 sheets: (sheet name, [(column, element key)]) by tdywlx; "51" is the 铁路 xcdList
SPECIAL_SHEETS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "06": ("不动产经营租赁服务", [("产权证书/不动产权证号", "cqzs"), ("车牌号", "cph")]),
    "09": ("旅客运输服务", [("出行人", "cxr"), ("有效身份证号", "yxsfzh"), ("出行日期", "cxrq"), ("出发地", "cfd"),
                       ("到达地", "ddd"), ("等级", "dj"), ("交通工具类型", "jtgjlx")]),
    "08": ("通行费数电发票", [("车牌号码", "cph"), ("车辆类型", "cllx"), ("通行日期起", "txrqq"), ("通行日期止", "txrqz")]),
    "51": ("铁路电子客票", [("旅客姓名", "lkxm"), ("有效身份证号", "yxsfzh"), ("出发地", "cfd"), ("到达地", "ddd"),
                      ("出行车次", "cxcc"), ("日期", "rq"), ("时间", "sj")]),
    "03": ("建筑服务", [("跨区域涉税事项报验管理编号", "kqybh"), ("建筑服务发生地", "jzfwfsd"), ("建筑项目名称", "jzxmmc")]),
    # not seen in a real export: the columns are the 特定要素 labels of the 数电 invoice
    "04": ("货物运输服务", [("起运地", "qyd"), ("到达地", "ddd"), ("运输工具种类", "ysgjzl"), ("运输工具牌号", "ysgjph"),
                      ("运输货物名称", "yshwmc")]),
}
# 特定业务类型 as 信息汇总表 writes it (with an inconsistent 发票 suffix)
BUSINESS_NAMES = {**TDYWLX, "08": "通行费", "09": "旅客运输服务发票", "01": "成品油发票", "06": "不动产经营租赁服务",
                  "03": "建筑服务发票"}
RAILWAY_BUSINESS = "铁路电子客票"
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
DIGITAL_SOURCE, TAX_CONTROL_SOURCE = "电子发票服务平台", "增值税发票管理系统"  # 发票来源
# What real exports vary in: "without_special_sheets" leaves the 特定业务 sheets out although
# 信息汇总表 names the 特定业务类型 (one real export has 旅客运输 lines and no 旅客运输服务 sheet).
VARIATIONS = {"without_special_sheets"}


def rate_text(rate: Decimal) -> str:
    """税率 as the bureau writes it: 13%, 9%, 0% (免税/不征税 are stored as 0 and written 0%)."""
    return f"{(rate * 100).normalize():f}%"


def _common(inv: Invoice) -> dict[str, Any]:
    digital = inv.fplx in DIGITAL_ONLY
    return {
        "发票代码": "" if digital else inv.fpdm, "发票号码": "" if digital else inv.fphm,
        "数电发票号码": inv.fphm if digital else "--", "销方识别号": inv.xfsbh, "销方名称": inv.xfmc,
        "购方识别号": inv.gfsbh, "购买方名称": inv.gfmc, "开票日期": inv.kprq.strftime("%Y-%m-%d %H:%M:%S"),
        "发票来源": DIGITAL_SOURCE if digital else TAX_CONTROL_SOURCE, "发票票种": BUREAU_NAMES[inv.fplx],
        "发票状态": STATUS_NAMES[inv.fpzt_dm], "是否正数发票": "否" if inv.jshj < 0 else "是",
        "发票风险等级": "正常", "开票人": inv.kpr, "备注": inv.bz,
    }


def _line_row(common: dict[str, Any], inv: Invoice, line: InvoiceLine) -> list[Any]:
    business = RAILWAY_BUSINESS if inv.fplx == "51" else BUSINESS_NAMES.get(inv.tdywlx, "")
    values = {**common, "税收分类编码": line.spbm, "特定业务类型": business, "货物或应税劳务名称": line.mc,
              "规格型号": line.ggxh, "单位": line.jldw, "数量": line.sl, "单价": line.dj, "金额": line.je,
              "税率": rate_text(line.slv), "税额": line.se, "价税合计": line.je + line.se}
    return [values.get(name, "") for name in LINE_HEADER]


def special_elements(inv: Invoice) -> tuple[str, list[dict[str, str]]] | None:
    """The 特定业务 sheet an invoice has rows in, and the rows' elements."""
    if inv.fplx == "51":
        return ("51", inv.itinerary) if inv.itinerary else None
    if inv.special and inv.tdywlx in SPECIAL_SHEETS:
        return inv.tdywlx, inv.special
    return None


def _cells(sheet: WriteOnlyWorksheet, row: list[Any]) -> list[Any]:
    cells = []
    for value in row:
        if isinstance(value, Decimal):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = "0.00"
            value = cell
        cells.append(value)
    return cells


def write_bureau_export(path: Path, invoices: Iterable[Invoice], *,
                        variations: set[str] | frozenset[str] = frozenset()) -> int:
    """Write an export in the bureau's layout; returns the number of line rows (信息汇总表)."""
    unknown = set(variations) - VARIATIONS
    if unknown:
        raise ValueError(f"unknown variations {sorted(unknown)}")
    workbook = Workbook(write_only=True)
    lines_sheet = workbook.create_sheet("信息汇总表")
    basic_sheet = workbook.create_sheet("发票基础信息")
    lines_sheet.append(LINE_HEADER)
    basic_sheet.append(BASIC_HEADER)
    special: dict[str, WriteOnlyWorksheet] = {}
    special_rows: dict[str, int] = {}
    with_special = "without_special_sheets" not in variations
    line_count = invoice_count = 0
    total_je = total_se = Decimal(0)
    for inv in invoices:
        common = _common(inv)
        for line in inv.lines:
            line_count += 1
            lines_sheet.append(_cells(lines_sheet, [str(line_count), *_line_row(common, inv, line)[1:]]))
        invoice_count += 1
        total_je += inv.je
        total_se += inv.se
        values = {**common, "金额": inv.je, "税额": inv.se, "价税合计": inv.jshj}
        basic_sheet.append(_cells(basic_sheet, [str(invoice_count), *[values[n] for n in BASIC_HEADER[1:]]]))
        found = special_elements(inv) if with_special else None
        if found is None:
            continue
        code, elements = found
        name, columns = SPECIAL_SHEETS[code]
        sheet = special.get(code)
        if sheet is None:
            # write-only sheets are ordered by creation: 特定业务 sheets follow the two main ones
            sheet = special[code] = workbook.create_sheet(name)
            sheet.append([*SPECIAL_COMMON, *(column for column, _ in columns)])
            special_rows[code] = 0
        for element in elements:
            special_rows[code] += 1
            sheet.append([str(special_rows[code]), *[common[n] for n in SPECIAL_COMMON[1:]],
                          *(element.get(key, "") for _, key in columns)])
    basic_sheet.append(_cells(basic_sheet, ["合计行", *[""] * 8, total_je, total_se, *[""] * 8]))
    workbook.save(path)
    return line_count
