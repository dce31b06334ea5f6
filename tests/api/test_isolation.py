"""Tenant isolation over every route of the app: another corporation's identifiers get the answer a
made-up identifier gets, and change nothing of that corporation's. A route added without a case here
fails the test."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from fapiaohub.console.routes import router as console_router
from fapiaohub.demo.generator import demo_taxpayers
from fapiaohub.demo.samples import write_samples
from fapiaohub.domain.validation import uscc_check_char
from fapiaohub.store.tables import collection_task, invoice, taxpayer, unify_corporation
from fapiaohub.tasks.worker import Worker
from tests.conftest import Tenant, seed_tenant
from tests.console.conftest import Browser, browser_for  # noqa: F401 - the fixture, for the console's routes

API = "/api/openapi/v2/invoice/v2"
TASKS = f"{API}/collectionTask"
UNIFY_CORP = "/api/openapi/fapiaohub/v1/unify/corporation"

# Routes that take no identifier of a tenant's data, so there is nothing of another's to try
WITHOUT_TENANT_IDENTIFIERS = {
    ("POST", "/api/openapi/v1/auth/getAccessToken"): "keys only; wrong keys: tests/auth/test_routes.py",
    ("GET", "/healthz"): "no data", ("GET", "/readyz"): "no data",
    ("GET", "/metrics"): "operator's counters, no tenant's identifiers",
    ("GET", "/console"): "redirect", ("GET", "/console/"): "redirect", ("GET", "/console/lang"): "a cookie",
    ("GET", "/console/login"): "the form", ("POST", "/console/login"): "keys only",
    ("POST", "/console/logout"): "ends the caller's own session",
    ("POST", "/console/taxpayers"): "registers the caller's own taxpayer; the same tax id in two corporations "
                                    "stays apart: tests/collection/test_routes.py",
}


@dataclass
class Owner:
    """Corporation A's identifiers, which the stranger tries."""

    nsrsbh: str
    taxpayer_id: int
    invoice_id: int
    invoice_key: str
    task_id: str  # a processed upload
    waiting_task_id: str  # an upload no worker has taken
    unify_id: str
    unify_code: str
    refresh_token: str
    names: tuple[str, ...]  # text of A's that must appear nowhere in B's answers


