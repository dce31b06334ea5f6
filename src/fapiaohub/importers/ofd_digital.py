"""数电 OFD invoices: values from CustomTag tags, DocInfo CustomData and the page text read by position
(labels in the page or its template, values on the page), whichever the file has; 特定业务 from the label
above the title and the table's own columns (建筑服务, the toll platform's 车牌号 … 通行日期止)."""

from __future__ import annotations

import re
from collections.abc import Callable

from fapiaohub.domain.codes import SPECIAL_KEYS, TOLL_BUSINESS, TOLL_DIGITAL, business_code
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.importers.ofd_document import OfdDocument, OfdError
from fapiaohub.importers.ofd_fields import (
    NO_LINES,
    amount,
    date,
    is_amount,
    is_date,
    line_from_cells,
    lines_agree,
    printed_kind,
)
from fapiaohub.importers.ofd_text import (
    STOP_KEYS,
    Text,
    find,
    header_roles,
    key,
    read_table,
    rows,
    same_row,
    split_header,
    value_right_of,
)

ROLES = header_roles(SPECIAL_KEYS)
LABELS = frozenset(key(label) for label in (
    "发票号码", "开票日期", "名称", "统一社会信用代码/纳税人识别号", "纳税人识别号", "价税合计(大写)", "(小写)", "备",
    "注", "备注", "开票人", "收款人", "复核人", "复核", "购", "买", "方", "信", "息", "销", "售", "购买方信息", "销售方信息",
    "购买方", "销售方", "购方", "销方", "计", "地址、电话", "开户行及账号",
)) | set(ROLES) | STOP_KEYS
BUYER_MARKS = ("购", "购买方", "购买方信息", "购方")
SELLER_MARKS = ("销", "销售方", "销售方信息", "销方")
ID_LABELS = ("统一社会信用代码/纳税人识别号", "纳税人识别号")
TOLL_COLUMNS = {"special:cph", "special:txrqq"}
_DIGITS20 = re.compile(r"\d{20}")
_TAX_ID = re.compile(r"[0-9A-Z]{15,20}")
_NOTE_PAIR = re.compile(r"([^:：;；\s]+)\s*[:：]\s*([^;；]*)[;；]")


def _is_label(text: Text) -> bool:
    return text.key in LABELS


def _joined(texts: list[Text], separator: str = "") -> str:
    return separator.join(text.raw for text in texts if text.raw)


class _Page:
    """Label-based reading of the first page (its own text and its template's)."""

    def __init__(self, texts: list[Text]) -> None:
        self.texts = texts

    def right_of(self, label: str, accept: Callable[[str], bool] | None = None) -> str:
        for found in find(self.texts, label):
            value = value_right_of(self.texts, found, _is_label, accept)
            if value:
                return value
        # a label and its value in one text ("开票人:张三")
        wanted = key(label) + ":"
        for text in self.texts:
            if text.key.startswith(wanted):
                rest = re.split(r"[:：]", text.raw, maxsplit=1)[-1].strip()
                if rest and (accept is None or accept(rest)):
                    return rest
        return ""

    def party(self, labels: tuple[str, ...], buyer: bool, accept: Callable[[str], bool] | None = None) -> str:
        """The buyer's or the seller's value of a party label: each label belongs to the nearest 购/销 block
        marker left of it (side by side or stacked); without markers, left is the buyer."""
        found = find(self.texts, *labels)
        marks = [(True, m) for m in find(self.texts, *BUYER_MARKS)] + [(False, m) for m in find(self.texts, *SELLER_MARKS)]
        chosen = []
        for label in found:
            scored = [((label.x - mark.x) + abs(label.y - mark.y), side) for side, mark in marks
                      if mark.x <= label.x + 1.0]
            if scored:
                if min(scored)[1] == buyer:
                    chosen.append(label)
        if not marks:
            ordered = sorted(found, key=lambda t: (t.x, t.y))
            chosen = ordered[:1] if buyer else ordered[1:2]
        for label in chosen:
            value = value_right_of(self.texts, label, _is_label, accept)
            if value:
                return value
        return ""

    def totals_row(self, columns: dict[str, float]) -> tuple[str, str]:
        """金额 and 税额 of the 合计 row, by the table's column positions (else left and right)."""
        for label in find(self.texts, "合计", "合"):
            values = [t for t in self.texts if same_row(t, label) and t.x > label.x and not t.template
                      and not t.rotated and is_amount(t.raw)]
            if not values:
                continue
            if "je" in columns and "se" in columns:
                je = [v for v in values if abs(v.centre - columns["je"]) < abs(v.centre - columns["se"])]
                se = [v for v in values if v not in je]
                return (je[0].raw if je else ""), (se[-1].raw if se else "")
            values.sort(key=lambda t: t.x)
            return values[0].raw, (values[-1].raw if len(values) > 1 else "")
        return "", ""

    def note_area(self) -> list[Text]:
        """Page texts in the 备注 box: right of its label, below the 价税合计 row, above the 开票人 row."""
        labels = find(self.texts, "备", "备注")
        if not labels:
            return []
        label = labels[0]
        top = max((t.y for t in find(self.texts, "价税合计(大写)", "(小写)")), default=label.y - 8)
        bottom = min((t.y for t in self.texts if t.key.startswith("开票人") and t.y > label.y), default=label.y + 25)
        return [t for t in self.texts if top + 1.6 < t.y < bottom - 1.6 and t.x > label.x_end - 0.5
                and not t.template and not t.rotated and t.raw and not _is_label(t)]


