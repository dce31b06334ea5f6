"""Importers: each reads one real input format into canonical invoices; `read_invoices` picks by content."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from fapiaohub.importers.base import ImportRecord, UnreadableFile

SUPPORTED = "全量发票查询导出结果.xlsx, 数电 XML, OFD, PDF"


def read_invoices(path: Path) -> Iterator[ImportRecord]:
    """Records of a file, whatever its name says: the format is recognised from its bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        raise UnreadableFile(path, f"cannot open: {exc.strerror}") from None
    if head.startswith(b"%PDF"):
        from fapiaohub.importers.pdf import read_pdf

        return read_pdf(path)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            raise UnreadableFile(path, "corrupt zip archive (xlsx and OFD files are zip archives)") from None
        if "xl/workbook.xml" in names:
            from fapiaohub.importers.bureau_xlsx import read_bureau_export

            return read_bureau_export(path)
        if "OFD.xml" in names:
            from fapiaohub.importers.ofd import read_ofd

            return read_ofd(path)
        raise UnreadableFile(path, f"a zip archive that is neither an xlsx workbook nor an OFD; supported: {SUPPORTED}")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        from fapiaohub.importers.sdp_xml import read_einvoice_xml

        return read_einvoice_xml(path)
    raise UnreadableFile(path, f"unrecognised file format; supported: {SUPPORTED}")
