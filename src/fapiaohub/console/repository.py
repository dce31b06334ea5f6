"""Every SQL statement of the console: users, sessions, overview sums, the ledger, invoices, tasks, taxpayers.

Each function that reads a corporation's data takes its corp_id and filters by it: the console's
routes get corp_id from the signed-in user only (console.auth.current_user), never from the URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub.store.tables import (
    collection_task,
    console_session,
    console_user,
    invoice,
    invoice_history,
    task_file,
    taxpayer,
    unify_batch,
    unify_batch_invoice,
    unify_corporation,
)


def _now() -> datetime:
    return datetime.now(UTC)


# ---- users ---------------------------------------------------------------------------------------


def add_user(conn: Connection, corp_id: str, name: str, password_hash: str, role: str) -> int:
    result = conn.execute(sa.insert(console_user).values(
        corp_id=corp_id, name=name, password_hash=password_hash, role=role, disabled=False,
        failed_attempts=0, locked_until=None, created_at=_now(),
    ))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def find_user(conn: Connection, corp_id: str, name: str) -> Any:
    return conn.execute(
        sa.select(console_user).where(console_user.c.corp_id == corp_id, console_user.c.name == name)
    ).first()


def list_users(conn: Connection, corp_id: str) -> list[Any]:
    return list(conn.execute(
        sa.select(console_user).where(console_user.c.corp_id == corp_id).order_by(console_user.c.name)
    ).all())


def set_disabled(conn: Connection, corp_id: str, name: str, disabled: bool) -> Any:
    """Disable (or enable) a user and end their sessions; the row, or None when there is no such user."""
    user = find_user(conn, corp_id, name)
    if user is None:
        return None
    conn.execute(sa.update(console_user).where(console_user.c.id == user.id).values(disabled=disabled))
    if disabled:
        conn.execute(sa.delete(console_session).where(console_session.c.user_id == user.id))
    return user


def set_password(conn: Connection, corp_id: str, name: str, password_hash: str) -> bool:
    """New password, lock-out cleared, every session ended."""
    user = find_user(conn, corp_id, name)
    if user is None:
        return False
    conn.execute(sa.update(console_user).where(console_user.c.id == user.id).values(
        password_hash=password_hash, failed_attempts=0, locked_until=None))
    conn.execute(sa.delete(console_session).where(console_session.c.user_id == user.id))
    return True


def record_failure(conn: Connection, user_id: int, attempts: int, locked_until: datetime | None) -> None:
    conn.execute(sa.update(console_user).where(console_user.c.id == user_id).values(
        failed_attempts=attempts, locked_until=locked_until))


def record_success(conn: Connection, user_id: int, rehashed: str | None) -> None:
    values: dict[str, Any] = {"failed_attempts": 0, "locked_until": None}
    if rehashed:
        values["password_hash"] = rehashed
    conn.execute(sa.update(console_user).where(console_user.c.id == user_id).values(**values))


# ---- sessions ------------------------------------------------------------------------------------


def create_session(conn: Connection, token_hash: str, user_id: int, csrf_token: str, expires_at: int) -> None:
    conn.execute(sa.insert(console_session).values(
        token_hash=token_hash, user_id=user_id, csrf_token=csrf_token, expires_at=expires_at, created_at=_now()))


def session_user(conn: Connection, token_hash: str, now: int) -> Any:
    """The live session's user (id, corp_id, name, role, csrf_token), or None."""
    return conn.execute(
        sa.select(console_user.c.id, console_user.c.corp_id, console_user.c.name, console_user.c.role,
                  console_session.c.csrf_token)
        .join(console_user, console_user.c.id == console_session.c.user_id)
        .where(console_session.c.token_hash == token_hash, console_session.c.expires_at > now,
               console_user.c.disabled.is_(False))
    ).first()


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(sa.delete(console_session).where(console_session.c.token_hash == token_hash))


def delete_expired_sessions(conn: Connection, now: int) -> None:
    conn.execute(sa.delete(console_session).where(console_session.c.expires_at <= now))


# ---- taxpayers -----------------------------------------------------------------------------------


def list_taxpayers(conn: Connection, corp_id: str) -> list[Any]:
    return list(conn.execute(
        sa.select(taxpayer).where(taxpayer.c.corp_id == corp_id).order_by(taxpayer.c.id)
    ).all())