def _tag(tags: dict[str, list[list[Text]]], name: str) -> str:
    """A single-valued tag: the first occurrence that points at text, its objects joined (¥ + number,
    a name cut in pieces); a repeated tag (InvoiceClerk twice) is read once."""
    for occurrence in tags.get(name, []):
        value = _joined(occurrence).strip()
        if value:
            return value
    return ""


def _first(*values: str) -> str:
    return next((value.strip() for value in values if value and value.strip()), "")


def _business(page: _Page) -> str:
    """The 特定业务 label printed above the parties (e.g. 建筑服务 beside the title): its tdywlx."""
    limit = min((t.y for t in find(page.texts, *BUYER_MARKS, "名称")), default=float("inf"))
    for text in sorted(page.texts, key=lambda t: t.y):
        if text.y < limit and not text.rotated and text.raw:
            code = business_code(text.raw)
            if code:
                return code
    return ""


def _tag_lines(tags: dict[str, list[list[Text]]], flags: list[str]) -> list[InvoiceLine] | None:
    """Lines from tags when each GoodsInfo is tagged apart (one amount per Amount tag); else None."""
    amounts = tags.get("Amount", [])
    if not amounts or len(tags.get("TaxAmount", [])) != len(amounts) or len(tags.get("Item", [])) != len(amounts):
        return None
    lines = []
    for index, occurrence in enumerate(amounts):
        if sum(1 for text in occurrence if is_amount(text.raw)) != 1:
            return None

        def cell(name: str, index: int = index) -> str:
            occurrences = tags.get(name, [])
            return _joined(occurrences[index]) if index < len(occurrences) else ""

        cells = {"mc": cell("Item"), "je": cell("Amount"), "se": cell("TaxAmount"), "slv": cell("TaxScheme"),
                 "ggxh": cell("Specification"), "jldw": cell("MeasurementDimension"), "sl": cell("Quantity"),
                 "dj": cell("Price")}
        lines.append(line_from_cells(cells, flags, f"tagged line {index + 1}"))
    return lines


