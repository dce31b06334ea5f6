"""数电票 XML (电子发票 XML, root EInvoice): one invoice per file, read with a parser that refuses
DTDs, entities and network access (XXE)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from lxml import etree

from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.money import ValueParseError, parse_amount, parse_datetime
from fapiaohub.importers.base import Parsed, Rejected, SourceRef, UnreadableFile, checked

MAX_XML_BYTES = 20 * 1024 * 1024
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                         remove_comments=True)
# EInvoiceType label names → fplx for the kinds that are not plain 专票/普票
KIND_BY_TYPE = (("铁路", "51"), ("航空", "61"), ("二手车", "70"), ("机动车", "83"), ("通行费", "8208"))


class _Missing(ValueError):
    """A required element is missing or unreadable; the message names it."""


def parse_xml(data: bytes, path: Path) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network, bounded size."""
    if len(data) > MAX_XML_BYTES:
        raise UnreadableFile(path, f"XML larger than {MAX_XML_BYTES // 1024**2} MB")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnreadableFile(path, "XML with a DOCTYPE or entity declarations is refused")
    try:
        return etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise UnreadableFile(path, f"malformed XML: {exc}") from None


def _text(root: etree._Element, xpath: str, *, required: bool = False) -> str:
    found = root.find(xpath)
    value = (found.text or "").strip() if found is not None else ""
    if required and not value:
        raise _Missing(f"{xpath} is missing")
    return value


def _amount(root: etree._Element, xpath: str) -> Decimal:
    try:
        return parse_amount(_text(root, xpath, required=True), xpath)
    except ValueParseError as exc:
        raise _Missing(str(exc)) from None


def _kind(root: etree._Element) -> str:
    label = root.find("Header/InherentLabel")
    type_name = _text(label, "EInvoiceType/LabelName") if label is not None else ""
    for needle, fplx in KIND_BY_TYPE:
        if needle in type_name:
            return fplx
    vat = _text(label, "GeneralOrSpecialVAT/LabelCode") if label is not None else ""
    return "81" if vat == "01" else "82"


def read_einvoice_xml(path: Path) -> Iterator[Parsed | Rejected]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc.strerror}") from None
    root = parse_xml(data, path)
    if etree.QName(root).localname != "EInvoice":
        raise UnreadableFile(path, f"not a 数电 invoice XML: the root is <{etree.QName(root).localname}>, not <EInvoice>")
    source = SourceRef(path.name)
    try:
        invoice = _invoice(root)
    except _Missing as exc:
        yield Rejected(source, str(exc))
        return
    yield checked(invoice, source)


def _invoice(root: etree._Element) -> Invoice:
    data = root.find("EInvoiceData")
    if data is None:
        raise _Missing("EInvoiceData is missing")
    try:
        kprq = parse_datetime(_text(root, "TaxSupervisionInfo/IssueTime", required=True), "TaxSupervisionInfo/IssueTime")
    except ValueParseError as exc:
        raise _Missing(str(exc)) from None
    lines = [
        InvoiceLine(
            mc=_text(item, "ItemName"), je=_amount(item, "Amount"), se=_amount(item, "ComTaxAm"),
            slv=Decimal(_text(item, "TaxRate") or "0"), spbm=_text(item, "TaxClassificationCode"),
            ggxh=_text(item, "SpecMod"), sl=_text(item, "Quantity"), jldw=_text(item, "MeaUnits"),
            dj=_text(item, "UnPrice"),
        )
        for item in data.findall("IssuItemInformation")
    ]
    seller, buyer = "SellerInformation", "BuyerInformation"
    return Invoice(
        fplx=_kind(root), fphm=_text(root, "TaxSupervisionInfo/InvoiceNumber", required=True), kprq=kprq,
        je=_amount(data, "BasicInformation/TotalAmWithoutTax"), se=_amount(data, "BasicInformation/TotalTaxAm"),
        jshj=_amount(data, "BasicInformation/TotalTax-includedAmount"),
        xfsbh=_text(data, f"{seller}/SellerIdNum", required=True), xfmc=_text(data, f"{seller}/SellerName"),
        xsfdzdh=" ".join(filter(None, (_text(data, f"{seller}/SellerAddr"), _text(data, f"{seller}/SellerTelNum")))),
        xsfyhzh=" ".join(filter(None, (_text(data, f"{seller}/SellerBankName"), _text(data, f"{seller}/SellerBankAccNum")))),
        gfsbh=_text(data, f"{buyer}/BuyerIdNum"), gfmc=_text(data, f"{buyer}/BuyerName"),
        gmfdzdh=" ".join(filter(None, (_text(data, f"{buyer}/BuyerAddr"), _text(data, f"{buyer}/BuyerTelNum")))),
        gmfyhzh=" ".join(filter(None, (_text(data, f"{buyer}/BuyerBankName"), _text(data, f"{buyer}/BuyerBankAccNum")))),
        kpr=_text(data, "BasicInformation/Drawer"), bz=_text(data, "AdditionalInformation/Remark"),
        lines=lines,
    )
