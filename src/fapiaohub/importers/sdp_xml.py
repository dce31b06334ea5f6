"""数电票 XML (电子发票 XML, root EInvoice): one invoice per file, read with a parser that refuses
DTDs, entities and network access (XXE). Layout: docs/formats/sdp-xml.md."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from lxml import etree

from fapiaohub.domain.codes import TOLL_BUSINESS, TOLL_DIGITAL, kind_by_name
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.money import UNSTATED_RATE_WORDS, ValueParseError, parse_amount, parse_datetime, parse_rate
from fapiaohub.importers.base import Parsed, Rejected, SourceRef, UnreadableFile, checked

MAX_XML_BYTES = 20 * 1024 * 1024
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                         remove_comments=True, remove_pis=True)
# SpecificInformation/Toll children → Invoice.special keys (codes.SPECIAL_KEYS: 车牌号, 车辆类型, 通行日期起/止)
TOLL_FIELDS = (("PlateNumber", "cph"), ("VehicleType", "cllx"), ("StartDatesOfPassage", "txrqq"),
               ("EndDatesOfPassage", "txrqz"))
TOLL_DATES = frozenset({"txrqq", "txrqz"})
# SpecificInformation children that say nothing about the 特定业务: RedEInvoice is present (and
# empty) on every blue invoice of the real files.
NOT_BUSINESS = frozenset({"RedEInvoice"})


class NotInvoiceXml(UnreadableFile):
    """Well-formed XML whose root is not EInvoice: not a 数电 invoice (a bundle passes it over)."""


class _Missing(ValueError):  # noqa: N818 - named for what happened
    """A required element is missing or unreadable; the message names it."""


def parse_xml(data: bytes, path: Path | str) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network, bounded size."""
    if len(data) > MAX_XML_BYTES:
        raise UnreadableFile(path, f"XML larger than {MAX_XML_BYTES // 1024**2} MB")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnreadableFile(path, "XML with a DOCTYPE or entity declarations is refused")
    try:
        return etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise UnreadableFile(path, f"malformed XML: {exc}") from None


def _strip_namespaces(root: etree._Element) -> None:
    """The real files have no namespace; a producer that adds one must still be read, so every
    element is matched by its local name."""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = etree.QName(element).localname


def _text(root: etree._Element | None, xpath: str, *, required: bool = False, where: str = "") -> str:
    found = root.find(xpath) if root is not None else None
    value = (found.text or "").strip() if found is not None else ""
    if required and not value:
        raise _Missing(f"{where}{xpath} is missing")
    return value


def _amount(root: etree._Element, xpath: str, where: str = "") -> Decimal:
    try:
        return parse_amount(_text(root, xpath, required=True, where=where), where + xpath)
    except ValueParseError as exc:
        raise _Missing(str(exc)) from None


def read_einvoice_xml(path: Path) -> Iterator[Parsed | Rejected]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc.strerror}") from None
    return read_einvoice_xml_bytes(data, path)


def read_einvoice_xml_bytes(data: bytes, path: Path | str) -> Iterator[Parsed | Rejected]:
    """The records of one 数电 XML held in memory; ``path`` names it in messages and sources."""
    root = parse_xml(data, path)
    if not isinstance(root.tag, str) or etree.QName(root).localname != "EInvoice":
        name = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise NotInvoiceXml(path, f"not a 数电 invoice XML: the root is <{name}>, not <EInvoice>")
    _strip_namespaces(root)
    return _records(root, SourceRef(Path(path).name))


def _records(root: etree._Element, source: SourceRef) -> Iterator[Parsed | Rejected]:
    flags: list[str] = []
    try:
        invoice = _invoice(root, flags)
    except _Missing as exc:
        yield Rejected(source, str(exc))
        return
    yield checked(invoice, source, flags)


def _labelled_kind(root: etree._Element) -> str:
    """81 or 82 from the InherentLabel labels (EInvoiceType 电子发票, GeneralOrSpecialVAT 01 专票 /
    02 普票); a kind printed in full in EInvoiceType's name (e.g. 数电发票（铁路电子客票）) wins."""
    label = root.find("Header/InherentLabel")
    type_name = _text(label, "EInvoiceType/LabelName")
    named = kind_by_name(type_name) if type_name else None
    if named is not None:
        return named
    code = _text(label, "GeneralOrSpecialVAT/LabelCode")
    name = _text(label, "GeneralOrSpecialVAT/LabelName")
    if code == "01" or (not code and "专用" in name):
        return "81"
    if code == "02" or (not code and "普通" in name):
        return "82"
    raise _Missing(f"Header/InherentLabel/GeneralOrSpecialVAT/LabelCode {code!r} is neither 01 (专票) nor 02 (普票)"
                   if code else "Header/InherentLabel/GeneralOrSpecialVAT/LabelCode is missing")


def _toll_date(value: str, field: str) -> str:
    """yyyyMMddHHmmssSSS → ``yyyy-MM-dd HH:mm:ss``: the form the bureau export writes 通行日期起/止,
    so that one invoice reads the same from either source (the milliseconds are always 000)."""
    if not value:
        return ""
    try:
        return parse_datetime(value, field).isoformat(sep=" ")
    except ValueParseError as exc:
        raise _Missing(str(exc)) from None


