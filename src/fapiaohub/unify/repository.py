"""All SQL of unified invoicing: unify corporations, batches and the invoices a batch lists.

The batch read (GET /invoice/unify) is asynchronous, on either database (:class:`BatchReads`):
SQLite answers through SQLAlchemy in a worker thread (:class:`SqlBatchReads`), PostgreSQL through
asyncpg (unify.pg_repository), as getInvoiceCollectionData's reads do and for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from anyio import to_thread
from sqlalchemy.engine import Connection, Engine

from fapiaohub.auth.service import corporation_for_digest
from fapiaohub.store.entities import render_entity
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
    """(batch_id, invoice_id, fplx, entity_rendered, doc, created_at, updated_at) of the batches'
    invoices, in batch order. The document is only read where the stored entity form is missing."""
    return conn.execute(
        sa.select(unify_batch_invoice.c.batch_id, unify_batch_invoice.c.invoice_id, invoice.c.fplx,
                  invoice.c.entity_rendered,
                  sa.case((invoice.c.entity_rendered.is_(None), invoice.c.doc)).label("doc"),
                  invoice.c.created_at, invoice.c.updated_at)
        .join(invoice, invoice.c.id == unify_batch_invoice.c.invoice_id)
        .where(unify_batch_invoice.c.batch_id.in_(list(batch_ids)))
        .order_by(unify_batch_invoice.c.batch_id, unify_batch_invoice.c.seq)
    )


@dataclass(frozen=True, slots=True)
class Member:
    """An invoice a batch lists: its kind (the v1 filter) and its entity form."""

    invoice_id: int
    fplx: str
    form: bytes


@dataclass(frozen=True, slots=True)
class Batch:
    id: str
    batch_no: str
    update_time: int
    period: str | None
    unify_corp_id: str
    relations: bytes  # as the push stored it: wire.dumps of the relation list
    members: list[Member] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BatchRead:
    """The token's corporation (None: the token is not live) and its batches after the cursor,
    with the corporation's forms version (the sum of its unify_forms_version rows) read in the
    same snapshot (None: not read)."""

    corp_id: str | None
    forms_version: int | None = None
    batches: list[Batch] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BatchVersions:
    """What decides a read's answer, without the answer: the token's corporation (None: not
    live), its forms version, and (id, updateTime) of the batches after the cursor."""

    corp_id: str | None
    forms_version: int = 0
    batches: list[tuple[str, int]] = field(default_factory=list)


class BatchReads(Protocol):
    async def token_corporation(self, token_digest: str) -> str | None: ...

    async def versions(self, token_digest: str, unify_corp_id: str, index: int, count: int) -> BatchVersions | None:
        """The batches a read would answer, by key only; None where the reads offer no versions."""

    async def batches(self, token_digest: str, unify_corp_id: str, index: int, count: int) -> BatchRead:
        """The token's corporation and its batches with updateTime > index, oldest first, at most
        ``count``, each with its members' entity forms in order."""

    async def close(self) -> None: ...


class SqlBatchReads:
    """The batch read over SQLAlchemy (SQLite; any database) in a worker thread. It offers no
    versions: nothing it reads is cached."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def token_corporation(self, token_digest: str) -> str | None:
        return await to_thread.run_sync(self._token_corporation, token_digest)

    async def versions(self, token_digest: str, unify_corp_id: str, index: int, count: int) -> BatchVersions | None:
        return None

    async def batches(self, token_digest: str, unify_corp_id: str, index: int, count: int) -> BatchRead:
        return await to_thread.run_sync(self._batches, token_digest, unify_corp_id, index, count)

    async def close(self) -> None:
        pass  # the engine belongs to the app

    def _token_corporation(self, token_digest: str) -> str | None:
        with self.engine.connect() as conn:
            return corporation_for_digest(conn, token_digest)

    def _batches(self, token_digest: str, unify_corp_id: str, index: int, count: int) -> BatchRead:
        with self.engine.connect() as conn:
            corp_id = corporation_for_digest(conn, token_digest)
            if corp_id is None:
                return BatchRead(None)
            return BatchRead(corp_id, None, read_batches(conn, corp_id, unify_corp_id, index, count))


def read_batches(conn: Connection, corp_id: str, unify_corp_id: str, index: int, count: int) -> list[Batch]:
    """A corporation's batches after ``index`` with their members' entity forms: the stored ones,
    or, for a member without one, rendered from its document."""
    batches = [
        Batch(row.id, row.batch_no, row.update_time, row.period, row.unify_corp_id, row.relations.encode())
        for row in batches_after(conn, corp_id, unify_corp_id, index, count)
    ]
    if batches:
        by_id = {batch.id: batch for batch in batches}
        for row in batch_members(conn, by_id):
            form = row.entity_rendered
            if form is None:
                form = render_entity(corp_id, row.doc, row.created_at, row.updated_at)
            by_id[row.batch_id].members.append(Member(row.invoice_id, row.fplx, form.encode()))
    return batches


def open_batch_reads(engine: Engine) -> BatchReads:
    """asyncpg on PostgreSQL, SQLAlchemy in threads elsewhere."""
    if engine.dialect.name == "postgresql":
        # pg_repository builds on this module's types: imported here, not at the top
        from fapiaohub.unify.pg_repository import PostgresBatchReads  # noqa: PLC0415

        return PostgresBatchReads(engine.url)
    return SqlBatchReads(engine)
