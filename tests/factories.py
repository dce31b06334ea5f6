"""Hand-built realistic invoices of every kind, independent of the demo generator."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fapiaohub.domain.codes import Family, family_of
from fapiaohub.domain.invoice import Invoice, InvoiceLine

SELLER = "91440300MA5G9GKQ44"  # valid check characters (GB 32100-2015)
BUYER = "91310115MA1K4LTA0G"


def _lines(fplx: str) -> list[InvoiceLine]:
    roll = fplx == "11"
    return [
        InvoiceLine(mc="*计算机配套产品*固态硬盘", je=Decimal("700.00"), se=Decimal("91.00"),
                    slv=Decimal("0.13"), spbm="1090511030000000000", ggxh="1TB", sl="2", jldw="块",
                    dj="350", hsdj="395.5" if roll else "", hsje="791.00" if roll else ""),
        InvoiceLine(mc="*信息技术服务*软件维护服务", je=Decimal("92.92"), se=Decimal("12.08"),
                    slv=Decimal("0.13"), spbm="3040201030000000000", sl="1", jldw="项",
                    dj="92.920353982300885", hsdj="105" if roll else "", hsje="105.00" if roll else ""),
    ]


def sample_invoice(fplx: str) -> Invoice:
    """A fully populated invoice of kind ``fplx``: 792.92 + 103.08 = 896.00."""
    family = family_of(fplx)
    digital = family in (Family.FULL_DIGITAL, Family.AVIATION, Family.RAILWAY) and fplx not in ("84", "85", "87", "88")
    inv = Invoice(
        fplx=fplx,
        fpdm="" if digital or family is Family.CUSTOMS else "044031900111",
        fphm="25442000000012345678" if digital else ("223120250000012345L01" if family is Family.CUSTOMS else "12345678"),
        kprq=datetime(2025, 3, 14, 9, 26, 53),
        je=Decimal("792.92"), se=Decimal("103.08"), jshj=Decimal("896.00"),
        xfsbh=SELLER, xfmc="深圳市南山科技有限公司", xsfdzdh="深圳市南山区科技园 0755-26000000",
        xsfyhzh="招商银行深圳分行 755900000010101", gfsbh=BUYER, gfmc="上海浦东贸易有限公司",
        gmfdzdh="上海市浦东新区世纪大道100号 021-50000000", gmfyhzh="工商银行上海分行 1001000000000000001",
        jym="" if digital else "12345678901234567890", bz="合同号HT-2025-031", kpr="王芳", skr="李强",
        fhr="陈静", kpjh="499911561971", tslsh="4400202503141500214345202117",
        xf_sjswjg_dm="144000000", xf_dsswjg_dm="144030000", xf_qxswjg_dm="144030500",
        lines=_lines(fplx),
    )
    if family is Family.MOTOR_VEHICLE:
        inv.vehicle = {"sfzhm": "", "spbm": "1090305010000000000", "cllx": "轿车", "cpxh": "比亚迪BYD7152WT6HEVC2",
                       "cd": "中国", "hgzh": "WCH0012345678901", "jkzmsh": "", "sjdh": "",
                       "fdjhm": "BYD472QA2301234", "cjhm": "LGXCE4CB8P0123456", "dh": "0755-89888888",
                       "khyh": "中国银行深圳分行", "zh": "7559000000101", "dz": "深圳市坪山区比亚迪路3009号",
                       "dw": "辆", "xcrs": "5"}
    if family is Family.CUSTOMS:
        inv.customs = {"jkdw2nsrsbh": SELLER, "jkdw2mc": "深圳报关代理有限公司", "jkkadm": "5301",
                       "shxx": "", "srjg": "深圳海关", "yskmdm": "101010401", "skgkdm": "4403000000",
                       "myfs": "一般贸易", "sqdwbm": "4403960000", "bgdbh": "530120250000123456",
                       "hth": "HT2025-001", "ysgj": "COSCO SHIPPING", "jkqx": "2025-03-29",
                       "tydh": "COSU6301234560"}
    if family is Family.FULL_DIGITAL:
        inv.tdywlx = "09"
        inv.special = [{"cxr": "张三", "yxsfzh": "4403**********1234", "cxrq": "2025-03-10", "cfd": "深圳",
                        "ddd": "上海", "jtgjlx": "飞机", "dj": "经济舱"}]
    if family is Family.AVIATION:
        inv.itinerary = [{"cfd": "深圳宝安", "ddd": "上海虹桥", "lkxm": "张三", "sdphm": inv.fphm,
                          "hbh": "CZ3539", "createTime": "2025-03-14 09:26:53", "sj": "08:05", "cyr": "南方航空",
                          "rq": "2025-03-14", "yxsfzh": "4403**********1234"}]
    if family is Family.RAILWAY:
        inv.itinerary = [{"cfd": "深圳北", "ddd": "上海虹桥", "createTime": "2025-03-14 09:26:53",
                          "lkxm": "张三", "sdphm": inv.fphm, "sj": "08:05", "cxcc": "G1302",
                          "rq": "2025-03-14", "yxsfzh": "4403**********1234"}]
    return inv
