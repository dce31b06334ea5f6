"""store_invoices: positions, counts, versions and history however invoices arrive, on both databases.

On PostgreSQL a writer thread settles the months the call creates while the stream goes on: their
new invoices are held back and copied with their positions; months that existed before, and
whatever came back to a copied month, are renumbered at the end, in id order on the caller's
thread. Small batches and a small hold limit make every one of those paths run here.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fapiaohub.auth.service import create_tenant
from fapiaohub.demo.generator import demo_taxpayers, generate_taxpayer_month
from fapiaohub.domain.invoice import Invoice
from fapiaohub.store import invoices, months
from fapiaohub.store.engine import make_engine, upgrade
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.tables import invoice, invoice_history, invoice_month
from fapiaohub.store.taxpayers import Taxpayer, add_taxpayer
from tests.conftest import Tenant, scratch_postgres

OWN = demo_taxpayers()[0]


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invoices, "BATCH_SIZE", 7)
    monkeypatch.setattr(invoices, "HOLD_LIMIT", 12)


@pytest.fixture
def taxpayer(engine: Engine, tenant: Tenant) -> Taxpayer:
    with engine.begin() as conn:
        return add_taxpayer(conn, tenant.corp_id, OWN.nsrsbh, OWN.name)


def months_in_runs(per_month: int = 24) -> list[Invoice]:
    """Invoices received over four months, month after month (as bureau exports list them)."""
    return [inv for kpyf in (202501, 202502, 202503, 202504)
            for inv in generate_taxpayer_month(OWN.nsrsbh, OWN.name, "jx", kpyf, per_month)]


def assert_settled(engine: Engine, tp: Taxpayer) -> dict[str, int]:
    """Every month's positions are 1..n in (kprq, invoice_key) order, its count is n, its sums
    are its invoices' and its version was bumped; returns each invoice's position by key."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(invoice.c.month_id, invoice.c.kprq, invoice.c.invoice_key, invoice.c.pos,
                                      invoice.c.je, invoice.c.se, invoice.c.jshj)
                            .where(invoice.c.taxpayer_id == tp.id)).all()
        months = conn.execute(sa.select(invoice_month.c.id, invoice_month.c.invoice_count, invoice_month.c.version,
                                        invoice_month.c.je, invoice_month.c.se, invoice_month.c.jshj)
                              .where(invoice_month.c.taxpayer_id == tp.id)).all()
    by_month: dict[int, list] = defaultdict(list)
    for row in rows:
        by_month[row.month_id].append(row)
    for items in by_month.values():
        ordered = sorted(items, key=lambda row: (row.kprq, row.invoice_key))
        assert [row.pos for row in ordered] == list(range(1, len(items) + 1))
    assert {month.id: month.invoice_count for month in months} == {m: len(v) for m, v in by_month.items()}
    assert {month.id: (month.je, month.se, month.jshj) for month in months} == {
        m: tuple(sum((getattr(row, name) for row in v), Decimal(0)) for name in ("je", "se", "jshj"))
        for m, v in by_month.items()}
    assert all(month.version >= 1 for month in months)
    return {row.invoice_key: row.pos for row in rows}


