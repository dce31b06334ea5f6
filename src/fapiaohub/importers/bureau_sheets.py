"""What each sheet of a workbook is, from its header: the 全量发票查询 export's line sheet, invoice sheet and 特定业务 sheets, or something else.

Sheets are recognised by their columns, not their names (names only say which 特定业务 a sheet holds).
A workbook without a line or invoice sheet is not an export; ``describe_other`` says what it looks like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fapiaohub.domain.codes import RAILWAY_BUSINESS_NAMES, SPECIAL_KEYS, business_code, normalise_name

Role = Literal["lines", "basic", "special", "railway", "other"]

IDENTITY = ("发票代码", "发票号码", "数电发票号码")
PARTIES = ("开票日期", "销方识别号", "购方识别号", "发票票种")
LINE_ONLY = ("货物或应税劳务名称", "税率")
AMOUNTS = ("金额", "税额", "价税合计")
# the invoice columns a 特定业务 sheet repeats before its own (序号 … 备注 without the amounts)
SPECIAL_COMMON = frozenset({"序号", "发票代码", "发票号码", "数电发票号码", "销方识别号", "销方名称", "购方识别号",
                            "购买方名称", "开票日期", "发票来源", "发票票种", "发票状态", "是否正数发票",
                            "发票风险等级", "开票人", "备注"})
# 铁路电子客票 rows are the invoice's xcdList (keys of shapes.collection_item.RAILWAY_XCD_KEYS), not 特定要素
RAILWAY_KEYS = {"旅客姓名": "lkxm", "有效身份证号": "yxsfzh", "出发地": "cfd", "到达地": "ddd", "出行车次": "cxcc",
                "车次": "cxcc", "日期": "rq", "时间": "sj"}
HEADER_ROWS = 5  # a header is looked for in a sheet's first rows (the export's is row 1)
CHOICE_COLUMNS = ("勾选状态", "有效抵扣税额", "勾选时间")  # 抵扣勾选 lists, which are not invoice exports


@dataclass
class SheetPlan:
    """How one sheet is read: its role, where its columns are, and for a 特定业务 sheet the
    column of each element key it holds."""

    name: str
    member: str
    role: Role
    columns: dict[str, int] = field(default_factory=dict)
    header_row: int = 1
    business: str = ""  # tdywlx that a 特定业务 sheet's name states
    element_columns: tuple[tuple[str, int], ...] = ()  # (key, column) of 特定要素 / xcdList values
    why: str = ""  # for role "other": why the sheet is not read


def _names(row: Sequence[Any]) -> list[str]:
    return [normalise_name(str(cell)) if cell is not None else "" for cell in row]


def classify(name: str, member: str, head: list[list[Any]]) -> SheetPlan:
    """The plan of a sheet from its first rows."""
    for number, row in enumerate(head[:HEADER_ROWS], start=1):
        names = _names(row)
        if "发票号码" in names and "开票日期" in names:
            columns: dict[str, int] = {}
            for index, column in enumerate(names):
                if column and column not in columns:
                    columns[column] = index
            return _plan(name, member, columns, number)
    return SheetPlan(name, member, "other", why="no 发票号码/开票日期 header in its first rows")


def _plan(name: str, member: str, columns: dict[str, int], header_row: int) -> SheetPlan:
    has = columns.__contains__
    invoice_like = all(map(has, IDENTITY)) and all(map(has, PARTIES))
    if invoice_like and all(map(has, AMOUNTS)):
        role: Role = "lines" if all(map(has, LINE_ONLY)) else "basic"
        return SheetPlan(name, member, role, columns, header_row)
    if not invoice_like:
        lacking = [c for c in (*IDENTITY, *PARTIES) if not has(c)]
        return SheetPlan(name, member, "other", columns, header_row,
                         why=f"its header lacks {'、'.join(lacking)}")
    own = [c for c in columns if c not in SPECIAL_COMMON]
    if normalise_name(name) in RAILWAY_BUSINESS_NAMES or ("出行车次" in own and "旅客姓名" in own):
        keys = tuple((RAILWAY_KEYS[c], columns[c]) for c in own if c in RAILWAY_KEYS)
        return SheetPlan(name, member, "railway", columns, header_row, element_columns=keys)
    keys = tuple((SPECIAL_KEYS[c], columns[c]) for c in own if c in SPECIAL_KEYS)
    if not keys:
        return SheetPlan(name, member, "other", columns, header_row,
                         why=f"its own columns ({'、'.join(own) or 'none'}) are no 特定要素 fapiaohub knows")
    return SheetPlan(name, member, "special", columns, header_row, business=business_code(name) or "",
                     element_columns=keys)


def describe_other(heads: dict[str, list[list[Any]]]) -> str:
    """Why a workbook without a line or invoice sheet is refused, saying what it appears to be."""
    for head in heads.values():
        cells = {name for row in head[:HEADER_ROWS] for name in _names(row)}
        if all(c in cells for c in CHOICE_COLUMNS):
            return ("this is a 抵扣勾选 用途确认信息 workbook (a 发票清单 of deduction choices with 勾选状态, "
                    "有效抵扣税额; sheets " + "、".join(heads) + "), not a 全量发票查询 export: it has no buyer, "
                    "no 价税合计 and no line items. Import the 全量发票查询 export of the same month instead")
    return ("not a 全量发票查询 export: no sheet has the header of 信息汇总表 (序号, 发票代码, 发票号码, 数电发票号码, "
            "…, 货物或应税劳务名称, 金额, 税率, 税额, 价税合计) or of 发票基础信息; sheets: " + "、".join(heads))
