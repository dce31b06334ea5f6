"""Validation of a getInvoiceCollectionData request body into a typed query, with the seed's error codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fapiaohub.domain.codes import CUSTOMS_PAYMENT, DIRECTIONS, FPLX
from fapiaohub.errors import BusinessError

MAX_PAGE_SIZE = 100
_KPYF = re.compile(r"\d{6}")
_NSRSBH = re.compile(r"[0-9A-Za-z]{15,20}")  # 统一社会信用代码 (18) and the older 15/17/20-character ids


@dataclass(frozen=True, slots=True)
class CollectionQuery:
    corp_id: str
    nsrsbh: str
    fplx: str
    kpyf: int
    jxxbz: str
    current_page: int
    page_size: int


def _missing(value: Any) -> bool:
    return value is None or value == ""


def text_field(body: dict[str, Any], name: str, *, allow_int: bool = False) -> str:
    """A present field as stripped text (500 naming it when it is not a string)."""
    value = body[name]
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise BusinessError("500", f"{name}类型错误：应为字符串")
    if "\x00" in value:  # no identifier holds one, and PostgreSQL text cannot
        raise BusinessError("500", f"{name}格式错误：含有空字符(\\u0000)")
    return value.strip()


def _whole_number(value: Any) -> int | None:
    """An integer given as a JSON number (10 or 10.0) or a digit string ("10"); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def check_fplx(fplx: str) -> None:
    if fplx not in FPLX:
        raise BusinessError("500", "发票类型格式错误")


def check_kpyf(text: str) -> int:
    if not _KPYF.fullmatch(text) or not 1 <= int(text[4:]) <= 12 or text < "1990":
        raise BusinessError("500", f"开票月份kpyf格式错误：应为yyyyMM格式的真实月份，收到{text!r}")
    return int(text)


def check_direction(jxxbz: str) -> None:
    if jxxbz not in DIRECTIONS:
        raise BusinessError("500", f"进销项标志jxxbz格式错误：只能是jx（进项）或xx（销项），收到{jxxbz!r}")


def require(body: Any, *names: str) -> dict[str, Any]:
    """The body as an object that has every named field (4006 naming the first one missing)."""
    if not isinstance(body, dict):
        raise BusinessError("500", "请求体格式错误：应为JSON对象")
    for name in names:
        if _missing(body.get(name)):
            raise BusinessError("4006", f"必填项为空：{name}")
    return body


def parse_collection_query(body: Any) -> CollectionQuery:
    """Check a decoded body field by field; the first problem raises BusinessError naming the field.

    Order: missing fields (4006) before malformed ones (500), so a client learns every required
    field before formats. The corpId-versus-token check is the caller's (it answers 403).
    """
    body = require(body, "corpId", "nsrsbh", "fplx", "kpyf", "jxxbz", "page")
    page = body["page"]
    if not isinstance(page, dict):
        raise BusinessError("500", "分页信息page格式错误：应为对象 {\"currentPage\", \"pageSize\"}")
    if _missing(page.get("pageSize")):
        raise BusinessError("4006", "必填项为空：page.pageSize")

    corp_id = text_field(body, "corpId")
    nsrsbh = text_field(body, "nsrsbh")
    fplx = text_field(body, "fplx")
    kpyf_text = text_field(body, "kpyf", allow_int=True)
    jxxbz = text_field(body, "jxxbz")

    if not _NSRSBH.fullmatch(nsrsbh):
        raise BusinessError("500", f"纳税人识别号nsrsbh格式错误：应为15到20位字母或数字，收到{nsrsbh[:40]!r}")
    check_fplx(fplx)
    kpyf = check_kpyf(kpyf_text)
    check_direction(jxxbz)
    page_size = _whole_number(page["pageSize"])
    if page_size is None or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BusinessError("500", f"page.pageSize格式错误：应为1到{MAX_PAGE_SIZE}之间的整数")
    raw_current = page.get("currentPage")
    current_page = 1 if _missing(raw_current) else _whole_number(raw_current)
    if current_page is None or current_page < 1:
        raise BusinessError("500", "page.currentPage格式错误：应为从1开始的整数")
    if jxxbz == "xx" and fplx == CUSTOMS_PAYMENT:
        raise BusinessError("500", "销项不支持海关缴款书（fplx=17只能按进项jx查询）")
    return CollectionQuery(corp_id, nsrsbh, fplx, kpyf, jxxbz, current_page, page_size)