@pytest.fixture
def settling(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the writer copied held months, and renumbered months on its own thread."""
    seen = {"copied": 0, "renumbered": 0}
    copy_held, renumber = invoices._BatchWriter._copy_held, months.renumber_months

    def counting_copy(self: invoices._BatchWriter, months: set[int]) -> None:
        seen["copied"] += len(months)
        copy_held(self, months)

    def counting_renumber(conn: sa.engine.Connection, month_ids: object) -> None:
        if threading.current_thread().name == "invoice-writer":
            seen["renumbered"] += 1
        renumber(conn, month_ids)

    monkeypatch.setattr(invoices._BatchWriter, "_copy_held", counting_copy)
    monkeypatch.setattr(invoices, "renumber_months", counting_renumber)
    return seen


def test_months_in_runs_with_a_repeat_and_a_straggler(engine: Engine, taxpayer: Taxpayer,
                                                      settling: dict[str, int]) -> None:
    invoices = months_in_runs()
    january = [inv for inv in invoices if inv.kpyf == 202501]
    voided = dataclasses.replace(january[1], fpzt_dm="2")  # seen again while its month is held back
    straggler = january[-1]
    stream = [*january[:-1][:15], voided, *january[:-1][15:],
              *[inv for inv in invoices if inv.kpyf != 202501], straggler]
    with engine.begin() as conn:
        counts = store_invoices(conn, taxpayer, "jx", stream, task_id="T-store")
    assert (counts.inserted, counts.updated, counts.unchanged) == (len(invoices), 1, 0)
    assert len(assert_settled(engine, taxpayer)) == len(invoices)
    with engine.connect() as conn:
        history = conn.execute(sa.select(invoice_history.c.fpzt_dm, invoice_history.c.task_id)).all()
        status = conn.execute(sa.select(invoice.c.fpzt_dm).where(
            invoice.c.taxpayer_id == taxpayer.id, invoice.c.invoice_key == voided.key)).scalar_one()
    assert ("0", "T-store") in [tuple(row) for row in history]
    assert status == "2"
    if engine.dialect.name == "postgresql":  # the writer thread settled new months as it went
        assert settling["copied"] > 0
    # months are locked only at the end, all in id order: never one by one as the stream goes
    assert settling["renumbered"] == 0


def test_months_interleaved(engine: Engine, taxpayer: Taxpayer) -> None:
    invoices = months_in_runs()
    random.Random(7).shuffle(invoices)
    with engine.begin() as conn:
        counts = store_invoices(conn, taxpayer, "jx", invoices)
    assert counts.inserted == len(invoices)
    assert_settled(engine, taxpayer)


def test_a_second_import_into_months_that_have_invoices(engine: Engine, taxpayer: Taxpayer) -> None:
    invoices = months_in_runs()
    with engine.begin() as conn:
        store_invoices(conn, taxpayer, "jx", invoices[::3])
    with engine.begin() as conn:
        counts = store_invoices(conn, taxpayer, "jx", invoices)
    assert (counts.inserted, counts.unchanged) == (len(invoices) - len(invoices[::3]), len(invoices[::3]))
    positions = assert_settled(engine, taxpayer)
    with engine.begin() as conn:  # the same again: nothing changes, nothing moves
        again = store_invoices(conn, taxpayer, "jx", invoices)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(invoices))
    assert assert_settled(engine, taxpayer) == positions


def test_a_stream_that_fails_halfway_stores_nothing(engine: Engine, taxpayer: Taxpayer) -> None:
    def failing() -> Iterator[Invoice]:
        for number, inv in enumerate(months_in_runs()):
            if number == 60:
                raise ValueError("the file broke off")
            yield inv

    with pytest.raises(ValueError, match="broke off"), engine.begin() as conn:
        store_invoices(conn, taxpayer, "jx", failing())
    assert not [t for t in threading.enumerate() if t.name == "invoice-writer"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(invoice)
                            .where(invoice.c.taxpayer_id == taxpayer.id)).scalar_one() == 0


def test_a_failing_write_fails_the_store(engine: Engine, taxpayer: Taxpayer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_insert = invoices._BatchWriter._insert

    def insert(self: invoices._BatchWriter, rows: list) -> None:
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real_insert(self, rows)

    monkeypatch.setattr(invoices._BatchWriter, "_insert", insert)
    with pytest.raises(RuntimeError, match="disk full"), engine.begin() as conn:
        store_invoices(conn, taxpayer, "jx", months_in_runs())
    assert not [t for t in threading.enumerate() if t.name == "invoice-writer"]


def test_two_writers_of_one_taxpayer_in_opposite_month_orders_both_finish(engine: Engine, taxpayer: Taxpayer) -> None:
    """Two imports of one taxpayer at once, listing months in opposite orders, would each create
    and lock months the other then waits for; the second waits for the first instead."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers with its database lock: they cannot interleave")
    invoices = months_in_runs()  # the same kinds every month: both writers need every month
    forward = invoices[::2]
    backward = sorted(invoices[1::2], key=lambda inv: -inv.kpyf)
    first_month_written = threading.Event()
    failures: list[BaseException] = []

    def second_writer_waits() -> bool:
        """Whether a writer of this database is blocked on a writers' lock (the other one's)."""
        with engine.connect() as probe:
            return bool(probe.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).scalar())

    def pausing(items: list[Invoice]) -> Iterator[Invoice]:
        for inv in items:
            if inv.kpyf != items[0].kpyf and not first_month_written.is_set():
                first_month_written.set()
                # go on only once the other writer has started and waits for this one: the overlap
                # the test is about, observed rather than hoped for
                deadline = time.monotonic() + 60
                while not second_writer_waits():
                    assert time.monotonic() < deadline, "the second writer never waited for the first"
            yield inv

    def write(items: Iterable[Invoice]) -> None:
        try:
            with engine.begin() as conn:
                store_invoices(conn, taxpayer, "jx", items)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
            first_month_written.set()

    first = threading.Thread(target=write, args=(pausing(forward),))
    first.start()
    assert first_month_written.wait(timeout=30)
    second = threading.Thread(target=write, args=(backward,))
    second.start()
    for writer in (first, second):
        writer.join(timeout=120)
    assert failures == []
    assert len(assert_settled(engine, taxpayer)) == len(invoices)


def _as_from(inv: Invoice, origin: str, **changes: object) -> Invoice:
    return dataclasses.replace(inv, origin=origin, **changes)


def _stored(engine: Engine, tp: Taxpayer, key: str) -> Invoice:
    with engine.connect() as conn:
        doc = conn.execute(sa.select(invoice.c.doc).where(invoice.c.taxpayer_id == tp.id,
                                                          invoice.c.invoice_key == key)).scalar_one()
    return Invoice.from_doc(json.loads(doc))


