"""Code tables: invoice kinds (fplx) and their response families, statuses, 特定业务, and the names
real files give them (the bureau's export, 数电 XML/OFD/PDF titles), each table written once."""

from __future__ import annotations

import enum
import functools
import re
import unicodedata


class Family(enum.StrEnum):
    """The seven response shapes of getInvoiceCollectionData (one per seed success example)."""

    VAT = "vat"  # example 1: 专票/普票/电子普票/卷票
    MOTOR_VEHICLE = "motor_vehicle"  # example 2: 机动车 (and 二手车, see docs/api.md)
    TOLL = "toll"  # example 3: 通行费
    CUSTOMS = "customs"  # example 4: 海关缴款书
    FULL_DIGITAL = "full_digital"  # example 5: 全电 / 数电
    AVIATION = "aviation"  # example 6: 航空电子客票
    RAILWAY = "railway"  # example 7: 铁路电子客票


# fplx -> (seed name, family). Order is the seed's table order.
FPLX: dict[str, tuple[str, Family]] = {
    "01": ("增值税专用发票", Family.VAT),
    "03": ("机动车销售统一发票", Family.MOTOR_VEHICLE),
    "04": ("增值税普通发票", Family.VAT),
    "08": ("增值税专用发票（电子）", Family.VAT),
    "10": ("增值税普通发票（电子）", Family.VAT),
    "11": ("增值税普通发票（卷票）", Family.VAT),
    "14": ("通行费发票", Family.TOLL),
    "15": ("二手车统一销售发票", Family.MOTOR_VEHICLE),
    "17": ("海关缴款书", Family.CUSTOMS),
    "81": ("电子发票(增值税专用发票)", Family.FULL_DIGITAL),
    "82": ("电子发票(增值税普通发票)", Family.FULL_DIGITAL),
    "84": ("纸质发票(增值税专用发票)", Family.FULL_DIGITAL),
    "85": ("纸质发票(增值税普通发票)", Family.FULL_DIGITAL),
    "83": ("数电票（机动车销售统一发票）", Family.FULL_DIGITAL),
    "87": ("数电纸质发票（机动车销售统一发票）", Family.FULL_DIGITAL),
    "70": ("数电票（二手车销售统一发票）", Family.FULL_DIGITAL),
    "88": ("数电纸质发票（二手车销售统一发票）", Family.FULL_DIGITAL),
    "51": ("数电票(铁路)", Family.RAILWAY),
    "61": ("数电票(航空)", Family.AVIATION),
    "8208": ("数电票(通行费发票)", Family.FULL_DIGITAL),
}

ROLL_TICKET = "11"  # 卷票: its lines also carry hsdj/hsje
CUSTOMS_PAYMENT = "17"  # 海关缴款书: 进项 only
TOLL_DIGITAL = "8208"  # 数电票(通行费发票): a 数电 普票 whose 特定业务 is 通行费
# 数电 kinds identified by a 20-digit number alone; 数电 paper kinds keep 发票代码 + 8-digit 号码
DIGITAL_ONLY = frozenset({"81", "82", "83", "70", "51", "61", TOLL_DIGITAL})


def kinds_for(direction: str) -> list[str]:
    """The kinds a taxpayer can hold in a direction, in the seed's order: every kind for 进项,
    all but 海关缴款书 for 销项 (a company pays customs duty, it does not issue the payment)."""
    return [kind for kind in FPLX if not (direction == "xx" and kind == CUSTOMS_PAYMENT)]

DIRECTIONS = {"jx": "进项", "xx": "销项"}

# 发票状态 fpztDm (企享云 convention, which the seed's fields follow)
FPZT = {"0": "正常", "2": "作废", "3": "已红冲", "7": "部分红冲", "8": "全额红冲"}
# the bureau's 发票状态 texts → fpztDm
STATUS_BY_NAME = {"正常": "0", "已作废": "2", "作废": "2", "已红冲": "3", "已红冲-全额": "8", "全额红冲": "8",
                  "已红冲-部分": "7", "部分红冲": "7"}

