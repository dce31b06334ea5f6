"""Writes canonical invoices in the layout of the bureau's 全量发票查询导出结果.xlsx (tests, the bench, the demo's samples).

The real layout (docs/formats/bureau-export.md): 信息汇总表 (one row per line, the invoice header
repeated), 发票基础信息 (one row per invoice, then a 合计行), then one 特定业务 sheet per kind of
特定要素 present. 序号, dates, 税率, 数量 and 单价 are text; amounts are numbers.

The bureau writes its exports with Apache POI's streaming writer, and so does this module, byte
for byte in the shapes that matter to a reader (`_PoiWorkbook`): UTF-8 text, every cell an inline
string or a number with a style (s="1" header, s="2" data), empty cells as `<c r="M2" s="2"></c>`,
POI's escapes (`&quot;`, `&#xa;`), a newline around each row, the dimension first. openpyxl
writes none of these (character references for every Chinese character, cells without styles):
the importer and the bench would be measured on a file the bureau never writes.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from openpyxl.utils import get_column_letter
from openpyxl.xml.constants import (
    CONTYPES_NS,
    COREPROPS_NS,
    PKG_REL_NS,
    REL_NS,
    SHARED_STRINGS,
    SHEET_MAIN_NS,
    STYLES_TYPE,
    WORKSHEET_TYPE,
    XLSX,
    XPROPS_NS,
)

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


def write_bureau_export(path: Path, invoices: Iterable[Invoice], *,
                        variations: set[str] | frozenset[str] = frozenset()) -> int:
    """Write an export in the bureau's layout; returns the number of line rows (信息汇总表)."""
    unknown = set(variations) - VARIATIONS
    if unknown:
        raise ValueError(f"unknown variations {sorted(unknown)}")
    with _PoiWorkbook() as workbook:
        lines_sheet = workbook.sheet("信息汇总表", LINE_HEADER)
        basic_sheet = workbook.sheet("发票基础信息", BASIC_HEADER)
        special: dict[str, _PoiSheet] = {}
        with_special = "without_special_sheets" not in variations
        line_count = invoice_count = 0
        total_je = total_se = Decimal(0)
        for inv in invoices:
            common = _common(inv)
            for line in inv.lines:
                line_count += 1
                lines_sheet.append([str(line_count), *_line_row(common, inv, line)[1:]])
            invoice_count += 1
            total_je += inv.je
            total_se += inv.se
            values = {**common, "金额": inv.je, "税额": inv.se, "价税合计": inv.jshj}
            basic_sheet.append([str(invoice_count), *[values[n] for n in BASIC_HEADER[1:]]])
            found = special_elements(inv) if with_special else None
            if found is None:
                continue
            code, elements = found
            name, columns = SPECIAL_SHEETS[code]
            sheet = special.get(code)
            if sheet is None:  # 特定业务 sheets follow the two main ones, in the order met
                sheet = special[code] = workbook.sheet(name, [*SPECIAL_COMMON, *(column for column, _ in columns)])
            for element in elements:
                sheet.append([str(sheet.rows), *[common[n] for n in SPECIAL_COMMON[1:]],  # rows so far: the 序号
                              *(element.get(key, "") for _, key in columns)])
        basic_sheet.append(["合计行", *[None] * 8, total_je, total_se, *[None] * 8])  # the rest blank
        workbook.save(path)
    return line_count


# --- POI's streaming layout ------------------------------------------------------------------

_XML = '<?xml version="1.0" encoding="UTF-8"?>\n'
_XML_STANDALONE = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
# columns the bureau leaves without a value when empty; any other empty text (发票代码 and 发票号码 of
# a 数电 invoice, 特定业务类型 of a line without one) is written as an empty inline string
BLANK_WHEN_EMPTY = {"规格型号", "单位", "数量", "单价", "备注"}
# POI's escapes for text (SheetDataWriter.outputEscapedString)
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#xa;", "\r": "&#xd;",
                          "\t": "&#x9;"})