def test_one_invoice_from_several_sources_is_merged_and_re_imports_change_nothing(
        engine: Engine, taxpayer: Taxpayer) -> None:
    """The bureau export states the issue time; the XML states the day only and writes the unit
    price with other digits; a PDF read misses the 开票人. The export's values win whatever the
    order, and importing any of them again counts as unchanged."""
    bases = list(generate_taxpayer_month(OWN.nsrsbh, OWN.name, "jx", 202501, 3))
    for number, base in enumerate(bases):  # one invoice per order of arrival
        export = _as_from(base, "xlsx", kprq=base.kprq.replace(hour=10, minute=23, second=45))
        xml = _as_from(base, "xml", kprq=base.kprq.replace(hour=0, minute=0, second=0),
                       lines=[dataclasses.replace(line, dj=line.dj + "0") for line in base.lines])
        pdf = _as_from(base, "pdf", kprq=xml.kprq, kpr="")
        order = ((pdf, export, xml), (xml, pdf, export), (export, xml, pdf))[number]
        counts = []
        for source in (*order, *order):
            with engine.begin() as conn:
                counts.append(store_invoices(conn, taxpayer, "jx", [source]))
        stored = _stored(engine, taxpayer, base.key)
        assert stored.kprq == export.kprq, order
        assert stored.lines == export.lines
        assert stored.kpr == base.kpr
        assert stored.origin == "xlsx"
        assert [c.unchanged for c in counts[3:]] == [1, 1, 1], [o.origin for o in order]


def test_a_newer_export_of_the_same_kind_brings_its_status(engine: Engine, taxpayer: Taxpayer) -> None:
    base = _as_from(next(iter(generate_taxpayer_month(OWN.nsrsbh, OWN.name, "jx", 202501, 1))), "xlsx")
    with engine.begin() as conn:
        store_invoices(conn, taxpayer, "jx", [base])
    with engine.begin() as conn:
        counts = store_invoices(conn, taxpayer, "jx", [dataclasses.replace(base, fpzt_dm="8")])
    assert counts.updated == 1
    assert _stored(engine, taxpayer, base.key).fpzt_dm == "8"


@pytest.fixture
def fresh_postgres() -> Iterator[Engine]:
    """A database of its own, migrated and never analysed: a new installation's."""
    with scratch_postgres("fapiaohub_test_fresh",
                          "PostgreSQL is not reachable: the existing-key lookup's plan was not checked") as url:
        fresh = make_engine(url)
        try:
            upgrade(fresh)
            yield fresh
        finally:
            fresh.dispose()


def _rows_read(engine: Engine) -> int:
    """Rows of the invoice table read so far by scans of the table or its indexes (statistics
    flushed first: PostgreSQL 15 keeps them in the backend for up to a second otherwise)."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        return int(conn.execute(sa.text(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables"
            " WHERE relname = 'invoice'")).scalar_one())


@pytest.mark.parametrize("before", ["never-analysed", "analysed-empty", "analysed-another-taxpayer"])
def test_a_first_import_reads_each_key_once(fresh_postgres: Engine, before: str) -> None:
    """A taxpayer's first import: the statistics know nothing (never analysed), that the table is
    empty, or only the taxpayers before it (its id is past their histogram: "no rows"); and none
    can see the rows the import itself has written. By their estimates, every index on
    (taxpayer_id, direction, …) answers a key in one row, and the planner read keys through
    indexes that made it read all of the taxpayer's rows for each one: quadratic (40,000 invoices
    took 228 s and read 265 million rows; a new taxpayer's month of 100,000 in a database of five
    million ran for minutes per batch). The rows read must grow with the invoices written, not
    with their square."""
    with fresh_postgres.begin() as conn:
        corp_id = create_tenant(conn, "新装企业").corp_id
    if before == "analysed-another-taxpayer":
        other = demo_taxpayers()[1]
        with fresh_postgres.begin() as conn:
            tp = add_taxpayer(conn, corp_id, other.nsrsbh, other.name)
            store_invoices(conn, tp, "jx", generate_taxpayer_month(other.nsrsbh, other.name, "jx", 202501, 3000))
    if before != "never-analysed":
        with fresh_postgres.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE invoice"))
    written = list(generate_taxpayer_month(OWN.nsrsbh, OWN.name, "jx", 202501, 3000))
    read_before = _rows_read(fresh_postgres)
    with fresh_postgres.begin() as conn:
        tp = add_taxpayer(conn, corp_id, OWN.nsrsbh, OWN.name)
        counts = store_invoices(conn, tp, "jx", written)  # batches of 7: 430 lookups
    assert counts.inserted == len({inv.key for inv in written})
    read = _rows_read(fresh_postgres) - read_before
    # positions, counts and chunks read each row a few times; one wrong plan reads ~640,000
    assert read < 20 * len(written), read
