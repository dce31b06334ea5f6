"""Reads an uploaded file in a child process with bounded memory and time, so that neither a crash,
a decompression bomb nor a slow parse reaches the process that imports (the API server's embedded
worker, a worker, the CLI).

The child runs `read_invoices`, the very same readers, under RLIMIT_AS (FAPIAOHUB_PARSE_MEMORY_MB;
its worksheet child inherits it) and sends the records back pickled, in batches (importers.child).
The importing process waits for them at most FAPIAOHUB_PARSE_SECONDS in all and ends the child
past that. A child that dies, runs out of memory or of time makes the file UnreadableFile, with a
message naming the limit: the caller's transaction then stores nothing of it.

Streamed, the records arrive while the child still reads (PostgreSQL: one transaction per file,
reading and writing overlap). Spooled, the child's messages are first kept in a temporary file
until it has read the whole file, so that a file that cannot be read is known before anything is
written (SQLite commits a file in several transactions: tasks/sources.py).

    python -m fapiaohub.importers.isolated FILE MEMORY_BYTES    (the child's side; not for people)
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import ImportRecord, UnreadableFile
from fapiaohub.importers.child import (
    MEMORY_EXIT,
    ChildFailed,
    Messages,
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


def read_invoices_isolated(path: Path, limits: ParseLimits, *, spool: bool = False) -> Iterator[ImportRecord]:
    """The records `read_invoices(path)` gives, read by a child process within ``limits``. Spooled,
    the whole file is read before this returns (UnreadableFile raised here); streamed, as the
    records are taken."""
    path = Path(path)
    if spool:
        return _spooled(path, limits)
    return _streamed(path, limits)


def _streamed(path: Path, limits: ParseLimits) -> Iterator[ImportRecord]:
    messages = _started(path, limits)
    try:
        while True:
            kind, payload = _next(messages, path, limits)
            if kind == "records":
                yield from payload
            else:
                _settled(kind, payload, path, limits)
                return
    finally:
        messages.close()


def _spooled(path: Path, limits: ParseLimits) -> Iterator[ImportRecord]:
    """Read the whole file into a temporary file of the child's messages (unlinked at once: it
    goes with this process), then give the records from there."""
    spool = tempfile.TemporaryFile(prefix="fapiaohub-parse-")  # noqa: SIM115 - handed to _replayed
    try:
        messages = _started(path, limits)
        try:
            while True:
                frame = _next_frame(messages, path, limits)
                kind = kind_of(frame)
                if kind == "records":
                    spool.write(frame)
                else:
                    _settled(kind, payload_of(frame), path, limits)
                    break
        finally:
            messages.close()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return _replayed(spool)


def _replayed(spool: IO[bytes]) -> Iterator[ImportRecord]:
    with spool:
        while (frame := read_frame(spool)) is not None:
            yield from payload_of(frame)


def _started(path: Path, limits: ParseLimits) -> Messages:
    try:
        child = start(__name__, str(path), str(limits.memory_mb * 1024**2))
    except OSError as exc:  # no interpreter to start (an embedded Python): nothing can bound a parse here
        raise UnreadableFile(path, f"无法启动解析进程（{exc.strerror}），文件未导入") from None
    return Messages(child, limits.seconds)


def _next(messages: Messages, path: Path, limits: ParseLimits) -> tuple[str, Any]:
    frame = _next_frame(messages, path, limits)
    return kind_of(frame), payload_of(frame)


def _next_frame(messages: Messages, path: Path, limits: ParseLimits) -> bytes:
    try:
        return messages.frame()
    except ChildFailed as exc:
        raise UnreadableFile(path, _why(exc, limits)) from None


def _why(exc: ChildFailed, limits: ParseLimits) -> str:
    memory = f"上限 {limits.memory_mb} MB（FAPIAOHUB_PARSE_MEMORY_MB）"
    if exc.timed_out:
        return f"解析超过时限 {limits.seconds:g} 秒（FAPIAOHUB_PARSE_SECONDS），已中止，文件未导入"
    if exc.status == MEMORY_EXIT:
        return f"解析所需内存超过{memory}，已中止，文件未导入"
    if exc.signal_name is not None:
        return f"解析进程被信号 {exc.signal_name} 终止（多为内存超过{memory}），文件未导入"
    return f"解析进程意外退出（退出码 {exc.status}），文件未导入"


def _settled(kind: str, payload: Any, path: Path, limits: ParseLimits) -> None:
    """The child's last message: the end of the records, or why there are no more."""
    if kind == "end":
        return
    if kind == "unreadable":
        raise UnreadableFile(path, payload)
    if kind == "memory":
        raise UnreadableFile(path, _why(ChildFailed("", MEMORY_EXIT), limits))
    log.error("parsing %s failed in its child process:\n%s", path.name, payload)  # the operator's log only
    last = str(payload).strip().splitlines()[-1] if str(payload).strip() else "?"
    raise UnreadableFile(path, f"解析时出错（{last[:200]}），文件未导入")


def main(path: str, memory_bytes: str) -> None:
    """The child: the file's records in batches, then "end"; or why they stop."""
    out = sys.stdout.buffer
    cap = int(memory_bytes)
    try:
        limit_memory(cap)
        try:
            batch: list[ImportRecord] = []
            for record in read_invoices(Path(path)):
                batch.append(record)
                if len(batch) == BATCH_RECORDS:
                    send(out, "records", batch)
                    batch = []
            send(out, "records", batch)
            send(out, "end", None)
        except MemoryError:
            batch = []  # what the reader held is freed on the way here: enough to say why
            send(out, "memory", None)
        except UnreadableFile as exc:
            send(out, "memory", None) if _out_of_memory(exc, cap) else send(out, "unreadable", exc.reason)
        except Exception as exc:  # noqa: BLE001 - the parent reports it
            send(out, "memory", None) if _out_of_memory(exc, cap) else send(out, "failed", traceback.format_exc())
        out.flush()
    except BrokenPipeError:  # the parent stopped reading: nothing left to do
        os._exit(0)
    except MemoryError:  # not even the message fits
        os._exit(MEMORY_EXIT)


def _out_of_memory(exc: BaseException, cap: int) -> bool:
    """Whether a reader's failure was the memory limit: readers turn a failed allocation into their
    own errors (pdfminer wraps MemoryError, libxml2 reports "unknown error"), so look for a
    MemoryError behind the error, and at how close the address space came to the limit."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MemoryError) or any(isinstance(arg, MemoryError) for arg in seen.args):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    peak = next((line.split()[1] for line in status.splitlines() if line.startswith("VmPeak:")), "0")
    return cap > 0 and int(peak) * 1024 >= cap - NEAR_LIMIT


if __name__ == "__main__":
    main(*sys.argv[1:3])
