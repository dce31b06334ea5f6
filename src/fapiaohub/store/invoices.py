"""The invoice writer: idempotent bulk upserts of canonical invoices, with their history and months.

Each write ends by renumbering (or counting) the months it touched (store.months), which bumps
their versions: readers and page caches never see a month half written.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub import wire
from fapiaohub.domain.invoice import Invoice
from fapiaohub.domain.merge import merge_with_stored
from fapiaohub.shapes.collection_item import render_collection_item
from fapiaohub.store.entities import refresh_listed
from fapiaohub.store.months import count_months, month_ids_for, renumber_months
from fapiaohub.store.tables import invoice, invoice_history
from fapiaohub.store.taxpayers import Taxpayer

BATCH_SIZE = 1000  # invoices per lookup and COPY: large enough to amortise a round trip, small in memory


@dataclass(slots=True)
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    months: set[int] = field(default_factory=set)


def store_invoices(
    conn: Connection,
    tp: Taxpayer,
    direction: str,
    invoices: Iterable[Invoice],
    *,
    renumber: bool = True,
    task_id: str | None = None,
    flags: Mapping[str, list[str]] | None = None,
) -> WriteCounts:
    """Upsert invoices of one taxpayer and direction by identity; renumber the months touched.

    Runs inside the caller's transaction: the caller commits (or rolls back everything). Bulk
    loaders pass ``renumber=False`` and call :func:`renumber_months` once with all months touched.
    An invoice whose content changed keeps its earlier state in invoice_history. ``flags`` maps an
    invoice's key to its soft validation findings (it may still be filled while ``invoices`` is
    being consumed: importers stream).

    The caller's thread consumes ``invoices`` (an importer reading a file) and renders each batch;
    on PostgreSQL a writer thread looks the batch up and copies it in meanwhile, so reading and
    the database's work overlap (psycopg releases the GIL while it waits for the server). Exports
    list invoices by date, so months come in runs: that thread holds the new invoices of a month
    this call created until a batch no longer touches it, then copies them with their positions
    (no renumbering UPDATE rewrites them). Months that existed before are renumbered at the end,
    all together and in id order, as every writer locks them, so that concurrent writers of one
    taxpayer serialise and never deadlock (a month created here is seen by no one else until
    commit). While ``invoices`` is consumed it must not use ``conn``: on PostgreSQL that thread
    owns it.
    """
    counts = WriteCounts()
    writer = _BatchWriter(conn, tp, direction, counts, task_id)
    lock_writers(conn, tp.id, direction)
    if writer.postgres:
        if renumber:  # positions given at copy time must agree with the renumbering they replace
            writer.hold_new_months()
        with _WriterThread(writer) as thread:
            for batch in batched(invoices, BATCH_SIZE):
                thread.write(_prepare(batch, flags or {}))
    else:
        for batch in batched(invoices, BATCH_SIZE):
            writer.write(_prepare(batch, flags or {}))
        writer.finish()
    if renumber:
        renumber_months(conn, writer.months_to_renumber())
    return counts


WRITERS_LOCK = 0x66706862  # "fphb": the namespace of fapiaohub's advisory locks


def lock_writers(conn: Connection, taxpayer_id: int, direction: str) -> None:
    """Make this transaction the only writer of a taxpayer's invoices of one direction until it
    ends. Writers create months as their files reach them and lock months to renumber them; two
    at once (a collection task and a unify push, say) could each hold what the other waits for.
    On PostgreSQL a transaction-scoped advisory lock, which blocks nothing else (task creation
    locks the taxpayer row, which stays free); SQLite has one writer at a time anyway."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:space, :key)"),
                     {"space": WRITERS_LOCK, "key": taxpayer_id * 2 + (direction == "xx")})


