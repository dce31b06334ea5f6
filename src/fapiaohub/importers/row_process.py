"""Reads a big worksheet in a child process, so that an import runs on two cores: the child scans
the sheet's XML into rows while the importer's own process assembles, validates and stores them.

The child runs StreamingWorkbook.rows, the very same reader, and sends the rows back pickled, in
batches, through a pipe (importers.child; unpickling costs the parent a few percent of what
reading costs). The child is started when the first row is wanted, and ended when the rows are
abandoned. Under a file child (importers.isolated) it inherits that child's memory limit.

    python -m fapiaohub.importers.row_process WORKBOOK MEMBER    (the child's side; not for people)
"""

from __future__ import annotations

import os
import sys
import traceback
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from fapiaohub import bulk_gc
from fapiaohub.importers.child import ChildFailed, Messages, send, start
from fapiaohub.importers.xlsx_stream import SheetError, StreamingWorkbook

BATCH_ROWS = 1000  # rows per message: about 200 KB pickled
_UNREADABLE = (SheetError, etree.XMLSyntaxError, zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError)


class ReaderFailed(RuntimeError):  # noqa: N818 - named for what happened
    """The child process failed for a reason that is not the workbook's (a bug, a crash)."""


def rows_in_child(path: Path, member: str) -> Iterator[list[Any]]:
    """The rows of one sheet, exactly as StreamingWorkbook(path).rows(member) gives them, read by
    a child process. A workbook the child cannot read raises SheetError, as the reader would."""
    try:
        child = start(__name__, str(path), member)
    except OSError:  # no interpreter to start (an embedded Python): read here, on one core
        with zipfile.ZipFile(path) as archive:
            yield from StreamingWorkbook(archive).rows(member)
        return
    messages = Messages(child)
    try:
        while True:
            try:
                kind, payload = next(messages)
            except ChildFailed as exc:
                raise ReaderFailed(f"the worksheet reader stopped halfway (exit status {exc.status})") from None
            if kind == "rows":
                yield from payload
            elif kind == "end":
                return
            elif kind == "unreadable":
                raise SheetError(payload)
            else:
                raise ReaderFailed(f"the worksheet reader failed:\n{payload}")
    finally:
        messages.close()  # ends the child when the rows were abandoned (an error, or the caller stopped early)


def main(path: str, member: str) -> None:
    """The child: send the sheet's rows, then "end"; or why it cannot be read."""
    out = sys.stdout.buffer
    bulk_gc.for_a_child()
    try:
        try:
            with zipfile.ZipFile(path) as archive:
                batch: list[list[Any]] = []
                for row in StreamingWorkbook(archive).rows(member):
                    batch.append(row)
                    if len(batch) == BATCH_ROWS:
                        send(out, "rows", batch)
                        batch = []
                send(out, "rows", batch)
            send(out, "end", None)
        except _UNREADABLE as exc:
            send(out, "unreadable", str(exc) or type(exc).__name__)
        except Exception:  # noqa: BLE001 - the parent reports it
            send(out, "failed", traceback.format_exc())
        out.flush()
    except BrokenPipeError:  # the parent stopped reading: nothing left to do
        os._exit(0)


if __name__ == "__main__":
    main(*sys.argv[1:3])
