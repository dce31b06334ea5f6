"""The demo loader's two paths on PostgreSQL: into an empty invoice table (staged, numbered, indexes
made again) and into one that holds invoices (store_invoices, then renumbering) leave the same store."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fapiaohub.demo.load import load_demo
from fapiaohub.store.engine import make_engine, upgrade
from fapiaohub.store.months import renumber_months
from fapiaohub.store.tables import invoice, invoice_month, month_chunk
from tests.conftest import scratch_postgres

UNREACHABLE = "PostgreSQL is not reachable: the demo loader's empty-table path did not run"
# the table's indexes and constraints by name, as the migrations made them
_SCHEMA = sa.text(
    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'invoice'"
    " UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'invoice'::regclass"
)


def _schema(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {name: definition for name, definition in conn.execute(_SCHEMA)}


def _store(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every invoice's identity, month and position; every month's count; every chunk's bytes."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(invoice.c.taxpayer_id, invoice.c.direction, invoice.c.invoice_key,
                                      invoice_month.c.fplx, invoice_month.c.kpyf, invoice.c.pos, invoice.c.rendered)
                            .join(invoice_month, invoice_month.c.id == invoice.c.month_id)
                            .order_by(invoice.c.taxpayer_id, invoice.c.direction, invoice.c.invoice_key)).all()
        months = conn.execute(sa.select(invoice_month.c.taxpayer_id, invoice_month.c.direction, invoice_month.c.fplx,
                                        invoice_month.c.kpyf, invoice_month.c.invoice_count)
                              .order_by(invoice_month.c.taxpayer_id, invoice_month.c.direction,
                                        invoice_month.c.fplx, invoice_month.c.kpyf)).all()
        chunks = conn.execute(sa.select(invoice_month.c.taxpayer_id, invoice_month.c.direction, invoice_month.c.fplx,
                                        invoice_month.c.kpyf, month_chunk.c.chunk_no, month_chunk.c.joined,
                                        month_chunk.c.offsets)
                              .join(invoice_month, invoice_month.c.id == month_chunk.c.month_id)
                              .order_by(invoice_month.c.taxpayer_id, invoice_month.c.direction,
                                        invoice_month.c.fplx, invoice_month.c.kpyf, month_chunk.c.chunk_no)).all()
    return [tuple(r) for r in rows], [tuple(r) for r in months], [tuple(r) for r in chunks]


def test_a_load_into_an_empty_table_stores_what_the_writer_and_renumbering_store() -> None:
    with scratch_postgres("fapiaohub_demo_empty", UNREACHABLE) as empty_url, \
            scratch_postgres("fapiaohub_demo_filled", UNREACHABLE) as filled_url:
        empty, filled = make_engine(empty_url), make_engine(filled_url)
        try:
            upgrade(empty)
            upgrade(filled)
            migrated = _schema(empty)
            assert load_demo(empty, 1200).invoices_loaded == 1200  # the empty-table path
            assert _schema(empty) == migrated  # every index and constraint made again as it was
            load_demo(filled, 100)  # the table holds invoices: the next load takes the writer's path
            assert load_demo(filled, 1200).invoices_total == 1200
            loaded = _store(empty)
            assert loaded == _store(filled)
            rows, months, chunks = loaded
            assert len(rows) == 1200
            assert all(pos is not None for *_, pos, _ in rows)
            assert sum(count for *_, count in months) == 1200
            assert chunks
            with empty.begin() as conn:  # renumbering finds every position right and every chunk current
                renumber_months(conn, conn.execute(sa.select(invoice_month.c.id)).scalars().all())
            assert _store(empty) == loaded
        finally:
            empty.dispose()
            filled.dispose()
