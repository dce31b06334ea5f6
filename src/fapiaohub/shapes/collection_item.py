"""Canonical invoice → the getInvoiceCollectionData item of its family (the seed's seven shapes).

Key sets and JSON types are exactly those of the seed's examples (tests compare them by machine):
money and rates are Decimals (exact JSON numbers), counts and months ints, everything else text,
never null. docs/shapes.md says where each key comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fapiaohub import wire
from fapiaohub.domain.codes import ROLL_TICKET, Family
from fapiaohub.domain.invoice import Invoice, InvoiceLine

TDYS_KEYS = ("jzfwfsd", "jzxmmc", "cqzs", "cxr", "yxsfzh", "cxrq", "cfd", "ddd", "dj", "jtgjlx",
             "ysgjzl", "ysgjph", "qyd", "yshwmc")
AVIATION_XCD_KEYS = ("cfd", "ddd", "lkxm", "sdphm", "hbh", "createTime", "sj", "cyr", "rq", "yxsfzh")
RAILWAY_XCD_KEYS = ("cfd", "ddd", "createTime", "lkxm", "sdphm", "sj", "cxcc", "rq", "yxsfzh")
VEHICLE_KEYS = ("sfzhm", "spbm", "cllx", "cpxh", "cd", "hgzh", "jkzmsh", "sjdh", "fdjhm", "cjhm",
                "dh", "khyh", "zh", "dz", "dw", "xcrs")
CUSTOMS_KEYS = ("jkdw2nsrsbh", "jkdw2mc", "jkkadm", "shxx", "srjg", "yskmdm", "skgkdm", "myfs",
                "sqdwbm", "bgdbh", "hth", "ysgj", "jkqx", "tydh")


def _kprq(inv: Invoice) -> str:
    kprq = inv.kprq
    if not kprq.microsecond and kprq.tzinfo is None:  # the same text, without strftime's cost
        return kprq.isoformat(sep=" ")
    return kprq.strftime("%Y-%m-%d %H:%M:%S")


def _rate(inv: Invoice) -> Decimal:
    """The invoice-level rate: the common rate of its lines, else that of its largest line."""
    if not inv.lines:
        return Decimal("0")
    rates = {line.slv for line in inv.lines}
    if len(rates) == 1:
        return rates.pop()
    return max(inv.lines, key=lambda line: abs(line.je)).slv


def _pick(source: dict[str, str] | None, keys: tuple[str, ...]) -> dict[str, str]:
    source = source or {}
    return {key: str(source.get(key, "")) for key in keys}


def _parties(inv: Invoice) -> dict[str, Any]:
    return {
        "xfsbh": inv.xfsbh, "xfmc": inv.xfmc, "xsfdzdh": inv.xsfdzdh, "xsfyhzh": inv.xsfyhzh,
        "gfsbh": inv.gfsbh, "gfmc": inv.gfmc, "gmfdzdh": inv.gmfdzdh, "gmfyhzh": inv.gmfyhzh,
    }


def _line(line: InvoiceLine) -> dict[str, Any]:
    return {"spbm": line.spbm, "mc": line.mc, "ggxh": line.ggxh, "sl": line.sl, "jldw": line.jldw,
            "dj": line.dj, "je": line.je, "slv": line.slv, "se": line.se}


def _vat(inv: Invoice) -> dict[str, Any]:
    lines = []
    for number, line in enumerate(inv.lines, start=1):
        item = {"mxxh": number, **_line(line), "qdbz": line.qdbz}
        if inv.fplx == ROLL_TICKET:  # 卷票 lines also carry the tax-inclusive price and amount
            item |= {"hsdj": line.hsdj, "hsje": line.hsje}
        lines.append(item)
    return {
        "fpdm": inv.fpdm, "fphm": inv.fphm, "kprq": _kprq(inv), "jym": inv.jym, **_parties(inv),
        "skm": inv.skm, "je": inv.je, "se": inv.se, "jshj": inv.jshj, "bz": inv.bz, "kpr": inv.kpr,
        "skr": inv.skr, "fhr": inv.fhr, "tspzDm": inv.tspz_dm, "fpztDm": inv.fpzt_dm,
        "hwxx": lines, "xhqdBz": inv.xhqd_bz, "kjlx": inv.kjlx, "kpjh": inv.kpjh,
        "tslsh": inv.tslsh, "kpyf": inv.kpyf, "xfDsswjgDm": inv.xf_dsswjg_dm,
        "xfQxswjgDm": inv.xf_qxswjg_dm, "xfSjswjgDm": inv.xf_sjswjg_dm,
    }


def _motor_vehicle(inv: Invoice) -> dict[str, Any]:
    vehicle = _pick(inv.vehicle, VEHICLE_KEYS)
    return {
        "fpdm": inv.fpdm, "fphm": inv.fphm, "kprq": _kprq(inv), "skm": inv.skm, "gfmc": inv.gfmc,
        "sfzhm": vehicle["sfzhm"], "gfsbh": inv.gfsbh, "spbm": vehicle["spbm"],
        "cllx": vehicle["cllx"], "cpxh": vehicle["cpxh"], "cd": vehicle["cd"], "hgzh": vehicle["hgzh"],
        "jkzmsh": vehicle["jkzmsh"], "sjdh": vehicle["sjdh"], "fdjhm": vehicle["fdjhm"],
        "cjhm": vehicle["cjhm"], "jshj": inv.jshj, "xhdwmc": inv.xfmc, "dh": vehicle["dh"],
        "khyh": vehicle["khyh"], "xhdwsbh": inv.xfsbh, "zh": vehicle["zh"], "dz": vehicle["dz"],
        "slv": _rate(inv), "zzsse": inv.se, "je": inv.je, "dw": vehicle["dw"],
        "xcrs": vehicle["xcrs"], "kpr": inv.kpr, "fpztDm": inv.fpzt_dm, "tslsh": inv.tslsh,
        "kpyf": inv.kpyf,
    }


def _toll(inv: Invoice) -> dict[str, Any]:
    return {
        "fpdm": inv.fpdm, "fphm": inv.fphm, "kprq": _kprq(inv), "jym": inv.jym, **_parties(inv),
        "skm": inv.skm, "je": inv.je, "se": inv.se, "jshj": inv.jshj, "bz": inv.bz, "kpr": inv.kpr,
        "skr": inv.skr, "fhr": inv.fhr, "fpztDm": inv.fpzt_dm,
        "hwxx": [_line(line) for line in inv.lines],
    }


def _customs(inv: Invoice) -> dict[str, Any]:
    customs = _pick(inv.customs, CUSTOMS_KEYS)
    return {
        "jkshm": inv.fphm, "tfrq": inv.kprq.strftime("%Y-%m-%d"),
        "jkdw1nsrsbh": inv.gfsbh, "jkdw1mc": inv.gfmc,
        "jkdw2nsrsbh": customs["jkdw2nsrsbh"], "jkdw2mc": customs["jkdw2mc"],
        "jkkadm": customs["jkkadm"], "shxx": customs["shxx"], "skje": inv.se,
        "hwxx": [
            {"shxx": line.spbm, "hwmc": line.mc, "sl": line.sl, "dw": line.jldw, "wsjg": line.je,
             "slv": line.slv, "skje": line.se}
            for line in inv.lines
        ],
        "srjg": customs["srjg"], "yskmdm": customs["yskmdm"], "skgkdm": customs["skgkdm"],
        "myfs": customs["myfs"], "sqdwbm": customs["sqdwbm"], "bgdbh": customs["bgdbh"],
        "hth": customs["hth"], "ysgj": customs["ysgj"], "jkqx": customs["jkqx"],
        "tydh": customs["tydh"], "tfyf": inv.kpyf,
    }


def _digital_common(inv: Invoice) -> dict[str, Any]:
    """The keys 全电, aviation and railway items share (seed examples 5, 6, 7)."""
    return {
        **_parties(inv), "kpyf": inv.kpyf, "se": inv.se, "skm": inv.skm, "kprq": _kprq(inv),
        "bz": inv.bz, "mxts": len(inv.lines), "kjlx": inv.kjlx, "skr": inv.skr,
        "fpztDm": inv.fpzt_dm, "fpdm": inv.fpdm, "kpr": inv.kpr, "fhr": inv.fhr, "jshj": inv.jshj,
        "je": inv.je, "slv": _rate(inv), "hwxx": [_line(line) for line in inv.lines],
        "fphm": inv.fphm, "jym": inv.jym,
    }


def _full_digital(inv: Invoice) -> dict[str, Any]:
    return {**_digital_common(inv), "tdysList": [_pick(e, TDYS_KEYS) for e in inv.special],
            "tdywlx": inv.tdywlx}


def _aviation(inv: Invoice) -> dict[str, Any]:
    return {**_digital_common(inv), "xcdList": [_pick(e, AVIATION_XCD_KEYS) for e in inv.itinerary]}


def _railway(inv: Invoice) -> dict[str, Any]:
    return {**_digital_common(inv), "xcdList": [_pick(e, RAILWAY_XCD_KEYS) for e in inv.itinerary]}


_RENDERERS: dict[Family, Callable[[Invoice], dict[str, Any]]] = {
    Family.VAT: _vat,
    Family.MOTOR_VEHICLE: _motor_vehicle,
    Family.TOLL: _toll,
    Family.CUSTOMS: _customs,
    Family.FULL_DIGITAL: _full_digital,
    Family.AVIATION: _aviation,
    Family.RAILWAY: _railway,
}


def collection_item(inv: Invoice) -> dict[str, Any]:
    """The item dict of ``data.list`` for this invoice (Decimals still Decimals)."""
    return _RENDERERS[inv.family](inv)


def render_collection_item(inv: Invoice) -> bytes:
    """The item as JSON bytes, as stored in invoice.rendered and served verbatim."""
    return wire.dumps(collection_item(inv))
