"""All SQL of taxpayers and the invoice store: idempotent bulk upserts and page reads by position.

Pages are ranges of ``invoice.pos``, a dense 1-based rank kept per invoice_month in (kprq,
invoice_key) order. Writers renumber the months they touched before they commit, so a page at
any depth is one indexed range scan and totalCount is a column, never a COUNT(*).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub import wire
from fapiaohub.collection.render import render_collection_item
from fapiaohub.domain.invoice import Invoice
from fapiaohub.storage.tables import collection_task, invoice, invoice_history, invoice_month, taxpayer

BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Taxpayer:
    id: int
    corp_id: str
    nsrsbh: str
    name: str
    collection_enabled: bool


def add_taxpayer(
    conn: Connection, corp_id: str, nsrsbh: str, name: str, *, collection_enabled: bool = True
) -> Taxpayer:
    result = conn.execute(
        sa.insert(taxpayer)
        .values(
            corp_id=corp_id,
            nsrsbh=nsrsbh,
            name=name,
            collection_enabled=collection_enabled,
            created_at=datetime.now(UTC),
        )
        .returning(taxpayer.c.id)
    )
    return Taxpayer(result.scalar_one(), corp_id, nsrsbh, name, collection_enabled)


def find_taxpayer(conn: Connection, corp_id: str, nsrsbh: str) -> Taxpayer | None:
    row = conn.execute(
        sa.select(taxpayer).where(taxpayer.c.corp_id == corp_id, taxpayer.c.nsrsbh == nsrsbh)
    ).first()
    return Taxpayer(row.id, row.corp_id, row.nsrsbh, row.name, row.collection_enabled) if row else None


def lock_taxpayer(conn: Connection, corp_id: str, nsrsbh: str) -> Taxpayer | None:
    """Find a taxpayer and hold its row lock until the transaction ends, serialising decisions
    about it (task creation). A no-op UPDATE locks on both databases; SELECT … FOR UPDATE would
    not lock anything on SQLite. Make it the transaction's first statement."""
    row = conn.execute(
        sa.update(taxpayer)
        .where(taxpayer.c.corp_id == corp_id, taxpayer.c.nsrsbh == nsrsbh)
        .values(collection_enabled=taxpayer.c.collection_enabled)
        .returning(taxpayer.c.id, taxpayer.c.name, taxpayer.c.collection_enabled)
    ).first()
    return Taxpayer(row.id, corp_id, nsrsbh, row.name, row.collection_enabled) if row else None


