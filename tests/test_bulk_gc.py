"""bulk_gc: rare collections during an import, and the process's own settings back after it."""

from __future__ import annotations

import gc
import threading
import weakref

from fapiaohub import bulk_gc


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_bulk_work_makes_collections_rare_and_restores_the_settings() -> None:
    before = gc.get_threshold()
    with bulk_gc.bulk_work():
        assert gc.get_threshold()[0] == bulk_gc.BULK_THRESHOLD
        assert gc.get_freeze_count() > 0  # what existed before is left out of collections
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_made_during_bulk_work_are_still_collected() -> None:
    with bulk_gc.bulk_work():
        node = _Node()
        gone = weakref.ref(node)
        del node
        gc.collect()
        assert gone() is None


def test_overlapping_bulk_works_restore_the_settings_when_the_last_ends() -> None:
    before = gc.get_threshold()
    first_in, second_done = threading.Event(), threading.Event()

    def second() -> None:
        first_in.wait()
        with bulk_gc.bulk_work():
            pass
        second_done.set()

    thread = threading.Thread(target=second)
    thread.start()
    with bulk_gc.bulk_work():
        first_in.set()
        second_done.wait()
        assert gc.get_threshold()[0] == bulk_gc.BULK_THRESHOLD  # the other one ending did not undo it
    thread.join()
    assert gc.get_threshold() == before
