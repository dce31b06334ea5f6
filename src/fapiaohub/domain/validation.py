"""Validation rules for invoices (domain.md §4): tax ids, 发票代码, 数电 numbers, amounts.

A finding either rejects the invoice (it cannot be stored as it is) or flags it (stored, and the
flag travels with it).
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from fapiaohub.domain.codes import DIGITAL_ONLY, FPLX, Family, family_of
from fapiaohub.domain.invoice import Invoice
from fapiaohub.domain.money import CENT

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC = re.compile(f"[{USCC_ALPHABET}]{{18}}")
_LEGACY_ID = re.compile(r"[0-9A-Z]{15}|[0-9A-Z]{17}|[0-9A-Z]{20}")
# GB/T 2260 provincial codes (the first two digits of region codes)
PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
})
# the 计划单列市 issue 数电 invoices under codes of their own: 91 大连, 92 青岛, 93 宁波, 94 厦门, 95 深圳
PLANNED_CITIES = frozenset({"91", "92", "93", "94", "95"})
SDP_REGIONS = PROVINCES | PLANNED_CITIES
LINE_TOLERANCE = Decimal("0.06")  # Σ line se may differ from se by 0.06 per line …
TOTAL_TOLERANCE = Decimal("1.27")  # … and by 1.27 at most in total
PERSON_BUYER_KINDS = frozenset({"04", "10", "11", "82", "85", "51", "61", "14", "8208"})


def uscc_check_char(first17: str) -> str:
    """The check character of a 统一社会信用代码 from its first 17 characters."""
    bad = set(first17) - set(USCC_ALPHABET)
    if bad or len(first17) != 17:
        raise ValueError(f"{first17!r} is not 17 characters over {USCC_ALPHABET}")
    total = sum(USCC_ALPHABET.index(char) * weight for char, weight in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    return bool(_USCC.fullmatch(code)) and uscc_check_char(code[:17]) == code[17]


@functools.lru_cache(maxsize=65536)  # an import sees the same few hundred parties again and again
def classify_taxpayer_id(code: str) -> Literal["uscc", "legacy", "invalid"]:
    """uscc: a valid 18-character code; legacy: an older 15/17/20-character id (flag, never
    reject); invalid: anything else, including an 18-character code with a wrong check character."""
    if is_valid_uscc(code):
        return "uscc"
    if len(code) != 18 and _LEGACY_ID.fullmatch(code):
        return "legacy"
    return "invalid"


@dataclass(frozen=True, slots=True)
class FpdmInfo:
    region: str  # 10 digits: 4-digit region; 12 digits: 4-digit province
    year: str  # two digits
    batch: str
    kind: str  # 10 digits: one digit (1/5 专票, 3/6 普票); 12 digits: two (11 电子普票, 13 电子专票 …)


def describe_fpdm(code: str) -> FpdmInfo | None:
    """The structure of a 10- or 12-digit 发票代码, or None when it is not one."""
    if not code.isdigit():
        return None
    if len(code) == 10:
        return FpdmInfo(region=code[0:4], year=code[4:6], batch=code[6], kind=code[7])
    if len(code) == 12 and code[0] == "0":
        return FpdmInfo(region=code[1:5], year=code[5:7], batch=code[7:10], kind=code[10:12])
    return None


def is_valid_sdphm(number: str) -> bool:
    """A 20-digit 数电 number: 2-digit year, the issuing region (a province or a 计划单列市),
    channel digit, sequence."""
    return len(number) == 20 and number.isdigit() and number[2:4] in SDP_REGIONS


def is_cent_exact(amount: Decimal) -> bool:
    """Whether an amount has no digits below the cent (what a write endpoint requires)."""
    if not amount.is_finite() or amount.adjusted() >= 20:  # quantize would raise past the context's precision
        return amount.is_finite() and amount.as_tuple().exponent >= -2  # type: ignore[operator]
    return amount == amount.quantize(CENT)


@dataclass(frozen=True, slots=True)
class Finding:
    field: str
    message: str
    severity: Literal["reject", "flag"]


def check_amounts(invoice: Invoice) -> list[Finding]:
    findings = []
    je, se, jshj = invoice.je, invoice.se, invoice.jshj
    if je + se != jshj:
        findings.append(Finding("jshj", f"价税合计{jshj}不等于金额{je}+税额{se}", "reject"))
    if jshj < 0 and (je > 0 or se > 0):
        findings.append(Finding("je", f"红字发票的金额{je}与税额{se}不能为正", "reject"))
    if invoice.lines:
        line_je = sum((line.je for line in invoice.lines), Decimal(0))
        line_se = sum((line.se for line in invoice.lines), Decimal(0))
        if line_je != je:
            findings.append(Finding("hwxx.je", f"明细金额合计{line_je}不等于金额{je}", "reject"))
        allowed = min(LINE_TOLERANCE * len(invoice.lines), TOTAL_TOLERANCE)
        if abs(line_se - se) > allowed:
            findings.append(Finding("hwxx.se", f"明细税额合计{line_se}与税额{se}相差超过{allowed}", "reject"))
    return findings


def _identity(invoice: Invoice) -> list[Finding]:
    fplx, fpdm, fphm = invoice.fplx, invoice.fpdm, invoice.fphm
    if family_of(fplx) is Family.CUSTOMS:
        if fpdm or not re.fullmatch(r"[0-9A-Za-z]{16,22}", fphm):
            return [Finding("fphm", f"海关缴款书号码{fphm!r}格式错误（16–22位字母数字）", "reject")]
        return []
    if fplx in DIGITAL_ONLY:
        if fpdm or not is_valid_sdphm(fphm):
            return [Finding("fphm", f"数电发票号码{fphm!r}应为20位数字（年份+地区代码+渠道+序号）", "reject")]
        return []
    if describe_fpdm(fpdm) is None:
        return [Finding("fpdm", f"发票代码{fpdm!r}应为10位或以0开头的12位数字", "reject")]
    if not (len(fphm) == 8 and fphm.isdigit()):
        return [Finding("fphm", f"发票号码{fphm!r}应为8位数字", "reject")]
    return []


def _party(name: str, code: str, *, optional: bool) -> list[Finding]:
    if not code:
        return [] if optional else [Finding(name, f"{name}为空", "reject")]
    kind = classify_taxpayer_id(code)
    if kind == "invalid":
        return [Finding(name, f"纳税人识别号{code!r}无效（校验位或格式错误）", "reject")]
    if kind == "legacy":
        return [Finding(name, f"纳税人识别号{code!r}为旧式税号（非18位统一社会信用代码）", "flag")]
    return []


def validate_invoice(invoice: Invoice) -> list[Finding]:
    """Every finding for an invoice; any with severity "reject" means it must not be stored."""
    if invoice.fplx not in FPLX:
        return [Finding("fplx", f"发票类型{invoice.fplx!r}未知", "reject")]
    findings = _identity(invoice)
    customs = family_of(invoice.fplx) is Family.CUSTOMS
    findings += _party("xfsbh", invoice.xfsbh, optional=customs)
    findings += _party("gfsbh", invoice.gfsbh, optional=invoice.fplx in PERSON_BUYER_KINDS)
    if not invoice.gfsbh and invoice.fplx in PERSON_BUYER_KINDS:
        findings.append(Finding("gfsbh", "购买方无纳税人识别号（个人）", "flag"))
    return findings + check_amounts(invoice)


# What a write door accepts as text, before any statement sees it. Limits are the bureau's own where
# its 开票 forms state them (备注 230 characters, 名称 100, 项目名称 100); the rest are generous caps far
# above any real value (a 密码区 is 108 characters) that keep one field from being megabytes.
TEXT_LIMITS = {"bz": 230, "xfmc": 100, "gfmc": 100, "xsfdzdh": 200, "gmfdzdh": 200, "xsfyhzh": 200,
               "gmfyhzh": 200}
LINE_TEXT_LIMITS = {"mc": 100, "ggxh": 100, "jldw": 50}
OTHER_TEXT_LIMIT = 200  # any other text field of an invoice, its lines and its extra records
MAX_LINES = 2000  # lines of one invoice (a 销货清单 runs to a few hundred)
MAX_RECORDS = 200  # 特定要素 / 行程单 records of one invoice
MAX_AMOUNT = Decimal("1e15")  # NUMERIC(18,2) holds less than 1e16; no invoice comes near either


def text_finding(field: str, value: str, limit: int) -> Finding | None:
    """A reject finding when ``value`` holds NUL (PostgreSQL text cannot) or exceeds ``limit`` characters."""
    if "\x00" in value:
        return Finding(field, "不能包含NUL字符（\\u0000）", "reject")
    if len(value) > limit:
        return Finding(field, f"长度{len(value)}超过上限{limit}个字符", "reject")
    return None


def _amount_finding(field: str, amount: Decimal) -> Finding | None:
    if _plain_amount(amount):
        return None
    if not is_cent_exact(amount):
        return Finding(field, f"金额{amount}须精确到分（最多两位小数）", "reject")
    if abs(amount) >= MAX_AMOUNT:
        return Finding(field, f"金额{amount}超出范围（绝对值须小于{MAX_AMOUNT:f}）", "reject")
    return None


def _record_findings(field: str, records: list[dict[str, str]]) -> list[Finding]:
    if len(records) > MAX_RECORDS:
        return [Finding(field, f"{len(records)}条记录超过上限{MAX_RECORDS}", "reject")]
    found = []
    for n, record in enumerate(records):
        for key, value in record.items():
            found.append(text_finding(f"{field}[{n}].{key}", key, OTHER_TEXT_LIMIT)
                         or text_finding(f"{field}[{n}].{key}", str(value), OTHER_TEXT_LIMIT))
    return [f for f in found if f is not None]


_HEADER_TEXT = tuple((name, TEXT_LIMITS.get(name, OTHER_TEXT_LIMIT)) for name in (
    "fplx", "fpdm", "fphm", "xfsbh", "gfsbh", "jym", "skm", "kpr", "skr", "fhr", "fpzt_dm", "kjlx", "tspz_dm",
    "xhqd_bz", "kpjh", "tslsh", "xf_sjswjg_dm", "xf_dsswjg_dm", "xf_qxswjg_dm", "tdywlx", "origin", *TEXT_LIMITS))
_LINE_TEXT = tuple((name, LINE_TEXT_LIMITS.get(name, OTHER_TEXT_LIMIT))
                   for name in ("mc", "spbm", "ggxh", "sl", "jldw", "dj", "qdbz", "hsdj", "hsje"))
_NUL = "\x00"
# the texts of an invoice, and of a line, in one call each, and their limits in the same order
_HEADER_VALUES = operator.attrgetter(*(name for name, _ in _HEADER_TEXT))
_HEADER_LIMITS = tuple(limit for _, limit in _HEADER_TEXT)
_LINE_VALUES = operator.attrgetter(*(name for name, _ in _LINE_TEXT))
_LINE_LIMITS = tuple(limit for _, limit in _LINE_TEXT)


def _texts_fit(values: tuple[str, ...], limits: tuple[int, ...]) -> bool:
    """Whether every text is within its limit and none holds NUL: the common case, decided by
    loops that run in C (imports ask it of every invoice and every line)."""
    return not any(map(operator.gt, map(len, values), limits)) and _NUL not in "".join(values)


def _plain_amount(amount: Decimal) -> bool:
    """Whether an amount has at most two decimals and is in range: the common case, decided
    without quantize (and, for the amounts the parsers give, already in cents, without as_tuple)."""
    return ((amount.same_quantum(CENT) or amount.as_tuple().exponent in (0, -1))
            and -MAX_AMOUNT < amount < MAX_AMOUNT)


def write_findings(invoice: Invoice) -> list[Finding]:
    """What a write door refuses before validate_invoice even looks: NUL and over-long text, amounts
    below the cent or out of range, too many lines. Cheap (imports run it on every invoice: each
    part is first tested as a whole; findings are built for what fails), and safe on any input."""
    found: list[Finding | None] = []
    values = _HEADER_VALUES(invoice)
    if not _texts_fit(values, _HEADER_LIMITS):
        found += [text_finding(name, value, limit) for (name, limit), value in zip(_HEADER_TEXT, values, strict=True)]
    found += [_amount_finding(name, getattr(invoice, name)) for name in ("je", "se", "jshj")]
    if len(invoice.lines) > MAX_LINES:
        found.append(Finding("lines", f"{len(invoice.lines)}行明细超过上限{MAX_LINES}", "reject"))
    else:
        for n, line in enumerate(invoice.lines):
            values = _LINE_VALUES(line)
            if not _texts_fit(values, _LINE_LIMITS):
                found += [text_finding(f"lines[{n}].{name}", value, limit)
                          for (name, limit), value in zip(_LINE_TEXT, values, strict=True)]
            if not (_plain_amount(line.je) and _plain_amount(line.se)):
                found += [_amount_finding(f"lines[{n}].{name}", getattr(line, name)) for name in ("je", "se")]
            if not line.slv.is_finite() or abs(line.slv) > 1:
                found.append(Finding(f"lines[{n}].slv", f"税率{line.slv}应在0到1之间", "reject"))
    findings = [f for f in found if f is not None]
    if invoice.special or invoice.itinerary or invoice.vehicle or invoice.customs:
        findings += _record_findings("special", invoice.special) + _record_findings("itinerary", invoice.itinerary)
        for name, extra in (("vehicle", invoice.vehicle), ("customs", invoice.customs)):
            if extra is not None:
                findings += _record_findings(name, [extra])
    return findings
