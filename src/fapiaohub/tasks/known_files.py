"""A file imported before, imported again: answered without reading it when nothing has changed since.

Finance staff upload the same export again (a colleague did it already, a script retries, a
bundle is sent twice). Once a file is stored, its task row for the file keeps the file's SHA-256,
a digest of the code that read it, what the file counted, and the state of the taxpayer's months
of that direction right after it (store.months.months_state), written in the transaction that
stored it. A later import of a file of the same content, for the same taxpayer, direction, month
and kind, read by the same code, that finds the months in that very state finds the store as
that import left it; and an import is idempotent (reading a file twice changes nothing the
second time), so reading it again would change nothing. Its answer is the earlier one: every
invoice unchanged, the same rejected and skipped records, under the new upload's name. Any write
since (another file, a sync, a unify push, a revert) changes the state, and a new release changes
the code's digest: the file is then read again, as always.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from sqlalchemy.engine import Connection

import fapiaohub
from fapiaohub.store.months import months_state
from fapiaohub.tasks import repository
from fapiaohub.tasks.repository import ClaimedTask, KnownFile


def file_digest(path: Path) -> str | None:
    """The file's SHA-256 (None when it cannot be opened: reading it will say why)."""
    try:
        with path.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError:
        return None


@functools.cache
def reader_digest() -> str:
    """A digest of fapiaohub's own source: what reads, checks, merges and stores a file. A new
    release, or any fix, reads every file again."""
    root = Path(fapiaohub.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def unchanged_since(conn: Connection, task: ClaimedTask, sha256: str | None) -> KnownFile | None:
    """The earlier import of this very file whose result still holds, or None: read the file."""
    if sha256 is None:
        return None
    known = repository.known_file(conn, task, sha256, reader_digest())
    if known is None or known.months_after != months_state(conn, task.taxpayer.id, task.direction):
        return None
    return known


def remember(conn: Connection, task: ClaimedTask, seq: int, sha256: str | None, written: int, rejected: int,
             skipped: int) -> None:
    """Keep what a file left behind, in the transaction that stored (the last of) it: the months'
    state is read here, after its writes, while no other writer of the taxpayer's direction can
    commit (store.invoices.lock_writers; SQLite has one writer)."""
    if sha256 is None:
        return
    repository.record_known_file(conn, task.id, seq, sha256, reader_digest(),
                                 months_state(conn, task.taxpayer.id, task.direction), written, rejected, skipped)
