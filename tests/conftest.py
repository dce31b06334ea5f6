"""Shared fixtures: every test that touches the store runs on SQLite and, when one answers, PostgreSQL."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url

from fapiaohub.api.app import create_app
from fapiaohub.auth.service import TenantCredentials, create_tenant
from fapiaohub.config import Settings
from fapiaohub.demo.generator import demo_taxpayers, iter_demo_invoices
from fapiaohub.domain.invoice import Invoice
from fapiaohub.logs import JsonLines
from fapiaohub.store.engine import make_engine, upgrade
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.taxpayers import Taxpayer, add_taxpayer

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str | None:
    """The PostgreSQL server tests may use, or None when none answers."""
    url = os.environ.get("FAPIAOHUB_TEST_POSTGRES_URL") or DEFAULT_POSTGRES
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError:
        return None
    return url


@contextlib.contextmanager
def scratch_postgres(prefix: str, unreachable: str) -> Iterator[str]:
    """The URL of a new, empty database on the tests' PostgreSQL server, dropped afterwards; the
    test is skipped with ``unreachable`` when no server answers."""
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip(unreachable)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL server for this test session, dropped at the end."""
    with scratch_postgres("fapiaohub_test", "PostgreSQL is not reachable (set FAPIAOHUB_TEST_POSTGRES_URL or start "
                          "one on 127.0.0.1:5432); the PostgreSQL half of the suite did not run") as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'fapiaohub.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


TEST_SECRET_KEY = "q3T0y7u4qXyK1pQ0m0r1GZ2cW9aH0bYb3l4N5o6P7Q8="  # a Fernet key for the tests only
TEST_UPSTREAM_ALLOW = ("127.0.0.1",)  # the tests' upstream servers listen on loopback, over http


def server_settings(database_url: str, **overrides: object) -> Settings:
    """Settings as the tests run the server: a secret key, loopback allow-listed for upstreams, and
    room for the failed logins the whole session makes from one address (the limit has its own test)."""
    values: dict[str, object] = {"secret_key": TEST_SECRET_KEY, "upstream_allow": TEST_UPSTREAM_ALLOW,
                                 "auth_failure_burst": 10_000, **overrides}
    return Settings(database_url=database_url, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def client(database_url: str, engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = str(tmp_path_factory.mktemp("data"))
    app = create_app(server_settings(database_url, data_dir=data_dir, max_upload_bytes=2 * 1024 * 1024))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.state.engine.dispose()


@dataclass(frozen=True)
class Tenant:
    creds: TenantCredentials
    client: TestClient

    @property
    def corp_id(self) -> str:
        return self.creds.corp_id

    def token(self) -> str:
        response = self.client.post(
            "/api/openapi/v1/auth/getAccessToken",
            json={"appKey": self.creds.app_key, "appSecurity": self.creds.app_security},
        )
        assert response.status_code == 200, response.text
        return response.json()["value"]["accessToken"]


@pytest.fixture
def tenant_factory(engine: Engine, client: TestClient) -> Callable[[], Tenant]:
    """Makes new corporations: tests never see each other's data, on either database."""

    def make() -> Tenant:
        with engine.begin() as conn:
            creds = create_tenant(conn, f"测试企业{uuid.uuid4().hex[:6]}")
        return Tenant(creds, client)

    return make


@pytest.fixture
def tenant(tenant_factory: Callable[[], Tenant]) -> Tenant:
    return tenant_factory()


@dataclass
class Seeded:
    """A tenant whose two taxpayers hold the demo generator's invoices (as the tests' own copy)."""

    tenant: Tenant
    taxpayers: dict[str, Taxpayer]
    invoices: dict[tuple[str, str], list[Invoice]]  # (nsrsbh, direction) -> invoices

    def month(self, nsrsbh: str, direction: str, fplx: str, kpyf: int) -> list[Invoice]:
        return [
            inv for inv in self.invoices[(nsrsbh, direction)] if inv.fplx == fplx and inv.kpyf == kpyf
        ]


def seed_tenant(engine: Engine, tenant: Tenant, total: int) -> Seeded:


    grouped: dict[tuple[str, str], list] = defaultdict(list)
    for item in iter_demo_invoices(total):
        grouped[(item.nsrsbh, item.direction)].append(item.invoice)
    with engine.begin() as conn:
        taxpayers = {tp.nsrsbh: add_taxpayer(conn, tenant.corp_id, tp.nsrsbh, tp.name)
                     for tp in demo_taxpayers()}
        for (nsrsbh, direction), invoices in grouped.items():
            store_invoices(conn, taxpayers[nsrsbh], direction, invoices)
    return Seeded(tenant, taxpayers, dict(grouped))


@pytest.fixture(scope="session")
def seeded(engine: Engine, client: TestClient) -> Seeded:
    """A corporation with 2,000 demo invoices, shared by the tests that only read."""
    with engine.begin() as conn:
        creds = create_tenant(conn, "共享只读测试企业")
    return seed_tenant(engine, Tenant(creds, client), 2000)


@pytest.fixture
def writable_seeded(engine: Engine, tenant: Tenant) -> Seeded:
    """A corporation of the test's own with 600 demo invoices, for tests that write."""
    return seed_tenant(engine, tenant, 600)


@contextlib.contextmanager
def json_log_of(logger_name: str) -> Iterator[io.StringIO]:
    """What a fapiaohub logger (and its children) writes meanwhile, as the JSON lines of --log-format json."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
