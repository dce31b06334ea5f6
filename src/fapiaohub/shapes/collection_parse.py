"""The inverse of render.py: a getInvoiceCollectionData item (from any compatible server) → Invoice.

Decode responses with ``json.loads(text, parse_float=Decimal)`` so that money keeps its digits.
Missing keys become empty values: an upstream may be older or sparser than the seed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fapiaohub.domain.codes import Family, family_of
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.money import ValueParseError, parse_amount, parse_datetime
from fapiaohub.shapes.collection_item import CUSTOMS_KEYS, VEHICLE_KEYS

CENT = Decimal("0.01")


class ItemError(ValueError):
    """An item that cannot become an invoice; the message names the key."""


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return "" if value is None else str(value)


def _money(item: dict[str, Any], key: str) -> Decimal:
    try:
        return parse_amount(item.get(key, 0), key)
    except ValueParseError as exc:
        raise ItemError(str(exc)) from None


def _rate(item: dict[str, Any], key: str) -> Decimal:
    value = item.get(key, 0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ItemError(f"{key}: not a tax rate: {value!r}") from None


def _kprq(value: Any, key: str) -> datetime:
    try:
        return parse_datetime(value, key)
    except ValueParseError as exc:
        raise ItemError(str(exc)) from None


def _vat_lines(item: dict[str, Any]) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            mc=_text(line, "mc"), je=_money(line, "je"), se=_money(line, "se"), slv=_rate(line, "slv"),
            spbm=_text(line, "spbm"), ggxh=_text(line, "ggxh"), sl=_text(line, "sl"),
            jldw=_text(line, "jldw"), dj=_text(line, "dj"), qdbz=_text(line, "qdbz") or "00",
            hsdj=_text(line, "hsdj"), hsje=_text(line, "hsje"),
        )
        for line in item.get("hwxx") or []
    ]


def _parties(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("xfsbh", "xfmc", "xsfdzdh", "xsfyhzh", "gfsbh", "gfmc", "gmfdzdh", "gmfyhzh",
            "jym", "skm", "bz", "kpr", "skr", "fhr")
    return {key: _text(item, key) for key in keys}


def invoice_from_item(fplx: str, item: dict[str, Any]) -> Invoice:
    """Rebuild the canonical invoice from a rendered item of kind ``fplx``; ItemError when it
    lacks what an invoice cannot do without (number, date, amounts)."""
    if not isinstance(item, dict):
        raise ItemError("item is not a JSON object")
    family = family_of(fplx)
    if family is Family.CUSTOMS:
        return _customs(item)
    if not _text(item, "fphm"):
        raise ItemError("fphm: missing")
    base: dict[str, Any] = {
        "fplx": fplx, "fpdm": _text(item, "fpdm"), "fphm": _text(item, "fphm"),
        "kprq": _kprq(item.get("kprq"), "kprq"), "fpzt_dm": _text(item, "fpztDm") or "0",
    }
    if family is Family.MOTOR_VEHICLE:
        je = _money(item, "je")
        se = _money(item, "zzsse")
        vehicle = {key: _text(item, key) for key in VEHICLE_KEYS}
        # the shape has no line list; the vehicle is the invoice's one line, which carries the rate
        line = InvoiceLine(mc=vehicle["cllx"] or "机动车", je=je, se=se, slv=_rate(item, "slv"),
                           spbm=vehicle["spbm"], ggxh=vehicle["cpxh"], sl="1", jldw=vehicle["dw"])
        return Invoice(
            **base, je=je, se=se, jshj=_money(item, "jshj"),
            xfsbh=_text(item, "xhdwsbh"), xfmc=_text(item, "xhdwmc"),
            gfsbh=_text(item, "gfsbh"), gfmc=_text(item, "gfmc"), skm=_text(item, "skm"),
            kpr=_text(item, "kpr"), tslsh=_text(item, "tslsh"), lines=[line], vehicle=vehicle,
        )
    invoice = Invoice(
        **base, je=_money(item, "je"), se=_money(item, "se"), jshj=_money(item, "jshj"),
        **_parties(item), lines=_vat_lines(item),
    )
    invoice.kjlx = _text(item, "kjlx") or invoice.kjlx
    if family is Family.VAT:
        invoice.tspz_dm = _text(item, "tspzDm")
        invoice.xhqd_bz = _text(item, "xhqdBz") or "N"
        invoice.kpjh = _text(item, "kpjh")
        invoice.tslsh = _text(item, "tslsh")
        invoice.xf_sjswjg_dm = _text(item, "xfSjswjgDm")
        invoice.xf_dsswjg_dm = _text(item, "xfDsswjgDm")
        invoice.xf_qxswjg_dm = _text(item, "xfQxswjgDm")
    elif family is Family.FULL_DIGITAL:
        invoice.tdywlx = _text(item, "tdywlx")
        invoice.special = [{k: _text(e, k) for k in e} for e in item.get("tdysList") or []]
    elif family in (Family.AVIATION, Family.RAILWAY):
        invoice.itinerary = [{k: _text(e, k) for k in e} for e in item.get("xcdList") or []]
    return invoice


def _customs(item: dict[str, Any]) -> Invoice:
    number = _text(item, "jkshm")
    if not number:
        raise ItemError("jkshm: missing")
    lines = [
        InvoiceLine(mc=_text(line, "hwmc"), je=_money(line, "wsjg"), se=_money(line, "skje"),
                    slv=_rate(line, "slv"), spbm=_text(line, "shxx"), sl=_text(line, "sl"),
                    jldw=_text(line, "dw"))
        for line in item.get("hwxx") or []
    ]
    je = sum((line.je for line in lines), Decimal("0.00"))
    se = _money(item, "skje")
    return Invoice(
        fplx="17", fphm=number, kprq=_kprq(item.get("tfrq"), "tfrq"), je=je, se=se, jshj=je + se,
        gfsbh=_text(item, "jkdw1nsrsbh"), gfmc=_text(item, "jkdw1mc"), lines=lines,
        customs={key: _text(item, key) for key in CUSTOMS_KEYS},
    )