def get_taxpayer(conn: Connection, corp_id: str, taxpayer_id: int) -> Any:
    return conn.execute(
        sa.select(taxpayer).where(taxpayer.c.corp_id == corp_id, taxpayer.c.id == taxpayer_id)
    ).first()


def set_collection(conn: Connection, corp_id: str, taxpayer_id: int, enabled: bool) -> bool:
    result = conn.execute(sa.update(taxpayer).where(taxpayer.c.corp_id == corp_id, taxpayer.c.id == taxpayer_id)
                          .values(collection_enabled=enabled))
    return result.rowcount == 1


# ---- overview ------------------------------------------------------------------------------------

_SUMS = (sa.func.count().label("count"), sa.func.sum(invoice.c.je).label("je"),
         sa.func.sum(invoice.c.se).label("se"), sa.func.sum(invoice.c.jshj).label("jshj"))


def latest_month(conn: Connection, corp_id: str, taxpayer_id: int) -> int | None:
    """The taxpayer's latest kpyf with invoices: the overview opens there."""
    value = conn.execute(sa.select(sa.func.max(invoice.c.kpyf))
                         .where(invoice.c.corp_id == corp_id, invoice.c.taxpayer_id == taxpayer_id)).scalar()
    return int(value) if value is not None else None


def monthly_totals(conn: Connection, corp_id: str, taxpayer_id: int, first: int, last: int) -> list[Any]:
    """(direction, kpyf, count, je, se, jshj) for each month of the range that has invoices."""
    return list(conn.execute(
        sa.select(invoice.c.direction, invoice.c.kpyf, *_SUMS)
        .where(invoice.c.corp_id == corp_id, invoice.c.taxpayer_id == taxpayer_id,
               invoice.c.kpyf >= first, invoice.c.kpyf <= last)
        .group_by(invoice.c.direction, invoice.c.kpyf)
    ).all())


def month_split(conn: Connection, corp_id: str, taxpayer_id: int, kpyf: int, column: str) -> list[Any]:
    """(direction, key, count, je, se, jshj) of one month grouped by ``column`` (fplx or fpzt_dm)."""
    key = invoice.c[column]
    return list(conn.execute(
        sa.select(invoice.c.direction, key.label("key"), *_SUMS)
        .where(invoice.c.corp_id == corp_id, invoice.c.taxpayer_id == taxpayer_id, invoice.c.kpyf == kpyf)
        .group_by(invoice.c.direction, key).order_by(invoice.c.direction, key)
    ).all())


def top_counterparties(conn: Connection, corp_id: str, taxpayer_id: int, kpyf: int, direction: str,
                       limit: int = 10) -> list[Any]:
    """The month's largest counterparties by 价税合计: sellers for 进项, buyers for 销项."""
    sbh, mc = (invoice.c.xfsbh, invoice.c.xfmc) if direction == "jx" else (invoice.c.gfsbh, invoice.c.gfmc)
    return list(conn.execute(
        sa.select(sbh.label("sbh"), sa.func.max(mc).label("mc"), *_SUMS)
        .where(invoice.c.corp_id == corp_id, invoice.c.taxpayer_id == taxpayer_id, invoice.c.kpyf == kpyf,
               invoice.c.direction == direction)
        .group_by(sbh).order_by(sa.func.sum(invoice.c.jshj).desc(), sbh).limit(limit)
    ).all())


# ---- ledger --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    """The ledger's filters, already checked (console.ledger parses them from the query string)."""

    taxpayer_id: int | None = None
    direction: str | None = None
    first: datetime | None = None  # kprq >= first
    before: datetime | None = None  # kprq < before
    fplx: str | None = None
    status: str | None = None
    party: str | None = None  # counterparty name or 税号 prefix
    min_amount: Decimal | None = None  # 价税合计
    max_amount: Decimal | None = None


SORTS = {  # name -> (column, descending)
    "kprq_desc": ("kprq", True), "kprq_asc": ("kprq", False),
    "jshj_desc": ("jshj", True), "jshj_asc": ("jshj", False),
}


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _party(direction: str, prefix: str) -> sa.ColumnElement[bool]:
    sbh, mc = (invoice.c.xfsbh, invoice.c.xfmc) if direction == "jx" else (invoice.c.gfsbh, invoice.c.gfmc)
    like = _like_prefix(prefix)
    return sa.or_(mc.like(like, escape="\\"), sbh.like(like.upper(), escape="\\"))


