"""The reads behind getInvoiceCollectionData, asynchronous, on either database.

Two reads serve a request: the month's state (token check, taxpayer, month row, running tasks)
and, when the page is not cached, the page's items. SQLite answers through SQLAlchemy in a
worker thread (:class:`SqlPageReads`); PostgreSQL through asyncpg, with month lookups of
concurrent requests batched into one statement (:mod:`fapiaohub.collection.pg_repository`),
which also reads the page a lookup asks for, when it can be cut from the month's chunks: a page
this process does not hold then costs one round trip, not two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from anyio import to_thread
from sqlalchemy.engine import Engine

from fapiaohub.auth.service import corporation_for_digest
from fapiaohub.store import months
from fapiaohub.store.months import MonthPage, MonthSlot


@dataclass(frozen=True, slots=True)
class MonthLookup:
    """What a request asks for: the token (as its digest) and the month it names."""

    token_digest: str
    corp_id: str
    nsrsbh: str
    direction: str
    fplx: str
    kpyf: int
    page: tuple[int, int] | None = None  # (offset, limit) of a page to read along, if the reads can


@dataclass(frozen=True, slots=True)
class MonthState:
    authorized: bool  # the token is live and belongs to the lookup's corpId
    slot: MonthSlot | None = None  # None: the corporation has no such taxpayer
    page: MonthPage | None = None  # the page the lookup asked for, read in the same snapshot, if it was


class PageReads(Protocol):
    async def token_corporation(self, token_digest: str) -> str | None:
        """The corporation of a live token (for requests whose body is not a valid query)."""

    async def month_state(self, lookup: MonthLookup) -> MonthState: ...

    async def month_page(self, month_id: int, offset: int, limit: int) -> MonthPage: ...

    async def close(self) -> None: ...


class SqlPageReads:
    """The reads over SQLAlchemy (SQLite; any database), each in a worker thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def token_corporation(self, token_digest: str) -> str | None:
        return await to_thread.run_sync(self._token_corporation, token_digest)

    async def month_state(self, lookup: MonthLookup) -> MonthState:
        return await to_thread.run_sync(self._month_state, lookup)

    async def month_page(self, month_id: int, offset: int, limit: int) -> MonthPage:
        return await to_thread.run_sync(self._month_page, month_id, offset, limit)

    async def close(self) -> None:
        pass  # the engine belongs to the app

    def _token_corporation(self, token_digest: str) -> str | None:
        with self.engine.connect() as conn:
            return corporation_for_digest(conn, token_digest)

    def _month_state(self, lookup: MonthLookup) -> MonthState:
        with self.engine.connect() as conn:
            if corporation_for_digest(conn, lookup.token_digest) != lookup.corp_id:
                return MonthState(authorized=False)
            slot = months.find_month(conn, lookup.corp_id, lookup.nsrsbh, lookup.direction, lookup.fplx,
                                         lookup.kpyf)
        return MonthState(authorized=True, slot=slot)

    def _month_page(self, month_id: int, offset: int, limit: int) -> MonthPage:
        with self.engine.connect() as conn:
            return months.month_page(conn, month_id, offset, limit)


def open_page_reads(engine: Engine) -> PageReads:
    """asyncpg on PostgreSQL, SQLAlchemy in threads elsewhere."""
    if engine.dialect.name == "postgresql":
        # pg_repository builds on this module's types: imported here, not at the top
        from fapiaohub.collection.pg_repository import PostgresPageReads  # noqa: PLC0415


        return PostgresPageReads(engine.url)
    return SqlPageReads(engine)
