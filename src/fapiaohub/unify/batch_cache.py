"""An in-process cache of rendered unify batches, keyed by their corporation's forms version.

The database stays the truth: every unify read reads, with its token check and in one statement,
the ids and updateTimes of the batches it answers and the corporation's forms version (the sum of
its unify_forms_version rows), before it looks here. A batch's members change only with a new
updateTime (a push that replaces it), and their invoices only in transactions that bump
unify_forms_version (store.entities.refresh_listed);
so a batch is only served as rendered under the key just read, never after it changed, in this
process or any other. Entries of older keys age out of the LRU order.

Whole answers are kept too, under the keys of their batches in order: an answer is nothing but
their renderings joined, so it is valid exactly as long as they are, and a poller that asks for
the same cursor again and again is answered without joining ten batches into a new 300 kB body
each time (about 50 µs of a request's 400, docs/performance.md).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple


class BatchKey(NamedTuple):
    batch_id: str
    update_time: int
    forms_version: int
    vat_only: bool  # the v1 read lists only VAT invoices


AnswerKey = tuple[BatchKey, ...]  # the batches of an answer, in its order


class BatchCache:
    """Least-recently-used rendered batches and answers, up to ``max_bytes`` together (0 turns
    caching off). Used from one event loop only (each API process has its own), so it needs no lock."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[BatchKey | AnswerKey, bytes] = OrderedDict()

    def get(self, key: BatchKey | AnswerKey) -> bytes | None:
        rendered = self._entries.get(key)
        if rendered is not None:
            self._entries.move_to_end(key)
        return rendered

    def put(self, key: BatchKey | AnswerKey, rendered: bytes) -> None:
        if not 0 < len(rendered) <= self.max_bytes or key in self._entries:
            return  # caching off, or held already (under this key the bytes cannot differ)
        self._entries[key] = rendered
        self.size += len(rendered)
        while self.size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.size -= len(evicted)

    def __len__(self) -> int:
        return len(self._entries)