HEADER_STYLE, DATA_STYLE = 1, 2
# POI's styles.xml of a real export: 0 default, 1 the header's (宋体 14 bold, filled, bordered), 2 data
_STYLES = (
    f'{_XML}<styleSheet xmlns="{SHEET_MAIN_NS}"><numFmts count="0"/><fonts count="3"><font><sz val="11.0"/>'
    '<color indexed="8"/><name val="Calibri"/><family val="2"/><scheme val="minor"/></font><font><name val="宋体"/>'
    '<sz val="14.0"/><b val="true"/></font><font><name val="Calibri"/><sz val="11.0"/></font></fonts>'
    '<fills count="4"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="darkGray"/>'
    '</fill><fill><patternFill patternType="solid"/></fill><fill><patternFill patternType="solid">'
    '<fgColor indexed="22"/></patternFill></fill></fills><borders count="5"><border><left/><right/><top/>'
    '<bottom/><diagonal/></border><border><left style="thin"/></border><border><left style="thin"/>'
    '<right style="thin"/></border><border><left style="thin"/><right style="thin"/><top style="thin"/>'
    '</border><border><left style="thin"/><right style="thin"/><top style="thin"/><bottom style="thin"/>'
    '</border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '</cellStyleXfs><cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="3" borderId="4" xfId="0" applyAlignment="true" applyBorder="true"'
    ' applyFill="true" applyFont="true"><alignment horizontal="center" wrapText="true" vertical="center"/>'
    '<protection locked="true"/></xf><xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0"'
    ' applyAlignment="true" applyFont="true"><alignment horizontal="left"/></xf></cellXfs></styleSheet>'
)


def double_text(value: Decimal) -> str:
    """A number as POI writes it, by Java's Double.toString: 23.5, 0.68, 0.0; from 10^7 on (and
    below 10^-3) in its scientific form, 1.2345678E7."""
    number = float(value)
    if number == 0 or 1e-3 <= abs(number) < 1e7:
        return repr(number)
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)  # a finite float
    text = "".join(map(str, digits))
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{len(digits) - 1 + exponent}"


class _PoiSheet:
    """One worksheet: its rows are spooled to a temporary file, since the dimension, which POI
    writes before them, is known only at the end."""

    def __init__(self, name: str, header: list[str], first: bool) -> None:
        self.name, self.first = name, first
        self.letters = [get_column_letter(number) for number in range(1, len(header) + 1)]
        self.blank = [name in BLANK_WHEN_EMPTY for name in header]
        self.spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the workbook
        self.rows = 0
        self._write(header, HEADER_STYLE)

    def append(self, values: list[Any]) -> None:
        self._write(values, DATA_STYLE)

    def _write(self, values: list[Any], style: int) -> None:
        self.rows += 1
        number = self.rows
        cells = []
        for letter, blank, value in zip(self.letters, self.blank, values, strict=True):
            ref = f'r="{letter}{number}" s="{style}"'
            if isinstance(value, Decimal):
                cells.append(f'<c {ref} t="n"><v>{double_text(value)}</v></c>')
            elif value is None or (blank and value == ""):
                cells.append(f"<c {ref}></c>")
            else:
                text = str(value)
                space = ' xml:space="preserve"' if text != text.strip() else ""
                cells.append(f'<c {ref} t="inlineStr"><is><t{space}>{text.translate(_ESCAPES)}</t></is></c>')
        self.spool.write(f'<row r="{number}">\n{"".join(cells)}</row>\n'.encode())

    def write_into(self, archive: zipfile.ZipFile, member: str) -> None:
        widths = "".join(f'<col min="{i}" max="{i}" width="{10.0 if i == 1 else 22.0}" customWidth="true"/>'
                         for i in range(1, len(self.letters) + 1))
        selected = ' tabSelected="true"' if self.first else ""
        with archive.open(member, "w", force_zip64=True) as out:
            out.write(f'{_XML}<worksheet xmlns="{SHEET_MAIN_NS}"><dimension ref="A1:{self.letters[-1]}{self.rows}"/>'
                      f'<sheetViews><sheetView workbookViewId="0"{selected}/></sheetViews>'
                      f'<sheetFormatPr defaultRowHeight="15.0"/><cols>{widths}</cols><sheetData>\n'.encode())
            self.spool.seek(0)
            shutil.copyfileobj(self.spool, out, 1 << 20)
            out.write(b'</sheetData><pageMargins bottom="0.75" footer="0.3" header="0.3" left="0.7" right="0.7"'
                      b' top="0.75"/></worksheet>')


