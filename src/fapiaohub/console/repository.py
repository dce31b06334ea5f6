"""Every SQL statement of the console: users, sessions, overview sums, the ledger, invoices, tasks, taxpayers.

Each function that reads a corporation's data takes its corp_id and filters by it: the console's
routes get corp_id from the signed-in user only (console.auth.current_user), never from the URL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from fapiaohub.domain.invoice import kpyf_of
from fapiaohub.store.tables import (
    collection_task,
    console_session,
    console_user,
    invoice,
    invoice_history,
    invoice_month,
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


# the same figures from the months' own sums (kept with their counts: store.months), a row per month
_MONTH_SUMS = (sa.func.coalesce(sa.func.sum(invoice_month.c.invoice_count), 0).label("count"),
               sa.func.sum(invoice_month.c.je).label("je"), sa.func.sum(invoice_month.c.se).label("se"),
               sa.func.sum(invoice_month.c.jshj).label("jshj"))


def _months_of(corp_id: str) -> sa.Select[Any]:
    """invoice_month rows of the corporation's taxpayers that hold invoices, to select from."""
    return (sa.select().select_from(invoice_month).join(taxpayer, taxpayer.c.id == invoice_month.c.taxpayer_id)
            .where(taxpayer.c.corp_id == corp_id, invoice_month.c.invoice_count > 0))


def latest_month(conn: Connection, corp_id: str, taxpayer_id: int) -> int | None:
    """The taxpayer's latest kpyf with invoices: the overview opens there."""
    value = conn.execute(_months_of(corp_id).add_columns(sa.func.max(invoice_month.c.kpyf))
                         .where(invoice_month.c.taxpayer_id == taxpayer_id)).scalar()
    return int(value) if value is not None else None


def monthly_totals(conn: Connection, corp_id: str, taxpayer_id: int, first: int, last: int) -> list[Any]:
    """(direction, kpyf, count, je, se, jshj) for each month of the range that has invoices."""
    return list(conn.execute(
        _months_of(corp_id).add_columns(invoice_month.c.direction, invoice_month.c.kpyf, *_MONTH_SUMS)
        .where(invoice_month.c.taxpayer_id == taxpayer_id, invoice_month.c.kpyf.between(first, last))
        .group_by(invoice_month.c.direction, invoice_month.c.kpyf)
    ).all())


def month_split(conn: Connection, corp_id: str, taxpayer_id: int, kpyf: int, column: str) -> list[Any]:
    """(direction, key, count, je, se, jshj) of one month grouped by ``column`` (fplx or fpzt_dm)."""
    if column == "fplx":  # a kind's month is an invoice_month
        return list(conn.execute(
            _months_of(corp_id).add_columns(invoice_month.c.direction, invoice_month.c.fplx.label("key"), *_MONTH_SUMS)
            .where(invoice_month.c.taxpayer_id == taxpayer_id, invoice_month.c.kpyf == kpyf)
            .group_by(invoice_month.c.direction, invoice_month.c.fplx)
            .order_by(invoice_month.c.direction, invoice_month.c.fplx)
        ).all())
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


PARTY_BRANCHES = 64  # matching counterparties read as merged index ranges; beyond, walk the order and filter
# (taxpayer id, direction, "name" or "id", value) of each counterparty matching a prefix; None: too many
Counterparties = list[tuple[int, str, str, str]] | None


class Unknown:
    """ledger_page's counterparties when the caller has not looked them up."""


UNKNOWN = Unknown()
_SIDES = {"jx": (invoice.c.xfsbh, invoice.c.xfmc), "xx": (invoice.c.gfsbh, invoice.c.gfmc)}  # the counterparty


def _successor(prefix: str) -> str | None:
    """The first string after every string that starts with ``prefix``, in code point order
    (None: there is none)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    following = ord(stripped[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are no characters: skip them
        following = 0xE000
    return stripped[:-1] + chr(following)


def _code_points(conn: Connection, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """``column`` compared by code point: PostgreSQL's "C" collation (what the ledger indexes use,
    whatever the database's collation), SQLite's default BINARY."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _starts_with(conn: Connection, column: sa.ColumnElement[str], prefix: str) -> sa.ColumnElement[bool]:
    """``column`` starts with ``prefix``, as a range an index on the column walks (LIKE cannot use
    one on SQLite, and on PostgreSQL only in a C-collated database), and case-sensitively on both."""
    value = _code_points(conn, column)
    following = _successor(prefix)
    return value >= prefix if following is None else sa.and_(value >= prefix, value < following)


