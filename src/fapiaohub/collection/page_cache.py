"""An in-process cache of rendered collection pages, keyed by the month's version.

The database stays the truth: a page is cached under (month id, month version, offset, limit),
and every request reads the month's current version together with its token check before it
looks here. A write to a month bumps its version (store.months.renumber_months), so a cached page
of an older version is never found again; it ages out of the LRU order.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from fapiaohub.metrics import PAGE_CACHE

_HIT, _MISS = PAGE_CACHE.labels("hit"), PAGE_CACHE.labels("miss")


class PageKey(NamedTuple):
    month_id: int
    version: int
    offset: int
    limit: int


class PageCache:
    """Least-recently-used pages up to ``max_bytes`` of item bytes (0 turns caching off).

    Used from one event loop only (each API process has its own), so it needs no lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[PageKey, bytes] = OrderedDict()

    def get(self, key: PageKey) -> bytes | None:
        items = self._pages.get(key)
        if items is None:
            self.misses += 1
            _MISS.inc()
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        _HIT.inc()
        return items

    def put(self, key: PageKey, items: bytes) -> None:
        if not 0 < len(items) <= self.max_bytes:
            return  # caching off, nothing to keep, or one page larger than the whole cache
        old = self._pages.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._pages[key] = items
        self.size += len(items)
        while self.size > self.max_bytes:
            _, evicted = self._pages.popitem(last=False)
            self.size -= len(evicted)

    def __len__(self) -> int:
        return len(self._pages)
