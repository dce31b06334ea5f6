"""What every importer yields: canonical invoices with where they came from, or rejected records with why."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fapiaohub.domain.invoice import Invoice
from fapiaohub.domain.validation import validate_invoice, write_findings


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a record came from: file, and for workbooks the sheet and 1-based row."""

    file: str
    sheet: str | None = None
    row: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet!r}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        return ", ".join(parts)

    def __reduce__(self) -> tuple[type[SourceRef], tuple[str, str | None, int | None]]:
        # one is pickled with every record the parse child sends; a frozen dataclass's own way
        # runs a Python __setstate__ that looks its fields up for each one (measured on a 200,000-line
        # export: the pickle round trip of its records 3.1 s → 2.9 s)
        return SourceRef, (self.file, self.sheet, self.row)


@dataclass(slots=True)
class Parsed:
    """An invoice read from a source; ``flags`` are soft findings (kept, shown, never fatal)."""

    invoice: Invoice
    source: SourceRef
    flags: list[str] = field(default_factory=list)

    def __reduce__(self) -> tuple[type[Parsed], tuple[Invoice, SourceRef, list[str]]]:
        return Parsed, (self.invoice, self.source, self.flags)  # one a record: see SourceRef.__reduce__


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that could not become an invoice; the rest of the file is still imported."""

    source: SourceRef
    reason: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something passed over on purpose, not an error: a sheet the reader does not understand, a
    row outside the task's month. Counted and listed, never a reason to refuse the file."""

    source: SourceRef
    reason: str


class UnreadableFile(Exception):  # noqa: N818 - a verdict on a file, as users say it
    """The file as a whole cannot be read (wrong format, corrupt, too large when decompressed):
    nothing from it may be stored."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{Path(path).name}: {reason}")
        self.path = str(path)
        self.reason = reason


ImportRecord = Parsed | Rejected | Skipped


def checked(invoice: Invoice, source: SourceRef, flags: list[str] | None = None) -> Parsed | Rejected:
    """An assembled invoice through the domain rules: rejected with every reject finding, or
    parsed with the soft findings added to ``flags``."""
    # text, amount and size bounds first (what the store's columns and PostgreSQL text accept), then the rules
    findings = write_findings(invoice) or validate_invoice(invoice)
    rejects = [f"{f.field}: {f.message}" for f in findings if f.severity == "reject"]
    if rejects:
        return Rejected(source, "; ".join(rejects))
    return Parsed(invoice, source, [*(flags or []), *(f.message for f in findings)])
