"""Invoice months (taxpayer, direction, fplx, kpyf): dense positions, counts, versions, and the page reads.

Pages are ranges of ``invoice.pos``, a dense 1-based rank kept per invoice_month in (kprq,
invoice_key) order. Writers renumber the months they touched before they commit (an import copies
the rows of months it creates with their positions already), so a page at any depth is one
indexed range scan and totalCount is a column, never a COUNT(*). Every renumbering bumps the
month's ``version``, under which API processes cache rendered pages, and brings the month's page
chunks (month_chunk: a hundred positions' items pre-joined a row) up to that version in the same
transaction, rebuilding only the chunks whose positions changed, so that a page is cut from one
or two stored values instead of read item by item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub.domain.codes import ACTIVE_TASK_STATES
from fapiaohub.store.tables import collection_task, invoice, invoice_month, month_chunk, taxpayer

CHUNK_ITEMS = 100  # positions a chunk holds: the largest pageSize, so a page spans at most two chunks


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


# Rows whose position changes are returned: their chunks are rebuilt. A writer that changes a
# row's item sets its pos to NULL, so a changed item always counts as moved.
_RENUMBER = sa.text(
    """
    UPDATE invoice SET pos = ranked.rn
    FROM (
        SELECT id, row_number() OVER (ORDER BY kprq, invoice_key) AS rn
        FROM invoice WHERE month_id = :month_id
    ) AS ranked
    WHERE invoice.month_id = :month_id AND invoice.id = ranked.id
      AND (invoice.pos IS NULL OR invoice.pos <> ranked.rn)
    RETURNING invoice.pos
    """
)

# the chunks are rebuilt below, in this transaction: they are of the new version
_RECOUNT = sa.text(
    """
    UPDATE invoice_month
    SET (invoice_count, je, se, jshj) = (
            SELECT count(*), coalesce(sum(invoice.je), 0), coalesce(sum(invoice.se), 0), coalesce(sum(invoice.jshj), 0)
            FROM invoice WHERE invoice.month_id = invoice_month.id),
        version = version + 1, chunk_version = version + 1, updated_at = :now
    WHERE id IN :month_ids
    """
).bindparams(sa.bindparam("month_ids", expanding=True))

# PostgreSQL builds chunks itself (the items never travel to Python and back): each chunk's items
# joined by commas in position order, and each item's first byte (its running end less its own
# length and comma). migrations/versions/0008 backfills with the same statement over all months.
_BUILD_CHUNKS_PG = sa.text(
    """
    INSERT INTO month_chunk (month_id, chunk_no, joined, offsets)
    SELECT :month_id, chunk_no, string_agg(item, convert_to(',', 'UTF8') ORDER BY pos),
           array_agg((ends - octet_length(item) - 1)::int ORDER BY pos)
    FROM (
        SELECT chunk_no, pos, item,
               sum(octet_length(item) + 1) OVER (PARTITION BY chunk_no ORDER BY pos) AS ends
        FROM (SELECT (pos - 1) / :size AS chunk_no, pos, convert_to(rendered, 'UTF8') AS item
              FROM invoice WHERE month_id = :month_id AND pos > :after AND pos <= :through) AS positioned
        WHERE chunk_no = ANY(:chunks)
    ) AS items
    GROUP BY chunk_no
    """
)


def renumber_months(conn: Connection, month_ids: Iterable[int]) -> None:
    """Recompute positions and counts of the given months (after their invoices changed), bump
    their versions and rebuild their page chunks: every write that changes a month's invoices must
    end here, or API processes keep serving the pages they cached under the old version. A writer
    that changes an invoice's item sets its ``pos`` to NULL (renumbering rebuilds the chunks of the
    positions it sets)."""
    _settle_months(conn, month_ids, renumber=True)


def count_months(conn: Connection, month_ids: Iterable[int], items: Mapping[int, list[str]] | None = None) -> None:
    """What renumber_months does for months whose positions are right already (rows copied in
    with them): recount, bump the version, build every chunk. ``items``: the rendered items of
    months whose every row the caller has just written, in position order; their chunks are cut
    from these instead of being read back (an import's new months)."""
    _settle_months(conn, month_ids, renumber=False, items=items or {})


def _settle_months(conn: Connection, month_ids: Iterable[int], *, renumber: bool,
                   items: Mapping[int, list[str]] | None = None) -> None:
    ids = sorted(set(month_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        # lock the months in id order first: concurrent writers then serialise, never deadlock
        before = conn.execute(
            sa.select(invoice_month.c.id, invoice_month.c.invoice_count, invoice_month.c.version,
                      invoice_month.c.chunk_version)
            .where(invoice_month.c.id.in_(chunk))
            .order_by(invoice_month.c.id)
            .with_for_update()
        ).all()
        moved: dict[int, set[int]] = {}
        if renumber:
            for month_id in chunk:
                moved[month_id] = set(conn.execute(_RENUMBER, {"month_id": month_id}).scalars())
        conn.execute(_RECOUNT, {"month_ids": chunk, "now": datetime.now(UTC)})
        counts: dict[int, int] = dict(conn.execute(
            sa.select(invoice_month.c.id, invoice_month.c.invoice_count).where(invoice_month.c.id.in_(chunk))
        ).all())
        for month in before:
            current = month.chunk_version is not None and month.chunk_version == month.version
            stale = _stale_chunks(moved[month.id], month.invoice_count, counts[month.id]) if renumber and current \
                else None
            written = (items or {}).get(month.id)
            if stale is None and written is not None and len(written) == counts[month.id]:
                conn.execute(sa.delete(month_chunk).where(month_chunk.c.month_id == month.id))
                _insert_chunks(conn, month.id, {
                    number: [item.encode() for item in written[number * CHUNK_ITEMS:(number + 1) * CHUNK_ITEMS]]
                    for number in range(-(-len(written) // CHUNK_ITEMS))})
            else:
                _rebuild_chunks(conn, month.id, counts[month.id], stale)


def _stale_chunks(moved: set[int], count_before: int, count_now: int) -> set[int]:
    """The chunks of a month whose chunks were current before a write that moved (or changed) the
    items at positions ``moved``: theirs, and, when the month shrank, its new last chunk (rows gone
    from its end move nothing)."""
    stale = {(pos - 1) // CHUNK_ITEMS for pos in moved}
    if 0 < count_now < count_before:
        stale.add((count_now - 1) // CHUNK_ITEMS)
    return stale


def _rebuild_chunks(conn: Connection, month_id: int, count: int, stale: set[int] | None) -> None:
    """Bring a month's chunks up to its positions: the ``stale`` ones (None: all) are built again
    from the items, those past the month's end dropped."""
    chunks = -(-count // CHUNK_ITEMS)
    gone = month_chunk.c.chunk_no >= chunks
    if stale is None:
        rebuild = set(range(chunks))
        conn.execute(sa.delete(month_chunk).where(month_chunk.c.month_id == month_id))
    else:
        rebuild = {number for number in stale if number < chunks}
        conn.execute(sa.delete(month_chunk).where(
            month_chunk.c.month_id == month_id, sa.or_(gone, month_chunk.c.chunk_no.in_(sorted(rebuild)))))
    if not rebuild:
        return
    after, through = min(rebuild) * CHUNK_ITEMS, (max(rebuild) + 1) * CHUNK_ITEMS
    if conn.dialect.name == "postgresql":
        conn.execute(_BUILD_CHUNKS_PG, {"month_id": month_id, "size": CHUNK_ITEMS, "after": after,
                                        "through": through, "chunks": sorted(rebuild)})
        return
    rows = conn.execute(
        sa.select(invoice.c.pos, invoice.c.rendered)
        .where(invoice.c.month_id == month_id, invoice.c.pos > after, invoice.c.pos <= through)
        .order_by(invoice.c.pos)
    )
    items: dict[int, list[bytes]] = {}
    for row in rows:
        number = (row.pos - 1) // CHUNK_ITEMS
        if number in rebuild:
            items.setdefault(number, []).append(row.rendered.encode())
    _insert_chunks(conn, month_id, items)


def _insert_chunks(conn: Connection, month_id: int, items: Mapping[int, list[bytes]]) -> None:
    """Chunks of a month from their items (chunk number → its items in position order)."""
    if items:
        conn.execute(sa.insert(month_chunk), [
            {"month_id": month_id, "chunk_no": number, "joined": b",".join(joined), "offsets": _offsets(joined)}
            for number, joined in items.items()
        ])


def _offsets(items: list[bytes]) -> list[int]:
    """Each item's first byte in the items joined by commas."""
    offsets, at = [], 0
    for item in items:
        offsets.append(at)
        at += len(item) + 1
    return offsets


def months_state(conn: Connection, taxpayer_id: int, direction: str) -> str:
    """What changes whenever any invoice of a taxpayer's direction does: its months' number, the
    sum of their versions and their latest update (every write ends in renumber_months, which
    bumps the versions of the months it touched and stamps them)."""
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(invoice_month.c.version), 0),
                  sa.func.max(invoice_month.c.updated_at))
        .where(invoice_month.c.taxpayer_id == taxpayer_id, invoice_month.c.direction == direction)
    ).one()
    latest = row[2].isoformat() if isinstance(row[2], datetime) else str(row[2])
    return f"{row[0]}:{row[1]}:{latest}"


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
    version, read in one statement so that the three agree: cut from the month's chunks when they
    are of its version, else read item by item."""
    first, last = offset // CHUNK_ITEMS, (offset + limit - 1) // CHUNK_ITEMS
    rows = conn.execute(
        sa.select(invoice_month.c.invoice_count, invoice_month.c.version,
                  (invoice_month.c.chunk_version == invoice_month.c.version).label("chunked"),
                  month_chunk.c.chunk_no, month_chunk.c.joined, month_chunk.c.offsets)
        .select_from(invoice_month.outerjoin(month_chunk, sa.and_(
            month_chunk.c.month_id == invoice_month.c.id, month_chunk.c.chunk_no.between(first, last),
            invoice_month.c.chunk_version == invoice_month.c.version)))
        .where(invoice_month.c.id == month_id)
        .order_by(month_chunk.c.chunk_no)
    ).all()
    if not rows:
        return MonthPage(0, 0, b"")
    if rows[0].chunked:
        parts = [cut_chunk(row.joined, row.offsets, offset - row.chunk_no * CHUNK_ITEMS,
                           offset + limit - row.chunk_no * CHUNK_ITEMS)
                 for row in rows if row.chunk_no is not None]
        return MonthPage(rows[0].invoice_count, rows[0].version, b",".join(part for part in parts if part))
    return _month_page_by_item(conn, month_id, offset, limit)


def cut_chunk(items: bytes, offsets: list[int], start: int, end: int) -> bytes:
    """The items of a chunk from its ``start``-th up to its ``end``-th (0-based, clamped to the
    chunk), joined by commas as stored."""
    start, end = max(start, 0), min(end, len(offsets))
    if start >= end:
        return b""
    stop = offsets[end] - 1 if end < len(offsets) else len(items)
    return items[offsets[start]:stop]


def _month_page_by_item(conn: Connection, month_id: int, offset: int, limit: int) -> MonthPage:
    """month_page for a month whose chunks are not of its version (never built on SQLite)."""
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