def read_digital(doc: OfdDocument) -> tuple[Invoice, list[str]]:
    flags = list(doc.notes)
    texts = doc.all_texts()
    first = [t for t in texts if t.page <= 0]
    page, tags, custom = _Page(first), doc.tags, doc.custom
    if not texts and not tags and not any(name in custom for name in ("发票号码", "合计金额")):
        raise OfdError("no invoice data: no CustomData, no tags and no page text")
    tables = [read_table([t for t in texts if t.page == number], ROLES, is_amount) for number in
              sorted({t.page for t in texts})]
    rows_read = [row for table in tables if table for row in table]
    header_columns = _table_columns(first)

    fphm = _first(custom.get("发票号码", ""), _tag(tags, "InvoiceNo"),
                  page.right_of("发票号码", lambda v: bool(_DIGITS20.fullmatch(v.strip()))))
    if not fphm:
        if not tags and printed_kind(texts) is None:  # a document, but not an invoice
            raise OfdError("no invoice data: no 发票号码 and no invoice title")
        raise OfdError("发票号码 not found (CustomData, tag InvoiceNo or the page)")
    kprq_text = _first(custom.get("开票日期", ""), _tag(tags, "IssueDate"), page.right_of("开票日期", is_date))
    if not kprq_text:
        raise OfdError("开票日期 not found")
    page_je, page_se = page.totals_row(header_columns)
    je_text = _first(custom.get("合计金额", ""), _tag(tags, "TaxExclusiveTotalAmount"), page_je)
    se_text = _first(custom.get("合计税额", ""), _tag(tags, "TaxTotalAmount"), page_se)
    jshj_text = _first(custom.get("价税合计", ""), _tag(tags, "TaxInclusiveTotalAmount"),
                       page.right_of("(小写)", is_amount))
    for name, value in (("合计金额", je_text), ("合计税额", se_text), ("价税合计", jshj_text)):
        if not value:
            raise OfdError(f"{name} not found")
    je, se, jshj = amount(je_text, "合计金额"), amount(se_text, "合计税额"), amount(jshj_text, "价税合计")
    is_id = lambda v: bool(_TAX_ID.fullmatch(v.strip()))  # noqa: E731 - a one-line predicate
    xfsbh = _first(custom.get("销售方纳税人识别号", ""), _tag(tags, "SellerTaxID"), page.party(ID_LABELS, False, is_id))
    gfsbh = _first(custom.get("购买方纳税人识别号", ""), _tag(tags, "BuyerTaxID"), page.party(ID_LABELS, True, is_id))
    xfmc = _first(custom.get("销售方名称", ""), _tag(tags, "SellerName"), page.party(("名称",), False))
    gfmc = _first(custom.get("购买方名称", ""), _tag(tags, "BuyerName"), page.party(("名称",), True))
    kpr = _first(custom.get("开票人", ""), _tag(tags, "InvoiceClerk"), page.right_of("开票人"))
    note_texts = {id(t): t for t in page.note_area()}
    for occurrence in tags.get("Note", []):
        note_texts.update((id(t), t) for t in occurrence if t.raw)
    bz = "\n".join("".join(t.raw for t in row) for row in rows(note_texts.values()))

    tdywlx = _business(page)
    if not tdywlx and any(TOLL_COLUMNS <= set(row) for row in rows_read):
        tdywlx = TOLL_BUSINESS
    kind = printed_kind(texts)
    if tdywlx == TOLL_BUSINESS:
        kind = TOLL_DIGITAL
    if kind is None:
        raise OfdError("the kind is not printed (no title 电子发票（增值税专用发票）/（普通发票）on the page or template)")

    lines = _tag_lines(tags, flags)
    if lines is None or not lines_agree(lines, je, se):
        lines = [line_from_cells(row, flags, f"line {n}") for n, row in enumerate(rows_read, start=1)
                 if is_amount(row.get("je", ""))]
    if not lines_agree(lines, je, se):
        lines = []
        flags.append(NO_LINES)
    special = [{role.split(":", 1)[1]: value.strip() for role, value in row.items()
                if role.startswith("special:") and value.strip()} for row in rows_read]
    special = [entry for entry in special if entry]
    if tdywlx:
        special = _note_elements(bz, special)
    return Invoice(
        fplx=kind, fphm=fphm, kprq=date(kprq_text, "开票日期"), je=je, se=se, jshj=jshj,
        xfsbh=xfsbh, xfmc=xfmc, gfsbh=gfsbh, gfmc=gfmc, kpr=kpr, bz=bz, tdywlx=tdywlx, lines=lines,
        special=special,
    ), flags


def _table_columns(texts: list[Text]) -> dict[str, float]:
    """Centre x of the 金额 and 税额 columns of the line table's header."""
    out: dict[str, float] = {}
    for text in texts:
        for column in split_header(text, ROLES) or []:
            role = ROLES[column.label]
            if role in ("je", "se") and role not in out:
                out[role] = column.centre
    return out


def _note_elements(bz: str, special: list[dict[str, str]]) -> list[dict[str, str]]:
    """特定要素 a 特定业务 invoice prints in its 备注 (建筑服务: 土地增值税项目编号:-; 跨地（市）标志:是;)."""
    keys = {key(label): special_key for label, special_key in SPECIAL_KEYS.items()}
    found = {}
    for label, value in _NOTE_PAIR.findall(bz):
        special_key = keys.get(key(label))
        if special_key and value.strip():
            found[special_key] = value.strip()
    if not found:
        return special
    if not special:
        return [found]
    return [{**found, **special[0]}, *special[1:]]

