"""Reads a big worksheet in a child process, so that an import runs on two cores: the child scans
the sheet's XML into rows while the importer's own process assembles, validates and stores them.

The child runs StreamingWorkbook.rows, the very same reader, and sends the rows back pickled, in
batches, through a pipe (unpickling costs the parent a few percent of what reading costs). The
pipe's buffer is the only queue between them: a child that is ahead waits, so memory stays flat.
The child is started when the first row is wanted, and ended when the rows are abandoned.

    python -m fapiaohub.importers.row_process WORKBOOK MEMBER    (the child's side; not for people)
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import traceback
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # not on Windows: the pipe keeps its default buffer there
    fcntl = None  # type: ignore[assignment]

from lxml import etree

import fapiaohub
from fapiaohub.importers.xlsx_stream import SheetError, StreamingWorkbook

BATCH_ROWS = 1000  # rows per message: about 200 KB pickled
PIPE_BYTES = 1024**2  # the pipe's buffer (Linux's default limit for it)
_LENGTH = struct.Struct("<Q")  # each message is its pickle's length, then the pickle
_PACKAGE_ROOT = str(Path(fapiaohub.__file__).resolve().parents[1])
_UNREADABLE = (SheetError, etree.XMLSyntaxError, zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError)


class ReaderFailed(RuntimeError):  # noqa: N818 - named for what happened
    """The child process failed for a reason that is not the workbook's (a bug, a crash)."""


def rows_in_child(path: Path, member: str) -> Iterator[list[Any]]:
    """The rows of one sheet, exactly as StreamingWorkbook(path).rows(member) gives them, read by
    a child process. A workbook the child cannot read raises SheetError, as the reader would."""
    env = dict(os.environ)  # the child imports this package from where the parent did
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    try:
        child = subprocess.Popen([sys.executable, "-m", __name__, str(path), member], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    except OSError:  # no interpreter to start (an embedded Python): read here, on one core
        with zipfile.ZipFile(path) as archive:
            yield from StreamingWorkbook(archive).rows(member)
        return
    assert child.stdout is not None
    # Linux: a larger pipe lets the child run a few batches ahead instead of a third of one
    if fcntl is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
        try:
            fcntl.fcntl(child.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # above /proc/sys/fs/pipe-max-size: the default buffer only costs some overlap
    try:
        while True:
            kind, payload = _receive(child.stdout, child)
            if kind == "rows":
                yield from payload
            elif kind == "end":
                return
            elif kind == "unreadable":
                raise SheetError(payload)
            else:
                raise ReaderFailed(f"the worksheet reader failed:\n{payload}")
    finally:
        if child.poll() is None:
            child.kill()  # the rows were abandoned (an error, or the caller stopped early)
        child.stdout.close()
        child.wait()


def _receive(stream: IO[bytes], child: subprocess.Popen[bytes]) -> tuple[str, Any]:
    header = stream.read(_LENGTH.size)
    length = _LENGTH.unpack(header)[0] if len(header) == _LENGTH.size else 0
    data = stream.read(length) if length else b""
    if not length or len(data) != length:
        raise ReaderFailed(f"the worksheet reader stopped halfway (exit code {child.wait()})")
    return pickle.loads(data)  # our own child's: pickle is safe here


def _send(stream: IO[bytes], kind: str, payload: Any) -> None:
    data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)


def main(path: str, member: str) -> None:
    """The child: send the sheet's rows, then "end"; or why it cannot be read."""
    out = sys.stdout.buffer
    try:
        try:
            with zipfile.ZipFile(path) as archive:
                batch: list[list[Any]] = []
                for row in StreamingWorkbook(archive).rows(member):
                    batch.append(row)
                    if len(batch) == BATCH_ROWS:
                        _send(out, "rows", batch)
                        batch = []
                _send(out, "rows", batch)
            _send(out, "end", None)
        except _UNREADABLE as exc:
            _send(out, "unreadable", str(exc) or type(exc).__name__)
        except Exception:  # noqa: BLE001 - the parent reports it
            _send(out, "failed", traceback.format_exc())
        out.flush()
    except BrokenPipeError:  # the parent stopped reading: nothing left to do
        os._exit(0)


if __name__ == "__main__":
    main(*sys.argv[1:3])
