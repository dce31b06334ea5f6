"""Writes 数电 invoice XML files (root EInvoice) in the layout the bureau issues: no XML declaration,
one line, no namespace, labels 电子发票 + 01/02, SpecificInformation/Toll for toll invoices, a date-only
IssueTime and a RequestTime that is not the issue time. Used by `fapiaohub demo --write-samples`; the
keyword variants (other producers' habits) exist for the importer's tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from fapiaohub.domain.codes import TOLL_DIGITAL
from fapiaohub.domain.invoice import Invoice

NAMESPACE = "urn:example:einvoice"  # only for the `namespace` variant; real files have none


def _add(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _split(value: str) -> tuple[str, str]:
    """'address phone' or 'bank account' as printed on the invoice → its two parts."""
    head, _, tail = value.rpartition(" ")
    return (head, tail) if head else (value, "")


def _amount(value: Decimal) -> str:
    """As the bureau writes amounts: not padded (23.5, 0.21, 100)."""
    return format(value.normalize(), "f")


def _passage(value: str, fallback: datetime) -> str:
    """A 通行日期 as yyyyMMddHHmmssSSS (the form of the real files)."""
    when = datetime.fromisoformat(value) if value else fallback
    return when.strftime("%Y%m%d%H%M%S") + "000"


def einvoice_xml(invoice: Invoice, *, with_time: bool = False, pretty: bool = False, declaration: bool = False,
                 namespace: bool = False, red_info: bool = False, omit: tuple[str, ...] = ()) -> bytes:
    """The bytes of a 数电 invoice XML. Real layout by default; ``with_time`` writes IssueTime with
    its time, ``pretty``/``declaration``/``namespace`` are producer variants, ``omit`` drops the
    named elements (by tag) to test what the reader requires."""
    ns = f"{{{NAMESPACE}}}" if namespace else ""

    def add(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
        return _add(parent, ns + tag, text)

    root = etree.Element(ns + "EInvoice", nsmap={None: NAMESPACE} if namespace else None)
    header = add(root, "Header")
    add(header, "EIid", invoice.fphm)
    add(header, "EInvoiceTag", "SWEI4400")
    add(header, "Version", "0.32")
    labels = add(header, "InherentLabel")
    issue = add(labels, "InIssuType")
    add(issue, "LabelCode", "Y" if invoice.jshj >= 0 else "N")
    add(issue, "LabelName", "是否蓝字发票标志")
    kind = add(labels, "EInvoiceType")
    add(kind, "LabelCode", "01")
    add(kind, "LabelName", "电子发票")
    vat = add(labels, "GeneralOrSpecialVAT")
    add(vat, "LabelCode", "01" if invoice.fplx == "81" else "02")
    add(vat, "LabelName", "增值税专用发票" if invoice.fplx == "81" else "普通发票")
    payer = add(labels, "TaxpayerType")
    add(payer, "LabelCode", "1")
    add(payer, "LabelName", "一般纳税人")
    add(add(add(add(header, "UndefinedLabel"), "Label"), "Label"), "LabelType")
    data = add(root, "EInvoiceData")
    for role, prefix, number, name, place, bank in (
        ("SellerInformation", "Seller", invoice.xfsbh, invoice.xfmc, invoice.xsfdzdh, invoice.xsfyhzh),
        ("BuyerInformation", "Buyer", invoice.gfsbh, invoice.gfmc, invoice.gmfdzdh, invoice.gmfyhzh),
    ):
        party = add(data, role)
        add(party, f"{prefix}IdNum", number)
        add(party, f"{prefix}Name", name)
        address, phone = _split(place)
        bank_name, account = _split(bank)
        add(party, f"{prefix}Addr", address)
        add(party, f"{prefix}TelNum", phone)
        add(party, f"{prefix}BankName", bank_name)
        add(party, f"{prefix}BankAccNum", account)
    basic = add(data, "BasicInformation")
    add(basic, "TotalAmWithoutTax", _amount(invoice.je))
    add(basic, "TotalTaxAm", _amount(invoice.se))
    add(basic, "TotalTax-includedAmount", _amount(invoice.jshj))
    add(basic, "TotalTax-includedAmountInChinese", "壹元整")  # not read; the real files' element, a placeholder value
    add(basic, "Drawer", invoice.kpr)
    # the time the invoice was requested: later than the issue time, and not it
    add(basic, "RequestTime", (invoice.kprq + timedelta(hours=3, seconds=17)).isoformat(sep=" "))
    for line in invoice.lines:
        item = add(data, "IssuItemInformation")
        add(item, "ItemName", line.mc)
        for tag, value in (("SpecMod", line.ggxh), ("MeaUnits", line.jldw), ("Quantity", line.sl)):
            if value:  # the toll files have none of these elements
                add(item, tag, value)
        if line.dj:
            add(item, "UnPrice", line.dj)
        add(item, "Amount", _amount(line.je))
        add(item, "TaxRate", format(line.slv.normalize(), "f"))
        add(item, "ComTaxAm", _amount(line.se))
        add(item, "TotaltaxIncludedAmount", _amount(line.je + line.se))
        add(item, "TaxClassificationCode", line.spbm)
    specific = add(data, "SpecificInformation")
    if invoice.fplx == TOLL_DIGITAL:
        for element in invoice.special or [{}]:
            toll = add(specific, "Toll")
            add(toll, "PlateNumber", element.get("cph", ""))
            add(toll, "VehicleType", element.get("cllx", "客车"))
            add(toll, "StartDatesOfPassage", _passage(element.get("txrqq", ""), invoice.kprq - timedelta(days=1)))
            add(toll, "EndDatesOfPassage", _passage(element.get("txrqz", ""), invoice.kprq - timedelta(days=1)))
    red = add(specific, "RedEInvoice")
    if red_info:
        add(red, "OriginalInvoiceNumber", "0" * 20)
    extra = add(data, "AdditionalInformation")
    if invoice.bz:
        add(extra, "Remark", invoice.bz)
    supervision = add(root, "TaxSupervisionInfo")
    add(supervision, "InvoiceNumber", invoice.fphm)
    add(supervision, "IssueTime", invoice.kprq.isoformat(sep=" ") if with_time else invoice.kprq.date().isoformat())
    add(supervision, "TaxBureauCode", "14400000000")
    add(supervision, "TaxBureauName", "国家税务总局广东省税务局")
    for tag in omit:
        for element in root.iter(ns + tag):
            element.getparent().remove(element)
    return etree.tostring(root, xml_declaration=declaration, encoding="UTF-8", pretty_print=pretty)


def write_einvoice_xml(path: Path, invoice: Invoice, **variant: Any) -> None:
    """A 数电 invoice XML file in the real layout (see :func:`einvoice_xml` for the variants)."""
    Path(path).write_bytes(einvoice_xml(invoice, **variant))
