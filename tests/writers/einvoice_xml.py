"""Writes 数电 invoice XML files (root EInvoice) in the layout the bureau issues."""

from __future__ import annotations

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
