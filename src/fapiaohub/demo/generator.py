"""Deterministic, realistic demo invoices, streamed: every kind, both directions, a year of months.

The same (total, seed) always yields the same invoices (no clock, no global random). Identities
come from a running serial, so they are unique across the stream whatever its length.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from fapiaohub.domain.codes import CUSTOMS_PAYMENT, FPLX
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.validation import USCC_ALPHABET, uscc_check_char

DEMO_CORP_ID = "DEMOcorp0001a0"
DEMO_CORP_NAME = "深圳示例集团有限公司"
DEMO_MONTHS = [202500 + month for month in range(1, 13)]
CENT = Decimal("0.01")

# (fplx, weight): 数电 invoices dominate today's flow; 17 is 进项 only
KIND_WEIGHTS = {
    "81": 20, "82": 25, "01": 8, "04": 6, "08": 4, "10": 6, "11": 2, "14": 3, "03": 2, "15": 1,
    "17": 2, "84": 2, "85": 2, "83": 1, "87": 1, "70": 1, "88": 1, "51": 4, "61": 4, "8208": 3,
}
DIGITAL = {"81", "82", "83", "70", "51", "61", "8208"}
PAPER_DIGITAL = {"84", "85", "87", "88"}
# 12-digit 发票代码 kind digits (domain.md §4) for 税控 kinds; 01/04 use the 10-digit paper code
FPDM_KIND = {"08": "13", "10": "11", "11": "06", "14": "12", "03": "17", "15": "17",
             "84": "13", "85": "11", "87": "17", "88": "17"}
WITH_JYM = {"04", "10", "11", "14"}  # old 普票 kinds print a 20-digit 校验码

# 税收分类编码, goods name, unit, tax rate, unit price range (yuan)
GOODS = [
    ("1090511030000000000", "*计算机配套产品*固态硬盘", "块", "0.13", (300, 1200)),
    ("1090511010000000000", "*计算机配套产品*内存条", "条", "0.13", (200, 900)),
    ("1090512990000000000", "*计算机*笔记本电脑", "台", "0.13", (4000, 12000)),
    ("1060301020100000000", "*纸制品*复印纸", "箱", "0.13", (120, 260)),
    ("1090415020000000000", "*电线电缆*铜芯电缆", "米", "0.13", (8, 60)),
    ("1080401990000000000", "*金属制品*不锈钢紧固件", "套", "0.13", (2, 30)),
    ("1070101010100000000", "*汽油*92号车用汽油（VIB）", "升", "0.13", (7, 9)),
    ("1070101020200000000", "*柴油*0号车用柴油（VIB）", "升", "0.13", (6, 8)),
    ("1100301010000000000", "*电力*电费", "千瓦时", "0.13", (1, 2)),
    ("1100201010000000000", "*水冰雪*自来水", "吨", "0.09", (3, 6)),
    ("3040201030000000000", "*信息技术服务*软件维护服务", "项", "0.06", (2000, 30000)),
    ("3040201010000000000", "*信息技术服务*软件开发服务", "项", "0.06", (10000, 200000)),
    ("3040203000000000000", "*信息技术服务*信息系统服务", "月", "0.06", (1000, 20000)),
    ("3070401000000000000", "*餐饮服务*餐饮服务", "次", "0.06", (200, 3000)),
    ("3070402000000000000", "*住宿服务*住宿服务", "间夜", "0.06", (300, 900)),
    ("3040802020000000000", "*经纪代理服务*代理服务费", "次", "0.06", (500, 8000)),
    ("3040601000000000000", "*咨询服务*管理咨询服务", "项", "0.06", (5000, 80000)),
    ("3040502020100000000", "*经营租赁*房屋租赁", "月", "0.09", (8000, 60000)),
    ("3050200000000000000", "*建筑服务*工程服务", "项", "0.09", (20000, 500000)),
    ("3010101020000000000", "*运输服务*货物运输服务", "次", "0.09", (300, 8000)),
    ("3040407000000000000", "*物流辅助服务*仓储服务", "月", "0.06", (1000, 20000)),
    ("3049900000000000000", "*现代服务*物业管理服务", "月", "0.06", (1000, 15000)),
    ("3060105000000000000", "*生活服务*会议服务", "次", "0.06", (2000, 40000)),
    ("1010112010000000000", "*水果*苹果", "千克", "0.09", (6, 15)),
    ("1030107020000000000", "*茶饮料*瓶装饮用水", "箱", "0.13", (20, 60)),
    ("1030203990000000000", "*乳制品*纯牛奶", "箱", "0.13", (50, 90)),
    ("3070201000000000000", "*文化服务*培训服务", "人次", "0.03", (500, 5000)),
]
CITIES = [("440300", "深圳", "南山区"), ("440100", "广州", "天河区"), ("310115", "上海", "浦东新区"),
          ("110108", "北京", "海淀区"), ("330106", "杭州", "西湖区"), ("320505", "苏州", "虎丘区"),
          ("510107", "成都", "武侯区"), ("420111", "武汉", "洪山区"), ("441900", "东莞", "松山湖"),
          ("370212", "青岛", "崂山区"), ("350203", "厦门", "思明区"), ("610113", "西安", "雁塔区")]
BRANDS = ["华信", "瑞达", "恒泰", "鼎盛", "启航", "联创", "宏远", "博源", "安捷", "中科", "泰和",
          "明德", "天成", "嘉禾", "凯越", "新锐", "汇通", "金桥", "长青", "正元"]
INDUSTRIES = ["电子科技", "信息技术", "供应链管理", "商贸", "物流", "建筑工程", "餐饮管理",
              "酒店管理", "能源", "咨询服务", "物业服务", "机械设备"]
BANKS = ["中国工商银行", "中国建设银行", "招商银行", "中国银行", "交通银行", "平安银行"]
PEOPLE = ["王芳", "李强", "张伟", "刘洋", "陈静", "杨帆", "赵敏", "黄磊", "周婷", "吴昊"]
STATIONS = [("深圳北", "广州南"), ("上海虹桥", "北京南"), ("杭州东", "上海虹桥"), ("广州南", "长沙南")]
FLIGHTS = [("深圳宝安", "北京首都", "CA1310", "中国国际航空"), ("上海虹桥", "深圳宝安", "MU5331", "东方航空"),
           ("广州白云", "成都天府", "CZ3411", "南方航空"), ("杭州萧山", "西安咸阳", "HU7311", "海南航空")]


@dataclass(frozen=True, slots=True)
class DemoTaxpayer:
    nsrsbh: str
    name: str


class DemoInvoice(NamedTuple):
    nsrsbh: str
    direction: str  # jx: the taxpayer received it; xx: the taxpayer issued it
    invoice: Invoice


@dataclass(frozen=True, slots=True)
class _Company:
    nsrsbh: str
    name: str
    address: str
    bank: str
    province: str


def _uscc(rng: random.Random, region: str) -> str:
    body = "91" + region + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc_check_char(body)


def _company(rng: random.Random, name: str | None = None, region: str | None = None) -> _Company:
    region, city, district = next((c for c in CITIES if c[0] == region), None) or rng.choice(CITIES)
    name = name or f"{city}{rng.choice(BRANDS)}{rng.choice(INDUSTRIES)}有限公司"
    return _Company(
        nsrsbh=_uscc(rng, region), name=name,
        address=f"{city}市{district}{rng.choice(['科技园路', '中山路', '人民路', '创新大道'])}"
                f"{rng.randint(1, 999)}号 0{rng.randint(10, 999)}-{rng.randint(20000000, 89999999)}",
        bank=f"{rng.choice(BANKS)}{city}分行 {rng.randint(10**15, 10**16 - 1)}",
        province=region[:2],
    )


def demo_taxpayers() -> list[DemoTaxpayer]:
    """The demo corporation's two taxpayers (fixed, with valid check characters)."""
    return [
        DemoTaxpayer(_with_check("91440300MA5DEM001"), "深圳示例智能制造有限公司"),
        DemoTaxpayer(_with_check("91310115MA1DEM002"), "上海示例贸易有限公司"),
    ]


