"""Undoing what one task wrote: delete the invoices it inserted, restore the ones it changed.

The writer records the task that inserted a row (invoice.created_by_task) and, for a row it
changed, the state it replaced (invoice_history, with the task's id). A revert deletes the first
and puts the earliest replaced state of the second back, then renumbers the months touched so
that their versions move on and no cached page of the task's state is served again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub import wire
from fapiaohub.domain.invoice import Invoice
from fapiaohub.shapes.collection_item import render_collection_item
from fapiaohub.store.entities import refresh_listed
from fapiaohub.store.invoices import lock_writers
from fapiaohub.store.months import month_ids_for, renumber_months
from fapiaohub.store.tables import invoice, invoice_history, unify_batch_invoice
from fapiaohub.store.taxpayers import Taxpayer


@dataclass(slots=True)
class RevertCounts:
    deleted: int = 0  # invoices the task had inserted
    restored: int = 0  # invoices the task had changed, back to their earlier state
    months: set[int] = field(default_factory=set)  # kpyf of the months touched


class RevertConflictError(Exception):
    """A later writer changed what the task wrote: reverting would silently undo that writer too."""


def revert_task_writes(conn: Connection, tp: Taxpayer, direction: str, task_id: str) -> RevertCounts:
    """Undo the writes of ``task_id`` to one taxpayer's invoices of one direction, inside the
    caller's transaction. Refused (RevertConflictError) when another writer changed any of those
    invoices after the task, or a unify batch refers to an invoice the task inserted."""
    lock_writers(conn, tp.id, direction)  # no writer of this taxpayer runs between check and change
    own = (invoice.c.taxpayer_id == tp.id, invoice.c.direction == direction)
    inserted = conn.execute(
        sa.select(invoice.c.id, invoice.c.month_id, invoice.c.kpyf)
        .where(*own, invoice.c.created_by_task == task_id)
    ).all()
    inserted_ids = {row.id for row in inserted}
    replaced: dict[int, Any] = {}  # invoice id -> the earliest state this task replaced
    for row in conn.execute(
        sa.select(invoice_history.c.id, invoice_history.c.invoice_id, invoice_history.c.doc,
                  invoice_history.c.flags)
        .select_from(invoice_history.join(invoice, invoice.c.id == invoice_history.c.invoice_id))
        .where(*own, invoice_history.c.task_id == task_id)
        .order_by(invoice_history.c.id)
    ):
        if row.invoice_id not in inserted_ids:
            replaced.setdefault(row.invoice_id, row)
    _refuse_conflicts(conn, task_id, inserted_ids, replaced)

    counts = RevertCounts()
    months = {row.month_id for row in inserted}
    counts.months |= {row.kpyf for row in inserted}
    if inserted_ids:
        created = sa.select(invoice.c.id).where(*own, invoice.c.created_by_task == task_id)
        conn.execute(sa.delete(invoice_history).where(invoice_history.c.invoice_id.in_(created)))
        counts.deleted = conn.execute(sa.delete(invoice).where(*own, invoice.c.created_by_task == task_id)).rowcount
    now = datetime.now(UTC)
    for invoice_id, earlier in replaced.items():
        current = conn.execute(
            sa.select(invoice.c.month_id, invoice.c.kpyf).where(invoice.c.id == invoice_id)
        ).one()
        inv = Invoice.from_doc(wire.loads(earlier.doc))
        month_id = month_ids_for(conn, tp.id, direction, {(inv.fplx, inv.kpyf)})[(inv.fplx, inv.kpyf)]
        values: dict[str, object] = {
            "fplx": inv.fplx, "fpdm": inv.fpdm, "fphm": inv.fphm, "kprq": inv.kprq, "kpyf": inv.kpyf,
            "xfsbh": inv.xfsbh, "xfmc": inv.xfmc, "gfsbh": inv.gfsbh, "gfmc": inv.gfmc,
            "je": inv.je, "se": inv.se, "jshj": inv.jshj, "fpzt_dm": inv.fpzt_dm, "month_id": month_id,
            "pos": None, "doc": earlier.doc, "rendered": render_collection_item(inv).decode(), "updated_at": now,
        }
        if earlier.flags is not None:  # history written before 0007 did not keep them
            values["flags"] = earlier.flags
        conn.execute(sa.update(invoice).where(invoice.c.id == invoice_id).values(values))
        conn.execute(sa.delete(invoice_history).where(invoice_history.c.invoice_id == invoice_id,
                                                      invoice_history.c.task_id == task_id))
        months |= {current.month_id, month_id}
        counts.months |= {current.kpyf, inv.kpyf}
        counts.restored += 1
    refresh_listed(conn, replaced)  # restored rows that unify batches list: their forms, and their version
    renumber_months(conn, months)
    return counts


def _refuse_conflicts(conn: Connection, task_id: str, inserted_ids: set[int], replaced: dict[int, Any]) -> None:
    later = 0
    ids = sorted(inserted_ids | replaced.keys())
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in conn.execute(
            sa.select(invoice_history.c.invoice_id, invoice_history.c.id)
            .where(invoice_history.c.invoice_id.in_(chunk),
                   sa.or_(invoice_history.c.task_id.is_(None), invoice_history.c.task_id != task_id))
        ):
            first = replaced.get(row.invoice_id)
            if first is None or row.id > first.id:  # on a row it inserted, any other writer is later
                later += 1
    if later:
        raise RevertConflictError(f"任务 {task_id} 写入的发票之后又被其他任务或推送修改了{later}次：撤销会一并抹去那些修改，已拒绝")
    if inserted_ids:
        chunk_ids = sorted(inserted_ids)
        referenced = 0
        for start in range(0, len(chunk_ids), 500):
            referenced += int(conn.execute(
                sa.select(sa.func.count()).select_from(unify_batch_invoice)
                .where(unify_batch_invoice.c.invoice_id.in_(chunk_ids[start:start + 500]))
            ).scalar_one())
        if referenced:
            raise RevertConflictError(f"任务 {task_id} 新增的发票中有{referenced}张已被统一开票批次引用，不能删除")