def _party(conn: Connection, direction: str, prefix: str) -> sa.ColumnElement[bool]:
    sbh, mc = _SIDES[direction]
    return sa.or_(_starts_with(conn, mc, prefix), _starts_with(conn, sbh, prefix.upper()))


def _direction_is(direction: str) -> sa.ColumnElement[bool]:
    # inline, not a parameter: the ledger's partial indexes (direction = 'jx' / 'xx') must be provable
    return invoice.c.direction == sa.literal(direction, literal_execute=True)


def _where(conn: Connection, corp_id: str, f: LedgerFilter, *, party: bool = True,
           scope: bool = True) -> list[sa.ColumnElement[bool]]:
    """The filter's conditions; without ``party`` or ``scope`` (corporation, taxpayer, direction)
    for the counterparty ranges, which select those by their index."""
    where: list[sa.ColumnElement[bool]] = []
    if scope:
        where.append(invoice.c.corp_id == corp_id)
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
    if f.party and party:
        if f.direction:
            where.append(_party(conn, f.direction, f.party))
        else:
            where.append(sa.or_(sa.and_(_direction_is("jx"), _party(conn, "jx", f.party)),
                                sa.and_(_direction_is("xx"), _party(conn, "xx", f.party))))
    if f.min_amount is not None:
        where.append(invoice.c.jshj >= f.min_amount)
    if f.max_amount is not None:
        where.append(invoice.c.jshj <= f.max_amount)
    return where


_LEDGER_COLUMNS_OF_INVOICE = (invoice.c.id, invoice.c.taxpayer_id, invoice.c.direction, invoice.c.fplx,
                           invoice.c.fpdm, invoice.c.fphm, invoice.c.kprq, invoice.c.xfsbh, invoice.c.xfmc,
                           invoice.c.gfsbh, invoice.c.gfmc, invoice.c.je, invoice.c.se, invoice.c.jshj,
                           invoice.c.fpzt_dm)
_LEDGER_COLUMNS = (*_LEDGER_COLUMNS_OF_INVOICE, taxpayer.c.nsrsbh, taxpayer.c.name.label("taxpayer_name"))


