"""Typed shapes of what the API returns: the seven getInvoiceCollectionData items, tasks, unify
batches. Numbers that are money or rates arrive as Decimal (the SDK decodes them exactly).
A test checks every TypedDict's keys against the seed pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NotRequired, Required, TypedDict

from fapiaohub.domain.invoice import Invoice


class Line(TypedDict):
    spbm: str
    mc: str
    ggxh: str
    sl: str
    jldw: str
    dj: str
    je: Decimal
    slv: Decimal
    se: Decimal


class VatLine(Line, total=False):
    mxxh: int
    qdbz: str
    hsdj: str  # 卷票 (fplx 11) only
    hsje: str


class _Parties(TypedDict):
    xfsbh: str
    xfmc: str
    xsfdzdh: str
    xsfyhzh: str
    gfsbh: str
    gfmc: str
    gmfdzdh: str
    gmfyhzh: str


class TollItem(_Parties):
    fpdm: str
    fphm: str
    kprq: str
    jym: str
    skm: str
    je: Decimal
    se: Decimal
    jshj: Decimal
    bz: str
    kpr: str
    skr: str
    fhr: str
    fpztDm: str
    hwxx: list[Line]


class VatItem(TollItem):  # hwxx narrows to VatLine
    tspzDm: str
    xhqdBz: str
    kjlx: str
    kpjh: str
    tslsh: str
    kpyf: int
    xfDsswjgDm: str
    xfQxswjgDm: str
    xfSjswjgDm: str


class MotorVehicleItem(TypedDict):
    fpdm: str
    fphm: str
    kprq: str
    skm: str
    gfmc: str
    sfzhm: str
    gfsbh: str
    spbm: str
    cllx: str
    cpxh: str
    cd: str
    hgzh: str
    jkzmsh: str
    sjdh: str
    fdjhm: str
    cjhm: str
    jshj: Decimal
    xhdwmc: str
    dh: str
    khyh: str
    xhdwsbh: str
    zh: str
    dz: str
    slv: Decimal
    zzsse: Decimal
    je: Decimal
    dw: str
    xcrs: str
    kpr: str
    fpztDm: str
    tslsh: str
    kpyf: int


class CustomsLine(TypedDict):
    shxx: str
    hwmc: str
    sl: str
    dw: str
    wsjg: Decimal
    slv: Decimal
    skje: Decimal


class CustomsItem(TypedDict):
    jkshm: str
    tfrq: str
    jkdw1nsrsbh: str
    jkdw1mc: str
    jkdw2nsrsbh: str
    jkdw2mc: str
    jkkadm: str
    shxx: str
    skje: Decimal
    hwxx: list[CustomsLine]
    srjg: str
    yskmdm: str
    skgkdm: str
    myfs: str
    sqdwbm: str
    bgdbh: str
    hth: str
    ysgj: str
    jkqx: str
    tydh: str
    tfyf: int


class _Digital(_Parties):
    kpyf: int
    se: Decimal
    skm: str
    kprq: str
    bz: str
    mxts: int
    kjlx: str
    skr: str
    fpztDm: str
    fpdm: str
    kpr: str
    fhr: str
    jshj: Decimal
    je: Decimal
    slv: Decimal
    hwxx: list[Line]
    fphm: str
    jym: str


class SpecialElement(TypedDict):
    jzfwfsd: str
    jzxmmc: str
    cqzs: str
    cxr: str
    yxsfzh: str
    cxrq: str
    cfd: str
    ddd: str
    dj: str
    jtgjlx: str
    ysgjzl: str
    ysgjph: str
    qyd: str
    yshwmc: str


class FullDigitalItem(_Digital):
    tdysList: list[SpecialElement]
    tdywlx: str


class FlightSegment(TypedDict):
    cfd: str
    ddd: str
    lkxm: str
    sdphm: str
    hbh: str
    createTime: str
    sj: str
    cyr: str
    rq: str
    yxsfzh: str


class TrainSegment(TypedDict):
    cfd: str
    ddd: str
    createTime: str
    lkxm: str
    sdphm: str
    sj: str
    cxcc: str
    rq: str
    yxsfzh: str


class AviationItem(_Digital):
    xcdList: list[FlightSegment]


class RailwayItem(_Digital):
    xcdList: list[TrainSegment]


CollectionItem = VatItem | MotorVehicleItem | TollItem | CustomsItem | FullDigitalItem | AviationItem | RailwayItem


class TaskCounts(TypedDict):
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    skipped: int  # records passed over on purpose (other months, sheets not understood)


class Task(TypedDict):
    taskId: str
    nsrsbh: str
    jxxbz: str
    kpyf: str
    fplx: str
    source: str
    state: str
    code: str
    message: str
    counts: TaskCounts
    rejections: list[dict[str, Any]]
    months: list[int]
    attempts: int
    createTime: int | None
    startTime: int | None
    finishTime: int | None


class UnifyInvoice(TypedDict):
    invoiceId: str
    invoiceDetailsId: list[str]
    master: dict[str, Any]
    details: list[dict[str, Any]]


class UnifyRelation(TypedDict):
    flowId: str
    flowCode: str
    feeDetailId: str
    invoiceDetailId: str
    invoiceId: str


class UnifyBatch(TypedDict):
    id: str
    batchNo: str
    updateTime: int
    masterBillPeriods: str | None
    unifyInvoiceCorporationId: str
    invoices: list[UnifyInvoice]
    relation: list[UnifyRelation]


class UnifyCorporation(TypedDict):
    id: str  # the unifyInvoiceCorporationId of the unify calls
    version: int
    active: bool
    createTime: int
    updateTime: int
    name: str
    nameSpell: str
    code: str
    corporationId: str  # the corporation (corpId) it invoices
    channel: str


class Upstream(TypedDict):
    """Where an ``upstream`` task mirrors from: another server that speaks getInvoiceCollectionData."""

    baseUrl: str
    appKey: str
    appSecurity: str
    corpId: NotRequired[str]
    nsrsbh: NotRequired[str]


class BatchInvoice(TypedDict, total=False):
    """An invoice of a pushed batch: the collecting taxpayer and either ``key`` (a stored 进项 invoice's
    identity) or ``invoice`` (an Invoice, or its document, to store first)."""

    nsrsbh: Required[str]
    key: str
    invoice: Invoice | dict[str, Any]


class Relation(TypedDict):
    flowId: str
    flowCode: str
    feeDetailId: str
    invoiceDetailId: NotRequired[str]
    invoiceId: NotRequired[str]


class PushedBatch(TypedDict):
    id: str
    batchNo: str
    updateTime: int
