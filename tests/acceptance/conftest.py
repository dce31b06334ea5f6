"""Fixtures of the multi-process scenarios: a database several processes of one test share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from fapiaohub.store.engine import make_engine, upgrade


@pytest.fixture
def worker_db(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A SQLite file of the test's own, or the session's PostgreSQL database; migrated."""
    url = f"sqlite:///{tmp_path / 'workers.db'}" if database_url.startswith("sqlite") else database_url
    engine = make_engine(url)
    upgrade(engine)
    yield url, engine
    engine.dispose()