def ledger_page(conn: Connection, corp_id: str, f: LedgerFilter, sort: str, after: tuple[Any, int] | None,
                limit: int, taxpayer_ids: list[int] | None = None,
                counterparties: Counterparties | Unknown = UNKNOWN) -> list[Any]:
    """One page in ``sort`` order, starting after the (sort value, id) of the previous page's last row:
    keyset paging, so the 1,000th page costs what the first does.

    A counterparty prefix in date order is read as one index range per matching counterparty
    (name or 税号, found by a skip scan), each cut at the page size, and the page is the first rows
    of their union: what a page costs then depends on neither its depth nor how rare the prefix
    is. With more than PARTY_BRANCHES matching counterparties the prefix is common, and walking
    the date order while filtering finds a page as quickly.

    (``taxpayer_ids``: the corporation's taxpayers, and ``counterparties``: party_counterparties
    of the filter, when the caller has them already; a round trip less each.)"""
    name, descending = SORTS[sort]
    column = invoice.c[name]
    keyset: list[sa.ColumnElement[bool]] = []
    if after is not None:  # a row comparison: the index seeks to it (an OR of two conditions it walks to)
        seek = sa.tuple_(column, invoice.c.id)
        # the cursor's values bound as the columns' types: untyped, SQLite compared a datetime or
        # Decimal with the stored text and the walk never ended
        cursor = sa.tuple_(*after, types=[column.type, invoice.c.id.type])
        keyset.append(seek < cursor if descending else seek > cursor)
    order = [column.desc(), invoice.c.id.desc()] if descending else [column.asc(), invoice.c.id.asc()]
    if not reads_by_counterparty(f, sort):
        counterparties = None
    elif isinstance(counterparties, Unknown):
        counterparties = party_counterparties(conn, corp_id, f, taxpayer_ids)
    statement = sa.select(*_LEDGER_COLUMNS).join(taxpayer, taxpayer.c.id == invoice.c.taxpayer_id)
    if counterparties is None:
        return list(conn.execute(statement.where(*_where(conn, corp_id, f), *keyset).order_by(*order).limit(limit)))
    if not counterparties:
        return []
    # the ranges are of the corporation's taxpayers (party_counterparties): only what the index
    # does not hold is checked on the rows, so that a range of the index alone is read when it can be
    common = [*_where(conn, corp_id, f, party=False, scope=False), *keyset]
    ranges: sa.FromClause
    if conn.dialect.name == "postgresql":
        # one statement per counterparty would cost PostgreSQL more to plan (0.5 ms each) than to
        # run: the counterparties are arrays (one statement whatever their number, compiled once)
        # and each kind of range one LATERAL branch
        columns = list(zip(*counterparties, strict=True))
        found = sa.func.unnest(
            sa.bindparam("taxpayer_ids", list(columns[0]), type_=postgresql.ARRAY(sa.Integer)),
            *(sa.bindparam(key, list(values), type_=postgresql.ARRAY(sa.String))
              for key, values in zip(("directions", "kinds", "names"), columns[1:], strict=True)),
        ).table_valued("taxpayer_id", "direction", "kind", "value").render_derived("counterparty")
        kinds = sorted({(direction, kind) for _, direction, kind, _ in counterparties})
        ranges = sa.union_all(*(
            _counterparty_range(conn, direction, kind, found.c.taxpayer_id, found.c.value, party=f.party or "")
            .where(*common, found.c.direction == direction, found.c.kind == kind).order_by(*order).limit(limit)
            for direction, kind in kinds)).lateral("ranges")
        matching = sa.select(ranges.c.id, ranges.c[name]).select_from(found).join(ranges, sa.true())
    else:
        ranges = sa.union_all(*(
            sa.select(*cut.c) for cut in (
                _counterparty_range(conn, direction, kind, taxpayer_id, value, party=f.party or "")
                .where(*common).order_by(*order).limit(limit).subquery()
                for taxpayer_id, direction, kind, value in counterparties))).subquery("ranges")
        matching = sa.select(ranges.c.id, ranges.c[name])
    first = matching.order_by(*((ranges.c[name].desc(), ranges.c.id.desc()) if descending
                                else (ranges.c[name], ranges.c.id))).limit(limit).subquery("first_rows")
    return list(conn.execute(
        statement.join(first, first.c.id == invoice.c.id).where(invoice.c.corp_id == corp_id)
        .order_by(*order)
    ).all())


def _counterparty_range(conn: Connection, direction: str, kind: str, taxpayer_id: Any, value: Any, *,
                        party: str) -> sa.Select[Any]:
    """(id, kprq) of one counterparty's invoices: one range of its ledger index. By 税号 only the
    rows whose name does not match too (those are read by name), so that no row is read twice."""
    sbh, mc = _SIDES[direction]
    column, extra = (mc, []) if kind == "name" else (sbh, [sa.not_(_starts_with(conn, mc, party))])
    return sa.select(invoice.c.id, invoice.c.kprq).where(
        invoice.c.taxpayer_id == taxpayer_id, _direction_is(direction), _code_points(conn, column) == value, *extra)


def reads_by_counterparty(f: LedgerFilter, sort: str) -> bool:
    """Whether ledger_page reads the filter's page as ranges of its matching counterparties."""
    return bool(f.party) and SORTS[sort][0] == "kprq"


def party_counterparties(conn: Connection, corp_id: str, f: LedgerFilter,
                         corporation_taxpayers: list[int] | None) -> Counterparties:
    """(taxpayer id, direction, "name" or "id", value) of every counterparty of the corporation's
    taxpayers (the filter's one, or all) whose name or 税号 starts with the filter's prefix;
    None when there are more than PARTY_BRANCHES."""
    party = f.party or ""
    if corporation_taxpayers is None:
        corporation_taxpayers = list(conn.execute(sa.select(taxpayer.c.id).where(taxpayer.c.corp_id == corp_id)).scalars())
    taxpayer_ids = sorted(tp for tp in corporation_taxpayers if f.taxpayer_id in (None, tp))
    sides = [(taxpayer_id, direction, kind)
             for taxpayer_id in taxpayer_ids
             for direction in ((f.direction,) if f.direction else ("jx", "xx"))
             for kind in ("name", "id")]
    if not sides:
        return []
    scans = []
    for n, (taxpayer_id, direction, kind) in enumerate(sides):
        sbh, mc = _SIDES[direction]
        column, prefix = (mc, party) if kind == "name" else (sbh, party.upper())
        scan = _distinct_starting(conn, [invoice.c.taxpayer_id == taxpayer_id, _direction_is(direction)], column,
                                  prefix, PARTY_BRANCHES + 1, f"found{n}")
        scans.append(scan.add_columns(sa.literal(n).label("side")))
    found = conn.execute(sa.union_all(*scans)).all()
    if len(found) > PARTY_BRANCHES:
        return None
    return [(*sides[row.side], row.value) for row in found]


