"""The asyncpg reader the API's hot reads on PostgreSQL build on (the collection page's, unify's
batches'): a pool of its own, a read whose connection was lost sent once more, and the token
check every such request starts with. Here, in auth, because that check is auth's and every
package that serves those reads imports auth already (store must not: auth imports store).

Why asyncpg, and not SQLAlchemy and psycopg as everywhere else: a page or batch request is one or
two small statements, and the driver's own cost decides how close the endpoint gets to its floor.
Measured on this project's 2-core machine (docs/performance.md): a prepared lookup costs about
56 µs of the API process's CPU through asyncpg and 185 µs through psycopg's async connection and
pool; the SQLAlchemy connection in a worker thread cost 2.3 ms per request.

A connection the server dropped (a database restart, pg_terminate_backend) fails the read that was
on it; every read here is one idempotent SELECT, so it is sent once more on a fresh connection, and
only a database still out of reach answers 503 (HttpError) instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import asyncpg
from asyncpg import exceptions as pg_errors
from sqlalchemy.engine import URL

from fapiaohub.auth.service import now_ms
from fapiaohub.errors import DATABASE_UNAVAILABLE, HttpError

# auth.service.corporation_for_digest, restated: the API tests run against both databases
_TOKEN = "SELECT corp_id FROM access_token WHERE token_hash = $1 AND expires_at > $2"

# the connection or the server went away (as opposed to a statement the server refused); the client
# errors are a connection whose protocol state a cut left broken ("another operation is in progress")
CONNECTION_LOST = (pg_errors.PostgresConnectionError, pg_errors.AdminShutdownError, pg_errors.CrashShutdownError,
                   pg_errors.CannotConnectNowError, pg_errors.InterfaceError, pg_errors.InternalClientError, OSError)


async def _keep_session(_: asyncpg.Connection) -> None:
    """Pool connections are returned as they are: these reads are single autocommit statements
    that set nothing, and asyncpg's default reset would cost a round trip per request."""


class AsyncpgReads:
    """Reads through an asyncpg pool, opened on first use in the serving event loop."""

    def __init__(self, url: URL, *, max_connections: int = 8) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._max_connections = max_connections
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _connections(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._max_connections, reset=_keep_session,
                        # generic plans from the first execution: every read here is a lookup by key or a
                        # short index range, whose generic plan is the one PostgreSQL would pick; left to
                        # choose, it kept planning unify's lookup afresh at each request (a custom plan
                        # looked no dearer), 100 µs of its CPU for 50 of execution (docs/performance.md)
                        server_settings={"application_name": "fapiaohub-api", "plan_cache_mode": "force_generic_plan"},
                    )
        return self._pool

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """One read; sent again once if its connection was lost (the pool opens a new one)."""
        try:
            return await self._fetch_once(sql, *args)
        except CONNECTION_LOST:
            pass
        try:
            return await self._fetch_once(sql, *args)
        except CONNECTION_LOST as exc:
            raise HttpError(503, DATABASE_UNAVAILABLE) from exc

    async def _fetch_once(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        pool = await self._connections()
        async with pool.acquire() as conn:
            try:
                return await conn.fetch(sql, *args)
            except CONNECTION_LOST:
                conn.terminate()  # closed, the pool opens a new one in its place instead of lending it again
                raise

    async def token_corporation(self, token_digest: str) -> str | None:
        rows = await self._fetch(_TOKEN, token_digest, now_ms())
        return rows[0]["corp_id"] if rows else None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


Lookup = TypeVar("Lookup")
State = TypeVar("State")


class Batched(Generic[Lookup, State]):
    """Lookups that arrive while others are in flight, sent together: ``answer`` takes a batch of
    lookups and returns their states in order, in one statement over unnested arrays. Each lookup
    still runs after its request arrived, so batching changes nothing a client can observe, while
    under load one round trip answers many requests (the page's month lookups, unify's versions).
    At most ``in_flight`` batches are out at once; more lookups wait for the next."""

    def __init__(self, answer: Callable[[list[Lookup]], Awaitable[list[State]]], *, max_batch: int = 256,
                 in_flight: int = 2) -> None:
        self._run = answer
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._waiting: list[tuple[Lookup, asyncio.Future[State]]] = []
        self._draining = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # statements sent (the tests check that lookups share them)

    async def __call__(self, lookup: Lookup) -> State:
        future: asyncio.Future[State] = asyncio.get_running_loop().create_future()
        self._waiting.append((lookup, future))
        if self._draining < self._in_flight:
            self._draining += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)  # the loop keeps only a weak reference to tasks
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        """Send waiting lookups in batches until none wait; every waiter gets its answer or the error."""
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._answer(batch)
        finally:
            self._draining -= 1

    async def _answer(self, batch: list[tuple[Lookup, asyncio.Future[State]]]) -> None:
        try:
            states = await self._run([lookup for lookup, _ in batch])
            self.batches += 1
        except asyncpg.DataError as exc:
            if len(batch) == 1:
                _fail(batch, exc)
                return
            # the database refused one lookup's values (the query layers let none through that
            # they know of): answer each alone, so that one request cannot fail its batch
            for one in batch:
                await self._answer([one])
            return
        except Exception as exc:  # noqa: BLE001 - handed to the requests, which answer 500
            _fail(batch, exc)
            return
        for (_, future), state in zip(batch, states, strict=True):
            if not future.done():  # a request whose client went away was cancelled
                future.set_result(state)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()


def _fail(batch: list[tuple[Any, asyncio.Future[Any]]], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
