"""Code tables of the Ekuaibao invoice API: invoice kinds (fplx), their response families, statuses."""

from __future__ import annotations

import enum


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

DIRECTIONS = {"jx": "进项", "xx": "销项"}

# 发票状态 fpztDm (企享云 convention, which the seed's fields follow)
FPZT = {"0": "正常", "2": "作废", "3": "已红冲", "7": "部分红冲", "8": "全额红冲"}

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
