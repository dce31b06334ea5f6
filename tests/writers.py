"""Writers of the document formats the importers read (数电 XML, OFD, PDF), for tests and fixtures."""

from __future__ import annotations

import zipfile
from pathlib import Path

from lxml import etree

from fapiaohub.domain.invoice import Invoice

TYPE_NAMES = {"81": "电子发票（增值税专用发票）", "82": "电子发票（普通发票）", "51": "电子发票（铁路电子客票）",
              "61": "电子发票（航空运输电子客票行程单）", "70": "电子发票（二手车销售统一发票）",
              "83": "电子发票（机动车销售统一发票）", "8208": "电子发票（通行费发票）"}


def _add(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _split(value: str) -> tuple[str, str]:
    """'address phone' or 'bank account' as printed on the invoice → its two parts."""
    head, _, tail = value.rpartition(" ")
    return (head, tail) if head else (value, "")


def write_einvoice_xml(path: Path, invoice: Invoice) -> None:
    """A 数电 invoice XML (电子发票 XML file, 财政部 电子凭证会计数据标准 layout)."""
    root = etree.Element("EInvoice")
    header = _add(root, "Header")
    _add(header, "EIid", invoice.fphm)
    _add(header, "EInvoiceTag", "SWEI3200")
    _add(header, "Version", "0.1")
    labels = _add(header, "InherentLabel")
    issue = _add(labels, "InIssuType")
    _add(issue, "LabelCode", "Y" if invoice.jshj >= 0 else "N")
    _add(issue, "LabelName", "蓝字发票" if invoice.jshj >= 0 else "红字发票")
    kind = _add(labels, "EInvoiceType")
    _add(kind, "LabelCode", invoice.fplx)
    _add(kind, "LabelName", TYPE_NAMES.get(invoice.fplx, ""))
    vat = _add(labels, "GeneralOrSpecialVAT")
    _add(vat, "LabelCode", "01" if invoice.fplx == "81" else "02")
    _add(vat, "LabelName", "增值税专用发票" if invoice.fplx == "81" else "普通发票")
    data = _add(root, "EInvoiceData")
    for role, prefix, number, name, place, bank in (
        ("SellerInformation", "Seller", invoice.xfsbh, invoice.xfmc, invoice.xsfdzdh, invoice.xsfyhzh),
        ("BuyerInformation", "Buyer", invoice.gfsbh, invoice.gfmc, invoice.gmfdzdh, invoice.gmfyhzh),
    ):
        party = _add(data, role)
        _add(party, f"{prefix}IdNum", number)
        _add(party, f"{prefix}Name", name)
        address, phone = _split(place)
        bank_name, account = _split(bank)
        _add(party, f"{prefix}Addr", address)
        _add(party, f"{prefix}TelNum", phone)
        _add(party, f"{prefix}BankName", bank_name)
        _add(party, f"{prefix}BankAccNum", account)
    basic = _add(data, "BasicInformation")
    _add(basic, "TotalAmWithoutTax", f"{invoice.je:.2f}")
    _add(basic, "TotalTaxAm", f"{invoice.se:.2f}")
    _add(basic, "TotalTax-includedAmount", f"{invoice.jshj:.2f}")
    _add(basic, "Drawer", invoice.kpr)
    _add(basic, "RequestTime", invoice.kprq.isoformat(sep=" "))
    for line in invoice.lines:
        item = _add(data, "IssuItemInformation")
        for tag, value in (("ItemName", line.mc), ("SpecMod", line.ggxh), ("MeaUnits", line.jldw),
                           ("Quantity", line.sl), ("UnPrice", line.dj), ("Amount", f"{line.je:.2f}"),
                           ("TaxRate", f"{line.slv.normalize():f}"), ("ComTaxAm", f"{line.se:.2f}"),
                           ("TotaltaxIncludedAmount", f"{line.je + line.se:.2f}"),
                           ("TaxClassificationCode", line.spbm)):
            _add(item, tag, value)
    extra = _add(data, "AdditionalInformation")
    _add(extra, "Remark", invoice.bz)
    supervision = _add(root, "TaxSupervisionInfo")
    _add(supervision, "InvoiceNumber", invoice.fphm)
    _add(supervision, "IssueTime", invoice.kprq.isoformat(sep=" "))
    _add(supervision, "TaxBureauCode", "14403000000")
    _add(supervision, "TaxBureauName", "国家税务总局深圳市税务局")
    Path(path).write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


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


def write_pdf(path: Path, invoice: Invoice) -> None:
    """A PDF e-invoice with a real Chinese text layer, laid out label by label as issued ones are.
    reportlab is a test dependency, so it is imported here rather than at module level."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    titles = {"81": "电子发票（增值税专用发票）", "82": "电子发票（普通发票）", "08": "增值税电子专用发票",
              "10": "增值税电子普通发票"}
    lines = [titles[invoice.fplx]]
    if invoice.fpdm:
        lines.append(f"发票代码：{invoice.fpdm}")
    lines += [f"发票号码：{invoice.fphm}", f"开票日期：{invoice.kprq:%Y年%m月%d日}"]
    if invoice.jym:
        lines.append(f"校 验 码：{invoice.jym[:5]} {invoice.jym[5:10]} {invoice.jym[10:15]} {invoice.jym[15:]}")
    lines += [f"购买方 名称：{invoice.gfmc}", f"统一社会信用代码/纳税人识别号：{invoice.gfsbh}",
              f"销售方 名称：{invoice.xfmc}", f"统一社会信用代码/纳税人识别号：{invoice.xfsbh}"]
    lines += [f"{line.mc} {line.ggxh} {line.jldw} {line.sl} {line.dj} {line.je:.2f} {line.slv * 100:.0f}% {line.se:.2f}"
              for line in invoice.lines]
    lines += [f"合 计 ¥{invoice.je:.2f} ¥{invoice.se:.2f}", f"价税合计（大写） （小写）¥{invoice.jshj:.2f}",
              f"开票人：{invoice.kpr}"]
    page = canvas.Canvas(str(path))
    page.setFont("STSong-Light", 9)
    for number, text in enumerate(lines):
        page.drawString(40, 800 - number * 16, text)
    page.save()