def list_taxpayers(conn: Connection, corp_id: str) -> list[Taxpayer]:
    rows = conn.execute(
        sa.select(taxpayer).where(taxpayer.c.corp_id == corp_id).order_by(taxpayer.c.nsrsbh)
    )
    return [Taxpayer(r.id, r.corp_id, r.nsrsbh, r.name, r.collection_enabled) for r in rows]


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
    """
    counts = WriteCounts()
    for batch in _batched(invoices, BATCH_SIZE):
        _store_batch(conn, tp, direction, batch, counts, task_id, flags or {})
    if renumber:
        renumber_months(conn, counts.months)
    return counts


def _batched(items: Iterable[Invoice], size: int) -> Iterator[list[Invoice]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _store_batch(
    conn: Connection,
    tp: Taxpayer,
    direction: str,
    batch: list[Invoice],
    counts: WriteCounts,
    task_id: str | None,
    flags: Mapping[str, list[str]],
) -> None:
    by_key: dict[str, Invoice] = {inv.key: inv for inv in batch}  # a later duplicate wins
    month_ids = _month_ids(conn, tp.id, direction, {(inv.fplx, inv.kpyf) for inv in by_key.values()})
    existing = {
        row.invoice_key: row
        for row in conn.execute(
            sa.select(
                invoice.c.id, invoice.c.invoice_key, invoice.c.doc, invoice.c.month_id, invoice.c.fpzt_dm,
                invoice.c.flags,
            ).where(
                invoice.c.taxpayer_id == tp.id,
                invoice.c.direction == direction,
                invoice.c.invoice_key.in_(list(by_key)),
            )
        )
    }
    now = datetime.now(UTC)
    inserts: list[dict[str, object]] = []
    history: list[dict[str, object]] = []
    for key, inv in by_key.items():
        doc = wire.dumps(inv.to_doc()).decode()
        found = wire.dumps(flags.get(key, [])).decode()
        month_id = month_ids[(inv.fplx, inv.kpyf)]
        old = existing.get(key)
        if old is not None and old.doc == doc and old.flags == found:
            counts.unchanged += 1
            continue
        values = _row_values(inv, doc, found, month_id, now)
        if old is None:
            inserts.append(
                values | {"corp_id": tp.corp_id, "taxpayer_id": tp.id, "direction": direction,
                          "invoice_key": key, "created_at": now}
            )
            counts.inserted += 1
        else:
            history.append({"invoice_id": old.id, "fpzt_dm": old.fpzt_dm, "doc": old.doc,
                            "replaced_at": now, "task_id": task_id})
            conn.execute(sa.update(invoice).where(invoice.c.id == old.id).values(values))
            counts.months.add(old.month_id)
            counts.updated += 1
        counts.months.add(month_id)
    if inserts:
        conn.execute(sa.insert(invoice), inserts)
    if history:
        conn.execute(sa.insert(invoice_history), history)


def _row_values(inv: Invoice, doc: str, flags: str, month_id: int, now: datetime) -> dict[str, object]:
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
        "doc": doc,
        "rendered": render_collection_item(inv).decode(),
        "flags": flags,
        "updated_at": now,
    }


def _month_ids(
    conn: Connection, taxpayer_id: int, direction: str, wanted: set[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """Ids of the invoice_month rows for (fplx, kpyf) pairs, creating the missing ones."""
    query = sa.select(invoice_month.c.id, invoice_month.c.fplx, invoice_month.c.kpyf).where(
        invoice_month.c.taxpayer_id == taxpayer_id, invoice_month.c.direction == direction
    )
    found = {(r.fplx, r.kpyf): r.id for r in conn.execute(query) if (r.fplx, r.kpyf) in wanted}
    missing = wanted - found.keys()
    if missing:
        now = datetime.now(UTC)
        conn.execute(
            sa.insert(invoice_month),
            [
                {"taxpayer_id": taxpayer_id, "direction": direction, "fplx": fplx, "kpyf": kpyf,
                 "invoice_count": 0, "updated_at": now}
                for fplx, kpyf in sorted(missing)
            ],
        )
        found = {(r.fplx, r.kpyf): r.id for r in conn.execute(query) if (r.fplx, r.kpyf) in wanted}
    return found


_RENUMBER = sa.text(
    """
    UPDATE invoice SET pos = ranked.rn
    FROM (
        SELECT id, row_number() OVER (PARTITION BY month_id ORDER BY kprq, invoice_key) AS rn
        FROM invoice WHERE month_id IN :month_ids
    ) AS ranked
    WHERE invoice.id = ranked.id AND (invoice.pos IS NULL OR invoice.pos <> ranked.rn)
    """
).bindparams(sa.bindparam("month_ids", expanding=True))

_RECOUNT = sa.text(
    """
    UPDATE invoice_month
    SET invoice_count = (SELECT count(*) FROM invoice WHERE invoice.month_id = invoice_month.id),
        version = version + 1, updated_at = :now
    WHERE id IN :month_ids
    """
).bindparams(sa.bindparam("month_ids", expanding=True))


def renumber_months(conn: Connection, month_ids: Iterable[int]) -> None:
    """Recompute positions and counts of the given months (after their invoices changed) and bump
    their versions: every write that changes a month's invoices must end here, or API processes
    keep serving the pages they cached under the old version."""
    ids = sorted(set(month_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        # lock the months in id order first: concurrent writers then serialise, never deadlock
        conn.execute(
            sa.select(invoice_month.c.id)
            .where(invoice_month.c.id.in_(chunk))
            .order_by(invoice_month.c.id)
            .with_for_update()
        ).all()
        conn.execute(_RENUMBER, {"month_ids": chunk})
        conn.execute(_RECOUNT, {"month_ids": chunk, "now": datetime.now(UTC)})


@dataclass(frozen=True, slots=True)
class MonthSlot:
    """A taxpayer of the corporation and its invoice_month row for one query (if any)."""

    taxpayer_id: int
    collection_enabled: bool
    month_id: int | None
    invoice_count: int
    version: int  # invoice_month.version: rendered pages are cached under it
    collecting: bool  # a task that may write this month has not finished


def find_month(
    conn: Connection, corp_id: str, nsrsbh: str, direction: str, fplx: str, kpyf: int
) -> MonthSlot | None:
    """One round trip: the taxpayer (scoped to the corporation), its month row, and whether a
    collection task that may write the month is still waiting or running."""
    join = taxpayer.outerjoin(
        invoice_month,
        sa.and_(
            invoice_month.c.taxpayer_id == taxpayer.c.id,
            invoice_month.c.direction == direction,
            invoice_month.c.fplx == fplx,
            invoice_month.c.kpyf == kpyf,
        ),
    )
    running = (
        sa.select(collection_task.c.id)
        .where(
            collection_task.c.taxpayer_id == taxpayer.c.id,
            collection_task.c.direction == direction,
            collection_task.c.state.in_(("toProcess", "processing")),
            sa.or_(collection_task.c.kpyf == kpyf, collection_task.c.kpyf.is_(None)),
        )
        .exists()
    )
    row = conn.execute(
        sa.select(
            taxpayer.c.id, taxpayer.c.collection_enabled, invoice_month.c.id.label("month_id"),
            invoice_month.c.invoice_count, invoice_month.c.version, running.label("collecting"),
        )
        .select_from(join)
        .where(taxpayer.c.corp_id == corp_id, taxpayer.c.nsrsbh == nsrsbh)
    ).first()
    if row is None:
        return None
    return MonthSlot(
        row.id, row.collection_enabled, row.month_id, row.invoice_count or 0, row.version or 0,
        bool(row.collecting),
    )


@dataclass(frozen=True, slots=True)
class MonthPage:
    """Items of one page and the month's count and version they belong to (one snapshot)."""

    invoice_count: int
    version: int
    items: bytes  # the pre-rendered JSON items joined by commas, in position order


def month_page(conn: Connection, month_id: int, offset: int, limit: int) -> MonthPage:
    """The pre-rendered items at positions offset+1 .. offset+limit with the month's count and
    version, read in one statement so that the three agree."""
    def month_column(column: sa.Column[int]) -> sa.ScalarSelect[int]:
        return sa.select(column).where(invoice_month.c.id == month_id).scalar_subquery()

    rows = conn.execute(
        sa.select(month_column(invoice_month.c.invoice_count).label("invoice_count"),
                  month_column(invoice_month.c.version).label("version"), invoice.c.rendered)
        .where(invoice.c.month_id == month_id, invoice.c.pos > offset, invoice.c.pos <= offset + limit)
        .order_by(invoice.c.pos)
    ).all()
    if not rows:  # the month shrank since it was looked up: its count now, and no items
        month = conn.execute(
            sa.select(invoice_month.c.invoice_count, invoice_month.c.version).where(invoice_month.c.id == month_id)
        ).first()
        return MonthPage(month.invoice_count, month.version, b"") if month else MonthPage(0, 0, b"")
    return MonthPage(rows[0].invoice_count, rows[0].version, b",".join(row.rendered.encode() for row in rows))
