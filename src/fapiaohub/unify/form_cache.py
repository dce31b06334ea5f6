"""An in-process cache of invoices' unify entity forms, keyed by the version of the invoice's row.

The database stays the truth: every unify read reads the version of each member's row (on
PostgreSQL its xmin, which every UPDATE of the row changes) together with its token check and the
batches, before it looks here. A form is only served under the version just read, so a changed
invoice (a re-import, a revert) is never answered from here; its old form ages out of the LRU order.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple


class FormKey(NamedTuple):
    invoice_id: int
    version: int


class FormCache:
    """Least-recently-used forms up to ``max_bytes`` (0 turns caching off). Used from one event
    loop only (each API process has its own), so it needs no lock."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._forms: OrderedDict[FormKey, bytes] = OrderedDict()

    def get(self, key: FormKey) -> bytes | None:
        form = self._forms.get(key)
        if form is not None:
            self._forms.move_to_end(key)
        return form

    def put(self, key: FormKey, form: bytes) -> None:
        if not 0 < len(form) <= self.max_bytes or key in self._forms:
            return  # caching off, or held already (under this version the form cannot differ)
        self._forms[key] = form
        self.size += len(form)
        while self.size > self.max_bytes:
            _, evicted = self._forms.popitem(last=False)
            self.size -= len(evicted)

    def __len__(self) -> int:
        return len(self._forms)
