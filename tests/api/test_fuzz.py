"""Schemathesis over the app's OpenAPI, with a real token and real ids, on SQLite and PostgreSQL: no 5xx.

Routes that read their body themselves describe no body to FastAPI; the bodies they take are added to
the schema here (BODIES), so that the fuzzer sends them bodies too."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from sqlalchemy.engine import Engine

from fapiaohub.api.app import create_app
from fapiaohub.auth.service import create_tenant
from fapiaohub.config import Settings
from fapiaohub.store.taxpayers import set_channel
from fapiaohub.tasks.routes import BASE
from tests.conftest import Tenant, seed_tenant

# per operation and database: about 800 requests in all; FAPIAOHUB_FUZZ_EXAMPLES=300 for a longer hunt
MAX_EXAMPLES = int(os.environ.get("FAPIAOHUB_FUZZ_EXAMPLES", "30"))
TEXT = {"type": "string"}
TASK_FIELDS = {"corpId": TEXT, "nsrsbh": TEXT, "jxxbz": {"type": "string", "enum": ["jx", "xx"]}, "kpyf": TEXT,
               "fplx": TEXT, "source": {"type": "string", "enum": ["sandbox", "files", "upstream"]}}


def json_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": required, "properties": properties}}}}


BODIES: dict[str, dict[str, Any]] = {
    "/api/openapi/v1/auth/getAccessToken": json_body({"appKey": TEXT, "appSecurity": TEXT}, ["appKey", "appSecurity"]),
    f"{BASE}/create": json_body(TASK_FIELDS, ["corpId", "nsrsbh", "jxxbz"]),
    f"{BASE}/status": json_body({"corpId": TEXT, "taskId": TEXT}, ["corpId", "taskId"]),
    f"{BASE}/cancel": json_body({"corpId": TEXT, "taskId": TEXT}, ["corpId", "taskId"]),
    f"{BASE}/list": json_body({"corpId": TEXT, "nsrsbh": TEXT}, ["corpId", "nsrsbh"]),
    f"{BASE}/upload": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["corpId", "nsrsbh", "jxxbz", "files"],
        "properties": {**TASK_FIELDS, "files": {"type": "string", "format": "binary"}}}}}},
}


@dataclass
class Ids:
    """Real identifiers of one corporation, put into the generated requests."""

    token: str
    corp_id: str
    nsrsbh: str
    task_id: str
    unify_corp_id: str


@pytest.fixture(scope="module")
def ids(engine: Engine, client: TestClient) -> Ids:
    with engine.begin() as conn:
        creds = create_tenant(conn, "模糊测试企业")
    seeded = seed_tenant(engine, Tenant(creds, client), 200)
    token = seeded.tenant.token()
    nsrsbh = next(iter(seeded.taxpayers))
    with engine.begin() as conn:
        set_channel(conn, creds.corp_id, nsrsbh, "sandbox")  # a task to look at: the sandbox bureau's
    task = client.post(f"{BASE}/create", params={"accessToken": token},
                       json={"corpId": creds.corp_id, "nsrsbh": nsrsbh, "jxxbz": "jx", "kpyf": "202503"})
    unify = client.post("/api/openapi/fapiaohub/v1/unify/corporation", params={"accessToken": token},
                        json={"code": "FUZZ", "name": "模糊测试平台"})
    return Ids(token, creds.corp_id, nsrsbh, task.json()["value"]["data"]["taskId"], unify.json()["value"]["id"])


def api_schema() -> Any:
    """The app's OpenAPI with the bodies of BODIES; the document does not depend on the database."""
    spec = copy.deepcopy(create_app(Settings(database_url="sqlite://")).openapi())
    for path, body in BODIES.items():
        spec["paths"][path]["post"]["requestBody"] = body
    return schemathesis.openapi.from_dict(spec)


SCHEMA = api_schema()
OPERATIONS = [(method, path) for path, methods in SCHEMA.raw_schema["paths"].items() for method in methods]


def with_real_ids(value: Any, ids: Ids) -> Any:
    """The generated body with every identifier the fuzzer cannot guess replaced by a real one."""
    real = {"corpId": ids.corp_id, "nsrsbh": ids.nsrsbh, "taskId": ids.task_id,
            "unifyInvoiceCorporationId": ids.unify_corp_id}
    if isinstance(value, dict):
        return {key: real[key] if key in real else with_real_ids(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [with_real_ids(item, ids) for item in value]
    return value


@pytest.mark.parametrize("real", [True, False], ids=["real-ids", "generated-ids"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_errors(method: str, path: str, real: bool, ids: Ids, client: TestClient) -> None:
    """real: the token and ids of a seeded corporation replace the generated ones (the fuzzer reaches
    the code behind auth); generated: everything as the fuzzer made it (auth and lookups of nonsense)."""
    operation = SCHEMA[path][method]
    failures: list[str] = []

    def with_real_ids_in(case: Any) -> None:
        if path != "/api/openapi/v2/auth/refreshToken":  # a real token there would be rotated away
            case.query = {**(case.query or {}), "accessToken": ids.token}
        if case.query and "unifyInvoiceCorporationId" in case.query:
            case.query["unifyInvoiceCorporationId"] = ids.unify_corp_id
        if isinstance(case.body, (dict, list)):
            case.body = with_real_ids(case.body, ids)

    @given(operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=MAX_EXAMPLES == 30, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        if real:
            with_real_ids_in(case)
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        if isinstance(kwargs.get("data"), (bytes, str)):
            kwargs["content"] = kwargs.pop("data")
        kwargs.pop("cookies", None)
        response = client.request(**kwargs)
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {response.text[:200]}\n{case.as_curl_command()}")

    run()
    assert not failures, f"{len(failures)} server errors on {method.upper()} {path}:\n" + "\n".join(failures[:5])
