"""read_invoices_isolated: the same records as read_invoices, from a child process, streamed or spooled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import UnreadableFile
from fapiaohub.importers.child import ChildFailed, Messages, kind_of, payload_of, start
from fapiaohub.importers.isolated import IsolatedReader, ParseLimits, read_invoices_isolated
from fapiaohub.shapes.bureau_layout import write_bureau_export
from tests.importers.test_bureau_xlsx import sample, truncated

LIMITS = ParseLimits(memory_mb=1024, seconds=120)


def _children() -> set[str]:
    return {pid for task in Path("/proc/self/task").glob("*/children") for pid in task.read_text().split()}


@pytest.mark.parametrize("spool", [False, True], ids=["streamed", "spooled"])
def test_the_child_gives_the_records_read_here(tmp_path: Path, spool: bool) -> None:
    path = tmp_path / "export.xlsx"
    write_bureau_export(path, sample(450))  # more records than one message holds
    here = list(read_invoices(path))
    there = list(read_invoices_isolated(path, LIMITS, spool=spool))
    assert len(there) > 200
    assert there == here
    assert {r.invoice.origin for r in there if hasattr(r, "invoice")} == {"xlsx"}


@pytest.mark.parametrize("spool", [False, True], ids=["streamed", "spooled"])
def test_an_unreadable_file_says_what_it_says_here(tmp_path: Path, spool: bool) -> None:
    path = tmp_path / "export.xlsx"
    write_bureau_export(path, sample(40))
    broken = truncated(path)
    with pytest.raises(UnreadableFile) as here:
        list(read_invoices(broken))
    with pytest.raises(UnreadableFile) as there:
        list(read_invoices_isolated(broken, LIMITS, spool=spool))
    assert there.value.reason == here.value.reason
    assert there.value.path == str(broken)


def test_spooled_the_whole_file_is_read_before_the_first_record(tmp_path: Path) -> None:
    """An unreadable file is known before anything is taken from it (nothing could be written)."""
    text = tmp_path / "not-an-invoice.txt"
    text.write_text("plain text")
    with pytest.raises(UnreadableFile, match="unrecognised file format"):
        read_invoices_isolated(text, LIMITS, spool=True)  # raised by the call itself, not when iterated
    path = tmp_path / "export.xlsx"
    write_bureau_export(path, sample(40))
    records = read_invoices_isolated(path, LIMITS, spool=True)
    assert _children() == set()  # the child has ended: what is left is in the spool
    assert list(records) == list(read_invoices(path))


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc to see child processes")
def test_abandoned_records_end_the_child(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    write_bureau_export(path, sample(600))
    records = read_invoices_isolated(path, LIMITS)
    next(records)
    assert _children()
    records.close()
    assert _children() == set()


def test_a_child_that_dies_is_a_child_failure_with_its_signal() -> None:
    child = start("fapiaohub.importers.isolated", "not-a-number")  # the child fails at once
    messages = Messages(child, seconds=60)
    with pytest.raises(ChildFailed) as failed:
        next(messages)
    assert failed.value.status not in (None, 0)
    killed = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
                              stdout=subprocess.PIPE)
    with pytest.raises(ChildFailed) as signalled:
        next(Messages(killed))
    assert signalled.value.signal_name == "SIGKILL"


def test_one_child_reads_a_tasks_files_and_a_failed_one_is_replaced(tmp_path: Path) -> None:
    """The libraries are loaded once for many files; after a file that took the child down (here:
    out of time) the next file gets a new child and reads normally."""
    first, second = tmp_path / "first.xlsx", tmp_path / "second.xlsx"
    write_bureau_export(first, sample(30))
    write_bureau_export(second, sample(20))
    with IsolatedReader(LIMITS) as reader:
        assert list(reader.read(first)) == list(read_invoices(first))
        child = reader.child
        assert list(reader.read(second, spool=True)) == list(read_invoices(second))
        assert reader.child is child
        reader.limits = ParseLimits(memory_mb=1024, seconds=0.000001)
        with pytest.raises(UnreadableFile, match="解析超过时限"):
            list(reader.read(first))
        assert reader.child is None
        reader.limits = LIMITS
        assert list(reader.read(second)) == list(read_invoices(second))
        assert reader.child is not None
    assert reader.child is None


def test_frames_carry_their_kind_apart_from_the_pickle(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    write_bureau_export(path, sample(3))
    child = start("fapiaohub.importers.isolated", str(1024**3), requests=True)
    assert child.stdin is not None
    child.stdin.write(bytes(path) + b"\0")
    child.stdin.flush()
    messages = Messages(child, seconds=60)
    try:
        first, last = messages.frame(), messages.frame()
    finally:
        messages.close()
    assert (kind_of(first), len(payload_of(first))) == ("records", 3)
    assert (kind_of(last), payload_of(last)) == ("end", True)  # True: it can read another file
