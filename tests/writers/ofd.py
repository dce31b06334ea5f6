"""Writes OFD invoices (数电 and 税控 variants) for tests."""

from __future__ import annotations

import zipfile
from pathlib import Path

from lxml import etree

from fapiaohub.domain.invoice import Invoice

OFD_NS = "http://www.ofdspec.org/2016"
EINVOICE_NS = "http://www.edrm.org.cn/schema/e-invoice/2019"


def _ofd(tag: str) -> str:
    return f"{{{OFD_NS}}}{tag}"


def _xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def write_ofd(path: Path, invoice: Invoice, variant: str = "sdp") -> None:
    """An OFD invoice: ``sdp`` (数电: CustomData + tags on page text) or ``skp`` (税控: the
    original_invoice.xml attachment)."""
    if variant not in ("sdp", "skp"):
        raise ValueError(f"variant {variant!r} is neither 'sdp' nor 'skp'")
    nsmap = {"ofd": OFD_NS}
    ofd = etree.Element(_ofd("OFD"), nsmap=nsmap, Version="1.1", DocType="OFD")
    body = etree.SubElement(ofd, _ofd("DocBody"))
    info = etree.SubElement(body, _ofd("DocInfo"))
    etree.SubElement(info, _ofd("DocID")).text = invoice.fphm
    customs = etree.SubElement(info, _ofd("CustomDatas"))
    for name, value in (("发票号码", invoice.fphm), ("合计金额", f"{invoice.je:.2f}"), ("合计税额", f"{invoice.se:.2f}"),
                        ("开票日期", invoice.kprq.strftime("%Y年%m月%d日")), ("销售方纳税人识别号", invoice.xfsbh),
                        ("购买方纳税人识别号", invoice.gfsbh)):
        etree.SubElement(customs, _ofd("CustomData"), Name=name).text = value
    etree.SubElement(body, _ofd("DocRoot")).text = "Doc_0/Document.xml"
    texts = [("title", "电子发票（增值税专用发票）" if invoice.fplx in ("81", "08", "01") else "电子发票（普通发票）"),
             ("InvoiceNo", invoice.fphm), ("BuyerName", invoice.gfmc), ("SellerName", invoice.xfmc),
             ("TaxInclusiveTotalAmount", f"{invoice.jshj:.2f}"), ("Note", invoice.bz)]
    content = etree.Element(_ofd("Page"), nsmap=nsmap)
    layer = etree.SubElement(etree.SubElement(content, _ofd("Content")), _ofd("Layer"), ID="1")
    for number, (_, text) in enumerate(texts, start=100):
        obj = etree.SubElement(layer, _ofd("TextObject"), ID=str(number), Boundary="10 10 100 5", Size="3")
        etree.SubElement(obj, _ofd("TextCode"), X="0", Y="3").text = text
    tags = etree.Element("Root", nsmap=nsmap)
    for number, (tag, _) in enumerate(texts, start=100):
        if tag in ("BuyerName", "SellerName"):
            holder = etree.SubElement(tags, tag.replace("Name", ""))
            etree.SubElement(etree.SubElement(holder, tag), _ofd("ObjectRef"), PageRef="1").text = str(number)
        elif tag != "title":
            etree.SubElement(etree.SubElement(tags, tag), _ofd("ObjectRef"), PageRef="1").text = str(number)
    document = etree.Element(_ofd("Document"), nsmap=nsmap)
    pages = etree.SubElement(document, _ofd("Pages"))
    etree.SubElement(pages, _ofd("Page"), ID="1", BaseLoc="Pages/Page_0/Content.xml")
    index = etree.Element(_ofd("CustomTags"), nsmap=nsmap)
    etree.SubElement(etree.SubElement(index, _ofd("CustomTag"), NameSpace="", TypeID="0"), _ofd("FileLoc")).text = "CustomTag.xml"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", _xml(ofd))
        archive.writestr("Doc_0/Document.xml", _xml(document))
        archive.writestr("Doc_0/Pages/Page_0/Content.xml", _xml(content))
        archive.writestr("Doc_0/Tags/CustomTags.xml", _xml(index))
        archive.writestr("Doc_0/Tags/CustomTag.xml", _xml(tags))
        if variant == "skp":
            archive.writestr("Doc_0/Attachs/original_invoice.xml", _original_invoice(invoice))


def _original_invoice(invoice: Invoice) -> bytes:
    root = etree.Element(f"{{{EINVOICE_NS}}}eInvoice", nsmap={"fp": EINVOICE_NS})

    def add(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
        element = etree.SubElement(parent, f"{{{EINVOICE_NS}}}{tag}")
        element.text = text
        return element

    for tag, value in (("InvoiceCode", invoice.fpdm), ("InvoiceNo", invoice.fphm),
                       ("IssueDate", invoice.kprq.strftime("%Y年%m月%d日")), ("InvoiceCheckCode", invoice.jym)):
        add(root, tag, value)
    buyer, seller = add(root, "Buyer"), add(root, "Seller")
    add(buyer, "BuyerName", invoice.gfmc)
    add(buyer, "BuyerTaxID", invoice.gfsbh)
    add(seller, "SellerName", invoice.xfmc)
    add(seller, "SellerTaxID", invoice.xfsbh)
    add(root, "TaxInclusiveTotalAmount", f"{invoice.jshj:.2f}")
    add(root, "TaxExclusiveTotalAmount", f"{invoice.je:.2f}")
    add(root, "TaxTotalAmount", f"{invoice.se:.2f}")
    goods = add(root, "GoodsInfos")
    for line in invoice.lines:
        info = add(goods, "GoodsInfo")
        for tag, value in (("Item", line.mc), ("Specification", line.ggxh), ("MeasurementDimension", line.jldw),
                           ("Quantity", line.sl), ("Price", line.dj), ("Amount", f"{line.je:.2f}"),
                           ("TaxScheme", f"{(line.slv * 100).normalize():f}%"), ("TaxAmount", f"{line.se:.2f}")):
            add(info, tag, value)
    return _xml(root)