def _where(corp_id: str, f: LedgerFilter) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [invoice.c.corp_id == corp_id]
    if f.taxpayer_id is not None:
        where.append(invoice.c.taxpayer_id == f.taxpayer_id)
    if f.direction:
        where.append(invoice.c.direction == f.direction)
    if f.first:
        where.append(invoice.c.kprq >= f.first)
    if f.before:
        where.append(invoice.c.kprq < f.before)
    if f.fplx:
        where.append(invoice.c.fplx == f.fplx)
    if f.status:
        where.append(invoice.c.fpzt_dm == f.status)
    if f.party:
        if f.direction:
            where.append(_party(f.direction, f.party))
        else:
            where.append(sa.or_(sa.and_(invoice.c.direction == "jx", _party("jx", f.party)),
                                sa.and_(invoice.c.direction == "xx", _party("xx", f.party))))
    if f.min_amount is not None:
        where.append(invoice.c.jshj >= f.min_amount)
    if f.max_amount is not None:
        where.append(invoice.c.jshj <= f.max_amount)
    return where


_LEDGER_COLUMNS = (invoice.c.id, invoice.c.direction, invoice.c.fplx, invoice.c.fpdm, invoice.c.fphm,
                   invoice.c.kprq, invoice.c.xfsbh, invoice.c.xfmc, invoice.c.gfsbh, invoice.c.gfmc,
                   invoice.c.je, invoice.c.se, invoice.c.jshj, invoice.c.fpzt_dm, taxpayer.c.nsrsbh,
                   taxpayer.c.name.label("taxpayer_name"))


def ledger_page(conn: Connection, corp_id: str, f: LedgerFilter, sort: str, after: tuple[Any, int] | None,
                limit: int) -> list[Any]:
    """One page in ``sort`` order, starting after the (sort value, id) of the previous page's last row:
    keyset paging, so the 1,000th page costs what the first does."""
    name, descending = SORTS[sort]
    column = invoice.c[name]
    where = _where(corp_id, f)
    if after is not None:
        value, last_id = after
        if descending:
            where.append(sa.or_(column < value, sa.and_(column == value, invoice.c.id < last_id)))
        else:
            where.append(sa.or_(column > value, sa.and_(column == value, invoice.c.id > last_id)))
    order = [column.desc(), invoice.c.id.desc()] if descending else [column.asc(), invoice.c.id.asc()]
    return list(conn.execute(
        sa.select(*_LEDGER_COLUMNS).join(taxpayer, taxpayer.c.id == invoice.c.taxpayer_id)
        .where(*where).order_by(*order).limit(limit)
    ).all())


def ledger_totals(conn: Connection, corp_id: str, f: LedgerFilter) -> Any:
    """count, je, se, jshj of the whole filtered set."""
    return conn.execute(sa.select(*_SUMS).where(*_where(corp_id, f))).one()


def ledger_docs(conn: Connection, corp_id: str, f: LedgerFilter) -> Iterator[str]:
    """The canonical documents of the filtered set in (kprq, id) order, streamed for exports."""
    result = conn.execution_options(yield_per=1000).execute(
        sa.select(invoice.c.doc).where(*_where(corp_id, f)).order_by(invoice.c.kprq, invoice.c.id))
    for row in result:
        yield row.doc


# ---- one invoice ---------------------------------------------------------------------------------


def invoice_detail(conn: Connection, corp_id: str, invoice_id: int) -> Any:
    """The invoice with its taxpayer, or None when it is not this corporation's."""
    return conn.execute(
        sa.select(invoice, taxpayer.c.nsrsbh, taxpayer.c.name.label("taxpayer_name"))
        .join(taxpayer, taxpayer.c.id == invoice.c.taxpayer_id)
        .where(invoice.c.id == invoice_id, invoice.c.corp_id == corp_id)
    ).first()


def origin_task(conn: Connection, corp_id: str, task_id: str) -> Any:
    """The task that created an invoice (id, source, state, created_at), or None (gone, or not ours)."""
    return conn.execute(
        sa.select(collection_task.c.id, collection_task.c.source, collection_task.c.state,
                  collection_task.c.created_at)
        .where(collection_task.c.corp_id == corp_id, collection_task.c.id == task_id)
    ).first()


