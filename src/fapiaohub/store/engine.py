"""Engines for the two supported databases, and running the migrations."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from fapiaohub.store import entities

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (as libpq users write them) and use psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        # timeout: how long a writer waits for SQLite's one write lock (the busy handler retries at
        # least every 100 ms) before "database is locked"; imports commit in chunks far shorter
        # than this (tasks/sources.py), so getAccessToken and sign-ins get it between two of them
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No server-side prepared statements: PostgreSQL would keep a generic plan made while a table
    # was small (a sequential scan) and reuse it after the table has grown to millions of rows.
    # Pre-ping: a pooled connection the server dropped (a restart, pg_terminate_backend, a
    # proxy's idle timeout) is replaced at checkout instead of failing the request that drew it.
    # It costs one round trip per checkout, off the hot path: getInvoiceCollectionData reads
    # through asyncpg's pool (collection/pg_repository.py), which notices closed connections itself.
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
                            pool_pre_ping=True, connect_args={"prepare_threshold": None})


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database error is the database being out of reach (a restart, a cut connection, a
    refused connect; SQLite's lock timeout) rather than the statement being wrong: worth retrying."""
    return isinstance(exc, DBAPIError) and (exc.connection_invalidated or isinstance(exc, OperationalError))


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while a worker writes; foreign keys are off by default in SQLite
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    # data backfills render with this code's renderers, which revisions may not import (0008)
    config.attributes["render_entities"] = entities.backfill
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; a no-op on an up-to-date database."""
    command.upgrade(alembic_config(engine), revision)


def schema_revisions(engine: Engine) -> tuple[str | None, str | None]:
    """(the database's alembic revision, the newest revision this code has); connects to the database."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head


def first_line(exc: BaseException) -> str:
    """A database error's first line, for the server log: the driver's words, without the statement,
    its parameters or the ``LINE 1: …`` excerpt PostgreSQL adds."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
