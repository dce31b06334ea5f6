"""One invoice from several sources of it (bureau export, 数电 XML, OFD, PDF): the merge rule, written once.

The rule (records given most reliable first: bureau export > XML > OFD > PDF):
- a field takes the first stated value; an empty value ('' , None, an empty list, or a field's
  default such as fpzt_dm "0") never overwrites a stated one;
- kprq: the first source's, except that a midnight time (a date-only source) takes the time of
  the day from a later source that states one for the same day;
- lines, special, itinerary, vehicle, customs: whole, from the first source that has them
  (line items are not merged one by one: sources cut and name them differently).
Conflicting stated values are reported as findings (the first value wins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, fields
from datetime import datetime, time
from typing import Any

from fapiaohub.domain.invoice import Invoice

# fields taken whole from the first source that has them, never compared value by value
WHOLE = ("lines", "special", "itinerary", "vehicle", "customs")
_FIELDS = [f for f in fields(Invoice) if f.name not in ("kprq", *WHOLE)]
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in _FIELDS if f.default is not MISSING}


def _stated(name: str, value: Any) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return False
    return not (name in _DEFAULTS and value == _DEFAULTS[name] and isinstance(value, str))


def _is_midnight(moment: datetime) -> bool:
    return moment.time() == time(0, 0)


def merge_with_findings(records: Sequence[Invoice]) -> tuple[Invoice, list[str]]:
    """The merged invoice of ``records`` (most reliable first) and one finding per conflicting
    value that lost. ``records`` must not be empty; they are not modified."""
    if not records:
        raise ValueError("merge_with_findings needs at least one invoice")
    first = records[0]
    values: dict[str, Any] = {}
    findings: list[str] = []
    for f in _FIELDS:
        chosen = getattr(first, f.name)
        for other in records[1:]:
            value = getattr(other, f.name)
            if not _stated(f.name, value):
                continue
            if not _stated(f.name, chosen):
                chosen = value
            elif value != chosen:
                findings.append(f"{f.name}: {chosen} kept over {value} from a less reliable source")
        values[f.name] = chosen
    kprq = first.kprq
    for other in records[1:]:
        if other.kprq.date() != kprq.date():
            findings.append(f"kprq: {kprq:%Y-%m-%d} kept over {other.kprq:%Y-%m-%d} from a less reliable source")
        elif _is_midnight(kprq) and not _is_midnight(other.kprq):
            kprq = other.kprq
    values["kprq"] = kprq
    for name in WHOLE:
        values[name] = next((getattr(r, name) for r in records if getattr(r, name)), getattr(first, name))
    return Invoice(**values), findings


def merge_invoices(records_in_precedence_order: Sequence[Invoice]) -> Invoice:
    """One invoice from the records of the same invoice, most reliable first (see the module)."""
    return merge_with_findings(records_in_precedence_order)[0]


# How reliable each origin's values are (Invoice.origin): the bureau's own export and the API doors
# first, then the 数电 XML, then OFD, then PDF (read from print layouts).
ORIGIN_RANK = {"": 0, "xlsx": 0, "xml": 1, "ofd": 2, "pdf": 3}


def merge_with_stored(stored: Invoice, incoming: Invoice) -> Invoice:
    """What the store keeps when an invoice it holds arrives again: the merge of both, the more
    reliable origin first; at equal reliability the incoming one first (a newer export of the
    same kind says the newer truth, e.g. a status change). Re-importing any source of an invoice
    already merged therefore changes nothing."""
    def rank(invoice: Invoice) -> int:
        return ORIGIN_RANK.get(invoice.origin, 0)

    first, second = (stored, incoming) if rank(stored) < rank(incoming) else (incoming, stored)
    return merge_invoices([first, second])