def _special(data: etree._Element, flags: list[str]) -> tuple[str, list[dict[str, str]]]:
    """(tdywlx, special) from EInvoiceData/SpecificInformation. Only Toll's element names are known
    from real files; another non-empty 特定业务 element is flagged as not read, never guessed."""
    specific = data.find("SpecificInformation")
    if specific is None:
        return "", []
    tolls = specific.findall("Toll")
    special: list[dict[str, str]] = []
    for toll in tolls:
        element = {}
        for tag, key in TOLL_FIELDS:
            value = _text(toll, tag)
            element[key] = _toll_date(value, f"SpecificInformation/Toll/{tag}") if key in TOLL_DATES else value
        special.append(element)
    for child in specific:
        if not isinstance(child.tag, str) or child.tag == "Toll" or child.tag in NOT_BUSINESS:
            continue
        if len(child) or (child.text or "").strip():
            flags.append(f"SpecificInformation/{child.tag}: 特定业务 element not read (its layout is not known)")
    for child in specific.findall("RedEInvoice"):
        if len(child) or (child.text or "").strip():
            flags.append("SpecificInformation/RedEInvoice: red-invoice details not read")
    return (TOLL_BUSINESS, special) if tolls else ("", [])


def _line(item: etree._Element, number: int, flags: list[str]) -> InvoiceLine:
    where = f"IssuItemInformation[{number}]/"
    rate_text = _text(item, "TaxRate")
    try:
        rate = parse_rate(rate_text, where + "TaxRate")
    except ValueParseError as exc:
        raise _Missing(str(exc)) from None
    if rate is None:
        flags.append(f"{where}TaxRate {rate_text!r}: the rate is not stated (差额征税)")
        rate = Decimal(0)
    tax_text = _text(item, "ComTaxAm")
    if tax_text in UNSTATED_RATE_WORDS:  # 免税 lines print *** as the tax: it is 0
        tax = Decimal("0.00")
    else:
        tax = _amount(item, "ComTaxAm", where)
    return InvoiceLine(
        mc=_text(item, "ItemName"), je=_amount(item, "Amount", where), se=tax, slv=rate,
        spbm=_text(item, "TaxClassificationCode"), ggxh=_text(item, "SpecMod"), sl=_text(item, "Quantity"),
        jldw=_text(item, "MeaUnits"), dj=_text(item, "UnPrice"),
    )


def _issue_time(root: etree._Element) -> datetime:
    """TaxSupervisionInfo/IssueTime, a date only in real files (then midnight). RequestTime is NOT
    the issue time (it is later than the bureau's 开票日期 by up to hours) and is not read."""
    xpath = "TaxSupervisionInfo/IssueTime"
    try:
        return parse_datetime(_text(root, xpath, required=True), xpath)
    except ValueParseError as exc:
        raise _Missing(str(exc)) from None


def _number(root: etree._Element) -> str:
    number = _text(root, "TaxSupervisionInfo/InvoiceNumber")
    eiid = _text(root, "Header/EIid")
    if number and eiid and number != eiid:
        raise _Missing(f"TaxSupervisionInfo/InvoiceNumber {number!r} differs from Header/EIid {eiid!r}")
    if not (number or eiid):
        raise _Missing("TaxSupervisionInfo/InvoiceNumber is missing")
    return number or eiid


def _joined(data: etree._Element, first: str, second: str) -> str:
    return " ".join(filter(None, (_text(data, first), _text(data, second))))


def _invoice(root: etree._Element, flags: list[str]) -> Invoice:
    data = root.find("EInvoiceData")
    if data is None:
        raise _Missing("EInvoiceData is missing")
    fphm = _number(root)
    kprq = _issue_time(root)
    tdywlx, special = _special(data, flags)
    fplx = TOLL_DIGITAL if tdywlx == TOLL_BUSINESS else _labelled_kind(root)
    lines = [_line(item, number, flags) for number, item in enumerate(data.findall("IssuItemInformation"), start=1)]
    seller, buyer, basic = "SellerInformation/", "BuyerInformation/", "BasicInformation/"
    return Invoice(
        fplx=fplx, fphm=fphm, kprq=kprq,
        je=_amount(data, basic + "TotalAmWithoutTax", "EInvoiceData/"),
        se=_amount(data, basic + "TotalTaxAm", "EInvoiceData/"),
        jshj=_amount(data, basic + "TotalTax-includedAmount", "EInvoiceData/"),
        xfsbh=_text(data, seller + "SellerIdNum", required=True, where="EInvoiceData/"),
        xfmc=_text(data, seller + "SellerName"),
        xsfdzdh=_joined(data, seller + "SellerAddr", seller + "SellerTelNum"),
        xsfyhzh=_joined(data, seller + "SellerBankName", seller + "SellerBankAccNum"),
        gfsbh=_text(data, buyer + "BuyerIdNum"), gfmc=_text(data, buyer + "BuyerName"),
        gmfdzdh=_joined(data, buyer + "BuyerAddr", buyer + "BuyerTelNum"),
        gmfyhzh=_joined(data, buyer + "BuyerBankName", buyer + "BuyerBankAccNum"),
        kpr=_text(data, basic + "Drawer"), bz=_text(data, "AdditionalInformation/Remark"),
        tdywlx=tdywlx, special=special, lines=lines,
    )