def _with_check(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


class _Factory:
    """Builds invoices from one random stream; ``serial`` makes every identity unique."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.partners = [_company(self.rng) for _ in range(200)]
        self.serial = 0

    def _next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def _identity(self, fplx: str, year: int, province: str) -> tuple[str, str]:
        serial = self._next_serial()
        if fplx == CUSTOMS_PAYMENT:
            return "", f"{self.rng.choice(['5301', '2244', '0100', '5316'])}{year}{serial:010d}"
        if fplx in DIGITAL:
            return "", f"{year % 100:02d}{province}{self.rng.choice('0123')}{serial:015d}"
        batch = serial // 10**8
        if fplx in ("01", "04"):  # 10-digit paper code: region, year, batch, kind (1 专票 / 3 普票)
            code = f"{province}00{year % 100:02d}{batch % 10}{'1' if fplx == '01' else '3'}{self.rng.randint(1, 4)}0"
        else:
            code = f"0{province}00{year % 100:02d}{batch % 1000:03d}{FPDM_KIND[fplx]}"
        return code, f"{serial % 10**8:08d}"

    def _lines(self, fplx: str) -> list[InvoiceLine]:
        rng = self.rng
        if fplx in ("14", "8208"):
            plate = f"粤B{rng.randint(10000, 99999)}"
            return [self._line("3040502020200000000", "*经营租赁*通行费", "次", Decimal("0.03"),
                               Decimal(rng.randint(5, 300)), 1, ggxh=plate) for _ in range(rng.randint(1, 3))]
        if fplx in ("03", "83", "87"):
            return [self._line("1090305010000000000", "*机动车*新能源轿车", "辆", Decimal("0.13"),
                               Decimal(rng.randint(80000, 300000)), 1, ggxh="BYD7152WT6HEVC2")]
        if fplx in ("15", "70", "88"):
            rate = Decimal("0") if fplx == "15" else Decimal("0.005")
            return [self._line("1090305020000000000", "*二手车*小型轿车", "辆", rate,
                               Decimal(rng.randint(30000, 150000)), 1, ggxh="大众FV7152FCDWG")]
        if fplx == "51":
            return [self._line("3010102020100000000", "*运输服务*铁路旅客运输服务", "张", Decimal("0.09"),
                               Decimal(rng.randint(60, 900)), 1)]
        if fplx == "61":
            return [self._line("3010103020100000000", "*运输服务*航空旅客运输服务", "张", Decimal("0.09"),
                               Decimal(rng.randint(400, 3000)), 1)]
        if fplx == CUSTOMS_PAYMENT:
            return [self._line("8471300000", "便携式自动数据处理设备", "台", Decimal("0.13"),
                               Decimal(rng.randint(2000, 8000)), rng.randint(10, 200))
                    for _ in range(rng.randint(1, 3))]
        lines = []
        for _ in range(rng.choices((1, 2, 3, 4, 5, 6, 8), (20, 15, 15, 20, 12, 10, 8))[0]):
            spbm, name, unit, rate_text, (low, high) = rng.choice(GOODS)
            price = Decimal(rng.randint(low * 100, high * 100)) / 100
            lines.append(self._line(spbm, name, unit, Decimal(rate_text), price, rng.randint(1, 60),
                                    roll=fplx == "11"))
        return lines

    def _line(self, spbm: str, mc: str, unit: str, rate: Decimal, price: Decimal, quantity: int,
              *, ggxh: str = "", roll: bool = False) -> InvoiceLine:
        je = _money(price * quantity)
        se = (je * rate).quantize(CENT, ROUND_HALF_UP)
        unit_price = (je / quantity).normalize()
        line = InvoiceLine(mc=mc, je=je, se=se, slv=rate, spbm=spbm, ggxh=ggxh, sl=str(quantity),
                           jldw=unit, dj=f"{unit_price:f}")
        if roll:  # 卷票 print tax-inclusive unit price and amount
            line.hsje = f"{je + se:f}"
            line.hsdj = f"{((je + se) / quantity).normalize():f}"
        return line

    def invoice(self, fplx: str, own: _Company, direction: str, kpyf: int) -> Invoice:
        rng = self.rng
        partner = rng.choice(self.partners)
        seller, buyer = (partner, own) if direction == "jx" else (own, partner)
        year, month = divmod(kpyf, 100)
        fpdm, fphm = self._identity(fplx, year, seller.province)
        lines = self._lines(fplx)
        je = sum((line.je for line in lines), Decimal("0.00"))
        se = sum((line.se for line in lines), Decimal("0.00"))
        inv = Invoice(
            fplx=fplx, fpdm=fpdm, fphm=fphm,
            kprq=datetime(year, month, rng.randint(1, 28), rng.randint(8, 20), rng.randint(0, 59), rng.randint(0, 59)),
            je=je, se=se, jshj=je + se,
            xfsbh=seller.nsrsbh, xfmc=seller.name, xsfdzdh=seller.address, xsfyhzh=seller.bank,
            gfsbh=buyer.nsrsbh, gfmc=buyer.name, gmfdzdh=buyer.address, gmfyhzh=buyer.bank,
            jym=f"{rng.randint(10**19, 10**20 - 1)}" if fplx in WITH_JYM else "",
            bz=rng.choice(["", "", f"合同号HT{year}-{rng.randint(100, 999)}", "项目：年度运维"]),
            kpr=rng.choice(PEOPLE), skr=rng.choice(PEOPLE), fhr=rng.choice(PEOPLE),
            kpjh="" if fplx in DIGITAL else f"{rng.randint(10**11, 10**12 - 1)}",
            xf_sjswjg_dm=f"1{seller.province}000000", xf_dsswjg_dm=f"1{seller.province}0{rng.randint(1, 9)}0000",
            xf_qxswjg_dm=f"1{seller.province}0{rng.randint(1, 9)}{rng.randint(10, 99)}00",
            lines=lines,
        )
        self._kind_specific(inv, buyer)
        return inv

    def _kind_specific(self, inv: Invoice, buyer: _Company) -> None:
        rng = self.rng
        day = inv.kprq.strftime("%Y-%m-%d")
        passenger = rng.choice(PEOPLE)
        masked_id = f"4403{'*' * 10}{rng.randint(1000, 9999)}"
        if inv.fplx in ("03", "15"):
            inv.vehicle = {
                "sfzhm": "", "spbm": inv.lines[0].spbm, "cllx": "轿车", "cpxh": inv.lines[0].ggxh, "cd": "中国",
                "hgzh": f"WCH{rng.randint(10**12, 10**13 - 1)}", "jkzmsh": "", "sjdh": "",
                "fdjhm": f"BYD472QA{rng.randint(1000000, 9999999)}",
                "cjhm": "LGXC" + "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(13)),
                "dh": inv.xsfdzdh.split(" ")[-1], "khyh": inv.xsfyhzh.split(" ")[0],
                "zh": inv.xsfyhzh.split(" ")[-1], "dz": inv.xsfdzdh.split(" ")[0], "dw": "辆", "xcrs": "5",
            }
        elif inv.fplx == CUSTOMS_PAYMENT:
            inv.xfsbh, inv.xfmc, inv.xsfdzdh, inv.xsfyhzh = "", "", "", ""
            inv.customs = {
                "jkdw2nsrsbh": "", "jkdw2mc": "", "jkkadm": inv.fphm[:4], "shxx": inv.lines[0].spbm,
                "srjg": "海关", "yskmdm": "101010401", "skgkdm": f"{buyer.province}03000000",
                "myfs": "一般贸易", "sqdwbm": buyer.nsrsbh[2:12], "bgdbh": f"{inv.fphm[:4]}{inv.kprq.year}{rng.randint(10**9, 10**10 - 1)}",
                "hth": f"HT{inv.kprq.year}{rng.randint(100, 999)}", "ysgj": "COSCO SHIPPING",
                "jkqx": day, "tydh": f"COSU{rng.randint(10**9, 10**10 - 1)}",
            }
        elif inv.fplx == "51":
            start, end = rng.choice(STATIONS)
            inv.itinerary = [{"cfd": start, "ddd": end, "createTime": inv.kprq.isoformat(sep=" "), "lkxm": passenger,
                              "sdphm": inv.fphm, "sj": f"{rng.randint(6, 21):02d}:{rng.choice(['05', '30', '47'])}",
                              "cxcc": f"G{rng.randint(1, 9999)}", "rq": day, "yxsfzh": masked_id}]
        elif inv.fplx == "61":
            start, end, flight, carrier = rng.choice(FLIGHTS)
            inv.itinerary = [{"cfd": start, "ddd": end, "lkxm": passenger, "sdphm": inv.fphm, "hbh": flight,
                              "createTime": inv.kprq.isoformat(sep=" "), "sj": f"{rng.randint(6, 22):02d}:15",
                              "cyr": carrier, "rq": day, "yxsfzh": masked_id}]
        elif inv.fplx in ("81", "82") and rng.random() < 0.15:
            inv.tdywlx, element = rng.choice([
                ("09", {"cxr": passenger, "yxsfzh": masked_id, "cxrq": day, "cfd": "深圳", "ddd": "上海",
                        "jtgjlx": "飞机", "dj": "经济舱"}),
                ("03", {"jzfwfsd": "广东省深圳市南山区", "jzxmmc": "研发中心装修工程"}),
                ("04", {"qyd": "深圳", "ddd": "上海", "ysgjzl": "公路运输", "ysgjph": "粤B12345", "yshwmc": "电子元器件"}),
                ("06", {"cqzs": f"粤（2023）深圳市不动产权第{rng.randint(1000000, 9999999)}号"}),
            ])
            inv.special = [element]

    def red_of(self, blue: Invoice, full: bool) -> Invoice:
        """The red-letter invoice that cancels ``blue`` in full, or its first line only."""
        year = blue.kprq.year
        fpdm, fphm = self._identity(blue.fplx, year, blue.xfsbh[2:4] if blue.xfsbh else "44")
        lines = [InvoiceLine(mc=line.mc, je=-line.je, se=-line.se, slv=line.slv, spbm=line.spbm,
                             ggxh=line.ggxh, sl=f"-{line.sl}", jldw=line.jldw, dj=line.dj, hsdj=line.hsdj,
                             hsje=f"-{line.hsje}" if line.hsje else "")
                 for line in (blue.lines if full else blue.lines[:1])]
        je = sum((line.je for line in lines), Decimal("0.00"))
        se = sum((line.se for line in lines), Decimal("0.00"))
        return replace(blue, fpdm=fpdm, fphm=fphm, lines=lines, je=je, se=se, jshj=je + se, fpzt_dm="0",
                       kprq=blue.kprq.replace(day=min(blue.kprq.day + 1, 28)),
                       bz=f"被红冲蓝字发票号码：{blue.key}")


def _kind(rng: random.Random, direction: str) -> str:
    while True:
        fplx = rng.choices(list(KIND_WEIGHTS), list(KIND_WEIGHTS.values()))[0]
        if not (direction == "xx" and fplx == CUSTOMS_PAYMENT):
            return fplx


def _with_statuses(factory: _Factory, inv: Invoice) -> list[Invoice]:
    """~3% of 税控 invoices are voided; ~2% of blue invoices are flushed by a red invoice."""
    roll = factory.rng.random()
    if roll < 0.03 and inv.fplx not in DIGITAL and inv.fplx != CUSTOMS_PAYMENT:
        inv.fpzt_dm = "2"
    elif roll < 0.05 and inv.fplx != CUSTOMS_PAYMENT:
        full = len(inv.lines) == 1 or factory.rng.random() < 0.6
        inv.fpzt_dm = "8" if full else "7"
        return [inv, factory.red_of(inv, full)]
    return [inv]


def iter_demo_invoices(total: int, *, seed: int = 20250101) -> Iterator[DemoInvoice]:
    """``total`` invoices over both taxpayers, both directions and the 12 demo months. The first
    80 cycle through every kind, so every fplx appears whenever total ≥ 80."""
    factory = _Factory(seed)
    owners = [_company(factory.rng, tp.name, tp.nsrsbh[2:8]) for tp in demo_taxpayers()]
    owners = [_Company(tp.nsrsbh, tp.name, o.address, o.bank, tp.nsrsbh[2:4])
              for tp, o in zip(demo_taxpayers(), owners, strict=True)]
    kinds = list(FPLX)
    emitted = 0
    index = 0
    while emitted < total:
        owner = owners[index % 2]
        direction = ("jx", "xx")[(index // 2) % 2]
        kpyf = DEMO_MONTHS[(index // 4) % 12]
        if index < 80:
            fplx = kinds[(index // 4) % len(kinds)]
            if direction == "xx" and fplx == CUSTOMS_PAYMENT:
                fplx = "82"
        else:
            fplx = _kind(factory.rng, direction)
        for inv in _with_statuses(factory, factory.invoice(fplx, owner, direction, kpyf)):
            if emitted < total:
                yield DemoInvoice(owner.nsrsbh, direction, inv)
                emitted += 1
        index += 1


def generate_taxpayer_month(nsrsbh: str, name: str, direction: str, kpyf: int, count: int) -> Iterator[Invoice]:
    """The sandbox bureau's answer: ``count`` invoices of one taxpayer, direction and month, the
    same on every call (seeded by the request), so re-collecting changes nothing."""
    factory = _Factory(_stable_seed(nsrsbh, direction, kpyf))
    factory.serial = (kpyf % 10000) * 10**6  # months of one taxpayer never share a number
    owner = _Company(nsrsbh, name, "", "", nsrsbh[2:4] if nsrsbh[2:4].isdigit() else "44")
    emitted = 0
    while emitted < count:
        for inv in _with_statuses(factory, factory.invoice(_kind(factory.rng, direction), owner, direction, kpyf)):
            if emitted < count:
                yield inv
                emitted += 1


def _stable_seed(*parts: object) -> int:
    # hash() of a str changes per process (PYTHONHASHSEED); a digest does not
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")
