"""Sample input files in the real layouts (`fapiaohub demo --write-samples DIR`), for trying the importers:
the bureau's 全量发票查询 export (xlsx) and 数电 invoice XML files of the demo's first taxpayer.

The XML writer is the one of tests/writers/einvoice_xml.py without its producer variants (which only the
importer's tests need); OFD and PDF samples are not written (their writers need test-only libraries).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from lxml import etree

from fapiaohub.demo.generator import demo_taxpayers, generate_taxpayer_month
from fapiaohub.domain.codes import TOLL_DIGITAL
from fapiaohub.domain.invoice import Invoice
from fapiaohub.shapes.bureau_layout import write_bureau_export

SAMPLE_MONTH = 202501
EXPORT_INVOICES = 40
XML_FILES = 5
XML_KINDS = ("81", "82")  # 数电 专票 and 普票, the invoices the bureau issues as XML


@dataclass(frozen=True, slots=True)
class Sample:
    path: Path
    what: str


def write_samples(directory: Path) -> list[Sample]:
    """Write the samples into ``directory`` (created if missing); what was written, in order."""
    directory.mkdir(parents=True, exist_ok=True)
    taxpayer = demo_taxpayers()[0]
    seen: set[tuple[str, str]] = set()
    invoices: list[Invoice] = []
    for inv in generate_taxpayer_month(taxpayer.nsrsbh, taxpayer.name, "jx", SAMPLE_MONTH, EXPORT_INVOICES * 2):
        if (inv.fpdm, inv.fphm) not in seen:  # a status change repeats an invoice; an export lists it once
            seen.add((inv.fpdm, inv.fphm))
            invoices.append(inv)
    invoices = invoices[:EXPORT_INVOICES]
    export = directory / f"全量发票查询导出结果-{taxpayer.nsrsbh}-{SAMPLE_MONTH}.xlsx"
    write_bureau_export(export, invoices)
    written = [Sample(export, f"the bureau's export: {len(invoices)} invoices received by {taxpayer.nsrsbh} "
                              f"in {SAMPLE_MONTH}")]
    for inv in [i for i in invoices if i.fplx in XML_KINDS][:XML_FILES]:
        path = directory / f"dzfp_{inv.fphm}.xml"
        path.write_bytes(einvoice_xml(inv))
        written.append(Sample(path, f"数电 XML: invoice {inv.fphm} ({'专票' if inv.fplx == '81' else '普票'})"))
    return written


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


def einvoice_xml(invoice: Invoice) -> bytes:
    """A 数电 invoice XML as the bureau issues it: root EInvoice, no declaration, one line, no namespace,
    a date-only IssueTime and a RequestTime that is not the issue time."""
    root = etree.Element("EInvoice")
    header = _add(root, "Header")
    _add(header, "EIid", invoice.fphm)
    _add(header, "EInvoiceTag", "SWEI4400")
    _add(header, "Version", "0.32")
    labels = _add(header, "InherentLabel")
    for tag, code, name in (("InIssuType", "Y" if invoice.jshj >= 0 else "N", "是否蓝字发票标志"),
                            ("EInvoiceType", "01", "电子发票"),
                            ("GeneralOrSpecialVAT", "01" if invoice.fplx == "81" else "02",
                             "增值税专用发票" if invoice.fplx == "81" else "普通发票"),
                            ("TaxpayerType", "1", "一般纳税人")):
        label = _add(labels, tag)
        _add(label, "LabelCode", code)
        _add(label, "LabelName", name)
    _add(_add(_add(_add(header, "UndefinedLabel"), "Label"), "Label"), "LabelType")
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
    _add(basic, "TotalAmWithoutTax", _amount(invoice.je))
    _add(basic, "TotalTaxAm", _amount(invoice.se))
    _add(basic, "TotalTax-includedAmount", _amount(invoice.jshj))
    _add(basic, "TotalTax-includedAmountInChinese", "壹元整")  # not read by the importer; a placeholder
    _add(basic, "Drawer", invoice.kpr)
    _add(basic, "RequestTime", (invoice.kprq + timedelta(hours=3, seconds=17)).isoformat(sep=" "))
    for line in invoice.lines:
        item = _add(data, "IssuItemInformation")
        _add(item, "ItemName", line.mc)
        for tag, value in (("SpecMod", line.ggxh), ("MeaUnits", line.jldw), ("Quantity", line.sl)):
            if value:
                _add(item, tag, value)
        if line.dj:
            _add(item, "UnPrice", line.dj)
        _add(item, "Amount", _amount(line.je))
        _add(item, "TaxRate", format(line.slv.normalize(), "f") if line.slv is not None else "")
        _add(item, "ComTaxAm", _amount(line.se))
        _add(item, "TotaltaxIncludedAmount", _amount(line.je + line.se))
        _add(item, "TaxClassificationCode", line.spbm)
    specific = _add(data, "SpecificInformation")
    if invoice.fplx == TOLL_DIGITAL:
        for element in invoice.special or [{}]:
            toll = _add(specific, "Toll")
            _add(toll, "PlateNumber", element.get("cph", ""))
            _add(toll, "VehicleType", element.get("cllx", "客车"))
    _add(specific, "RedEInvoice")
    extra = _add(data, "AdditionalInformation")
    if invoice.bz:
        _add(extra, "Remark", invoice.bz)
    supervision = _add(root, "TaxSupervisionInfo")
    _add(supervision, "InvoiceNumber", invoice.fphm)
    _add(supervision, "IssueTime", invoice.kprq.date().isoformat())
    _add(supervision, "TaxBureauCode", "14400000000")
    _add(supervision, "TaxBureauName", "国家税务总局广东省税务局")
    return etree.tostring(root, encoding="UTF-8")
