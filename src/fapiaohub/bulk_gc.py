"""The cyclic garbage collector during bulk work: an import makes millions of objects and almost no cycles.

CPython runs a collection every 700 container allocations, and a full one whenever the objects
that survived grew by a quarter: a full collection walks every object of the process (a worker's
modules, SQLAlchemy's and psycopg's, the rows an import holds), and an import's records and rows,
which hold no cycles, set them off again and again. Measured on a 200,000-line export into
PostgreSQL: 1,880 collections took 2.4 s of the importing process's CPU, and its children's CPU
fell from 17.1 to 14.4 s with rare collections (docs/performance.md, "The fourth run").

During bulk work collections are rarer (a collection every BULK_THRESHOLD allocations) and what
existed before it is frozen (gc.freeze: left out of every collection until the work ends). Cycles
are still collected, only later: the memory they hold for that long is bounded by the threshold.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLD = 50_000  # container allocations between collections (CPython's default: 700)

_lock = threading.Lock()
_active = 0  # bulk works under way in this process (threads of an API server's embedded worker)
_saved = gc.get_threshold()


def for_a_child() -> None:
    """A child process that reads a file and ends (importers.child): its own state once loaded
    is frozen, and collections are rare for the rest of its life."""
    gc.freeze()
    gc.set_threshold(BULK_THRESHOLD, *gc.get_threshold()[1:])


@contextmanager
def bulk_work() -> Iterator[None]:
    """Rare collections while the block runs, the process's earlier objects frozen; both undone
    when the last bulk work of the process ends (several threads may import at once)."""
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(BULK_THRESHOLD, *_saved[1:])
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
