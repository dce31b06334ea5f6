"""All SQL of unified invoicing: unify corporations, batches and the invoices a batch lists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub.store.tables import invoice, unify_batch, unify_batch_invoice, unify_corporation


def find_corporation(conn: Connection, corp_id: str, code: str) -> Any:
    return conn.execute(sa.select(unify_corporation).where(
        unify_corporation.c.corp_id == corp_id, unify_corporation.c.code == code)).first()


def insert_corporation(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(sa.insert(unify_corporation).values(**values))


NEXT_VERSION = unify_corporation.c.version + 1  # a value for update_corporation: bumped in SQL, not read-modify-write


def update_corporation(conn: Connection, unify_corp_id: str, values: dict[str, Any]) -> None:
    conn.execute(sa.update(unify_corporation).where(unify_corporation.c.id == unify_corp_id).values(**values))


def list_corporations(conn: Connection, corp_id: str) -> list[Any]:
    return list(conn.execute(
        sa.select(unify_corporation).where(unify_corporation.c.corp_id == corp_id)
        .order_by(unify_corporation.c.create_time, unify_corporation.c.id)
    ))


def lock_corporation(conn: Connection, corp_id: str, unify_corp_id: str) -> int | None:
    """The corporation's last batch time, its row locked until the transaction ends; None when it
    does not exist. A no-op UPDATE is the lock: it takes the row lock on PostgreSQL and, as the
    transaction's first write, SQLite's write lock; SELECT … FOR UPDATE would do nothing on SQLite."""
    return conn.execute(
        sa.update(unify_corporation)
        .where(unify_corporation.c.id == unify_corp_id, unify_corporation.c.corp_id == corp_id)
        .values(last_batch_time=unify_corporation.c.last_batch_time)
        .returning(unify_corporation.c.last_batch_time)
    ).scalar()


def find_batch(conn: Connection, unify_corp_id: str, batch_no: str) -> str | None:
    return conn.execute(sa.select(unify_batch.c.id).where(
        unify_batch.c.unify_corp_id == unify_corp_id, unify_batch.c.batch_no == batch_no)).scalar()


def insert_batch(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(sa.insert(unify_batch).values(**values))


def replace_batch(conn: Connection, batch_id: str, values: dict[str, Any]) -> None:
    """Update a batch and forget the invoices it listed (the caller lists the new ones)."""
    conn.execute(sa.update(unify_batch).where(unify_batch.c.id == batch_id).values(**values))
    conn.execute(sa.delete(unify_batch_invoice).where(unify_batch_invoice.c.batch_id == batch_id))


def list_batch_invoices(conn: Connection, batch_id: str, invoice_ids: list[int]) -> None:
    if invoice_ids:
        conn.execute(sa.insert(unify_batch_invoice), [
            {"batch_id": batch_id, "seq": seq, "invoice_id": invoice_id}
            for seq, invoice_id in enumerate(invoice_ids)
        ])


def invoice_id(conn: Connection, taxpayer_id: int, direction: str, key: str) -> int | None:
    return conn.execute(sa.select(invoice.c.id).where(
        invoice.c.taxpayer_id == taxpayer_id, invoice.c.direction == direction, invoice.c.invoice_key == key,
    )).scalar()


def batches_after(conn: Connection, corp_id: str, unify_corp_id: str, index: int, count: int) -> list[Any]:
    """Batches with updateTime > index, oldest first, at most ``count``."""
    return list(conn.execute(
        sa.select(unify_batch)
        .where(unify_batch.c.corp_id == corp_id, unify_batch.c.unify_corp_id == unify_corp_id,
               unify_batch.c.update_time > index)
        .order_by(unify_batch.c.update_time)
        .limit(count)
    ))


def batch_members(conn: Connection, batch_ids: Iterable[str]) -> Any:
    """(batch_id, fplx, entity_rendered, doc, created_at, updated_at) of the batches' invoices, in
    batch order. The document is only read where the stored entity form is missing (NULL)."""
    return conn.execute(
        sa.select(unify_batch_invoice.c.batch_id, invoice.c.fplx, invoice.c.entity_rendered,
                  sa.case((invoice.c.entity_rendered.is_(None), invoice.c.doc)).label("doc"),
                  invoice.c.created_at, invoice.c.updated_at)
        .join(invoice, invoice.c.id == unify_batch_invoice.c.invoice_id)
        .where(unify_batch_invoice.c.batch_id.in_(list(batch_ids)))
        .order_by(unify_batch_invoice.c.batch_id, unify_batch_invoice.c.seq)
    )