def batched(items: Iterable[Invoice], size: int) -> Iterator[list[Invoice]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An invoice with its stored JSON: the canonical document, the collection item, the flags."""

    invoice: Invoice
    doc: str
    rendered: str
    flags: str


def _prepare(batch: list[Invoice], flags: Mapping[str, list[str]]) -> list[_Prepared]:
    by_key: dict[str, Invoice] = {inv.key: inv for inv in batch}  # a later duplicate wins
    return [
        _Prepared(inv, inv.doc_json().decode(), render_collection_item(inv).decode(),
                  wire.dumps(flags[key]).decode() if key in flags else "[]")
        for key, inv in by_key.items()
    ]


# invoice columns a new row gets, in COPY order (id is the sequence's; pos is known for the rows
# of months this import created, else left to renumbering)
_NEW_COLUMNS = ("corp_id", "taxpayer_id", "direction", "invoice_key", "fplx", "fpdm", "fphm", "kprq", "kpyf",
                "xfsbh", "xfmc", "gfsbh", "gfmc", "je", "se", "jshj", "fpzt_dm", "month_id", "doc", "rendered",
                "flags", "created_at", "updated_at", "created_by_task", "pos")
_KEY, _KPRQ, _RENDERED = (_NEW_COLUMNS.index(name) for name in ("invoice_key", "kprq", "rendered"))
HOLD_LIMIT = 10_000  # new invoices held back at most (about 30 MB): then the largest month goes
# collations under which PostgreSQL orders invoice keys by code point, as Python sorts them
CODE_POINT_COLLATIONS = {"c", "posix", "c.utf-8", "c.utf8", "ucs_basic"}
_COPY_NEW = f"COPY invoice ({', '.join(_NEW_COLUMNS)}) FROM STDIN"
# One index probe per key, which only the unique index can answer, whatever the statistics say.
# They often say little: an import's own rows are invisible to them until it commits, and a new
# database's first import starts from none. Asked for a key by equality (taxpayer_id = … AND
# direction = … AND invoice_key = …), every index on (taxpayer_id, direction, …) looked like a
# one-row probe by the default estimates, and the planner took whichever it liked, reading all of
# the taxpayer's rows for each key (measured: 40,000 invoices into a new database took 228 s and
# read 265 million rows; a 100,000-invoice month of a new taxpayer ran for over 20 minutes).
# Asked instead for the first row at or after (taxpayer, direction, key) in the unique index's
# order, as one row comparison, only that index holds the order, so the LIMIT stops after one
# entry; any other plan must sort what the comparison selects, a third of the table by the
# default estimate for an inequality. The taxpayer's id reaches the planner as a sub-select, a
# value it cannot see: statistics that know the taxpayer's id (a new taxpayer's is past their
# histogram: "no rows") would otherwise make that sort look like one row, and the plan read all the
# taxpayer's rows for each key again (measured: a 100,000-invoice month of a new taxpayer in a
# database of five million ran for minutes per batch). The outer filter keeps an exact match.
_EXISTING_PG = sa.text(
    "SELECT found.* FROM unnest(CAST(:keys AS text[])) AS wanted(key) CROSS JOIN LATERAL ("
    " SELECT id, taxpayer_id, direction, invoice_key, doc, month_id, fpzt_dm, flags FROM invoice"
    " WHERE (taxpayer_id, direction, invoice_key) >= ((SELECT CAST(:taxpayer_id AS integer)),"
    " CAST(:direction AS text), wanted.key) ORDER BY taxpayer_id, direction, invoice_key LIMIT 1) AS found"
    " WHERE found.taxpayer_id = :taxpayer_id AND found.direction = :direction AND found.invoice_key = wanted.key"
)


class _BatchWriter:
    """Writes prepared batches: new invoices in one COPY (PostgreSQL) or executemany (SQLite),
    changed ones updated with their earlier state kept in invoice_history, unchanged ones only
    counted."""

    def __init__(self, conn: Connection, tp: Taxpayer, direction: str, counts: WriteCounts,
                 task_id: str | None) -> None:
        self.conn, self.tp, self.direction, self.counts, self.task_id = conn, tp, direction, counts, task_id
        self.postgres = conn.dialect.name == "postgresql"
        self.month_ids: dict[tuple[str, int], int] = {}
        self.hold_fresh = False  # hold new months' rows to copy them with positions (see store_invoices)
        self.fresh: set[int] = set()  # months this call created: empty before it
        self.held: dict[int, list[tuple[object, ...]]] = {}  # new rows of fresh months, not copied yet
        self.held_keys: dict[str, int] = {}
        self.copied: set[int] = set()  # fresh months copied with their positions
        self.unsettled: set[int] = set()  # months written to without positions: renumbered at the end

    def hold_new_months(self) -> None:
        """Hold back the rows of months this call creates, to copy them with their positions,
        when PostgreSQL orders invoice keys as Python does."""
        collation = self.conn.execute(sa.text(
            "SELECT coalesce(c.collname, d.datcollate) FROM pg_attribute a"
            " JOIN pg_database d ON d.datname = current_database()"
            " LEFT JOIN pg_collation c ON c.oid = a.attcollation AND c.collname <> 'default'"
            " WHERE a.attrelid = 'invoice'::regclass AND a.attname = 'invoice_key'")).scalar()
        self.hold_fresh = str(collation).lower() in CODE_POINT_COLLATIONS

    def write(self, batch: list[_Prepared]) -> None:
        conn, counts, tp = self.conn, self.counts, self.tp
        wanted = {(p.invoice.fplx, p.invoice.kpyf) for p in batch} - self.month_ids.keys()
        if wanted:
            created: set[int] = set()
            self.month_ids |= month_ids_for(conn, tp.id, self.direction, wanted, created)
            if self.hold_fresh:
                self.fresh |= created
        seen_again = {self.held_keys[p.invoice.key] for p in batch if p.invoice.key in self.held_keys}
        if seen_again:  # an invoice held back comes again: it must be in the table to compare with
            self._copy_held(seen_again)
        existing = self._existing([p.invoice.key for p in batch])
        now = datetime.now(UTC)
        new_rows: list[tuple[object, ...]] = []
        history: list[dict[str, object]] = []
        changed: list[int] = []
        held_now: set[int] = set()
        unpositioned: set[int] = set()  # months given rows whose positions renumbering must set
        for prepared in batch:
            old = existing.get(prepared.invoice.key)
            if old is not None and old.doc != prepared.doc:
                prepared = self._merged(old, prepared)
            inv = prepared.invoice
            if old is not None and old.doc == prepared.doc and old.flags == prepared.flags:
                counts.unchanged += 1
                continue
            month_id = self._month_id(inv)
            if old is None:
                row = _new_row(tp, self.direction, prepared, month_id, now, self.task_id)
                counts.inserted += 1
                if month_id in self.fresh and month_id not in self.copied:
                    self.held.setdefault(month_id, []).append(row)
                    self.held_keys[inv.key] = month_id
                    held_now.add(month_id)
                    continue
                new_rows.append(row)
            else:
                history.append({"invoice_id": old.id, "fpzt_dm": old.fpzt_dm, "doc": old.doc,
                                "replaced_at": now, "task_id": self.task_id, "flags": old.flags})
                conn.execute(sa.update(invoice).where(invoice.c.id == old.id)
                             .values(_row_values(inv, prepared, month_id, now)))
                changed.append(old.id)
                unpositioned.add(old.month_id)
                counts.updated += 1
            unpositioned.add(month_id)
        if new_rows:
            self._insert(new_rows)
        if history:
            conn.execute(sa.insert(invoice_history), history)
        refresh_listed(conn, changed)  # unify entity forms of changed rows that batches list, and their version
        counts.months |= held_now | unpositioned
        self.unsettled |= unpositioned
        self._copy_held(self.held.keys() - held_now)  # fresh months the batches have moved past
        while len(self.held_keys) > HOLD_LIMIT:
            self._copy_held({max(self.held, key=lambda month: len(self.held[month]))})

    def _merged(self, old: Any, prepared: _Prepared) -> _Prepared:
        """An invoice that is stored already and comes again with other values: what the store
        keeps is the merge of both (domain.merge.merge_with_stored). When the merge is the stored
        invoice, it stays as it is, flags included, unless the same kind of source sent it again
        (a re-import then brings its current flags)."""
        stored = Invoice.from_doc(wire.loads(old.doc))
        merged = merge_with_stored(stored, prepared.invoice)
        doc = merged.doc_json().decode()
        if doc == old.doc and stored.origin != prepared.invoice.origin:
            return _Prepared(merged, old.doc, "", old.flags)
        return _Prepared(merged, doc, render_collection_item(merged).decode(), prepared.flags)

    def _month_id(self, inv: Invoice) -> int:
        month = (inv.fplx, inv.kpyf)
        if month not in self.month_ids:  # a merge moved the invoice to a month this batch did not name
            self.month_ids |= month_ids_for(self.conn, self.tp.id, self.direction, {month})
        return self.month_ids[month]

    def finish(self) -> None:
        """Copy what is still held (the last months of the file)."""
        self._copy_held(set(self.held))

    def _copy_held(self, months: set[int]) -> None:
        """Copy the held rows of fresh months, numbered in (kprq, invoice_key) order as
        renumbering would number them, and count them; rows that come later for these months are
        copied without positions and renumbered."""
        if not months:
            return
        rows: list[tuple[object, ...]] = []
        items: dict[int, list[str]] = {}
        for month in months:
            held = self.held.pop(month)
            held.sort(key=lambda row: (row[_KPRQ], row[_KEY]))
            rows += [(*row[:-1], position) for position, row in enumerate(held, start=1)]
            items[month] = [str(row[_RENDERED]) for row in held]
            for row in held:
                del self.held_keys[row[_KEY]]  # type: ignore[arg-type]
        self._insert(rows)
        self.copied |= months
        count_months(self.conn, months, items)  # the chunks cut from the items held here, not read back

    def months_to_renumber(self) -> set[int]:
        """The months the final renumbering must cover: all that were written to, less those
        copied with their positions and not written to since."""
        return self.unsettled

    def _existing(self, keys: list[str]) -> dict[str, Any]:
        if self.postgres:  # one array parameter instead of a thousand: nothing to compile per batch
            rows = self.conn.execute(_EXISTING_PG, {"taxpayer_id": self.tp.id, "direction": self.direction,
                                                    "keys": keys})
        else:
            rows = self.conn.execute(
                sa.select(invoice.c.id, invoice.c.invoice_key, invoice.c.doc, invoice.c.month_id,
                          invoice.c.fpzt_dm, invoice.c.flags)
                .where(invoice.c.taxpayer_id == self.tp.id, invoice.c.direction == self.direction,
                       invoice.c.invoice_key.in_(keys))
            )
        return {row.invoice_key: row for row in rows}

    def _insert(self, rows: list[tuple[object, ...]]) -> None:
        if self.postgres:
            driver = self.conn.connection.driver_connection  # psycopg, in the caller's transaction
            assert driver is not None, "a live connection has a driver connection"
            with driver.cursor() as cursor, cursor.copy(_COPY_NEW) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            self.conn.execute(sa.insert(invoice), [dict(zip(_NEW_COLUMNS, row, strict=True)) for row in rows])


class _WriterThread:
    """Runs a _BatchWriter on its own thread, at most QUEUED batches behind the caller. The
    connection belongs to that thread until the ``with`` block has ended: on its way out the block
    waits for the queued batches (or, when the caller failed, drops them) and re-raises what the
    writer hit."""

    QUEUED = 2

    def __init__(self, writer: _BatchWriter) -> None:
        self.writer = writer
        self.queue: queue.Queue[list[_Prepared] | None] = queue.Queue(self.QUEUED)
        self.error: BaseException | None = None
        self.cancelled = False
        self.thread = threading.Thread(target=self._run, name="invoice-writer", daemon=True)

    def __enter__(self) -> _WriterThread:
        self.thread.start()
        return self

    def _run(self) -> None:
        while (batch := self.queue.get()) is not None:
            self._do(self.writer.write, batch)
        self._do(self.writer.finish)

    def _do(self, step: Callable[..., None], *args: object) -> None:
        if self.error is None and not self.cancelled:
            try:
                step(*args)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                self.error = exc  # later batches are only taken off the queue

    def write(self, batch: list[_Prepared]) -> None:
        if self.error is not None:  # stop reading the file: the transaction is lost anyway
            raise self.error
        self.queue.put(batch)

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.cancelled = kind is not None
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and kind is None:
            raise self.error


def _new_row(tp: Taxpayer, direction: str, prepared: _Prepared, month_id: int, now: datetime,
             task_id: str | None) -> tuple[object, ...]:
    """A new invoice's row, in _NEW_COLUMNS order, without its position."""
    inv = prepared.invoice
    return (tp.corp_id, tp.id, direction, inv.key, inv.fplx, inv.fpdm, inv.fphm, inv.kprq, inv.kpyf,
            inv.xfsbh, inv.xfmc, inv.gfsbh, inv.gfmc, inv.je, inv.se, inv.jshj, inv.fpzt_dm, month_id,
            prepared.doc, prepared.rendered, prepared.flags, now, now, task_id, None)


def _row_values(inv: Invoice, prepared: _Prepared, month_id: int, now: datetime) -> dict[str, object]:
    return {
        "fplx": inv.fplx,
        "fpdm": inv.fpdm,
        "fphm": inv.fphm,
        "kprq": inv.kprq,
        "kpyf": inv.kpyf,
        "xfsbh": inv.xfsbh,
        "xfmc": inv.xfmc,
        "gfsbh": inv.gfsbh,
        "gfmc": inv.gfmc,
        "je": inv.je,
        "se": inv.se,
        "jshj": inv.jshj,
        "fpzt_dm": inv.fpzt_dm,
        "month_id": month_id,
        "pos": None,
        "doc": prepared.doc,
        "rendered": prepared.rendered,
        "flags": prepared.flags,
        "updated_at": now,
    }


# --- a bulk load into an empty invoice table (demo and bench databases) ---------------------------

_STAGED = ", ".join(_NEW_COLUMNS[:-1])
# what a database being built can skip: the constraints checked row by row (unique, foreign keys)
# and the secondary indexes, all made again from their own definitions once the rows are in
_DROPPABLE = sa.text(
    "SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid = 'invoice'::regclass AND contype IN ('u', 'f')"
    " UNION ALL SELECT 'index', indexname, indexdef FROM pg_indexes"
    " WHERE schemaname = current_schema() AND tablename = 'invoice'"
    " AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'invoice'::regclass)"
)


class EmptyTableLoad:
    """Loads the new invoices of a database being built (the demo's millions, a benchmark's) into an
    invoice table that holds none, in the caller's transaction, which holds the table exclusively
    until it ends. store_invoices looks every key up, maintains eleven indexes row by row and leaves
    positions to renumbering, which rewrites every row once more: at five million invoices that ran
    for hours. Here the rows are staged in a temporary table (no WAL, no index), then written once,
    numbered within their months as renumbering numbers them, with the table's secondary indexes
    and row-by-row constraints dropped first and made again from their own definitions after (one
    sort each). Keys must be distinct: a duplicate fails the unique constraint when it is made again."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.month_ids: dict[tuple[int, str], dict[tuple[str, int], int]] = {}
        self.now = datetime.now(UTC)
        conn.execute(sa.text(f"CREATE TEMPORARY TABLE invoice_stage ON COMMIT DROP AS"
                             f" SELECT {_STAGED} FROM invoice WITH NO DATA"))
        self.dropped = [(str(kind), str(name), str(definition))
                        for kind, name, definition in conn.execute(_DROPPABLE)]
        for kind, name, _ in self.dropped:
            conn.execute(sa.text(f'ALTER TABLE invoice DROP CONSTRAINT "{name}"' if kind == "constraint"
                                 else f'DROP INDEX "{name}"'))

    @classmethod
    def start(cls, conn: Connection) -> EmptyTableLoad | None:
        """The load, or None when it cannot be had: not PostgreSQL, or the table holds invoices."""
        if conn.dialect.name != "postgresql":
            return None
        conn.execute(sa.text("LOCK TABLE invoice IN ACCESS EXCLUSIVE MODE"))
        if conn.execute(sa.select(invoice.c.id).limit(1)).first() is not None:
            return None
        return cls(conn)

    def add(self, tp: Taxpayer, direction: str, invoices: list[Invoice]) -> None:
        months = self.month_ids.setdefault((tp.id, direction), {})
        prepared = _prepare(invoices, {})
        wanted = {(p.invoice.fplx, p.invoice.kpyf) for p in prepared} - months.keys()
        if wanted:
            months |= month_ids_for(self.conn, tp.id, direction, wanted)
        driver = self.conn.connection.driver_connection
        assert driver is not None, "a live connection has a driver connection"
        with driver.cursor() as cursor, cursor.copy(f"COPY invoice_stage ({_STAGED}) FROM STDIN") as copy:
            for p in prepared:
                row = _new_row(tp, direction, p, months[(p.invoice.fplx, p.invoice.kpyf)], self.now, None)
                copy.write_row(row[:-1])

    def finish(self) -> set[int]:
        """Write the staged rows numbered, make the dropped indexes and constraints again, count the
        months and build their chunks; returns the months written."""
        conn = self.conn
        conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))  # the numbering's sort, in memory or in few runs
        conn.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))  # each index's sort
        # ids in (month, position) order: a month's page is then a run of neighbouring rows
        conn.execute(sa.text(
            f"INSERT INTO invoice ({_STAGED}, pos) SELECT {_STAGED},"
            f" row_number() OVER (PARTITION BY month_id ORDER BY kprq, invoice_key) FROM invoice_stage"
            f" ORDER BY month_id, kprq, invoice_key"))
        for kind, name, definition in self.dropped:
            conn.execute(sa.text(f'ALTER TABLE invoice ADD CONSTRAINT "{name}" {definition}' if kind == "constraint"
                                 else definition))
        analyze(conn)
        written = {month for months in self.month_ids.values() for month in months.values()}
        count_months(conn, written)
        return written


# --- reads of whole invoices (exports, demo) ------------------------------------------------------

@dataclass(slots=True)
class HistoryEntry:
    """An earlier state of a stored invoice: its status until ``replaced_at`` (UTC), and the task that replaced it."""

    fpzt_dm: str
    replaced_at: datetime
    task_id: str | None


@dataclass(slots=True)
class StoredForExport:
    """A stored invoice as exports read it: the canonical document, the validation flags, the history."""

    doc: str
    flags: list[str]
    history: list[HistoryEntry]


def _range_filter(taxpayer_id: int, corp_id: str, direction: str, first: int, last: int) -> list[Any]:
    return [invoice.c.taxpayer_id == taxpayer_id, invoice.c.corp_id == corp_id, invoice.c.direction == direction,
            invoice.c.kpyf.between(first, last)]


def count_range(conn: Connection, corp_id: str, taxpayer_id: int, direction: str, first: int, last: int) -> int:
    """How many invoices a taxpayer holds in months first..last (an export's total, for its progress)."""
    return int(conn.execute(
        sa.select(sa.func.count()).select_from(invoice)
        .where(*_range_filter(taxpayer_id, corp_id, direction, first, last))
    ).scalar_one())


def stored_for_export(conn: Connection, corp_id: str, taxpayer_id: int, direction: str, first: int,
                      last: int) -> Iterator[StoredForExport]:
    """The invoices of months first..last in (kpyf, kprq, identity) order, each with its flags and its
    status history (oldest first), streamed: two cursors in the same order, merged here, so that
    memory holds one invoice's history at a time."""
    where = _range_filter(taxpayer_id, corp_id, direction, first, last)
    order = (invoice.c.kpyf, invoice.c.kprq, invoice.c.invoice_key)
    streamed = conn.execution_options(stream_results=True, yield_per=1000)
    rows = streamed.execute(sa.select(invoice.c.id, invoice.c.doc, invoice.c.flags).where(*where).order_by(*order))
    history = iter(streamed.execute(
        sa.select(invoice_history.c.invoice_id, invoice_history.c.fpzt_dm, invoice_history.c.replaced_at,
                  invoice_history.c.task_id)
        .select_from(invoice_history.join(invoice, invoice.c.id == invoice_history.c.invoice_id))
        .where(*where).order_by(*order, invoice_history.c.replaced_at, invoice_history.c.id)
    ))
    pending = next(history, None)
    for invoice_id, doc, flags in rows:
        entries: list[HistoryEntry] = []
        while pending is not None and pending.invoice_id == invoice_id:
            entries.append(HistoryEntry(pending.fpzt_dm, pending.replaced_at, pending.task_id))
            pending = next(history, None)
        yield StoredForExport(str(doc), wire.loads(str(flags)) if flags not in ("", "[]") else [], entries)


def first_keys(conn: Connection, taxpayer_id: int, direction: str, kinds: Iterable[str], kpyf: int,
               limit: int) -> list[str]:
    """The identities of a month's first invoices of some kinds, in page order."""
    return list(conn.execute(
        sa.select(invoice.c.invoice_key)
        .where(invoice.c.taxpayer_id == taxpayer_id, invoice.c.direction == direction,
               invoice.c.fplx.in_(list(kinds)), invoice.c.kpyf == kpyf)
        .order_by(invoice.c.kprq, invoice.c.invoice_key)
        .limit(limit)
    ).scalars())


def count_corporation_invoices(conn: Connection, corp_id: str) -> int:
    return int(conn.execute(
        sa.select(sa.func.count()).select_from(invoice).where(invoice.c.corp_id == corp_id)
    ).scalar_one())


def analyze(conn: Connection) -> None:
    """Fresh planner statistics after a bulk load (autovacuum may be off)."""
    conn.execute(sa.text("ANALYZE invoice"))
    conn.execute(sa.text("ANALYZE invoice_month"))
