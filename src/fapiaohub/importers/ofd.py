"""OFD invoices (GB/T 33190, a zip of XML): the 数电 variant and the older 税控 variant.

数电: OFD.xml's CustomData carry number, date, totals and both tax ids; Doc_0/Tags/CustomTag.xml
points semantic tags (BuyerName, SellerName, …) at text objects of Doc_0/Pages/Page_0/Content.xml.
Lines are not reconstructed from page text (their layout varies): such invoices carry no lines
and the flag 明细未解析. 税控: Doc_0/Attachs/original_invoice.xml holds the whole invoice.
An OFD is untrusted input: its size, member count and member paths are bounded before and
while reading.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from lxml import etree

from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.money import ValueParseError, parse_amount, parse_datetime
from fapiaohub.domain.validation import describe_fpdm
from fapiaohub.importers.base import Parsed, Rejected, SourceRef, UnreadableFile, checked
from fapiaohub.importers.sdp_xml import parse_xml

MAX_OFD_UNCOMPRESSED = 50 * 1024 * 1024
MAX_MEMBERS = 2000
OFD_NS = "http://www.ofdspec.org/2016"
EINVOICE_NS = "http://www.edrm.org.cn/schema/e-invoice/2019"
ORIGINAL = "Doc_0/Attachs/original_invoice.xml"
NO_LINES = "明细未解析"
KIND_BY_CODE = {"11": "10", "13": "08", "12": "14", "06": "11", "07": "11", "04": "04", "05": "04"}


class _Bad(ValueError):
    pass


class _Archive:
    """Members of an OFD read under a total budget of decompressed bytes (headers can lie)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UnreadableFile(path, f"not an OFD (OFD files are zip archives): {exc}") from None
        members = self.zip.infolist()
        if len(members) > MAX_MEMBERS:
            raise UnreadableFile(path, f"{len(members)} members; an OFD invoice has a few dozen")
        for member in members:
            if member.filename.startswith("/") or ".." in Path(member.filename).parts:
                raise UnreadableFile(path, f"member path {member.filename!r} escapes the archive")
        if sum(m.file_size for m in members) > MAX_OFD_UNCOMPRESSED:
            raise UnreadableFile(path, f"decompresses to more than {MAX_OFD_UNCOMPRESSED // 1024**2} MB")
        self.names = {m.filename for m in members}
        self.budget = MAX_OFD_UNCOMPRESSED

    def read(self, name: str) -> bytes:
        if name not in self.names:
            raise UnreadableFile(self.path, f"member {name} is missing")
        with self.zip.open(name) as member:
            data = member.read(self.budget + 1)
        self.budget -= len(data)
        if self.budget < 0:
            raise UnreadableFile(self.path, f"decompresses to more than {MAX_OFD_UNCOMPRESSED // 1024**2} MB")
        return data

    def xml(self, name: str) -> etree._Element:
        return parse_xml(self.read(name), self.path)

    def close(self) -> None:
        self.zip.close()


def _amount(text: str, what: str) -> Decimal:
    try:
        return parse_amount(text, what)
    except ValueParseError as exc:
        raise _Bad(str(exc)) from None


def _date(text: str, what: str) -> datetime:
    try:
        return parse_datetime(text, what)
    except ValueParseError as exc:
        raise _Bad(str(exc)) from None


def read_ofd(path: Path) -> Iterator[Parsed | Rejected]:
    path = Path(path)
    archive = _Archive(path)
    source = SourceRef(path.name)
    try:
        try:
            if ORIGINAL in archive.names:
                invoice, flags = _tax_control(archive.xml(ORIGINAL)), []
            else:
                invoice, flags = _digital(archive), [NO_LINES]
        except _Bad as exc:
            yield Rejected(source, str(exc))
            return
    finally:
        archive.close()
    yield checked(invoice, source, flags)


