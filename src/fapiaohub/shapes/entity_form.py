"""The unify view of a stored invoice: Ekuaibao entity records (system_发票主体 / system_发票明细).

Keys, nesting and JSON types are those of the unify seed's example; values come from the canonical
invoice. Fields that only mean something inside Ekuaibao (image names, OCR regions, versions of
its own storage) get fixed neutral values, listed in docs/api.md.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fapiaohub.domain.invoice import Invoice, InvoiceLine

CHINA = ZoneInfo("Asia/Shanghai")
GRAYVER = "fapiaohub-1"
PLATFORM = "system_发票平台"

# E_system_发票主体_发票类别 by fplx; the docs spell FULL_DIGITAl with a lower-case l, and so do we
CATEGORY = {
    "01": "PAPER_SPECIAL", "04": "PAPER_NORMAL", "08": "DIGITAL_SPECIAL", "10": "DIGITAL_NORMAL",
    "11": "PAPER_ROLL", "14": "PAPER_FEE", "03": "PAPER_CAR", "15": "SECOND_CAR",
    "81": "FULL_DIGITAl_SPECIAL", "82": "FULL_DIGITAl_NORMAL", "84": "FULL_DIGITAl_PAPER",
    "85": "FULL_DIGITAl_PAPER_NORMAL", "83": "FULL_DIGITAl_NORMAL", "87": "FULL_DIGITAl_PAPER",
    "70": "FULL_DIGITAl_NORMAL", "88": "FULL_DIGITAl_PAPER", "51": "FULL_DIGITAl_NORMAL",
    "61": "FULL_DIGITAl_NORMAL", "8208": "FULL_DIGITAl_NORMAL", "17": "PAPER_SPECIAL",
}

# 增值税发票 for the v1 endpoint: 专票/普票 in every medium, 卷票 and 通行费 (an 增值税电子普通发票)
VAT_KINDS = frozenset({"01", "04", "08", "10", "11", "14", "81", "82", "84", "85", "8208"})


def money(amount: Decimal) -> dict[str, Any]:
    """Ekuaibao's money object; the amount travels as a string with two decimals."""
    return {
        "standard": f"{amount:.2f}",
        "standardUnit": "元",
        "standardScale": 2,
        "standardSymbol": "¥",
        "standardNumCode": "156",
        "standardStrCode": "CNY",
    }


@functools.lru_cache(maxsize=65536)
def name_spell(text: str) -> str:
    """Ekuaibao's nameSpell: the name in upper-case pinyin, other characters kept.

    Cached: a batch read spells every line's goods name, the same few thousand names again and
    again, and pypinyin took 70% of a unify read (docs/performance.md)."""
    # imported on first use: its dictionaries take 57 MB, which every process that imports the
    # store (an importing worker, the CLI) would carry for nothing, as most never spell a name
    from pypinyin import lazy_pinyin  # noqa: PLC0415

    return "".join(lazy_pinyin(text)).upper()


def invoice_id(corp_id: str, invoice: Invoice) -> str:
    return f"{corp_id}:{invoice.key}"


def detail_id(corp_id: str, invoice: Invoice, index: int) -> str:
    """A stable id per line, in Ekuaibao's 14-character style (ID01 + 10 characters)."""
    digest = hashlib.sha256(f"{corp_id}:{invoice.key}:{index}".encode()).hexdigest()
    return "ID01" + digest[:10]


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA)
    return int(moment.timestamp() * 1000)


def _record(corp_id: str, *, entity: str, record_id: str, name: str, code: str, master_id: str | None,
            created: int, updated: int, form: dict[str, Any]) -> dict[str, Any]:
    return {
        "pipeline": 1,
        "grayver": GRAYVER,
        "dbVersion": 1,
        "threadId": "",
        "version": 1,
        "active": True,
        "createTime": created,
        "updateTime": updated,
        "name": name,
        "nameSpell": name_spell(name),
        "code": code,
        "corporationId": corp_id,
        "sourceCorporationId": None,
        "dataCorporationId": None,
        "id": record_id,
        "form": form,
        "ledgerAmount": None,
        "ledgerAmountModel": None,
        "totalCount": 1,
        "useCount": 0,
        "entityId": entity,
        "platformId": PLATFORM,
        "source": "WRITE",
        "masterId": master_id,
        "index": 0,
        "visibility": {
            "fullVisible": True, "staffs": [], "roles": [], "departments": [],
            "departmentsIncludeChildren": True,
        },
        "visible": True,
        "ownerId": "",
        "operatorId": f"{corp_id}:fapiaohub",
        "sourceId": "",
        "selfPlannedConfigs": None,
        "rigidControlPassed": True,
        "controlCalcVersion": 0,
        "topDate": 0,
        "topFlag": 0,
        "flowCounts": {},
        "sourceMessage": "",
    }