# 开具类型 kjlx
KJLX = {"1": "自开", "2": "代开", "3": "代办退税"}

# 特定业务类型 tdywlx, the seed's own list
TDYWLX = {
    "01": "成品油发票",
    "02": "稀土发票",
    "03": "建筑服务发票",
    "04": "货物运输服务发票",
    "05": "不动产销售服务发票",
    "06": "不动产经营租赁服务",
    "07": "代收车船税",
    "08": "通行费",
    "09": "旅客运输服务发票",
    "10": "医疗服务（住院）发票",
    "11": "医疗服务（门诊）发票",
    "12": "自产农产品销售发票",
    "13": "拖拉机和联合收割机发票",
    "14": "机动车",
    "15": "二手车",
    "16": "农产品收购发票",
    "17": "光伏收购发票",
    "18": "卷烟发票",
    "19": "出口发票",
    "20": "农产品",
}

TOLL_BUSINESS = "08"  # tdywlx 通行费

# 特定业务 names as the bureau's export writes them (信息汇总表 特定业务类型, with an inconsistent 发票
# suffix) and the names of its 特定业务 sheets → tdywlx. 铁路电子客票 is a kind of its own (fplx 51,
# xcdList), not a tdywlx.
BUSINESS_BY_NAME = {
    **{name: code for code, name in TDYWLX.items()},
    "通行费": "08", "通行费发票": "08", "通行费数电发票": "08",
    "旅客运输服务": "09", "旅客运输服务发票": "09",
    "成品油": "01", "成品油发票": "01",
    "不动产经营租赁服务": "06", "不动产经营租赁服务发票": "06", "不动产经营租赁": "06",
    "建筑服务": "03", "建筑服务发票": "03",
    "货物运输服务": "04", "货物运输服务发票": "04",
    "不动产销售服务": "05", "不动产销售": "05",
}
RAILWAY_BUSINESS_NAMES = frozenset({"铁路电子客票", "铁路电子客票发票"})


def business_code(name: str) -> str | None:
    """The tdywlx of a 特定业务 name ('' for none); None for a name not known."""
    name = normalise_name(name)
    if not name:
        return ""
    return BUSINESS_BY_NAME.get(name)


# 特定要素 (tdysList elements, Invoice.special): the seed's 14 keys and the labels real files give
# them, plus keys of fapiaohub's own for the elements the seed has no key for (通行费 vehicle and
# dates, 不动产 plate, 建筑服务 permit number). The renderer emits the seed's keys only; the
# others are kept in the canonical document and shown in exports.
SPECIAL_SEED_KEYS = ("jzfwfsd", "jzxmmc", "cqzs", "cxr", "yxsfzh", "cxrq", "cfd", "ddd", "dj", "jtgjlx",
                     "ysgjzl", "ysgjph", "qyd", "yshwmc")
SPECIAL_KEYS = {
    "建筑服务发生地": "jzfwfsd", "建筑项目名称": "jzxmmc", "产权证书/不动产权证号": "cqzs", "不动产权证号": "cqzs",
    "产权证书": "cqzs", "出行人": "cxr", "旅客姓名": "cxr", "有效身份证号": "yxsfzh", "出行人证件号": "yxsfzh",
    "出行日期": "cxrq", "出发地": "cfd", "到达地": "ddd", "等级": "dj", "座位等级": "dj", "交通工具类型": "jtgjlx",
    "运输工具种类": "ysgjzl", "运输工具牌号": "ysgjph", "起运地": "qyd", "运输货物名称": "yshwmc",
    # fapiaohub's own keys
    "车牌号": "cph", "车牌号码": "cph", "车辆类型": "cllx", "通行日期起": "txrqq", "通行日期止": "txrqz",
    "跨区域涉税事项报验管理编号": "kqybh", "土地增值税项目编号": "tdzzsxmbh", "跨地（市）标志": "kdsbz",
    "出行车次": "cxcc", "车次": "cxcc", "日期": "cxrq", "时间": "sj",
}