def _distinct_starting(conn: Connection, side: list[sa.ColumnElement[bool]], column: sa.ColumnElement[str],
                       prefix: str, limit: int, name: str) -> sa.Select[Any]:
    """Up to ``limit`` distinct values of ``column`` starting with ``prefix`` among the rows of
    ``side``: a skip scan (a recursive query named ``name``), one index probe per value however
    many invoices carry it."""
    value = _code_points(conn, column)
    matching = [*side, _starts_with(conn, column, prefix)]
    first = sa.select(sa.func.min(value).label("value"), sa.literal(1).label("n")).where(*matching)
    found = first.cte(name, recursive=True)
    following = sa.select(sa.func.min(value)).where(*matching, value > found.c.value).scalar_subquery()
    found = found.union_all(sa.select(following, found.c.n + 1).where(found.c.value.is_not(None), found.c.n < limit))
    return sa.select(found.c.value).where(found.c.value.is_not(None))


def ledger_version(conn: Connection, corp_id: str, f: LedgerFilter) -> tuple[Any, ...]:
    """What changes whenever an invoice the filter could select changes: the count, versions and
    last update of the months of its taxpayers, directions and kind (every write to a month's
    invoices bumps its version: store.months.renumber_months)."""
    where = [taxpayer.c.corp_id == corp_id]
    if f.taxpayer_id is not None:
        where.append(invoice_month.c.taxpayer_id == f.taxpayer_id)
    if f.direction:
        where.append(invoice_month.c.direction == f.direction)
    if f.fplx:
        where.append(invoice_month.c.fplx == f.fplx)
    return tuple(conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(invoice_month.c.version), 0),
                  sa.func.max(invoice_month.c.updated_at))
        .join_from(invoice_month, taxpayer, taxpayer.c.id == invoice_month.c.taxpayer_id).where(*where)
    ).one())


def ledger_totals(conn: Connection, corp_id: str, f: LedgerFilter) -> Any:
    """count, je, se, jshj of the whole filtered set: from the months' sums when the filter selects
    whole months (taxpayer, direction, kind, months from and to: kpyf is kprq's month), else summed
    over its invoices."""
    # whole months: nothing set but what an invoice_month row is (and any filter added later is not)
    months_only = dataclasses.replace(f, taxpayer_id=None, direction=None, fplx=None, first=None, before=None)
    whole_months = all(bound is None or bound == _month_of(bound) for bound in (f.first, f.before))
    if months_only != LedgerFilter() or not whole_months:
        return conn.execute(sa.select(*_SUMS).where(*_where(conn, corp_id, f))).one()
    months = _months_of(corp_id).add_columns(*_MONTH_SUMS)
    if f.taxpayer_id is not None:
        months = months.where(invoice_month.c.taxpayer_id == f.taxpayer_id)
    if f.direction:
        months = months.where(invoice_month.c.direction == f.direction)
    if f.fplx:
        months = months.where(invoice_month.c.fplx == f.fplx)
    if f.first:
        months = months.where(invoice_month.c.kpyf >= kpyf_of(f.first))
    if f.before:
        months = months.where(invoice_month.c.kpyf < kpyf_of(f.before))
    return conn.execute(months).one()


def _month_of(moment: datetime) -> datetime:
    """The first instant of ``moment``'s month."""
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def ledger_docs(conn: Connection, corp_id: str, f: LedgerFilter) -> Iterator[str]:
    """The canonical documents of the filtered set in (kprq, id) order, streamed for exports."""
    result = conn.execution_options(yield_per=1000).execute(
        sa.select(invoice.c.doc).where(*_where(conn, corp_id, f)).order_by(invoice.c.kprq, invoice.c.id))
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
