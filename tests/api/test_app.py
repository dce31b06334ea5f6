"""The operations endpoints and the per-request bookkeeping: /healthz, /readyz, /metrics, reqId in logs."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from fapiaohub.api.app import create_app
from fapiaohub.config import Settings
from fapiaohub.errors import DATABASE_UNAVAILABLE
from tests.conftest import Seeded, Tenant, json_log_of, seed_tenant

COLLECT = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the fapiaohub loggers write, as the JSON lines of --log-format json."""
    with json_log_of("fapiaohub") as out:
        yield out


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_healthz_answers_while_the_process_is_up(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ok_on_a_migrated_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["revision"]


def test_readyz_is_503_when_the_schema_is_behind(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", data_dir=str(tmp_path)))
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "fapiaohub db upgrade" in response.json()["reason"]


def test_readyz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    # nothing listens on port 9 (discard) of localhost: the connection is refused at once
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:9/none", data_dir=str(tmp_path)))
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"].startswith("database unreachable")


def test_requests_answer_503_without_sql_while_the_database_is_down(tmp_path: Path) -> None:
    """A database restarting or gone: each kind of request says so cleanly (the server keeps running)."""
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:9/none", data_dir=str(tmp_path)))
    body = {"corpId": "c", "nsrsbh": "91440300MA5DEM0019", "fplx": "81", "kpyf": "202503", "jxxbz": "jx"}
    with TestClient(app) as client:
        answers = [
            client.post("/api/openapi/v1/auth/getAccessToken", json={"appKey": "k", "appSecurity": "s"}),  # SQLAlchemy
            client.post(COLLECT, params={"accessToken": "t"}, json=body),  # asyncpg, tried twice
            client.post("/api/openapi/v2/invoice/v2/collectionTask/status", params={"accessToken": "t"},
                        json={"corpId": "c", "taskId": "T1"}),
        ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["errorMessage"] == DATABASE_UNAVAILABLE
        assert "127.0.0.1" not in answer.text  # nothing of the driver's words


def test_the_envelope_reqid_is_the_one_in_the_log_line(tenant: Tenant, json_log: io.StringIO) -> None:
    token = tenant.token()
    response = tenant.client.post(COLLECT, params={"accessToken": token}, json={"corpId": tenant.corp_id})
    value = response.json()["value"]
    assert value["success"] is False  # a business error: the envelope still names the request
    assert response.headers["x-request-id"] == value["reqId"]
    access = [line for line in _lines(json_log) if line["logger"] == "fapiaohub.access"]
    mine = [line for line in access if line["reqId"] == value["reqId"]]
    assert len(mine) == 1
    assert mine[0]["route"] == COLLECT
    assert mine[0]["status"] == 200
    assert mine[0]["corpId"] == tenant.corp_id
    assert isinstance(mine[0]["durationMs"], float)
    assert token not in json_log.getvalue()


def test_a_refused_token_is_logged_without_the_token(tenant: Tenant, json_log: io.StringIO) -> None:
    secret = "not-a-token-but-secret-looking-1234"
    response = tenant.client.post(COLLECT, params={"accessToken": secret}, json={})
    assert response.status_code == 403
    access = [line for line in _lines(json_log) if line["logger"] == "fapiaohub.access"]
    assert access[-1]["status"] == 403
    assert access[-1]["reqId"] == response.headers["x-request-id"]
    assert secret not in json_log.getvalue()


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_metrics_count_requests_page_cache_hits_and_tasks(engine: Engine, tenant: Tenant) -> None:
    seeded: Seeded = seed_tenant(engine, tenant, 200)
    nsrsbh = next(iter(seeded.taxpayers))
    some = seeded.invoices[(nsrsbh, "jx")][0]  # a month and kind that hold invoices
    token = tenant.token()
    body = {"corpId": tenant.corp_id, "nsrsbh": nsrsbh, "fplx": some.fplx, "kpyf": str(some.kpyf), "jxxbz": "jx",
            "page": {"pageSize": 10, "currentPage": 1}}
    before = tenant.client.get("/metrics").text
    for _ in range(2):  # the second read of the same page comes from the cache
        assert tenant.client.post(COLLECT, params={"accessToken": token}, json=body).json()["value"]["code"] == "2000"
    response = tenant.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    labels = {"method": "POST", "route": COLLECT, "status": "200"}
    assert _sample(after, "fapiaohub_http_requests_total", **labels) - \
        _sample(before, "fapiaohub_http_requests_total", **labels) == 2
    assert _sample(after, "fapiaohub_page_cache_requests_total", result="hit") > \
        _sample(before, "fapiaohub_page_cache_requests_total", result="hit")
    assert _sample(after, "fapiaohub_http_request_duration_seconds_count", method="POST", route=COLLECT) >= 2
    assert "# TYPE fapiaohub_tasks gauge" in after
    for state in ("toProcess", "processing", "processed", "failed"):  # every state, 0 included
        assert f'fapiaohub_tasks{{state="{state}"}}' in after
    assert "# TYPE fapiaohub_import_rows_total counter" in after


def test_unmatched_paths_share_one_metric_label(client: TestClient) -> None:
    for n in range(3):
        assert client.get(f"/no/such/path/{n}").status_code == 404
    text = client.get("/metrics").text
    assert "/no/such/path" not in text
    assert _sample(text, "fapiaohub_http_requests_total", method="GET", route="unmatched", status="404") >= 3
