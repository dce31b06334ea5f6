"""Invoice months (taxpayer, direction, fplx, kpyf): dense positions, counts, versions, and the page reads.

Pages are ranges of ``invoice.pos``, a dense 1-based rank kept per invoice_month in (kprq,
invoice_key) order. Writers renumber the months they touched before they commit (an import copies
the rows of months it creates with their positions already), so a page at any depth is one
indexed range scan and totalCount is a column, never a COUNT(*). Every renumbering bumps the
month's ``version``, under which API processes cache rendered pages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub.domain.codes import ACTIVE_TASK_STATES
from fapiaohub.store.tables import collection_task, invoice, invoice_month, taxpayer


def month_ids_for(
    conn: Connection, taxpayer_id: int, direction: str, wanted: set[tuple[str, int]],
    created: set[int] | None = None,
) -> dict[tuple[str, int], int]:
    """Ids of the invoice_month rows for (fplx, kpyf) pairs, creating the missing ones (whose
    ids are added to ``created``)."""
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
        if created is not None:
            created |= {found[pair] for pair in missing}
    return found


# One month per statement, both of its scans by month_id: PostgreSQL's statistics lag behind bulk
# imports (a month just written may be missing from them), and for a list of months at once it
# took a plan that scanned the whole invoice table twice, however few rows those months held.


_RENUMBER = sa.text(
    """
    UPDATE invoice SET pos = ranked.rn
    FROM (
        SELECT id, row_number() OVER (ORDER BY kprq, invoice_key) AS rn
        FROM invoice WHERE month_id = :month_id
    ) AS ranked
    WHERE invoice.month_id = :month_id AND invoice.id = ranked.id
      AND (invoice.pos IS NULL OR invoice.pos <> ranked.rn)
    """
)

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
    _settle_months(conn, month_ids, renumber=True)


def count_months(conn: Connection, month_ids: Iterable[int]) -> None:
    """What renumber_months does for months whose positions are right already (rows copied in
    with them): recount, bump the version."""
    _settle_months(conn, month_ids, renumber=False)


def _settle_months(conn: Connection, month_ids: Iterable[int], *, renumber: bool) -> None:
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
        if renumber:
            for month_id in chunk:
                conn.execute(_RENUMBER, {"month_id": month_id})
        conn.execute(_RECOUNT, {"month_ids": chunk, "now": datetime.now(UTC)})


@dataclass(frozen=True, slots=True)
class MonthSlot:
    """A taxpayer of the corporation and its invoice_month row for one query (if any)."""

    taxpayer_id: int
    collection_enabled: bool
    month_id: int | None
    invoice_count: int
    version: int  # invoice_month.version: rendered pages are cached under it
    collecting: bool  # a task that may write this month has not finished (4008 only while the month
    # has no committed invoices: collection/service.py)


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
            collection_task.c.state.in_(ACTIVE_TASK_STATES),
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
