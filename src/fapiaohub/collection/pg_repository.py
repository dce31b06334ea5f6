"""getInvoiceCollectionData's reads on PostgreSQL: asyncpg (auth/pg_repository.py says why, and what
a lost connection does), with concurrent month lookups batched.

Every request must see the month as it is now (the database is the truth: a cached page is
served only under the version read here), so each one needs a lookup. Lookups arriving while
another is in flight are sent together as one statement over unnested arrays: each still runs
after its request arrived, and under load one round trip answers many requests. A lookup may ask
for its page too (the process does not hold it): the statement then cuts it from the month's
chunks in the same snapshot, and only a month whose chunks are behind needs a second read.

The SQL here restates store.months.find_month and store.months.month_page for PostgreSQL; the API
tests run against both databases, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import URL

from fapiaohub.auth.pg_repository import AsyncpgReads, Batched
from fapiaohub.auth.service import now_ms
from fapiaohub.collection.repository import MonthLookup, MonthState
from fapiaohub.domain.codes import ACTIVE_TASK_STATES
from fapiaohub.store.months import CHUNK_ITEMS, MonthPage, MonthSlot


# The chunks of month m that hold positions first+1 .. past, each with lo and hi: the page's first
# and past-last items in the chunk. Only chunks of the month's version are joined (`chunked` says
# whether they are): see store/months.py.
def _chunks_of(first: str, past: str) -> str:
    return f"""
    SELECT chunk_no, joined, offsets, greatest({first} - chunk_no * {CHUNK_ITEMS}, 0) AS lo,
           least({past} - chunk_no * {CHUNK_ITEMS}, cardinality(offsets)) AS hi
    FROM month_chunk
    WHERE month_id = m.id AND m.chunk_version = m.version AND {past} > {first}
      AND chunk_no BETWEEN {first} / {CHUNK_ITEMS} AND ({past} - 1) / {CHUNK_ITEMS}"""


_CHUNKED = "m.chunk_version IS NOT DISTINCT FROM m.version"
# Each chunk cut to the page's items by their byte offsets. A whole chunk (an aligned page of 100)
# is sent as it is stored: measured, that costs PostgreSQL half the CPU of substring() over the
# whole value. The column is stored uncompressed out of line, so substring() of part of it fetches
# only the toast chunks the slice covers.
_SLICE = """
    CASE WHEN c.lo = 0 AND c.hi = cardinality(c.offsets) THEN c.joined
         ELSE substring(c.joined FROM c.offsets[c.lo + 1] + 1
                        FOR CASE WHEN c.hi < cardinality(c.offsets) THEN c.offsets[c.hi + 1] - 1
                                 ELSE octet_length(c.joined) END - c.offsets[c.lo + 1]) END"""

# Lookups, each with the page it asks for (first = past = 0: none), which comes in the same
# snapshot as the month's count and version: one row per chunk the page spans, or one without.
_MONTH_STATES = f"""
SELECT r.i, tp.id AS taxpayer_id, tp.collection_enabled, m.id AS month_id, m.invoice_count, m.version,
       EXISTS (SELECT 1 FROM collection_task ct
               WHERE ct.taxpayer_id = tp.id AND ct.direction = r.direction
                 AND ct.state IN ({", ".join(f"'{state}'" for state in ACTIVE_TASK_STATES)})
                 AND (ct.kpyf = r.kpyf OR ct.kpyf IS NULL)) AS collecting,
       {_CHUNKED} AS chunked, {_SLICE} AS items
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $8::int[], $9::int[])
     WITH ORDINALITY AS r(token_hash, corp_id, nsrsbh, direction, fplx, kpyf, first_pos, past_pos, i)
JOIN access_token t ON t.token_hash = r.token_hash AND t.corp_id = r.corp_id AND t.expires_at > $7
LEFT JOIN taxpayer tp ON tp.corp_id = t.corp_id AND tp.nsrsbh = r.nsrsbh
LEFT JOIN invoice_month m ON m.taxpayer_id = tp.id AND m.direction = r.direction
                         AND m.fplx = r.fplx AND m.kpyf = r.kpyf
