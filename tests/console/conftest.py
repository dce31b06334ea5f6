"""Console fixtures: users of a corporation, and signed-in TestClients with cookie jars of their own."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from fapiaohub.console import repository
from fapiaohub.console.users import hash_password

PASSWORD = "correct horse battery"


@dataclass
class Browser:
    """A TestClient signed in as one console user; ``csrf`` is the session's form token."""

    http: TestClient
    corp_id: str
    name: str
    csrf: str


def form_token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def add_user(engine: Engine, corp_id: str, role: str, password: str = PASSWORD) -> str:
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:
        repository.add_user(conn, corp_id, name, hash_password(password), role)
    return name


def sign_in(http: TestClient, corp_id: str, name: str, password: str = PASSWORD) -> TestClient:
    page = http.get("/console/login")
    return http.post("/console/login", data={"corp": corp_id, "name": name, "password": password,
                                              "csrf": form_token(page.text), "next": "/console/overview"},
                     follow_redirects=False)


@pytest.fixture
def browser_for(engine: Engine, client: TestClient) -> Callable[[str, str], Browser]:
    """Signs a new user of ``corp_id`` with ``role`` in, on a TestClient of its own (its own cookies)."""

    def make(corp_id: str, role: str) -> Browser:
        http = TestClient(client.app, raise_server_exceptions=False)
        name = add_user(engine, corp_id, role)
        response = sign_in(http, corp_id, name)
        assert response.status_code == 303, response.text
        return Browser(http, corp_id, name, form_token(http.get("/console/taxpayers").text))

    return make
