"""Importers: each reads one real input format into canonical invoices; `read_invoices` picks by content."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from fapiaohub.importers.base import ImportRecord, Parsed, UnreadableFile

SUPPORTED = "全量发票查询导出结果.xlsx, 数电 XML, OFD, PDF, and zip bundles of them"
Format = Literal["pdf", "xlsx", "ofd", "xml", "zip"]
# How reliable each format's values are when one invoice arrives in several (domain.merge):
# the bureau's own export first, then the 数电 XML, then OFD, then PDF.
PRECEDENCE: dict[Format, int] = {"xlsx": 0, "xml": 1, "ofd": 2, "pdf": 3}


def sniff(path: Path) -> Format | None:
    """The format of a file from its bytes, None when it is none of the supported ones. A zip that
    is neither an xlsx workbook nor an OFD is "zip" (a bundle). Raises UnreadableFile when the file
    cannot be opened or is a corrupt zip."""
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        raise UnreadableFile(path, f"cannot open: {exc.strerror}") from None
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError):
            raise UnreadableFile(path, "corrupt zip archive (xlsx and OFD files are zip archives)") from None
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "OFD.xml" in names:
            return "ofd"
        return "zip"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "xml"
    return None


def read_invoices(path: Path) -> Iterator[ImportRecord]:
    """Records of a file, whatever its name says: the format is recognised from its bytes. Each
    invoice carries the format it was read from (``Invoice.origin``; a bundle's merged invoice the
    most reliable of its members')."""
    path = Path(path)
    kind = sniff(path)
    records = _records(path, kind)
    if kind == "zip":
        return records
    return _stamped(records, kind)


def _stamped(records: Iterator[ImportRecord], kind: Format | None) -> Iterator[ImportRecord]:
    for record in records:
        if isinstance(record, Parsed) and not record.invoice.origin:
            record.invoice.origin = kind or ""
        yield record


def _records(path: Path, kind: Format | None) -> Iterator[ImportRecord]:
    # Each reader is imported when a file of its format comes: a reader loads its libraries
    # (pdfplumber, pypdfium2, zxing), and the xlsx reader's child process runs
    # `python -m fapiaohub.importers.row_process`, which this package must not have imported.
    if kind == "pdf":
        from fapiaohub.importers.pdf import read_pdf  # noqa: PLC0415

        return read_pdf(path)
    if kind == "xlsx":
        from fapiaohub.importers.bureau_xlsx import read_bureau_export  # noqa: PLC0415

        return read_bureau_export(path)
    if kind == "ofd":
        from fapiaohub.importers.ofd import read_ofd  # noqa: PLC0415

        return read_ofd(path)
    if kind == "zip":
        from fapiaohub.importers.bundle import read_bundle  # noqa: PLC0415

        return read_bundle(path)
    if kind == "xml":
        from fapiaohub.importers.sdp_xml import read_einvoice_xml  # noqa: PLC0415

        return read_einvoice_xml(path)
    raise UnreadableFile(path, f"unrecognised file format; supported: {SUPPORTED}")
