"""The console's English toggle: one dictionary from the Chinese text of the templates to English.

Templates call ``t('总览')``; the ``lang`` cookie (``zh`` by default, or ``en``) picks the language.
Only the console's own words are translated (nav, titles, table headers, buttons): data stays as stored.
"""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context

LANGS = ("zh", "en")
COOKIE = "lang"

EN: dict[str, str] = {
    # header and nav
    "发票中心": "invoice hub", "总览": "Overview", "发票台账": "Ledger", "归集任务": "Tasks", "纳税人": "Taxpayers",
    "统一开票": "Unified invoicing", "管理员": "admin", "只读": "read only", "退出": "Sign out",
    "fapiaohub 控制台": "fapiaohub console",
    # sign-in and errors
    "登录": "Sign in", "企业代码（corpId）": "Corporation (corpId)", "用户名": "User name", "密码": "Password",
    "出错了": "Something went wrong", "返回总览": "Back to the overview",
    # overview
    "月份": "Month", "查看": "Show", "进项": "Purchases", "销项": "Sales", "份数": "Count", "金额": "Amount",
    "税额": "Tax", "价税合计": "Total incl. tax", "按发票类型": "By kind", "按状态": "By status",
    "主要往来单位": "Largest counterparties", "单位": "Counterparty", "税号": "Tax id",
    "月度汇总": "Monthly totals", "尚未登记纳税人": "No taxpayers registered yet.",
    "销售方（进项）": "Sellers (purchases)", "购买方（销项）": "Buyers (sales)",
    "方向": "Direction", "类型": "Kind", "状态": "Status",
    # ledger
    "全部": "All", "起始月份": "From month", "截止月份": "To month", "发票类型": "Kind",
    "往来单位（名称或税号开头）": "Counterparty (name or tax id prefix)", "排序": "Sort", "筛选": "Filter",
    "清除": "Clear", "共": "Total", "份": "invoices", "导出": "Export", "开票日期": "Date", "发票号码": "Number",
    "销方": "Seller", "购方": "Buyer", "下一页": "Next page", "第一页": "First page",
    "没有符合条件的发票": "No invoice matches",
    # invoice
    "返回": "Back", "发票": "Invoice", "校验提示": "Validation findings", "明细": "Lines", "名称": "Name",
    "规格型号": "Model", "数量": "Quantity", "单价": "Unit price", "税率": "Rate", "税收分类编码": "Tax code",
    "特定要素": "Specific elements", "行程单": "Itinerary", "状态历史": "Status history",
    "变更时间": "Changed at", "之前状态": "Earlier status", "之前价税合计": "Earlier total", "变更任务": "By task",
    "入库以来未变更": "Unchanged since stored", "来源": "Origin", "创建任务": "Created by task",
    "读取格式": "Read from", "任务文件": "Task files", "字节": "bytes",
    "无来源任务（批量载入、统一开票推送或早期入库）": "No task: a bulk load, a unify push, or stored before tasks were recorded",
    # tasks
    "上传文件导入": "Import files", "开始导入": "Start import", "创建时间": "Created", "新增": "Inserted",
    "更新": "Updated", "未变": "Unchanged", "拒绝": "Rejected", "说明": "Message", "还没有任务": "No tasks yet",
    "只读用户不能上传文件。": "Read-only users cannot upload files.", "任务": "Task", "全部任务": "All tasks",
    "结果": "Result", "文件": "Files", "拒绝记录": "Rejections", "下载 Excel": "Download Excel",
    "工作表": "Sheet", "行": "Row", "原因": "Reason", "无": "None",
    # taxpayers
    "纳税人识别号": "Taxpayer id", "全量采集": "Collection", "已开通": "on", "未开通": "off",
    "关闭采集": "Switch off", "开通采集": "Switch on", "台账": "Ledger",
    "添加纳税人": "Add a taxpayer", "添加": "Add",
    # unify
    "统一开票方通过 API 推送批次；此页只读。": "Unify corporations push batches through the API; this page is read only.",
    "代码": "Code", "渠道": "Channel", "启用": "Active", "是": "yes", "否": "no", "批次数": "Batches",
    "最近批次时间": "Last batch", "尚无统一开票方": "No unify corporations yet", "全部统一开票方": "All unify corporations",
    "批次号": "Batch no.", "账期": "Bill periods", "更新时间": "Updated", "发票数": "Invoices", "尚无批次": "No batches yet",
}


def language(cookies: Any) -> str:
    """The request's language: the ``lang`` cookie when it names one we have, else Chinese."""
    value = cookies.get(COOKIE, "zh") if cookies is not None else "zh"
    return value if value in LANGS else "zh"


def translate(key: str, lang: str) -> str:
    """English from the dictionary (the Chinese key itself when an entry is missing); Chinese as written."""
    return EN.get(key, key) if lang == "en" else key


@pass_context
def t(context: Any, key: str) -> str:
    """The Jinja global ``t(key)``: the template's request decides the language."""
    request = context.get("request")
    return translate(key, language(request.cookies if request is not None else None))
