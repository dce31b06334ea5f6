"""Reads uploaded files in a child process with bounded memory and time, so that neither a crash,
a decompression bomb nor a slow parse reaches the process that imports (the API server's embedded
worker, a worker, the CLI).

The child runs `read_invoices`, the very same readers, under RLIMIT_AS (FAPIAOHUB_PARSE_MEMORY_MB;
its worksheet child inherits it) and sends the records back pickled, in batches (importers.child).
The importing process waits for a file's records at most FAPIAOHUB_PARSE_SECONDS in all and ends
the child past that. A child that dies, runs out of memory or of time makes the file
UnreadableFile, with a message naming the limit: the caller's transaction then stores nothing of
it. One child reads a task's files one after another (it is sent their paths), so the readers'
libraries are loaded once a task, not once a file; a child that failed is replaced for the next.

Streamed, the records arrive while the child still reads (PostgreSQL: one transaction per file,
reading and writing overlap). Spooled, the child's messages are first kept in a temporary file
until it has read the whole file, so that a file that cannot be read is known before anything is
written (SQLite commits a file in several transactions: tasks/sources.py).

    python -m fapiaohub.importers.isolated MEMORY_BYTES    (the child's side, paths on stdin; not for people)
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fapiaohub import bulk_gc
from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import ImportRecord, UnreadableFile
from fapiaohub.importers.child import (
    MEMORY_EXIT,
    ChildFailed,
    Messages,
    end,
    kind_of,
    limit_memory,
    payload_of,
    read_frame,
    send,
    start,
)

log = logging.getLogger("fapiaohub.importers")
BATCH_RECORDS = 200  # records per message: a few hundred KB pickled
NEAR_LIMIT = 2 * 1024**2  # a failure with the address space this close to the limit is the limit's


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """What one file's parse may take: its child's address space and the time it is waited for."""

    memory_mb: int
    seconds: float


class IsolatedReader:
    """Reads files in a child process within ``limits``, one file at a time; close() ends it."""

    def __init__(self, limits: ParseLimits) -> None:
        self.limits = limits
        self.child: subprocess.Popen[bytes] | None = None
        self.reading = False  # the child is in the middle of a file

    def read(self, path: Path, *, spool: bool = False) -> Iterator[ImportRecord]:
        """The records `read_invoices(path)` gives. Spooled, the whole file is read before this
        returns (UnreadableFile raised here); streamed, as the records are taken."""
        path = Path(path)
        if spool:
            return self._spooled(path)
        return self._streamed(path)

    def close(self) -> None:
        if self.child is not None:
            end(self.child)
            self.child = None

    def __enter__(self) -> IsolatedReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _streamed(self, path: Path) -> Iterator[ImportRecord]:
        messages = self._request(path)
        try:
            while True:
                frame = self._next(messages, path)
                kind = kind_of(frame)
                if kind != "records":
                    self._settled(kind, payload_of(frame), path)
                    return
                yield from payload_of(frame)
        finally:
            if self.reading:  # abandoned halfway (the caller failed or stopped): the child is mid-file
                self.close()

    def _spooled(self, path: Path) -> Iterator[ImportRecord]:
        """Read the whole file into a temporary file of the child's messages (unlinked at once: it
        goes with this process), then give the records from there."""
        spool = tempfile.TemporaryFile(prefix="fapiaohub-parse-")  # noqa: SIM115 - handed to _replayed
        try:
            messages = self._request(path)
            while (kind := kind_of(frame := self._next(messages, path))) == "records":
                spool.write(frame)
            self._settled(kind, payload_of(frame), path)
            spool.seek(0)
        except BaseException:
            spool.close()
            if self.reading:
                self.close()
            raise
        return _replayed(spool)

    def _request(self, path: Path) -> Messages:
        """Send the child the next path (starting a child first when there is none)."""
        for attempt in (1, 2):
            if self.child is not None and (self.reading or self.child.poll() is not None):
                self.close()
            if self.child is None:
                try:
                    self.child = start(__name__, str(self.limits.memory_mb * 1024**2), requests=True)
                except OSError as exc:  # no interpreter to start (an embedded Python): no parse can be bounded
                    raise UnreadableFile(path, f"无法启动解析进程（{exc.strerror}），文件未导入") from None
            assert self.child.stdin is not None
            try:
                self.child.stdin.write(os.fsencode(path) + b"\0")
                self.child.stdin.flush()
                break
            except BrokenPipeError:  # it ended since it was looked at: one more, new, child
                self.close()
                if attempt == 2:
                    raise UnreadableFile(path, "解析进程无法启动，文件未导入") from None
        assert self.child is not None
        self.reading = True
        return Messages(self.child, self.limits.seconds)

    def _next(self, messages: Messages, path: Path) -> bytes:
        try:
            return messages.frame()
        except ChildFailed as exc:
            self.reading = False
            self.close()
            raise UnreadableFile(path, _why(exc, self.limits)) from None

    def _settled(self, kind: str, payload: Any, path: Path) -> None:
        """The child's last message of a file: the end of its records, or why there are no more."""
        self.reading = False
        if kind == "end":
            if not payload:  # the child retires (it came near the memory limit): the next file gets a new one
                self.close()
            return
        if kind == "unreadable":
            raise UnreadableFile(path, payload)
        self.close()  # after running out of memory, or a reader's bug, the next file gets a fresh child
        if kind == "memory":
            raise UnreadableFile(path, _why(ChildFailed("", MEMORY_EXIT), self.limits))
        log.error("parsing %s failed in its child process:\n%s", path.name, payload)  # the operator's log only
        last = str(payload).strip().splitlines()[-1] if str(payload).strip() else "?"
        raise UnreadableFile(path, f"解析时出错（{last[:200]}），文件未导入")


