"""税控 OFD invoices (electronic 普票/专票 with a 发票代码): the invoice attachment, either
original_invoice.xml (root eInvoice, fp: children, matched by local name) or an XBRL 电子凭证 (inv: facts);
the kind from 发票代码 digits 11–12 or the printed title; lines from later pages when page 1 says 详见销货清单."""

from __future__ import annotations

import re

from lxml import etree

from fapiaohub.domain.codes import SPECIAL_KEYS
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.validation import describe_fpdm
from fapiaohub.importers.base import UnreadableFile
from fapiaohub.importers.ofd_document import OfdDocument, OfdError
from fapiaohub.importers.ofd_fields import (
    NO_LINES,
    amount,
    date,
    is_amount,
    line_from_cells,
    lines_agree,
    printed_kind,
    tax_amount,
    title_kind,
)
from fapiaohub.importers.ofd_text import children, header_roles, local, read_table

ORIGINAL = "Doc_0/Attachs/original_invoice.xml"
# 12-digit 发票代码, digits 11–12 → fplx, for the kinds an OFD carries
KIND_BY_CODE = {"11": "10", "12": "14", "13": "08"}
LIST_MARKS = ("详见销货清单", "详见对应正数发票及清单")
LIST_LINES = "明细取自销货清单页"
ROLES = header_roles(SPECIAL_KEYS)
_XBRL_TUPLE = "InformationOfTaxableGoodsOrServicesDetailItemsTuple"


def invoice_attachment(doc: OfdDocument) -> tuple[str, etree._Element] | None:
    """The attachment that holds a 税控 invoice: ("einvoice" | "xbrl", its root), or None (a 数电 OFD)."""
    candidates = [(a.member, a.name == "original_invoice" or a.format == "xbrl") for a in doc.attachments
                  if a.format in ("xml", "xbrl", "")]
    if ORIGINAL in doc.archive.names and ORIGINAL not in [member for member, _ in candidates]:
        candidates.append((ORIGINAL, True))
    for member, is_invoice in candidates:
        root = doc.archive.optional_xml(member)
        if root is None:
            if is_invoice and member in doc.archive.names:
                raise UnreadableFile(doc.archive.path, f"the invoice attachment {member} is not well-formed XML")
            continue
        if local(root) == "eInvoice":
            return "einvoice", root
        if local(root) == "xbrl":
            return "xbrl", root
    return None


def _path(root: etree._Element, path: str) -> str:
    """Text at a path of local names; whitespace-only values (pretty-printing) read as ''."""
    node: etree._Element | None = root
    for part in path.split("/"):
        node = next(iter(children(node, part)), None) if node is not None else None
    return "".join(node.itertext()).strip() if node is not None else ""


def _kind(code: str, doc: OfdDocument, stated: str = "") -> str:
    info = describe_fpdm(code)
    if info is not None and len(code) == 12 and info.kind in KIND_BY_CODE:
        return KIND_BY_CODE[info.kind]
    # test-system invoices carry nonstandard code digits: the printed title is then the only statement
    kind = printed_kind(doc.all_texts()) or (title_kind(stated) if stated else None)
    if kind is None:
        raise OfdError(f"the kind is stated neither by 发票代码 {code!r} (digits 11–12) nor by a printed title")
    return kind


def _list_lines(doc: OfdDocument, flags: list[str]) -> list[InvoiceLine]:
    """Lines of the 销货清单 pages (page 2 on), 小计/总计 rows left out."""
    lines: list[InvoiceLine] = []
    for number, texts in enumerate(doc.pages[1:], start=2):
        for row in read_table(texts, ROLES, is_amount) or []:
            if is_amount(row.get("je", "")):
                lines.append(line_from_cells(row, flags, f"销货清单 page {number} line {len(lines) + 1}"))
    return lines


def _finish(invoice: Invoice, doc: OfdDocument, flags: list[str]) -> Invoice:
    """Lines from the 销货清单 pages when the attachment lists only the summary line."""
    summary = not invoice.lines or any(mark in invoice.lines[0].mc for mark in LIST_MARKS)
    if summary and len(doc.pages) > 1:
        listed = _list_lines(doc, flags)
        if lines_agree(listed, invoice.je, invoice.se):
            invoice.lines = listed
            invoice.xhqd_bz = "Y"
            flags.append(LIST_LINES)
            return invoice
    if summary:
        flags.append(NO_LINES)
        if invoice.lines:
            invoice.xhqd_bz = "Y"
    return invoice


