"""The unify batch read on PostgreSQL: asyncpg (auth/pg_repository.py says why, and what a lost
connection does), the token check and the batches in one statement.

The read is one small statement (shared with the reads that arrive with it: auth/pg_repository.Batched),
plus, when this process does not hold every batch rendered under its current version, one more
that returns the batches with their members' entity forms.

The SQL restates repository.batches_after and repository.batch_members, with the token check of
auth.service.corporation_for_digest; the API tests run against both databases, so they cannot
drift apart unnoticed. Entity forms travel as bytea (convert_to): never decoded here and encoded
again on the way out.
"""

from __future__ import annotations

from typing import NamedTuple

import asyncpg
from sqlalchemy.engine import URL

from fapiaohub.auth.pg_repository import AsyncpgReads, Batched
from fapiaohub.auth.service import now_ms
from fapiaohub.store.entities import render_entity
from fapiaohub.unify.repository import Batch, BatchRead, BatchVersions, Member

# What decides each answer, a row per lookup with a live token (none: not live): the token's
# corporation, the sum of its unify_forms_version rows, and the ids and updateTimes of the batches
# after the cursor. Lookups arriving together are answered in one statement (auth/pg_repository.Batched).
_VERSIONS = """
SELECT r.i, t.corp_id,
       coalesce((SELECT sum(version) FROM unify_forms_version WHERE corp_id = t.corp_id), 0)::bigint AS forms_version,
       ARRAY(SELECT id FROM unify_batch
             WHERE corp_id = t.corp_id AND unify_corp_id = r.unify_corp_id AND update_time > r.after
             ORDER BY update_time LIMIT r.most) AS ids,
       ARRAY(SELECT update_time FROM unify_batch
             WHERE corp_id = t.corp_id AND unify_corp_id = r.unify_corp_id AND update_time > r.after
             ORDER BY update_time LIMIT r.most) AS times
FROM unnest($1::text[], $3::text[], $4::bigint[], $5::int[]) WITH ORDINALITY AS r(token_hash, unify_corp_id, after, most, i)
JOIN access_token t ON t.token_hash = r.token_hash AND t.expires_at > $2
"""

# The answer: one row per member (one with NULL members for a batch that lists none, and one
# without a batch for a live token with no batches after the cursor); no row: the token is not live.
_BATCHES = """
SELECT t.corp_id, coalesce((SELECT sum(version) FROM unify_forms_version WHERE corp_id = t.corp_id), 0)::bigint AS forms_version,
       x.id, x.batch_no, x.update_time, x.period, x.unify_corp_id, x.relations, x.invoice_id, x.fplx, x.form, x.doc,
       x.created_at, x.updated_at
FROM (SELECT corp_id FROM access_token WHERE token_hash = $1 AND expires_at > $2) AS t
LEFT JOIN LATERAL (
    SELECT b.id, b.batch_no, b.update_time, b.period, b.unify_corp_id, convert_to(b.relations, 'UTF8') AS relations,
           m.seq, i.id AS invoice_id, i.fplx, convert_to(i.entity_rendered, 'UTF8') AS form,
           CASE WHEN i.entity_rendered IS NULL THEN i.doc END AS doc, i.created_at, i.updated_at
    FROM (SELECT * FROM unify_batch
          WHERE corp_id = t.corp_id AND unify_corp_id = $3 AND update_time > $4
          ORDER BY update_time LIMIT $5) AS b
    LEFT JOIN unify_batch_invoice m ON m.batch_id = b.id
    LEFT JOIN invoice i ON i.id = m.invoice_id
) AS x ON true
ORDER BY x.update_time, x.seq
"""


class _VersionLookup(NamedTuple):
    token_digest: str
    unify_corp_id: str
    after: int  # the cursor: batches with a later updateTime
    most: int  # the count asked for


class PostgresBatchReads(AsyncpgReads):
    """The batch reads through an asyncpg pool of their own, version lookups batched."""

    def __init__(self, url: URL, *, max_connections: int = 8) -> None:
        super().__init__(url, max_connections=max_connections)
        self._lookups = Batched(self._versions)

    @property
    def version_statements(self) -> int:
        """Statements sent for version lookups (the tests check that lookups share them)."""
        return self._lookups.batches

    async def versions(self, token_digest: str, unify_corp_id: str, index: int, count: int) -> BatchVersions | None:
        return await self._lookups(_VersionLookup(token_digest, unify_corp_id, index, count))

    async def _versions(self, lookups: list[_VersionLookup]) -> list[BatchVersions]:
        rows = await self._fetch(
            _VERSIONS, [lk.token_digest for lk in lookups], now_ms(), [lk.unify_corp_id for lk in lookups],
            [lk.after for lk in lookups], [lk.most for lk in lookups])
        found = {row["i"]: row for row in rows}
        answers = []
        for position in range(1, len(lookups) + 1):
            row = found.get(position)
            answers.append(BatchVersions(None) if row is None else BatchVersions(
                row["corp_id"], row["forms_version"], list(zip(row["ids"], row["times"], strict=True))))
        return answers

    async def close(self) -> None:
        self._lookups.cancel()
        await super().close()

    async def batches(self, token_digest: str, unify_corp_id: str, index: int, count: int) -> BatchRead:
        rows = await self._fetch(_BATCHES, token_digest, now_ms(), unify_corp_id, index, count)
        if not rows:
            return BatchRead(None)
        corp_id = rows[0]["corp_id"]
        batches: list[Batch] = []
        for row in rows:
            if row["id"] is None:
                continue  # a live token without batches after the cursor
            if not batches or batches[-1].id != row["id"]:
                batches.append(Batch(row["id"], row["batch_no"], row["update_time"], row["period"],
                                     row["unify_corp_id"], row["relations"]))
            if row["invoice_id"] is not None:
                batches[-1].members.append(Member(row["invoice_id"], row["fplx"], _form(corp_id, row)))
        return BatchRead(corp_id, rows[0]["forms_version"], batches)


def _form(corp_id: str, row: asyncpg.Record) -> bytes:
    """The stored entity form, or for a member without one, the form rendered from its document."""
    form: bytes | None = row["form"]
    if form is None:
        form = render_entity(corp_id, row["doc"], row["created_at"], row["updated_at"]).encode()
    return form
