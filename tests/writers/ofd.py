"""Writes synthetic OFD invoices in the real layouts, for tests: 数电 (税务数字账户 with CustomData, tags
and a template; HTFoxit with page text only and Kangxi labels; the toll platform's page text), 税控
(original_invoice.xml with its variants, the XBRL 电子凭证, 销货清单 pages, no page at all)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from lxml import etree

from fapiaohub.domain.invoice import Invoice, InvoiceLine

OFD_NS = "http://www.ofdspec.org/2016"
EINVOICE_NS = "http://www.edrm.org.cn/schema/e-invoice/2019"
XBRL_NS = "http://www.xbrl.org/2003/instance"
INV_NS = "http://xbrl.mof.gov.cn/taxonomy/2021-09-30/inv"
VARIANTS = ("sdp", "htfoxit", "toll", "skp")
KANGXI = str.maketrans({"子": "⼦", "方": "⽅", "一": "⼀", "人": "⼈", "金": "⾦", "大": "⼤"})
PAGE_ID = "61"  # the page's ID in Document.xml: tags refer to it, not to its index


def _ofd(tag: str) -> str:
    return f"{{{OFD_NS}}}{tag}"


def _xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _width(text: str, size: float) -> float:
    return sum(size if ord(char) > 0x2E7F else size / 2 for char in text)


def _advances(text: str, size: float) -> str:
    return " ".join(f"{size if ord(char) > 0x2E7F else size / 2:g}" for char in text[:-1])


@dataclass
class _Placed:
    text: str
    x: float
    y: float  # baseline, mm
    size: float = 3.175
    template: bool = False
    tag: str | None = None  # CustomTag element path, e.g. Buyer/BuyerName
    rotated: bool = False


@dataclass
class _Layout:
    texts: list[_Placed] = field(default_factory=list)

    def add(self, text: str, x: float, y: float, size: float = 3.175, *, template: bool = False,
            tag: str | None = None, rotated: bool = False) -> None:
        self.texts.append(_Placed(text, x, y, size, template, tag, rotated))


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _rate(line: InvoiceLine) -> str:
    return f"{(line.slv * 100).normalize():f}%"


def _invoice_layout(invoice: Invoice, title: str, *, labels_on_template: bool, title_on_template: bool,
                    business: str = "", columns: tuple[str, ...] = (), item_piece: int = 0,
                    note_lines: list[str] | None = None, kpr_twice: bool = False) -> _Layout:
    """The 数电 page (210 × 140 mm) as the 税务数字账户 draws it: labels (template), values (page)."""
    lay = _Layout()
    tpl = labels_on_template
    lay.add(title, 57, 14.1, 7.07, template=title_on_template)
    if business:
        lay.add(business, 36.8, 17.2)
    lay.add("发票号码：", 154.5, 14.0, template=tpl)
    lay.add(invoice.fphm, 170, 13.9, tag="InvoiceNo")
    lay.add("开票日期：", 154.5, 20.0, template=tpl)
    lay.add(invoice.kprq.strftime("%Y年%m月%d日"), 170, 20.0, tag="IssueDate")
    for x, word in ((5.5, "购买方信息"), (106, "销售方信息")):
        for n, char in enumerate(word):
            lay.add(char, x, 35.5 + 3.5 * n, template=tpl)
    for x, (name, tax_id, side) in ((11, (invoice.gfmc, invoice.gfsbh, "Buyer")),
                                    (111.5, (invoice.xfmc, invoice.xfsbh, "Seller"))):
        lay.add("名称：", x, 36.5, template=tpl)
        lay.add(name, x + 9, 36.5, tag=f"{side}/{side}Name")
        lay.add("统一社会信用代码/纳税人识别号：", x, 47.0, template=tpl)
        lay.add(tax_id, x + 43, 47.1, 4.23, tag=f"{side}/{side}TaxID")
    headers = ("项目名称", *columns, "金 额", "税率/征收率", "税 额")
    header_x = {"项目名称": 15.5, "规格型号": 41.6, "单 位": 66.5, "数 量": 92.5, "单 价": 117.5,
                "建筑服务发生地": 41.6, "建筑项目名称": 84.6, "产权证书/不动产权证号": 41.6, "面积单位": 100,
                "金 额": 143, "税率/征收率": 157, "税 额": 194}
    for header in headers:
        lay.add(header, header_x[header], 56.0, template=tpl)
    y = 59.4
    for line, extra in zip(invoice.lines, invoice.special or [{}] * len(invoice.lines), strict=False):
        pieces = [line.mc[i:i + item_piece] for i in range(0, len(line.mc), item_piece)] if item_piece else [line.mc]
        for n, piece in enumerate(pieces):
            lay.add(piece, 4.5, y + 4.5 * n, tag="Item")
        cells = {"规格型号": line.ggxh, "单 位": line.jldw, "数 量": line.sl, "单 价": line.dj,
                 "建筑服务发生地": extra.get("jzfwfsd", ""), "建筑项目名称": extra.get("jzxmmc", ""),
                 "产权证书/不动产权证号": extra.get("cqzs", ""), "面积单位": line.jldw}
        for header in columns:
            if cells.get(header):
                lay.add(cells[header], header_x[header] + 0.5, y)
        lay.add(_money(line.je), 141.5, y, tag="Amount")
        lay.add(_rate(line), 165, y, tag="TaxScheme")
        lay.add(_money(line.se), 196, y, tag="TaxAmount")
        y += 4.5 * len(pieces)
    lay.add("合", 20, 95.0, template=tpl)
    lay.add("计", 36, 95.0, template=tpl)
    for x, value, tag in ((140.0, invoice.je, "TaxExclusiveTotalAmount"), (193.6, invoice.se, "TaxTotalAmount")):
        lay.add("¥", x, 94.6, 3.88, tag=tag)
        lay.add(_money(value), x + 2.4, 94.6, tag=tag)
    lay.add("价税合计（大写）", 16.4, 101.5, template=tpl)
    lay.add("（小写）", 143, 101.5, template=tpl)
    lay.add("¥", 155.5, 101.0, 3.88, tag="TaxInclusiveTotalAmount")
    lay.add(_money(invoice.jshj), 157.8, 101.0, 3.88, tag="TaxInclusiveTotalAmount")
    lay.add("备", 5.5, 112.0, template=tpl)
    lay.add("注", 5.5, 118.0, template=tpl)
    for n, note in enumerate(note_lines if note_lines is not None else invoice.bz.splitlines()):
        lay.add(note, 11.1, 107.3 + 3.3 * n, tag="Note")
    lay.add("开票人：", 19, 132.5, template=tpl)
    lay.add(invoice.kpr, 32, 132.6, tag="InvoiceClerk")
    if kpr_twice:  # the 税务数字账户 tags a second, off-page copy of the 开票人
        lay.add(invoice.kpr, 32.1, 289.6, 3.53, tag="InvoiceClerk")
    return lay


def _suwell_content(lay: _Layout, template: bool, first_id: int, pretty: bool) -> tuple[etree._Element, dict]:
    """Content.xml in the 税务数字账户's form: Boundary is the text's box, X/Y small, DeltaX per char."""
    page = etree.Element(_ofd("Page"), nsmap={"ofd": OFD_NS})
    if not template:
        etree.SubElement(page, _ofd("Template"), TemplateID="1", ZOrder="Background")
    layer = etree.SubElement(etree.SubElement(page, _ofd("Content")), _ofd("Layer"), ID=str(first_id - 1))
    ids: dict[int, str] = {}
    for n, placed in enumerate(lay.texts):
        if placed.template != template:
            continue
        object_id = str(first_id + n)
        ids[n] = object_id
        width = max(_width(placed.text, placed.size), 1)
        obj = etree.SubElement(layer, _ofd("TextObject"), ID=object_id, Size=f"{placed.size:g}",
                               Boundary=f"{placed.x:g} {placed.y - placed.size:g} {width + 4:g} {placed.size * 1.5:g}")
        code = etree.SubElement(obj, _ofd("TextCode"), X="0", Y=f"{placed.size:g}")
        if len(placed.text) > 1:
            code.set("DeltaX", _advances(placed.text, placed.size))
        code.text = f"\n                    {placed.text}\n                " if pretty and placed.tag else placed.text
    return page, ids


def _tags(lay: _Layout, ids: dict[int, str]) -> etree._Element:
    """CustomTag.xml (root ofd:root): each tag holds ObjectRefs to page text objects, PageRef the page ID."""
    root = etree.Element(_ofd("root"), nsmap={"ofd": OFD_NS}, version="1.0")
    groups: dict[str, list[str]] = {}
    order: list[str] = []
    for n, placed in enumerate(lay.texts):
        if placed.tag and n in ids:
            if placed.tag not in groups:
                order.append(placed.tag)
            groups.setdefault(placed.tag, []).append(ids[n])
    parents: dict[str, etree._Element] = {}
    for tag in order:
        parts = tag.split("/")
        parent = root
        if len(parts) == 2:
            parent = parents.setdefault(parts[0], etree.SubElement(root, _ofd(parts[0])))
        refs = groups[tag]
        if parts[-1] == "InvoiceClerk":  # each copy of the 开票人 is a tag of its own
            for ref in refs:
                holder = etree.SubElement(parent, _ofd(parts[-1]))
                etree.SubElement(holder, _ofd("ObjectRef"), PageRef=PAGE_ID).text = ref
            continue
        holder = etree.SubElement(parent, _ofd(parts[-1]))
        for ref in refs:
            etree.SubElement(holder, _ofd("ObjectRef"), PageRef=PAGE_ID).text = ref
    return root


def _ofd_root(custom: list[tuple[str, str]], creator: str) -> bytes:
    ofd = etree.Element(_ofd("OFD"), nsmap={"ofd": OFD_NS}, Version="1.1", DocType="OFD")
    body = etree.SubElement(ofd, _ofd("DocBody"))
    info = etree.SubElement(body, _ofd("DocInfo"))
    etree.SubElement(info, _ofd("DocID")).text = "90baf370c9dc11e980000b7700000a77"
    etree.SubElement(info, _ofd("Creator")).text = creator
    if custom:
        customs = etree.SubElement(info, _ofd("CustomDatas"))
        for name, value in custom:
            etree.SubElement(customs, _ofd("CustomData"), Name=name).text = value
    etree.SubElement(body, _ofd("DocRoot")).text = "Doc_0/Document.xml"
    return _xml(ofd)


def _document(*, template: bool, page: bool, tags: bool, attachments: bool) -> bytes:
    doc = etree.Element(_ofd("Document"), nsmap={"ofd": OFD_NS})
    common = etree.SubElement(doc, _ofd("CommonData"))
    etree.SubElement(common, _ofd("MaxUnitID")).text = "9999"
    if template:
        etree.SubElement(common, _ofd("TemplatePage"), ID="1", BaseLoc="Tpls/Tpl_0/Content.xml")
    if page:
        pages = etree.SubElement(doc, _ofd("Pages"))
        etree.SubElement(pages, _ofd("Page"), ID=PAGE_ID, BaseLoc="Pages/Page_0/Content.xml")
    if attachments:
        etree.SubElement(doc, _ofd("Attachments")).text = "Attachs/Attachments.xml"
    if tags:
        etree.SubElement(doc, _ofd("CustomTags")).text = "Tags/CustomTags.xml"
    return _xml(doc)


def _tag_index() -> bytes:
    index = etree.Element(_ofd("CustomTags"), nsmap={"ofd": OFD_NS})
    etree.SubElement(etree.SubElement(index, _ofd("CustomTag"), TypeID="root"), _ofd("FileLoc")).text = "CustomTag.xml"
    return _xml(index)


def write_ofd(path: Path, invoice: Invoice, variant: str = "sdp", **options: object) -> None:
    """An OFD invoice in one of the real layouts (see VARIANTS). Options, by variant:

    sdp: ``title_on_page`` (the title in the page, not the template), ``business`` (a 特定业务 label,
    e.g. 建筑服务: its columns are filled from ``invoice.special``), ``item_piece`` (cut the item name
    into pieces of this many characters, each its own tagged object), ``custom_data`` / ``tags`` (False
    to leave them out). skp: see :func:`_write_tax_control`."""
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r} is not one of {VARIANTS}")
    if variant == "skp":
        _write_tax_control(path, invoice, **options)  # type: ignore[arg-type]
        return
    if variant == "toll":
        _write_toll(path, invoice)
        return
    if variant == "htfoxit":
        _write_htfoxit(path, invoice)
        return
    title = "电子发票（增值税专用发票）" if invoice.fplx == "81" else "电子发票（普通发票）"
    business = str(options.get("business", ""))
    columns = {"建筑服务": ("建筑服务发生地", "建筑项目名称"),
               "不动产经营租赁服务": ("产权证书/不动产权证号", "面积单位")}.get(business, ("规格型号", "单 位", "数 量", "单 价"))
    lay = _invoice_layout(invoice, title, labels_on_template=True, title_on_template=not options.get("title_on_page"),
                          business=business, columns=columns, item_piece=int(str(options.get("item_piece", 0))),
                          kpr_twice=True)
    template, _ = _suwell_content(lay, True, 3, False)
    page, ids = _suwell_content(lay, False, 6900, True)
    custom = [("template-version", "1.0.20.0422"), ("发票号码", invoice.fphm), ("销售方纳税人识别号", invoice.xfsbh),
              ("合计金额", _money(invoice.je)), ("购买方纳税人识别号", invoice.gfsbh), ("合计税额", _money(invoice.se)),
              ("开票日期", invoice.kprq.strftime("%Y年%m月%d日")), ("native-producer", "swformsdk")]
    with_tags = options.get("tags", True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", _ofd_root(custom if options.get("custom_data", True) else [], "Suwell"))
        archive.writestr("Doc_0/Document.xml", _document(template=True, page=True, tags=bool(with_tags),
                                                         attachments=False))
        archive.writestr("Doc_0/Pages/Page_0/Content.xml", _xml(page))
        archive.writestr("Doc_0/Tpls/Tpl_0/Content.xml", _xml(template))
        if with_tags:
            archive.writestr("Doc_0/Tags/CustomTags.xml", _tag_index())
            archive.writestr("Doc_0/Tags/CustomTag.xml", _xml(_tags(lay, ids)))


def _write_htfoxit(path: Path, invoice: Invoice) -> None:
    """HTFoxit: no CustomData, no tags, no template; every object spans the page box and is placed by its
    CTM (labels scaled 3.1743, values 0.3527); labels use Kangxi radicals; the seal is drawn as glyphs."""
    title = "电子发票（增值税专用发票）" if invoice.fplx == "81" else "电子发票（普通发票）"
    lay = _invoice_layout(invoice, title, labels_on_template=True, title_on_template=True,
                          columns=("规格型号", "单 位", "数 量", "单 价"))
    for n, char in enumerate("全国统一发票监制章"):
        lay.add(char, 90 + 4 * n, 22 + (n % 3), 3.5, rotated=n != 4)
    page = etree.Element(_ofd("Page"), nsmap={"ofd": OFD_NS})
    layer = etree.SubElement(etree.SubElement(page, _ofd("Content")), _ofd("Layer"), ID="2")
    bx, by = -29.6268, -189.75258
    for n, placed in enumerate(lay.texts):
        label = placed.template
        scale, f = (3.1743, 137.9057) if label else (0.3527, 140.72729)
        text = placed.text.translate(KANGXI) if label else placed.text
        ctm = (f"{scale * 0.866:g} {scale * 0.5:g} {-scale * 0.5:g} {scale * 0.866:g} 0 {f:g}" if placed.rotated
               else f"{scale:g} 0 0 {scale:g} 0 {f:g}")
        obj = etree.SubElement(layer, _ofd("TextObject"), ID=str(10 + n), CTM=ctm, Size=f"{placed.size / scale:g}",
                               Boundary=f"{bx} {by} 397.84558 414.06976")
        code = etree.SubElement(obj, _ofd("TextCode"), X=f"{(placed.x - bx) / scale:.5f}",
                                Y=f"{(placed.y - by - f) / scale:.5f}")
        code.text = text
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", _ofd_root([], "HTFoxit"))
        archive.writestr("Doc_0/Document.xml", _document(template=False, page=True, tags=False, attachments=False))
        archive.writestr("Doc_0/Pages/Page_0/Content.xml", _xml(page))


def _write_toll(path: Path, invoice: Invoice) -> None:
    """The toll platform (Creator OFD Creator): CustomData only ``ldr``; labels scaled by CTM 0.2367; the
    line header one object whose space has no glyph; values placed by absolute X/Y in a page-sized box."""
    page = etree.Element(_ofd("Page"), nsmap={"ofd": OFD_NS})
    layer = etree.SubElement(etree.SubElement(page, _ofd("Content")), _ofd("Layer"), ID="2")
    next_id = [7]

    def label(text: str, x: float, y: float, size: float = 12.0, deltas: str | None = None,
              glyphs: int | None = None) -> None:
        obj = etree.SubElement(layer, _ofd("TextObject"), ID=str(next_id[0]), CTM="0.2367 0 0 0.2367 0 0",
                               Boundary=f"{x:g} {y - 2.44:g} {len(text) * 2.84:g} 2.8377", Font="6", Size=f"{size:g}")
        next_id[0] += 1
        if glyphs is not None:
            etree.SubElement(obj, _ofd("CGTransform"), CodePosition="0", CodeCount=str(glyphs), GlyphCount=str(glyphs))
        code = etree.SubElement(obj, _ofd("TextCode"), X="0", Y="10.308")
        if len(text) > 1:
            code.set("DeltaX", deltas or " ".join([f"{size:g}"] * (len(text) - 1)))
        code.text = text

    def value(text: str, x: float, y: float) -> None:
        obj = etree.SubElement(layer, _ofd("TextObject"), Boundary="0 0 210 297", Font="106", Size="2.800",
                               ID=str(100 + next_id[0]))
        next_id[0] += 1
        code = etree.SubElement(obj, _ofd("TextCode"), X=f"{x:g}", Y=f"{y:g}")
        if len(text) > 1:
            code.set("DeltaX", _advances(text, 2.797))
        code.text = text

    label("电子发票（普通发票）", 62.3, 12.9, 26.66)
    label("发票号码：", 138.6, 9.1)
    label("开票日期：", 138.6, 17.2)
    for x, word in ((5.66, "购买方信息"), (95.44, "销售方信息")):
        for n, char in enumerate(word):
            label(char, x, 29.5 + 3.314 * n)
    for x in (11.16, 100.94):
        label("名称：", x, 33.7)
        label("统一社会信用代码/纳税人识别号：", x, 38.2)
    label("项目名称", 15.13, 49.6)
    # 27 glyphs for 28 characters: the space is not drawn and takes no advance
    label("车牌号车辆类型 通行日期起通行日期止金额税率/征收率税额", 43.17, 49.6,
          deltas="12 12 56.266 12 12 12 49.891 12 12 12 12 51.359 12 12 12 12 69.375 12 65.469 12 12 6 12 12 "
                 "42.125 12 30", glyphs=27)
    label("合", 18.26, 84.6)
    label("计", 31.05, 84.6)
    label("价税合计（大写）", 15.06, 90.07)
    label("（小写）", 126.8, 90.07)
    label("备", 5.68, 100.96)
    label("注", 5.68, 104.27)
    label("开票人:", 3.95, 117.76)
    value(invoice.gfsbh, 55.5, 38.2)
    value(invoice.xfsbh, 144.5, 38.5)
    value(invoice.gfmc, 19.5, 33.6)
    value(invoice.xfmc, 108.5, 33.6)
    value(invoice.fphm, 151.5, 8.8)
    value(invoice.kprq.strftime("%Y年%m月%d日"), 151.5, 17.3)
    y = 57.0
    for line, extra in zip(invoice.lines, invoice.special or [{}] * len(invoice.lines), strict=False):
        value(line.mc, 8, y)
        value(extra.get("cph", ""), 41.9, y)
        value(extra.get("cllx", ""), 61, y)
        value(extra.get("txrqq", ""), 83, y)
        value(extra.get("txrqz", ""), 107, y)
        value(_money(line.je), 134, y)
        value(_rate(line), 153, y)
        value(_money(line.se), 175, y)
        y += 4.5
    value(f"¥{_money(invoice.je)}", 137, 83.5)
    value(f"¥{_money(invoice.jshj)}", 144, 90.5)
    value(f"¥{_money(invoice.se)}", 175, 83.5)
    value(invoice.kpr, 14.5, 117.5)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", _ofd_root([("ldr", "ldr")], "OFD Creator"))
        archive.writestr("Doc_0/Document.xml", _document(template=False, page=True, tags=False, attachments=False))
        archive.writestr("Doc_0/Pages/Page_0/Content.xml", _xml(page))


# --- 税控 ------------------------------------------------------------------------------------------------

def _original_invoice(invoice: Invoice, *, bom: bool, cdata: bool, pretty: bool, unprefixed: bool,
                      tax_free: bool, rate_stars: bool, summary_line: bool, codes: bool) -> bytes:
    """original_invoice.xml: an unprefixed root (in no namespace) with fp: children."""
    root = etree.Element("eInvoice", nsmap={"fp": EINVOICE_NS}, Version="1.0")

    def add(parent: etree._Element, tag: str, text: str = "", *, bare: bool = False) -> etree._Element:
        element = etree.SubElement(parent, tag if bare else f"{{{EINVOICE_NS}}}{tag}")
        element.text = etree.CDATA(text) if cdata and text else text
        return element

    for tag, value in (("DocID", "01"), ("InvoiceCode", invoice.fpdm), ("InvoiceNo", invoice.fphm), ("TypeCode", "0"),
                       ("IssueDate", invoice.kprq.strftime("%Y年%m月%d日")), ("InvoiceCheckCode", invoice.jym),
                       ("MachineNo", "661234567890")):
        add(root, tag, value)
    buyer = add(root, "Buyer")
    add(buyer, "BuyerName", invoice.gfmc)
    add(buyer, "BuyerTaxID", invoice.gfsbh)
    add(buyer, "BuyerAddrTel", "")
    seller = add(root, "Seller")
    add(seller, "SellerName", invoice.xfmc)
    add(seller, "SellerTaxID", invoice.xfsbh)
    add(root, "TaxInclusiveTotalAmount", _money(invoice.jshj))
    add(root, "Note", invoice.bz)
    add(root, "InvoiceClerk", invoice.kpr)
    add(root, "TaxTotalAmount", "***" if tax_free else _money(invoice.se))
    add(root, "TaxExclusiveTotalAmount", _money(invoice.je))
    if unprefixed:  # one producer writes this child without the fp: prefix
        add(root, "DeductibleAmount", "", bare=True)
    goods = add(root, "GoodsInfos")
    lines = invoice.lines
    if summary_line:
        lines = [InvoiceLine(mc="(详见销货清单)", je=invoice.je, se=invoice.se, slv=invoice.lines[0].slv)]
    for line in lines:
        info = add(goods, "GoodsInfo")
        scheme = "免税" if tax_free else ("***" if rate_stars else _rate(line))
        fields = [("Item", line.mc), ("Specification", line.ggxh), ("MeasurementDimension", line.jldw),
                  ("Price", line.dj), ("Quantity", line.sl), ("Amount", _money(line.je)), ("TaxScheme", scheme),
                  ("TaxAmount", "***" if tax_free else _money(line.se))]
        if codes:
            fields.append(("Code", line.spbm))
        for tag, value in fields:
            add(info, tag, value)
    if pretty:
        etree.indent(root, space="    ")
        for element in root.iter():  # pretty-printers leave empty values as a newline and indentation
            if isinstance(element.tag, str) and len(element) == 0 and not element.text:
                element.text = "\n    "
    data = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


def _xbrl(invoice: Invoice) -> bytes:
    root = etree.Element(f"{{{XBRL_NS}}}xbrl", nsmap={"xbrli": XBRL_NS, "inv": INV_NS})

    def fact(parent: etree._Element, name: str, value: str) -> None:
        etree.SubElement(parent, f"{{{INV_NS}}}{name}", contextRef="ctx").text = value

    kind = "增值税电子专用发票" if invoice.fplx == "08" else "增值税电子普通发票"
    for name, value in (("TypeOfInvoice", kind), ("CodeOfInvoice", invoice.fpdm), ("NumberOfInvoice", invoice.fphm),
                        ("DateOfIssue", invoice.kprq.strftime("%Y-%m-%d")), ("IdentifyingCode", invoice.jym),
                        ("NameOfPurchaser", invoice.gfmc),
                        ("TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfPurchaser", invoice.gfsbh),
                        ("TotalAmountExcludingTax", _money(invoice.je)), ("TotalTaxAmount", _money(invoice.se)),
                        ("TaxIncludedAmountInFigures", _money(invoice.jshj)), ("NameOfSeller", invoice.xfmc),
                        ("TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfSeller", invoice.xfsbh),
                        ("Remarks", invoice.bz), ("Issuer", invoice.kpr)):
        fact(root, name, value)
    for line in invoice.lines:
        item = etree.SubElement(root, f"{{{INV_NS}}}InformationOfTaxableGoodsOrServicesDetailItemsTuple")
        for name, value in (("NameOfTaxableGoodsOrServices", line.mc), ("Specification", line.ggxh),
                            ("UnitOfGoodsOrServices", line.jldw), ("AmountExcludingTax", _money(line.je)),
                            ("TaxRate", f"{line.slv * 100:.2f}%"), ("TaxAmount", _money(line.se))):
            fact(item, name, value)
    return _xml(root)


def _tax_control_page(title: str, invoice: Invoice, *, list_pages: bool) -> _Layout:
    lay = _Layout()
    lay.add(title, 69, 14.7, 6.7)
    lay.add(invoice.fpdm, 164, 10.3)
    lay.add(invoice.fphm, 164, 15.8)
    lay.add(invoice.gfmc, 36, 34.5)
    lay.add(invoice.xfmc, 36, 108.5)
    lay.add("(详见销货清单)" if list_pages else invoice.lines[0].mc, 5.5, 59.8)
    return lay


def _list_page(invoice: Invoice) -> _Layout:
    """A 销货清单 page: its own header, one row per line, a 小计 row."""
    lay = _Layout()
    lay.add("销售货物或者提供应税劳务、服务清单", 50, 12, 5)
    headers = (("序号", 6), ("货物（劳务）名称", 20), ("规格型号", 62), ("单位", 82), ("数量", 96), ("单价", 112),
               ("金额", 135), ("税率", 160), ("税额", 182))
    for text, x in headers:
        lay.add(text, x, 30)
    y = 36.0
    for number, line in enumerate(invoice.lines, start=1):
        lay.add(str(number), 7, y)
        lay.add(line.mc, 14, y)
        lay.add(line.jldw, 82, y)
        lay.add(_money(line.je), 132, y)
        lay.add(_rate(line), 160, y)
        lay.add(_money(line.se), 180, y)
        y += 5
    lay.add("小计", 20, y)
    lay.add(_money(invoice.je), 132, y)
    lay.add(_money(invoice.se), 180, y)
    return lay


def _write_tax_control(path: Path, invoice: Invoice, *, title: str = "", bom: bool = False, cdata: bool = False,
                       pretty: bool = False, unprefixed: bool = False, tax_free: bool = False,
                       rate_stars: bool = False, xbrl: bool = False, list_pages: bool = False,
                       no_page: bool = False, codes: bool = False, title_in_template: bool = False) -> None:
    """A 税控 OFD. ``title``: the printed title (default from the kind, with a province); ``bom``, ``cdata``,
    ``pretty`` (whitespace-only empty values), ``unprefixed`` (an unprefixed child): original_invoice.xml
    variants; ``tax_free`` (免税: TaxScheme 免税, tax ***), ``rate_stars`` (差额征税: TaxScheme ***);
    ``xbrl``: the XBRL 电子凭证 attachment instead; ``list_pages``: page 1 says 详见销货清单 and the lines are
    on page 2; ``no_page``: only the attachment and a template (with the title); ``codes``: GoodsInfo Code."""
    title = title or ("浙江增值税电子专用发票" if invoice.fplx == "08" else "浙江增值税电子普通发票")
    if xbrl:
        title = "电子凭证"
    pages = [] if no_page else [_tax_control_page(title, invoice, list_pages=list_pages)]
    if list_pages:
        pages.append(_list_page(invoice))
    template = _Layout()
    if no_page or title_in_template:
        template.add(title, 69, 14.7, 6.7, template=True)
    doc = etree.Element(_ofd("Document"), nsmap={"ofd": OFD_NS})
    common = etree.SubElement(doc, _ofd("CommonData"))
    etree.SubElement(common, _ofd("TemplatePage"), ID="1", BaseLoc="Tpls/Tpl_0/Content.xml")
    if pages:
        holder = etree.SubElement(doc, _ofd("Pages"))
        for number in range(len(pages)):
            etree.SubElement(holder, _ofd("Page"), ID=str(50 + number), BaseLoc=f"Pages/Page_{number}/Content.xml")
    etree.SubElement(doc, _ofd("Attachments")).text = "Attachs/Attachments.xml"
    if xbrl:
        name = f"inv_ord_issuer_{invoice.kprq:%Y%m%d}_{invoice.fpdm}{invoice.fphm}.xml"
        attachment, attachment_format, attachment_name = _xbrl(invoice), "xbrl", "data"
    else:
        name = "original_invoice.xml"
        attachment = _original_invoice(invoice, bom=bom, cdata=cdata, pretty=pretty, unprefixed=unprefixed,
                                       tax_free=tax_free, rate_stars=rate_stars, summary_line=list_pages, codes=codes)
        attachment_format, attachment_name = "xml", "original_invoice"
    index = etree.Element(_ofd("Attachments"), nsmap={"ofd": OFD_NS})
    entry = etree.SubElement(index, _ofd("Attachment"), ID="98", Name=attachment_name, Format=attachment_format,
                             Visible="false")
    etree.SubElement(entry, _ofd("FileLoc")).text = name
    custom = [] if xbrl else [("发票代码", invoice.fpdm), ("发票号码", invoice.fphm), ("合计金额", _money(invoice.je)),
                              ("开票日期", invoice.kprq.strftime("%Y年%m月%d日"))]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", _ofd_root(custom, "Suwell"))
        archive.writestr("Doc_0/Document.xml", _xml(doc))
        archive.writestr("Doc_0/Tpls/Tpl_0/Content.xml", _xml(_suwell_content(template, True, 3, False)[0]))
        for number, lay in enumerate(pages):
            archive.writestr(f"Doc_0/Pages/Page_{number}/Content.xml",
                             _xml(_suwell_content(lay, False, 100 * (number + 1), False)[0]))
        archive.writestr("Doc_0/Attachs/Attachments.xml", _xml(index))
        archive.writestr(f"Doc_0/Attachs/{name}", attachment)
