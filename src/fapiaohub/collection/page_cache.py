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


class PageAddress(NamedTuple):
    """A page as a request names it, before its month is looked up."""

    corp_id: str
    nsrsbh: str
    direction: str
    fplx: str
    kpyf: int
    offset: int
    limit: int


class PageCache:
    """Least-recently-used pages up to ``max_bytes`` of item bytes (0 turns caching off).

    It also knows which request addresses it holds a page for (under some version): a request for
    a page it does not hold asks for the items with its month lookup (collection.service), one
    round trip instead of two; one it holds asks for the month's version alone, and is answered
    from here when that is still the version held.

    Used from one event loop only (each API process has its own), so it needs no lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[PageKey, tuple[bytes, PageAddress | None]] = OrderedDict()
        self._addresses: dict[PageAddress, PageKey] = {}

    def get(self, key: PageKey) -> bytes | None:
        held = self._pages.get(key)
        if held is None:
            self.misses += 1
            _MISS.inc()
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        _HIT.inc()
        return held[0]

    def holds(self, address: PageAddress) -> bool:
        """Whether a page was kept for ``address`` (of whichever version) and is kept still."""
        return address in self._addresses

    def put(self, key: PageKey, items: bytes, address: PageAddress | None = None) -> None:
        if not 0 < len(items) <= self.max_bytes:
            return  # caching off, nothing to keep, or one page larger than the whole cache
        self._drop(key)
        if address is not None:
            self._drop(self._addresses.get(address))
            self._addresses[address] = key
        self._pages[key] = (items, address)
        self.size += len(items)
        while self.size > self.max_bytes:
            self._drop(next(iter(self._pages)))

    def _drop(self, key: PageKey | None) -> None:
        held = self._pages.pop(key, None) if key is not None else None
        if held is None:
            return
        items, address = held
        self.size -= len(items)
        if address is not None and self._addresses.get(address) == key:
            del self._addresses[address]

    def __len__(self) -> int:
        return len(self._pages)
