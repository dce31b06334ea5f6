"""The unify entity form of stored invoices, pre-rendered into ``invoice.entity_rendered``.

A unify read (GET /invoice/unify) lists each batch's invoices as Ekuaibao entity records
(shapes.entity_form.unify_invoice): about 8 KB of JSON for an invoice of three lines, 48 µs to
render. Rendering them on every read cost 8–11 ms for ten batches; rendering them for every
invoice at write time would add that to every import (a third of a 65,000-invoice import's time)
and store 8 KB a row for the many invoices no batch ever lists. So the form is rendered for the
invoices that batches list, and kept true by every writer of such a row:

- a push renders the members it lists that have none yet (:func:`render_listed`), under the
  condition that the row still holds the document and ``updated_at`` it rendered from: a writer
  that changed the row meanwhile wins, and the row keeps no form rather than a stale one;
- the invoice writer (store.invoices) and a revert (store.revert) re-render, in their own
  transaction, every listed row they change, and bump unify_forms_version, under whose sum
  API processes cache a corporation's rendered batches (:func:`refresh_listed`);
- migration 0008 renders the members that existed before (:func:`backfill`).

The form depends only on the row (corp_id, doc, created_at, updated_at): a row without one
(``NULL``: a member listed by a bulk loader, say) is rendered from its document by the reader
instead, so a missing form costs time, never correctness.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from fapiaohub import wire
from fapiaohub.domain.invoice import Invoice
from fapiaohub.shapes.entity_form import unify_invoice
from fapiaohub.store.tables import invoice, unify_batch_invoice, unify_forms_version

CHUNK = 500  # ids per statement: a bounded IN list on either database


def render_entity(corp_id: str, doc: str, created_at: datetime, updated_at: datetime) -> str:
    """One element of a batch's ``invoices`` list, as JSON text, from a stored row's values."""
    return wire.dumps(unify_invoice(corp_id, Invoice.from_doc(wire.loads(doc)), created_at, updated_at)).decode()


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    iterator = iter(sorted(set(ids)))
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def _rows(conn: Connection, ids: list[int], *, listed: bool) -> sa.CursorResult[Any]:
    """The rows of ``ids`` without a form (``listed`` False), or those a batch lists (True)."""
    which = (sa.exists().where(unify_batch_invoice.c.invoice_id == invoice.c.id) if listed
             else invoice.c.entity_rendered.is_(None))
    return conn.execute(
        sa.select(invoice.c.id, invoice.c.corp_id, invoice.c.taxpayer_id, invoice.c.direction, invoice.c.doc,
                  invoice.c.created_at, invoice.c.updated_at)
        .where(invoice.c.id.in_(ids), which)
    )


def render_listed(conn: Connection, invoice_ids: Iterable[int]) -> int:
    """Give the invoices a batch lists their entity form where they have none; returns how many
    got one. Only where the row is still the one rendered from: a concurrent writer's change (it
    holds the row until it commits, and PostgreSQL re-checks the condition then) leaves it without.
    No version moves: the form is what readers rendered from the document meanwhile."""
    done = 0
    for chunk in _chunks(invoice_ids):
        updates = [
            {"row_id": row.id, "seen_doc": row.doc, "seen_at": row.updated_at,
             "form": render_entity(row.corp_id, row.doc, row.created_at, row.updated_at)}
            for row in _rows(conn, chunk, listed=False)
        ]
        if updates:
            done += conn.execute(
                sa.update(invoice)
                .where(invoice.c.id == sa.bindparam("row_id"), invoice.c.doc == sa.bindparam("seen_doc"),
                       invoice.c.updated_at == sa.bindparam("seen_at", type_=invoice.c.updated_at.type))
                .values(entity_rendered=sa.bindparam("form")),
                updates,
            ).rowcount
    return done


def refresh_listed(conn: Connection, invoice_ids: Iterable[int]) -> None:
    """After rows were changed in this transaction: re-render the entity form of those a unify batch
    lists, and bump unify_forms_version for their taxpayer and direction, so that no process
    serves a batch it rendered before (unify.batch_cache). The caller holds that taxpayer's writer
    lock (store.invoices.lock_writers), so the row it bumps is contended by no one else and the
    bump adds no lock order. Rows no batch lists cost one probe of an index."""
    bumped: set[tuple[str, int, str]] = set()
    for chunk in _chunks(invoice_ids):
        updates = []
        for row in _rows(conn, chunk, listed=True):
            updates.append({"row_id": row.id,
                            "form": render_entity(row.corp_id, row.doc, row.created_at, row.updated_at)})
            bumped.add((row.corp_id, row.taxpayer_id, row.direction))
        if updates:
            conn.execute(sa.update(invoice).where(invoice.c.id == sa.bindparam("row_id"))
                         .values(entity_rendered=sa.bindparam("form")), updates)
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for corp_id, taxpayer_id, direction in sorted(bumped):
        conn.execute(insert(unify_forms_version).values(
            corp_id=corp_id, taxpayer_id=taxpayer_id, direction=direction, version=1,
        ).on_conflict_do_update(index_elements=[unify_forms_version.c.corp_id, unify_forms_version.c.taxpayer_id,
                                                unify_forms_version.c.direction],
                                set_={"version": unify_forms_version.c.version + 1}))


def backfill(conn: Connection) -> int:
    """Render every listed invoice that has no form yet, a chunk at a time; returns how many."""
    listed: list[int] = list(conn.execute(sa.select(unify_batch_invoice.c.invoice_id).distinct()).scalars())
    return render_listed(conn, listed)