LEFT JOIN LATERAL ({_chunks_of("r.first_pos", "r.past_pos")}) AS c ON c.lo < c.hi
ORDER BY r.i, c.chunk_no
"""

# One snapshot: the month's count and version beside the one or two chunks the page spans.
_MONTH_CHUNKS = f"""
SELECT m.invoice_count, m.version, {_CHUNKED} AS chunked, {_SLICE} AS items
FROM invoice_month m
LEFT JOIN LATERAL ({_chunks_of("$2", "$3")}) AS c ON c.lo < c.hi
WHERE m.id = $1
ORDER BY c.chunk_no
"""

# A month whose chunks are not of its version: the items straight off the (month_id, pos) index in
# order, the month's count and version run once, as init plans. convert_to hands the stored UTF-8 over as
# bytea: no decoding here, and no encoding again on the way to the wire.
_MONTH_PAGE = """
SELECT (SELECT invoice_count FROM invoice_month WHERE id = $1) AS invoice_count,
       (SELECT version FROM invoice_month WHERE id = $1) AS version,
       convert_to(rendered, 'UTF8') AS item
FROM invoice
WHERE month_id = $1 AND pos > $2 AND pos <= $3
ORDER BY pos
"""
_MONTH = "SELECT invoice_count, version FROM invoice_month WHERE id = $1"

class PostgresPageReads(AsyncpgReads):
    """The page reads, and the month lookups sent in batches."""

    def __init__(self, url: URL, *, max_connections: int = 8, max_batch: int = 256, in_flight: int = 2) -> None:
        super().__init__(url, max_connections=max_connections)
        self._lookups = Batched(self._month_states, max_batch=max_batch, in_flight=in_flight)

    @property
    def batches(self) -> int:
        """Statements sent for month lookups (the tests check that lookups share them)."""
        return self._lookups.batches

    async def month_page(self, month_id: int, offset: int, limit: int) -> MonthPage:
        rows = await self._fetch(_MONTH_CHUNKS, month_id, offset, offset + limit)
        if not rows:  # no such month (any more)
            return MonthPage(0, 0, b"")
        if rows[0]["chunked"]:
            return MonthPage(rows[0]["invoice_count"], rows[0]["version"],
                             b",".join(row["items"] for row in rows if row["items"]))
        rows = await self._fetch(_MONTH_PAGE, month_id, offset, offset + limit)
        if not rows:  # the month shrank since it was looked up: its count now, and no items
            rows = await self._fetch(_MONTH, month_id)
            return MonthPage(rows[0]["invoice_count"], rows[0]["version"], b"") if rows else MonthPage(0, 0, b"")
        return MonthPage(rows[0]["invoice_count"], rows[0]["version"], b",".join(row["item"] for row in rows))

    async def month_state(self, lookup: MonthLookup) -> MonthState:
        return await self._lookups(lookup)

    async def _month_states(self, lookups: list[MonthLookup]) -> list[MonthState]:
        pages = [lk.page or (0, 0) for lk in lookups]
        rows = await self._fetch(
            _MONTH_STATES,
            [lk.token_digest for lk in lookups], [lk.corp_id for lk in lookups], [lk.nsrsbh for lk in lookups],
            [lk.direction for lk in lookups], [lk.fplx for lk in lookups], [lk.kpyf for lk in lookups],
            now_ms(), [offset for offset, _ in pages], [offset + limit for offset, limit in pages],
        )
        found: dict[int, list[asyncpg.Record]] = {}
        for row in rows:  # in lookup order, a lookup's chunks in order
            found.setdefault(row["i"], []).append(row)
        states = []
        for position, lookup in enumerate(lookups, start=1):
            rows_of = found.get(position)
            if rows_of is None:
                states.append(MonthState(authorized=False))
                continue
            row = rows_of[0]
            if row["taxpayer_id"] is None:
                states.append(MonthState(authorized=True))
                continue
            slot = MonthSlot(row["taxpayer_id"], row["collection_enabled"], row["month_id"],
                             row["invoice_count"] or 0, row["version"] or 0, row["collecting"])
            page = None
            if lookup.page is not None and row["month_id"] is not None and row["chunked"]:
                page = MonthPage(slot.invoice_count, slot.version,
                                 b",".join(one["items"] for one in rows_of if one["items"]))
            states.append(MonthState(authorized=True, slot=slot, page=page))
        return states

    async def close(self) -> None:
        self._lookups.cancel()
        await super().close()