def master_record(corp_id: str, invoice: Invoice, created: datetime, updated: datetime) -> dict[str, Any]:
    """The system_发票主体 record of an invoice."""
    main = "E_system_发票主体_"
    record_id = invoice_id(corp_id, invoice)
    form: dict[str, Any] = {
        "E_税额": money(invoice.se),
        "E_是否抵扣": False,
        "E_不计税金额": money(invoice.je),
        "E_system_收票状态": "RECEIVE",
        f"{main}OFD": None,
        f"{main}PDF": None,
        f"{main}code": invoice.fpdm,
        f"{main}name": invoice.fphm,
        f"{main}cardId": None,
        f"{main}图片": "",
        f"{main}备注": invoice.bz,
        f"{main}方向": 0.0,
        f"{main}来源": "IMPORT",
        f"{main}税额": money(invoice.se),
        f"{main}验真": True,
        f"{main}验签": False,
        f"{main}复核人": invoice.fhr,
        f"{main}开票人": invoice.kpr,
        f"{main}收款人": invoice.skr,
        f"{main}校验码": invoice.jym,
        f"{main}ifNormOpen": invoice.fpzt_dm == "0",
        f"{main}encryptCode": None,
        f"{main}价税合计": money(invoice.jshj),
        f"{main}发票代码": invoice.fpdm,
        f"{main}发票号码": invoice.fphm,
        f"{main}发票日期": _epoch_ms(invoice.kprq.replace(hour=0, minute=0, second=0, microsecond=0)),
        f"{main}发票类别": CATEGORY[invoice.fplx],
        f"{main}发票金额": money(invoice.je),
        f"{main}识别范围": [0.0, 0.0, 0.0, 0.0],
        "E_system_票据来源_sourceEntityId": "",
        f"{main}购买方名称": invoice.gfmc,
        f"{main}销售方名称": invoice.xfmc,
        f"{main}发票印刷号码": "",
        f"{main}是否有发票原件": False,
        f"{main}购买方地址电话": invoice.gmfdzdh,
        f"{main}销售方地址电话": invoice.xsfdzdh,
        f"{main}购买方开户行及账号": invoice.gmfyhzh,
        f"{main}购买方纳税人识别号": invoice.gfsbh,
        f"{main}销售方开户行及账号": invoice.xsfyhzh,
        f"{main}销售方纳税人识别号": invoice.xfsbh,
    }
    return _record(
        corp_id, entity="system_发票主体", record_id=record_id, name=invoice.fphm, code=invoice.key,
        master_id=None, created=_epoch_ms(created), updated=_epoch_ms(updated), form=form,
    )


def _rate_text(rate: Decimal) -> str:
    percent = (rate * 100).normalize()
    return f"{percent:f}%"


def detail_records(
    corp_id: str, invoice: Invoice, created: datetime, updated: datetime
) -> list[dict[str, Any]]:
    """The system_发票明细 records of an invoice's lines."""
    line_key = "E_system_发票明细_"
    records = []
    for index, line in enumerate(invoice.lines):
        record_id = detail_id(corp_id, invoice, index)
        form = {
            f"{line_key}code": record_id,
            f"{line_key}name": line.mc,
            f"{line_key}单价": money(_unit_price(line)),
            f"{line_key}单位": line.jldw,
            f"{line_key}数量": line.sl,
            f"{line_key}税率": _rate_text(line.slv),
            f"{line_key}税额": money(line.se),
            f"{line_key}金额": money(line.je),
            f"{line_key}规格型号": line.ggxh,
        }
        records.append(_record(
            corp_id, entity="system_发票明细", record_id=record_id, name=line.mc, code=record_id,
            master_id=invoice_id(corp_id, invoice), created=_epoch_ms(created),
            updated=_epoch_ms(updated), form=form,
        ))
    return records


def _unit_price(line: InvoiceLine) -> Decimal:
    try:
        return Decimal(line.dj) if line.dj else Decimal(0)
    except ArithmeticError:
        return Decimal(0)


def unify_invoice(corp_id: str, invoice: Invoice, created: datetime, updated: datetime) -> dict[str, Any]:
    """One element of a batch's ``invoices`` list."""
    details = detail_records(corp_id, invoice, created, updated)
    return {
        "invoiceId": invoice_id(corp_id, invoice),
        "invoiceDetailsId": [record["id"] for record in details],
        "master": master_record(corp_id, invoice, created, updated),
        "details": details,
    }