# 发票票种 names (bureau export, e-invoice titles) → fplx. Names are compared after normalise_name:
# no whitespace, ASCII brackets, and 数电票(/电子发票( read as 数电发票(.
_KIND_NAMES = {
    "数电发票(增值税专用发票)": "81", "数电发票(普通发票)": "82", "数电发票(增值税普通发票)": "82",
    "增值税专用发票": "01", "增值税普通发票": "04", "增值税电子专用发票": "08", "增值税电子普通发票": "10",
    "增值税普通发票(卷式)": "11", "增值税普通发票(卷票)": "11", "增值税电子普通发票(通行费)": "14",
    "通行费电子普通发票": "14", "(道路)通行费电子普通发票": "14", "机动车销售统一发票": "03",
    "二手车销售统一发票": "15", "数电发票(铁路电子客票)": "51", "数电发票(航空运输电子客票行程单)": "61",
    "数电纸质发票(增值税专用发票)": "84", "数电纸质发票(普通发票)": "85", "数电纸质发票(增值税普通发票)": "85",
    "数电发票(机动车销售统一发票)": "83", "数电纸质发票(机动车销售统一发票)": "87",
    "数电发票(二手车销售统一发票)": "70", "数电纸质发票(二手车销售统一发票)": "88",
    "数电发票(通行费发票)": "8208", "数电发票(铁路)": "51", "数电发票(航空)": "61",
    "纸质发票(增值税专用发票)": "84", "纸质发票(增值税普通发票)": "85", "海关缴款书": "17",
}


def normalise_name(name: str) -> str:
    """A printed name as the tables above spell it: NFKC (Kangxi radicals such as ⼦ become 子,
    full-width brackets ASCII), no whitespace, and the 数电票(/电子发票( prefixes read as 数电发票(."""
    name = re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))
    for prefix in ("数电票(", "电子发票("):
        if name.startswith(prefix):
            return "数电发票(" + name[len(prefix):]
    return name


KIND_BY_NAME = {normalise_name(name): code for name, code in _KIND_NAMES.items()}
KIND_BY_NAME.update({normalise_name(name): code for code, (name, _) in FPLX.items()
                     if normalise_name(name) not in KIND_BY_NAME})


@functools.lru_cache(maxsize=1024)
def kind_by_name(name: str) -> str | None:
    """The fplx of a kind name as the bureau or an invoice title prints it; None when unknown."""
    return KIND_BY_NAME.get(normalise_name(name))


# States of a collection task (the seed's values), written once for the queue, the reads and the SDK
TO_PROCESS, PROCESSING, PROCESSED, FAILED, DISABLED, NOT_SUPPORTED = (
    "toProcess", "processing", "processed", "failed", "disabled", "notSupported")
ACTIVE_TASK_STATES = (TO_PROCESS, PROCESSING)  # a task in these states may still write its taxpayer's months

# 发票任务状态代码 / result codes, the seed's table
RESULT_CODES = {
    "500": "未开通【增值税发票全量采集】功能或传参错误",
    "2000": "发送成功",
    "4000": "没有符合条件的记录！",
    "4001": "用户名密码不正确",
    "4002": "企业未注册、停用、注销",
    "4003": "风险纳税人",
    "4004": "企业信息或身份不符",
    "4005": "非办税小号",
    "4006": "必填项为空",
    "4007": "全电发票异常",
    "4008": "当前税号在税局有正在执行的任务",
    "4009": "综服：身份权限",
    "4010": "实名登录人信息不全",
    "4036": "没有找到对应页面菜单返回",
    "4038": "申报发票明细抵扣联查询没有找到《发票数据下载》按钮",
    "4048": "没有勾选统计信息,请做勾选确认",
    "4059": "主管税务机关错误",
    "4041": "暂不支持该地区进行发票归集！",
    "4042": "非办税小号或办税小号未绑定A号",
    "4043": "暂不支持1号采集上月发票数据，建议您3号以后获取上月发票数据",
}


def family_of(fplx: str) -> Family:
    """The response family of an fplx code; KeyError for an unknown code."""
    return FPLX[fplx][1]


def fplx_name(fplx: str) -> str:
    return FPLX[fplx][0]