def read_invoices_isolated(path: Path, limits: ParseLimits, *, spool: bool = False) -> Iterator[ImportRecord]:
    """One file's records read by a child process of its own (see IsolatedReader.read)."""
    reader = IsolatedReader(limits)
    try:
        records = reader.read(path, spool=spool)
    except BaseException:
        reader.close()
        raise
    if spool:  # read already: the child has nothing left to do
        reader.close()
        return records
    return _closing(records, reader)


def _closing(records: Iterator[ImportRecord], reader: IsolatedReader) -> Iterator[ImportRecord]:
    try:
        yield from records
    finally:
        reader.close()


def _replayed(spool: IO[bytes]) -> Iterator[ImportRecord]:
    with spool:
        while (frame := read_frame(spool)) is not None:
            yield from payload_of(frame)


def _why(exc: ChildFailed, limits: ParseLimits) -> str:
    memory = f"上限 {limits.memory_mb} MB（FAPIAOHUB_PARSE_MEMORY_MB）"
    if exc.timed_out:
        return f"解析超过时限 {limits.seconds:g} 秒（FAPIAOHUB_PARSE_SECONDS），已中止，文件未导入"
    if exc.status == MEMORY_EXIT:
        return f"解析所需内存超过{memory}，已中止，文件未导入"
    if exc.signal_name is not None:
        return f"解析进程被信号 {exc.signal_name} 终止（多为内存超过{memory}），文件未导入"
    return f"解析进程意外退出（退出码 {exc.status}），文件未导入"


def main(memory_bytes: str) -> None:
    """The child: for each path it is sent, the file's records in batches, then "end"; or why
    they stop. It ends when its stdin does, or after running out of memory."""
    out = sys.stdout.buffer
    cap = int(memory_bytes)
    bulk_gc.for_a_child()
    try:
        limit_memory(cap)
        for path in _requests():
            if not _read_one(out, path, cap):
                break
    except BrokenPipeError:  # the parent stopped reading: nothing left to do
        os._exit(0)
    except MemoryError:  # not even the message fits
        os._exit(MEMORY_EXIT)


def _requests() -> Iterator[str]:
    """Paths sent by the parent, each ended by NUL (which no path holds)."""
    pending = b""
    while True:
        while b"\0" not in pending:
            chunk = os.read(0, 4096)
            if not chunk:
                return
            pending += chunk
        path, _, pending = pending.partition(b"\0")
        yield os.fsdecode(path)


def _read_one(out: IO[bytes], path: str, cap: int) -> bool:
    """Send one file's records; False when this process should not read another. Its last
    message says so too ("end" carries it; after "memory" and "failed" it always ends): the
    parent then starts a new child.
    A file that took the address space near the limit retires the child, so that near the limit
    (see _out_of_memory) always means the current file."""
    try:
        batch: list[ImportRecord] = []
        for record in read_invoices(Path(path)):
            batch.append(record)
            if len(batch) == BATCH_RECORDS:
                send(out, "records", batch)
                batch = []
        send(out, "records", batch)
        going_on = not _near_limit(cap)
        send(out, "end", going_on)
    except MemoryError:
        batch = []  # what the reader held is freed on the way here: enough to say why
        send(out, "memory", None)
        going_on = False
    except UnreadableFile as exc:
        going_on = not _out_of_memory(exc, cap)
        send(out, "unreadable", exc.reason) if going_on else send(out, "memory", None)
    except Exception as exc:  # noqa: BLE001 - the parent reports it
        going_on = False
        send(out, "memory", None) if _out_of_memory(exc, cap) else send(out, "failed", traceback.format_exc())
    out.flush()
    return going_on


def _out_of_memory(exc: BaseException, cap: int) -> bool:
    """Whether a reader's failure was the memory limit: readers turn a failed allocation into their
    own errors (pdfminer wraps MemoryError, libxml2 reports "unknown error"), so look for a
    MemoryError behind the error, and at how close the address space came to the limit."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MemoryError) or any(isinstance(arg, MemoryError) for arg in seen.args):
            return True
        seen = seen.__cause__ or seen.__context__
    return _near_limit(cap)


def _near_limit(cap: int) -> bool:
    """Whether this process's address space has ever come within NEAR_LIMIT of ``cap``."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    peak = next((line.split()[1] for line in status.splitlines() if line.startswith("VmPeak:")), "0")
    return cap > 0 and int(peak) * 1024 >= cap - NEAR_LIMIT


if __name__ == "__main__":
    main(sys.argv[1])