def history_of(conn: Connection, invoice_id: int) -> list[Any]:
    """Earlier states (call only for an invoice invoice_detail found for the caller's corporation)."""
    return list(conn.execute(
        sa.select(invoice_history).where(invoice_history.c.invoice_id == invoice_id)
        .order_by(invoice_history.c.replaced_at, invoice_history.c.id)
    ).all())


# ---- tasks ---------------------------------------------------------------------------------------


def list_tasks(conn: Connection, corp_id: str, limit: int = 50) -> list[Any]:
    return list(conn.execute(
        sa.select(collection_task, taxpayer.c.nsrsbh).join(taxpayer, taxpayer.c.id == collection_task.c.taxpayer_id)
        .where(collection_task.c.corp_id == corp_id)
        .order_by(collection_task.c.created_at.desc(), collection_task.c.id).limit(limit)
    ).all())


def get_task(conn: Connection, corp_id: str, task_id: str) -> Any:
    return conn.execute(
        sa.select(collection_task, taxpayer.c.nsrsbh).join(taxpayer, taxpayer.c.id == collection_task.c.taxpayer_id)
        .where(collection_task.c.corp_id == corp_id, collection_task.c.id == task_id)
    ).first()


def files_of(conn: Connection, task_id: str) -> list[Any]:
    return list(conn.execute(
        sa.select(task_file.c.seq, task_file.c.name, task_file.c.size).where(task_file.c.task_id == task_id)
        .order_by(task_file.c.seq)
    ).all())


# ---- unify (统一开票) -------------------------------------------------------------------------------


def list_unify_corporations(conn: Connection, corp_id: str) -> list[Any]:
    """The corporation's unify corporations with their batch count and last batch time (epoch ms)."""
    counts = (sa.select(unify_batch.c.unify_corp_id, sa.func.count().label("batches"),
                        sa.func.max(unify_batch.c.update_time).label("last_batch"))
              .where(unify_batch.c.corp_id == corp_id).group_by(unify_batch.c.unify_corp_id).subquery())
    return list(conn.execute(
        sa.select(unify_corporation, sa.func.coalesce(counts.c.batches, 0).label("batches"), counts.c.last_batch)
        .outerjoin(counts, counts.c.unify_corp_id == unify_corporation.c.id)
        .where(unify_corporation.c.corp_id == corp_id).order_by(unify_corporation.c.name, unify_corporation.c.id)
    ).all())


def get_unify_corporation(conn: Connection, corp_id: str, unify_corp_id: str) -> Any:
    return conn.execute(
        sa.select(unify_corporation)
        .where(unify_corporation.c.corp_id == corp_id, unify_corporation.c.id == unify_corp_id)
    ).first()


def unify_batches(conn: Connection, corp_id: str, unify_corp_id: str, limit: int = 200) -> list[Any]:
    """A unify corporation's batches, newest first, with their number of invoices."""
    return list(conn.execute(
        sa.select(unify_batch.c.id, unify_batch.c.batch_no, unify_batch.c.period, unify_batch.c.update_time,
                  sa.func.count(unify_batch_invoice.c.seq).label("invoices"))
        .outerjoin(unify_batch_invoice, unify_batch_invoice.c.batch_id == unify_batch.c.id)
        .where(unify_batch.c.corp_id == corp_id, unify_batch.c.unify_corp_id == unify_corp_id)
        .group_by(unify_batch.c.id, unify_batch.c.batch_no, unify_batch.c.period, unify_batch.c.update_time)
        .order_by(unify_batch.c.update_time.desc(), unify_batch.c.id).limit(limit)
    ).all())


def unify_batch_invoices(conn: Connection, corp_id: str, batch_ids: list[str]) -> list[Any]:
    """(batch_id, invoice id, fphm, jshj) of the batches' invoices, in batch order."""
    if not batch_ids:
        return []
    return list(conn.execute(
        sa.select(unify_batch_invoice.c.batch_id, invoice.c.id, invoice.c.fphm, invoice.c.jshj)
        .join(invoice, invoice.c.id == unify_batch_invoice.c.invoice_id)
        .where(unify_batch_invoice.c.batch_id.in_(batch_ids), invoice.c.corp_id == corp_id)
        .order_by(unify_batch_invoice.c.batch_id, unify_batch_invoice.c.seq)
    ).all())