def every_route(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every API operation (the OpenAPI document) and every console page."""
    routes = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    for route in console_router.routes:
        routes |= {(method, route.path) for method in route.methods if method != "HEAD"}  # type: ignore[attr-defined]
    return routes


def fake_uscc() -> str:
    first17 = f"91110000MA0Y{uuid.uuid4().int % 10**5:05d}"
    return first17 + uscc_check_char(first17)


@pytest.fixture
def owner(tenant_factory: Callable[[], Tenant], engine: Engine, client: TestClient, tmp_path: Path) -> Owner:
    a = tenant_factory()
    seeded = seed_tenant(engine, a, 200)
    first, second = demo_taxpayers()[:2]
    token = a.token()
    export = write_samples(tmp_path)[0].path

    def upload(nsrsbh: str) -> str:
        answer = client.post(f"{TASKS}/upload", params={"accessToken": token},
                             data={"corpId": a.corp_id, "nsrsbh": nsrsbh, "jxxbz": "jx"},
                             files=[("files", (export.name, export.read_bytes(), "application/octet-stream"))])
        return str(answer.json()["value"]["data"]["taskId"])

    task_id = upload(first.nsrsbh)
    Worker(engine, settings=client.app.state.settings).run_task(task_id)  # type: ignore[attr-defined]
    waiting = upload(second.nsrsbh)
    unify = client.post(UNIFY_CORP, params={"accessToken": token},
                        json={"code": "91110000MA01ISOLAT", "name": "隔离测试差旅平台有限公司"}).json()["value"]
    jx = seeded.invoices[(first.nsrsbh, "jx")][0]
    pushed = client.post("/api/openapi/fapiaohub/v1/unify/batch", params={"accessToken": token},
                         json={"unifyInvoiceCorporationId": unify["id"], "batchNo": "ISO-1",
                               "invoices": [{"nsrsbh": first.nsrsbh, "key": jx.key}], "relation": []})
    assert pushed.status_code == 200, pushed.text
    pair = client.post("/api/openapi/v1/auth/getAccessToken",
                       json={"appKey": a.creds.app_key, "appSecurity": a.creds.app_security}).json()["value"]
    with engine.connect() as conn:
        invoice_id = conn.execute(sa.select(invoice.c.id).where(invoice.c.corp_id == a.corp_id,
                                                                invoice.c.invoice_key == jx.key)).scalar_one()
    return Owner(first.nsrsbh, seeded.taxpayers[first.nsrsbh].id, invoice_id, jx.key, task_id, waiting,
                 unify["id"], unify["code"], pair["refreshToken"],
                 (first.nsrsbh, second.nsrsbh, first.name, jx.fphm, task_id, waiting, unify["id"], "隔离测试差旅平台"))


def state_of(engine: Engine, corp_id: str) -> Any:
    """Everything of A's a stranger's request could change."""
    with engine.connect() as conn:
        def rows(table: sa.Table, *order: Any) -> list[Any]:
            return [tuple(row) for row in conn.execute(sa.select(table).where(table.c.corp_id == corp_id)
                                                       .order_by(*order))]
        return (rows(invoice, invoice.c.id), rows(collection_task, collection_task.c.id),
                rows(taxpayer, taxpayer.c.id), rows(unify_corporation, unify_corporation.c.id))


def normalised(answer: httpx.Response, echo: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body without per-request ids; ``echo`` rewrites the made-up identifiers an answer
    repeats into the real ones, so that the two answers compare whole."""
    text = answer.text
    for made_up, real in (echo or {}).items():
        text = text.replace(made_up, real)
    return answer.status_code, re.sub(r'"reqId":"[^"]*"', "", text)


def test_another_corporations_identifiers_reach_nothing_on_any_route(
        owner: Owner, tenant_factory: Callable[[], Tenant], client: TestClient, engine: Engine,
        browser_for: Callable[[str, str], Browser], tmp_path: Path) -> None:  # noqa: F811 - the fixture
    stranger = tenant_factory()  # every call below is the stranger's, with its own token and console session
    token = stranger.token()
    browser = browser_for(stranger.corp_id, "admin")
    console, csrf = browser.http, browser.csrf
    with engine.connect() as conn:
        a_corp_id = conn.execute(sa.select(taxpayer.c.corp_id).where(taxpayer.c.id == owner.taxpayer_id)).scalar_one()
    before = state_of(engine, a_corp_id)
    q = {"accessToken": token}
    own = {"corpId": stranger.corp_id}
    made_up_task = "T" + uuid.uuid4().hex[:15]
    made_up_unify = uuid.uuid4().hex[:14]
    sample = write_samples(tmp_path / "b")[0].path
    files = [("files", (sample.name, sample.read_bytes(), "application/octet-stream"))]
    month = {"fplx": "81", "kpyf": "202503", "jxxbz": "jx", "page": {"pageSize": 100, "currentPage": 1}}

    # each case: the call with A's identifier, and the same call with a made-up one
    def post(path: str, body: dict[str, Any], **extra: Any) -> Callable[[dict[str, Any]], httpx.Response]:
        return lambda swap: client.post(path, params=q, json={**body, **swap}, **extra)

    def get(path: str) -> Callable[[dict[str, Any]], httpx.Response]:
        return lambda swap: console.get(path.format(**swap))

    cases: dict[tuple[str, str], list[tuple[Callable[[dict[str, Any]], httpx.Response], dict[str, Any], dict[str, Any]]]] = {
        ("POST", f"{API}/getInvoiceCollectionData"): [
            (post(f"{API}/getInvoiceCollectionData", {**own, **month}), {"nsrsbh": owner.nsrsbh}, {"nsrsbh": fake_uscc()}),
            (post(f"{API}/getInvoiceCollectionData", {"nsrsbh": owner.nsrsbh, **month}),
             {"corpId": a_corp_id}, {"corpId": uuid.uuid4().hex[:14]}),
        ],
        ("POST", f"{TASKS}/create"): [
            (post(f"{TASKS}/create", {**own, "jxxbz": "jx", "kpyf": "202503", "source": "sandbox"}),
             {"nsrsbh": owner.nsrsbh}, {"nsrsbh": fake_uscc()}),
            (post(f"{TASKS}/create", {"nsrsbh": owner.nsrsbh, "jxxbz": "jx", "kpyf": "202503"}),
             {"corpId": a_corp_id}, {"corpId": uuid.uuid4().hex[:14]}),
        ],
        ("POST", f"{TASKS}/status"): [(post(f"{TASKS}/status", own), {"taskId": owner.task_id}, {"taskId": made_up_task})],
        ("POST", f"{TASKS}/list"): [(post(f"{TASKS}/list", {**own, "jxxbz": "jx"}),
                                     {"nsrsbh": owner.nsrsbh}, {"nsrsbh": fake_uscc()})],
        ("POST", f"{TASKS}/records"): [(post(f"{TASKS}/records", own), {"taskId": owner.task_id},
                                        {"taskId": made_up_task})],
        ("POST", f"{TASKS}/cancel"): [(post(f"{TASKS}/cancel", own), {"taskId": owner.waiting_task_id},
                                       {"taskId": made_up_task})],
        ("POST", "/api/openapi/fapiaohub/v1/collectionTask/revert"): [
            (post("/api/openapi/fapiaohub/v1/collectionTask/revert", own), {"taskId": owner.task_id},
             {"taskId": made_up_task})],
        ("POST", f"{TASKS}/upload"): [
            (lambda swap: client.post(f"{TASKS}/upload", params=q, files=files,
                                      data={**own, "jxxbz": "jx", **swap}), {"nsrsbh": owner.nsrsbh},
             {"nsrsbh": fake_uscc()}),
            (lambda swap: client.post(f"{TASKS}/upload", params=q, files=files,
                                      data={"nsrsbh": owner.nsrsbh, "jxxbz": "jx", **swap}),
             {"corpId": a_corp_id}, {"corpId": uuid.uuid4().hex[:14]}),
        ],
        ("GET", "/api/openapi/v2.1/invoice/unify"): [
            (lambda swap: client.get("/api/openapi/v2.1/invoice/unify", params={**q, "index": "0", "count": "10", **swap}),
             {"unifyInvoiceCorporationId": owner.unify_id}, {"unifyInvoiceCorporationId": made_up_unify})],
        ("GET", "/api/openapi/v1/invoice/unify"): [
            (lambda swap: client.get("/api/openapi/v1/invoice/unify", params={**q, "index": "0", "count": "10", **swap}),
             {"unifyInvoiceCorporationId": owner.unify_id}, {"unifyInvoiceCorporationId": made_up_unify})],
        ("POST", "/api/openapi/fapiaohub/v1/unify/batch"): [
            (post("/api/openapi/fapiaohub/v1/unify/batch",
                  {"batchNo": "ISO-1", "invoices": [{"nsrsbh": owner.nsrsbh, "key": owner.invoice_key}], "relation": []}),
             {"unifyInvoiceCorporationId": owner.unify_id}, {"unifyInvoiceCorporationId": made_up_unify})],
        ("POST", "/api/openapi/v2/auth/refreshToken"): [
            (lambda swap: client.post("/api/openapi/v2/auth/refreshToken", params={**q, "powerCode": "219904", **swap}),
             {"refreshToken": owner.refresh_token}, {"refreshToken": uuid.uuid4().hex * 2})],
        ("POST", "/api/openapi/v2/auth/refreshToken/expireDate"): [
            (lambda swap: client.post("/api/openapi/v2/auth/refreshToken/expireDate",
                                      params={**q, "powerCode": "219904", "expireDate": str(int(time.time() * 1000) + 86_400_000), **swap}),
             {"refreshToken": owner.refresh_token}, {"refreshToken": uuid.uuid4().hex * 2})],
        ("GET", "/console/overview"): [(get("/console/overview?taxpayer={id}"), {"id": owner.taxpayer_id}, {"id": 987654321})],
        ("GET", "/console/ledger"): [(get("/console/ledger?taxpayer={id}"), {"id": owner.taxpayer_id}, {"id": 987654321})],
        ("GET", "/console/ledger/export"): [(get("/console/ledger/export?format=csv&taxpayer={id}"),
                                            {"id": owner.taxpayer_id}, {"id": 987654321})],
        ("GET", "/console/invoices/{invoice_id}"): [(get("/console/invoices/{id}"), {"id": owner.invoice_id},
                                                     {"id": 987654321})],
        ("GET", "/console/tasks/{task_id}"): [(get("/console/tasks/{id}"), {"id": owner.task_id}, {"id": made_up_task})],
        ("GET", "/console/tasks/{task_id}/status"): [(get("/console/tasks/{id}/status"), {"id": owner.task_id},
                                                      {"id": made_up_task})],
        ("GET", "/console/tasks/{task_id}/rejections.xlsx"): [(get("/console/tasks/{id}/rejections.xlsx"),
                                                               {"id": owner.task_id}, {"id": made_up_task})],
        ("POST", "/console/tasks/upload"): [
            (lambda swap: console.post("/console/tasks/upload", headers={"X-CSRF-Token": csrf}, files=files,
                                       data={"direction": "jx", **swap}),
             {"taxpayer": str(owner.taxpayer_id)}, {"taxpayer": "987654321"})],
        ("GET", "/console/unify/{unify_corp_id}"): [(get("/console/unify/{id}"), {"id": owner.unify_id},
                                                     {"id": made_up_unify})],
        ("POST", "/console/taxpayers/{taxpayer_id}/collection"): [
            (lambda swap: console.post(f"/console/taxpayers/{swap['id']}/collection",
                                       data={"csrf": csrf, "enabled": "0"}), {"id": owner.taxpayer_id},
             {"id": 987654321})],
    }
    # routes whose answer lists the caller's own things: none of A's may be among them
    listings: dict[tuple[str, str], Callable[[], httpx.Response]] = {
        ("GET", "/api/openapi/v1/invoice/unify/corporation/list"):
            lambda: client.get("/api/openapi/v1/invoice/unify/corporation/list", params=q),
        ("POST", UNIFY_CORP): lambda: client.post(UNIFY_CORP, params=q, json={"code": owner.unify_code, "name": "乙"}),
        ("GET", "/console/overview"): lambda: console.get("/console/overview"),
        ("GET", "/console/ledger"): lambda: console.get("/console/ledger"),
        ("GET", "/console/tasks"): lambda: console.get("/console/tasks"),
        ("GET", "/console/unify"): lambda: console.get("/console/unify"),
        ("GET", "/console/taxpayers"): lambda: console.get("/console/taxpayers"),
    }
    untried = every_route(client.app) - set(cases) - set(listings) - set(WITHOUT_TENANT_IDENTIFIERS)  # type: ignore[arg-type]
    assert not untried, f"routes without an isolation case: {sorted(untried)}"

    for route, tries in cases.items():
        for call, theirs, made_up in tries:
            with_theirs, with_made_up = call(theirs), call(made_up)
            echo = {str(made_up[key]): str(theirs[key]) for key in theirs}
            assert normalised(with_theirs) == normalised(with_made_up, echo), route
            for name in set(owner.names) - set(echo.values()):  # (an answer may repeat what the caller sent)
                assert name not in with_theirs.text, (route, name)
    for route, call in listings.items():
        answer = call()
        assert answer.status_code == 200, (route, answer.text[:300])
        for name in owner.names:
            assert name not in answer.text, (route, name)
        if route == ("POST", UNIFY_CORP):  # the same code makes the stranger's own corporation
            assert answer.json()["value"]["id"] != owner.unify_id
    assert state_of(engine, a_corp_id) == before  # nothing of A's changed