def _digital(archive: _Archive) -> Invoice:
    root = archive.xml("OFD.xml")
    custom = {element.get("Name"): (element.text or "").strip()
              for element in root.iter(f"{{{OFD_NS}}}CustomData")}
    for name in ("发票号码", "开票日期", "合计金额", "合计税额", "销售方纳税人识别号"):
        if not custom.get(name):
            raise _Bad(f"OFD.xml CustomData {name} is missing")
    texts = _page_texts(archive)
    tagged = _tagged_texts(archive, texts)
    je, se = _amount(custom["合计金额"], "合计金额"), _amount(custom["合计税额"], "合计税额")
    jshj = _amount(tagged["TaxInclusiveTotalAmount"], "TaxInclusiveTotalAmount") if tagged.get(
        "TaxInclusiveTotalAmount") else je + se
    special = any("专用发票" in text for text in texts.values())
    return Invoice(
        fplx="81" if special else "82", fphm=custom["发票号码"], kprq=_date(custom["开票日期"], "开票日期"),
        je=je, se=se, jshj=jshj, xfsbh=custom["销售方纳税人识别号"], gfsbh=custom.get("购买方纳税人识别号", ""),
        xfmc=tagged.get("SellerName", ""), gfmc=tagged.get("BuyerName", ""), bz=tagged.get("Note", ""),
    )


def _page_texts(archive: _Archive) -> dict[str, str]:
    """Text object id → its text, over the invoice's first page."""
    content = archive.xml("Doc_0/Pages/Page_0/Content.xml")
    texts = {}
    for obj in content.iter(f"{{{OFD_NS}}}TextObject"):
        codes = [code.text or "" for code in obj.iter(f"{{{OFD_NS}}}TextCode")]
        texts[obj.get("ID", "")] = "".join(codes).strip()
    return texts


def _tagged_texts(archive: _Archive, texts: dict[str, str]) -> dict[str, str]:
    """Semantic tag name (the innermost element, e.g. BuyerName) → the text it points at."""
    name = "Doc_0/Tags/CustomTag.xml"
    if name not in archive.names:
        return {}
    tagged = {}
    for ref in archive.xml(name).iter(f"{{{OFD_NS}}}ObjectRef"):
        tag = etree.QName(ref.getparent()).localname
        tagged[tag] = texts.get((ref.text or "").strip(), "")
    return tagged


def _tax_control(root: etree._Element) -> Invoice:
    if etree.QName(root).namespace != EINVOICE_NS:
        raise _Bad(f"{ORIGINAL} is not an e-invoice of namespace {EINVOICE_NS}")

    def text(path: str, *, required: bool = True) -> str:
        found = root.find("/".join(f"{{{EINVOICE_NS}}}{part}" for part in path.split("/")))
        value = (found.text or "").strip() if found is not None else ""
        if required and not value:
            raise _Bad(f"{ORIGINAL} {path} is missing")
        return value

    code = text("InvoiceCode")
    info = describe_fpdm(code)
    lines = []
    for goods in root.iter(f"{{{EINVOICE_NS}}}GoodsInfo"):
        def field(tag: str, goods: etree._Element = goods) -> str:
            found = goods.find(f"{{{EINVOICE_NS}}}{tag}")
            return (found.text or "").strip() if found is not None else ""

        rate = field("TaxScheme").rstrip("%")
        lines.append(InvoiceLine(
            mc=field("Item"), je=_amount(field("Amount"), "GoodsInfo/Amount"),
            se=_amount(field("TaxAmount"), "GoodsInfo/TaxAmount"),
            slv=(Decimal(rate) / 100).normalize() if re.fullmatch(r"\d+(\.\d+)?", rate) else Decimal(0),
            ggxh=field("Specification"), jldw=field("MeasurementDimension"), sl=field("Quantity"),
            dj=field("Price"),
        ))
    return Invoice(
        fplx=KIND_BY_CODE.get(info.kind, "10") if info and len(code) == 12 else "10",
        fpdm=code, fphm=text("InvoiceNo"), kprq=_date(text("IssueDate"), "IssueDate"),
        je=_amount(text("TaxExclusiveTotalAmount"), "TaxExclusiveTotalAmount"),
        se=_amount(text("TaxTotalAmount"), "TaxTotalAmount"),
        jshj=_amount(text("TaxInclusiveTotalAmount"), "TaxInclusiveTotalAmount"),
        jym=text("InvoiceCheckCode", required=False),
        gfmc=text("Buyer/BuyerName", required=False), gfsbh=text("Buyer/BuyerTaxID", required=False),
        xfmc=text("Seller/SellerName"), xfsbh=text("Seller/SellerTaxID"), lines=lines,
    )