def read_einvoice(root: etree._Element, doc: OfdDocument) -> tuple[Invoice, list[str]]:
    """original_invoice.xml: the root eInvoice is unprefixed (no namespace), its children fp: (one
    producer writes some unprefixed), so every element is matched by its local name."""
    flags: list[str] = []

    def required(path: str) -> str:
        value = _path(root, path)
        if not value:
            raise OfdError(f"original_invoice.xml {path} is missing")
        return value

    lines = []
    goods_infos = next(iter(children(root, "GoodsInfos")), None)
    for number, goods in enumerate(children(goods_infos, "GoodsInfo") if goods_infos is not None else [], start=1):
        cells = {"mc": _path(goods, "Item"), "je": _path(goods, "Amount"), "se": _path(goods, "TaxAmount"),
                 "slv": _path(goods, "TaxScheme"), "ggxh": _path(goods, "Specification"),
                 "jldw": _path(goods, "MeasurementDimension"), "sl": _path(goods, "Quantity"),
                 "dj": _path(goods, "Price"), "spbm": _path(goods, "Code")}
        lines.append(line_from_cells(cells, flags, f"GoodsInfo {number}"))
    code = required("InvoiceCode")
    invoice = Invoice(
        fplx=_kind(code, doc), fpdm=code, fphm=required("InvoiceNo"), kprq=date(required("IssueDate"), "IssueDate"),
        je=amount(required("TaxExclusiveTotalAmount"), "TaxExclusiveTotalAmount"),
        se=tax_amount(required("TaxTotalAmount"), "TaxTotalAmount", flags),
        jshj=amount(required("TaxInclusiveTotalAmount"), "TaxInclusiveTotalAmount"),
        jym=re.sub(r"\s+", "", _path(root, "InvoiceCheckCode")), kpjh=_path(root, "MachineNo"),
        gfmc=_path(root, "Buyer/BuyerName"), gfsbh=_path(root, "Buyer/BuyerTaxID"),
        gmfdzdh=_path(root, "Buyer/BuyerAddrTel"), gmfyhzh=_path(root, "Buyer/BuyerFinancialAccount"),
        xfmc=_path(root, "Seller/SellerName"), xfsbh=required("Seller/SellerTaxID"),
        xsfdzdh=_path(root, "Seller/SellerAddrTel"), xsfyhzh=_path(root, "Seller/SellerFinancialAccount"),
        bz=_path(root, "Note"), kpr=_path(root, "InvoiceClerk"), skr=_path(root, "Payee"),
        fhr=_path(root, "Checker"), lines=lines,
    )
    return _finish(invoice, doc, flags), flags


def read_xbrl(root: etree._Element, doc: OfdDocument) -> tuple[Invoice, list[str]]:
    """The XBRL 电子凭证 (inv: facts) some 税控 OFDs carry instead of original_invoice.xml."""
    flags: list[str] = []
    facts: dict[str, str] = {}
    tuples: list[etree._Element] = []
    for node in root.iter():
        name = local(node)
        if not name:
            continue
        if name == _XBRL_TUPLE:
            tuples.append(node)
        elif not any(local(parent) == _XBRL_TUPLE for parent in node.iterancestors()):
            facts.setdefault(name, "".join(node.itertext()).strip())

    def fact(name: str, *, starts: str = "", ends: str = "", required: bool = True) -> str:
        value = facts.get(name, "")
        if not value and starts:
            value = next((v for k, v in facts.items() if k.startswith(starts) and k.endswith(ends) and v), "")
        if required and not value:
            raise OfdError(f"XBRL 电子凭证 {name} is missing")
        return value

    lines = []
    for number, item in enumerate(tuples, start=1):
        cells = {"mc": _path(item, "NameOfTaxableGoodsOrServices"), "je": _path(item, "AmountExcludingTax"),
                 "se": _path(item, "TaxAmount"), "slv": _path(item, "TaxRate"),
                 "ggxh": _path(item, "Specification"), "jldw": _path(item, "UnitOfGoodsOrServices"),
                 "sl": _path(item, "QuantityOfGoodsOrServices"), "dj": _path(item, "UnitPriceOfGoodsOrServices")}
        lines.append(line_from_cells(cells, flags, f"XBRL item {number}"))
    code = fact("CodeOfInvoice")
    invoice = Invoice(
        fplx=_kind(code, doc, fact("TypeOfInvoice", required=False)), fpdm=code, fphm=fact("NumberOfInvoice"),
        kprq=date(fact("DateOfIssue"), "DateOfIssue"),
        je=amount(fact("TotalAmountExcludingTax"), "TotalAmountExcludingTax"),
        se=tax_amount(fact("TotalTaxAmount"), "TotalTaxAmount", flags),
        jshj=amount(fact("TaxIncludedAmountInFigures"), "TaxIncludedAmountInFigures"),
        jym=re.sub(r"\s+", "", fact("IdentifyingCode", required=False)),
        gfmc=fact("NameOfPurchaser", required=False),
        gfsbh=fact("TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfPurchaser", starts="TaxpayerIdentification",
                   ends="OfPurchaser", required=False),
        xfmc=fact("NameOfSeller", required=False),
        xfsbh=fact("TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfSeller", starts="TaxpayerIdentification",
                   ends="OfSeller"),
        bz=fact("Remarks", required=False), kpr=fact("Issuer", required=False), skr=fact("Payee", required=False),
        fhr=fact("Reviewer", required=False), lines=lines,
    )
    return _finish(invoice, doc, flags), flags
