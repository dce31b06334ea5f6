"""OFD invoices (GB/T 33190, a zip of XML): the 税控 variant (an invoice attachment) and the 数电 variant
(CustomData, CustomTag tags and page text by position). See docs/formats/ofd.md for what is read from where.

An OFD is untrusted input: its member count, member paths and decompressed size are bounded before and while
reading, and every XML member is parsed without DTDs or entities.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fapiaohub.importers.base import Parsed, Rejected, SourceRef, UnreadableFile, checked
from fapiaohub.importers.ofd_digital import read_digital
from fapiaohub.importers.ofd_document import MAX_MEMBERS, MAX_OFD_UNCOMPRESSED, OfdDocument, OfdError
from fapiaohub.importers.ofd_document import Archive as _Archive
from fapiaohub.importers.ofd_fields import NO_LINES
from fapiaohub.importers.ofd_tax_control import invoice_attachment, read_einvoice, read_xbrl

__all__ = ["MAX_MEMBERS", "MAX_OFD_UNCOMPRESSED", "NO_LINES", "_Archive", "read_ofd"]


def read_ofd(path: Path) -> Iterator[Parsed | Rejected]:
    """The one invoice of an OFD file, parsed or rejected (with the field that failed)."""
    path = Path(path)
    archive = _Archive(path)
    source = SourceRef(path.name)
    try:
        if "OFD.xml" not in archive.names:
            raise UnreadableFile(path, "not an OFD: OFD.xml is missing")
        doc = OfdDocument(archive)
        attachment = invoice_attachment(doc)
        try:
            if attachment is None:
                invoice, flags = read_digital(doc)
            elif attachment[0] == "xbrl":
                invoice, flags = read_xbrl(attachment[1], doc)
            else:
                invoice, flags = read_einvoice(attachment[1], doc)
        except OfdError as exc:
            if str(exc).startswith("no invoice data"):
                raise UnreadableFile(path, f"an OFD without invoice data: {exc}") from None
            yield Rejected(source, f"{path.name}: {exc}")
            return
    finally:
        archive.close()
    yield checked(invoice, source, flags)
