"""Sample input files in the real layouts (`fapiaohub demo --write-samples DIR`), for trying the importers:
the bureau's 全量发票查询 export (xlsx) and 数电 invoice XML files of the demo's first taxpayer.

The XML is written by shapes.einvoice_xml (the writer the importer's tests use too); OFD and PDF samples are
not written (their writers need test-only libraries).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fapiaohub.demo.generator import demo_taxpayers, generate_taxpayer_month
from fapiaohub.domain.invoice import Invoice
from fapiaohub.shapes.bureau_layout import write_bureau_export
from fapiaohub.shapes.einvoice_xml import einvoice_xml

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