class _PoiWorkbook:
    """The package around the sheets, part for part as POI writes it (shared strings empty: every
    string is inline)."""

    def __init__(self) -> None:
        self.sheets: list[_PoiSheet] = []

    def __enter__(self) -> _PoiWorkbook:
        return self

    def __exit__(self, *_: object) -> None:
        for sheet in self.sheets:
            sheet.spool.close()

    def sheet(self, name: str, header: list[str]) -> _PoiSheet:
        self.sheets.append(_PoiSheet(name, header, first=not self.sheets))
        return self.sheets[-1]

    def save(self, path: Path) -> None:
        count = len(self.sheets)
        parts = {
            "[Content_Types].xml": (
                f'{_XML_STANDALONE}<Types xmlns="{CONTYPES_NS}">'
                '<Default ContentType="application/vnd.openxmlformats-package.relationships+xml" Extension="rels"/>'
                '<Default ContentType="application/xml" Extension="xml"/>'
                '<Override ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"'
                ' PartName="/docProps/app.xml"/>'
                '<Override ContentType="application/vnd.openxmlformats-package.core-properties+xml"'
                ' PartName="/docProps/core.xml"/>'
                f'<Override ContentType="{SHARED_STRINGS}" PartName="/xl/sharedStrings.xml"/>'
                f'<Override ContentType="{STYLES_TYPE}" PartName="/xl/styles.xml"/>'
                f'<Override ContentType="{XLSX}" PartName="/xl/workbook.xml"/>'
                + "".join(f'<Override ContentType="{WORKSHEET_TYPE}" PartName="/xl/worksheets/sheet{i}.xml"/>'
                          for i in range(1, count + 1)) + "</Types>"),
            "_rels/.rels": (
                f'{_XML_STANDALONE}<Relationships xmlns="{PKG_REL_NS}">'
                f'<Relationship Id="rId1" Target="xl/workbook.xml" Type="{REL_NS}/officeDocument"/>'
                f'<Relationship Id="rId2" Target="docProps/app.xml" Type="{REL_NS}/extended-properties"/>'
                '<Relationship Id="rId3" Target="docProps/core.xml"'
                f' Type="{PKG_REL_NS}/metadata/core-properties"/>'
                "</Relationships>"),
            "docProps/app.xml": (
                f'{_XML}<Properties xmlns="{XPROPS_NS}">'
                "<Application>Apache POI</Application></Properties>"),
            "docProps/core.xml": (
                f'{_XML_STANDALONE}<cp:coreProperties'
                f' xmlns:cp="{COREPROPS_NS}"'
                ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
                ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>Apache POI</dc:creator>'
                "</cp:coreProperties>"),
            "xl/sharedStrings.xml": f'{_XML}<sst count="0" uniqueCount="0" xmlns="{SHEET_MAIN_NS}"/>',
            "xl/styles.xml": _STYLES,
            "xl/workbook.xml": (
                f'{_XML}<workbook xmlns="{SHEET_MAIN_NS}" xmlns:r="{REL_NS}"><workbookPr date1904="false"/>'
                '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
                + "".join(f'<sheet name="{sheet.name}" r:id="rId{i + 2}" sheetId="{i}"/>'
                          for i, sheet in enumerate(self.sheets, start=1)) + "</sheets></workbook>"),
            "xl/_rels/workbook.xml.rels": (
                f'{_XML_STANDALONE}<Relationships xmlns="{PKG_REL_NS}">'
                f'<Relationship Id="rId1" Target="sharedStrings.xml" Type="{REL_NS}/sharedStrings"/>'
                f'<Relationship Id="rId2" Target="styles.xml" Type="{REL_NS}/styles"/>'
                + "".join(f'<Relationship Id="rId{i + 2}" Target="worksheets/sheet{i}.xml" Type="{REL_NS}/worksheet"/>'
                          for i in range(1, count + 1)) + "</Relationships>"),
        }
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, text in parts.items():
                archive.writestr(member, text)
            for i, sheet in enumerate(self.sheets, start=1):
                sheet.write_into(archive, f"xl/worksheets/sheet{i}.xml")
