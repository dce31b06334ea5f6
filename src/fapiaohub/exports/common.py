"""What every export format shares: the record exported (invoice, flags, history) and one vocabulary.

Kinds and statuses are named in every format by domain.codes FPLX and FPZT (the seed's names), never
by the bureau's own spellings: a pivot over the csv and one over the xlsx group the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fapiaohub.domain.codes import FPLX, FPZT
from fapiaohub.domain.invoice import Invoice
from fapiaohub.store.invoices import HistoryEntry


@dataclass(slots=True)
class Record:
    """One exported invoice: its validation flags and its earlier states come from the local store
    (a remote export has neither)."""

    invoice: Invoice
    flags: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)


def kind_name(fplx: str) -> str:
    """发票票种 of every format: the FPLX name (the code itself for a kind fapiaohub does not know)."""
    known = FPLX.get(fplx)
    return known[0] if known else fplx


def status_name(fpzt_dm: str) -> str:
    """发票状态 of every format: the FPZT name."""
    return FPZT.get(fpzt_dm, fpzt_dm)


def history_text(current: str, history: list[HistoryEntry]) -> str:
    """The status changes of an invoice in words, oldest first: "正常 → 作废（2026-12-01 02:00:00 UTC）"
    means the stored invoice was 正常 until that moment, when a re-import or a task made it 作废. Changes of
    content that left the status alone are not listed (the jsonl has every stored version)."""
    parts: list[str] = []
    for index, entry in enumerate(history):
        after = history[index + 1].fpzt_dm if index + 1 < len(history) else current
        if after != entry.fpzt_dm:
            if not parts:
                parts.append(status_name(entry.fpzt_dm))
            parts.append(f"{status_name(after)}（{entry.replaced_at:%Y-%m-%d %H:%M:%S} UTC）")
    return " → ".join(parts)
