"""Upstream tasks: where they may connect, what they say when they cannot, and that their secret stays sealed."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from fapiaohub.api.app import create_app
from fapiaohub.sealing import NO_KEY, Sealer
from fapiaohub.store.tables import collection_task
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks.outbound import UnsafeUpstreamError, check_base_url
from fapiaohub.tasks.worker import Worker
from tests.conftest import TEST_SECRET_KEY, Tenant, server_settings

BASE = "/api/openapi/v2/invoice/v2/collectionTask"
NSRSBH = "91440300MA5DEM0019"
SECRET = "s3cr3t-upstream-app-security"


@pytest.mark.parametrize("url", [
    "http://8.8.8.8", "https://127.0.0.1", "https://10.0.0.5", "https://192.168.1.1:8443", "https://169.254.169.254",
    "https://[::1]", "https://[::ffff:127.0.0.1]", "https://0.0.0.0", "https://localhost", "https://100.64.0.1",
    "ftp://example.com", "https://user:pw@8.8.8.8", "https://8.8.8.8/?x=1", "https://",
])
def test_unsafe_base_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUpstreamError):
        check_base_url(url, ())


def test_https_to_public_addresses_and_allow_listed_hosts_pass() -> None:
    assert check_base_url("https://8.8.8.8/", ()) == "https://8.8.8.8"
    assert check_base_url("http://127.0.0.1:8000", ("127.0.0.1",)) == "http://127.0.0.1:8000"
    assert check_base_url("http://localhost:8000", ("localhost",)) == "http://localhost:8000"
    assert check_base_url("https://10.1.2.3", ("10.0.0.0/8",)) == "https://10.1.2.3"
    assert check_base_url("http://10.1.2.3", ("10.0.0.0/8",)) == "http://10.1.2.3"  # listed: http allowed
    with pytest.raises(UnsafeUpstreamError, match="https"):
        check_base_url("http://8.8.8.8", ("10.0.0.0/8",))  # unlisted: https only
    with pytest.raises(UnsafeUpstreamError):
        check_base_url("https://10.1.2.3", ("127.0.0.1",))


class _Fake(BaseHTTPRequestHandler):
    """An upstream that refuses the keys (recording what it was sent), redirects, or is not the API."""

    mode = "refuse"
    received: list[dict[str, Any]] = []
    hits: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).hits.append(self.path)
        if self.mode == "refuse":
            type(self).received.append(json.loads(body))
            self.send_response(403)
        elif self.mode == "redirect":
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def fake_upstream() -> Iterator[tuple[str, type[_Fake]]]:
    handler: type[_Fake] = type("Fake", (_Fake,), {"received": [], "hits": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def not_http() -> Iterator[str]:
    """A port that accepts connections and answers something that is not HTTP."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def create(tenant: Tenant, token: str, base_url: str, client: TestClient | None = None) -> dict[str, Any]:
    response = (client or tenant.client).post(f"{BASE}/create", params={"accessToken": token}, json={
        "corpId": tenant.corp_id, "nsrsbh": NSRSBH, "jxxbz": "jx", "kpyf": "202503", "source": "upstream",
        "upstream": {"baseUrl": base_url, "appKey": "their-key", "appSecurity": SECRET}})
    assert response.status_code == 200, response.text
    return response.json()["value"]


@pytest.fixture
def upstream_tenant(tenant: Tenant, engine: Engine) -> Tenant:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, NSRSBH, "镜像公司", channel="upstream")
    return tenant


def run(engine: Engine, task_id: str) -> None:
    Worker(engine, settings=server_settings("unused://")).run_task(task_id)


def test_the_secret_is_sealed_reaches_the_upstream_and_shows_nowhere(
        upstream_tenant: Tenant, engine: Engine, fake_upstream: tuple[str, type[_Fake]],
        caplog: pytest.LogCaptureFixture) -> None:
    base, handler = fake_upstream
    token = upstream_tenant.token()
    created = create(upstream_tenant, token, base)
    task = created["data"]
    assert SECRET not in json.dumps(created)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(collection_task.c.options)
                              .where(collection_task.c.id == task["taskId"])).scalar_one()
    assert SECRET not in stored
    assert Sealer(TEST_SECRET_KEY).open(json.loads(stored)["appSecuritySealed"]) == SECRET
    again = create(upstream_tenant, token, base)  # a retried create gets its own task back, though sealed anew
    assert again["data"]["taskId"] == task["taskId"]
    with caplog.at_level(logging.DEBUG):
        run(engine, task["taskId"])
    assert handler.received == [{"appKey": "their-key", "appSecurity": SECRET}]  # opened for the upstream only
    assert SECRET not in caplog.text
    listed = upstream_tenant.client.post(f"{BASE}/list", params={"accessToken": token},
                                         json={"corpId": upstream_tenant.corp_id, "nsrsbh": NSRSBH})
    assert SECRET not in listed.text
    assert "Sealed" not in listed.text
    done = [t for t in listed.json()["value"]["data"]["list"] if t["taskId"] == task["taskId"]][0]
    assert (done["state"], done["code"]) == ("failed", "4001")


def test_every_way_of_not_answering_reads_the_same(upstream_tenant: Tenant, engine: Engine,
                                                   fake_upstream: tuple[str, type[_Fake]], not_http: str) -> None:
    base, handler = fake_upstream
    token = upstream_tenant.token()
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    messages = []
    for url, mode in ((closed, None), (not_http, None), (base, "redirect"), (base, "missing")):
        if mode:
            handler.mode = mode
        task = create(upstream_tenant, token, url)["data"]
        run(engine, task["taskId"])
        status = upstream_tenant.client.post(f"{BASE}/status", params={"accessToken": token},
                                             json={"corpId": upstream_tenant.corp_id, "taskId": task["taskId"]})
        done = status.json()["value"]["data"]
        assert (done["state"], done["code"]) == ("failed", "500")
        messages.append(done["message"].replace(url, "URL"))
    assert len(set(messages)) == 1, messages  # closed, not HTTP, redirected, not the API: one message
    assert "/elsewhere" not in handler.hits  # the redirect was not followed


def test_loopback_is_refused_unless_allow_listed_and_no_key_refuses_upstream(
        upstream_tenant: Tenant, database_url: str, tmp_path: Any) -> None:
    strict = create_app(server_settings(database_url, upstream_allow=(), data_dir=str(tmp_path)))
    keyless = create_app(server_settings(database_url, secret_key=None, data_dir=str(tmp_path)))
    with TestClient(strict) as strict_client, TestClient(keyless) as keyless_client:
        token = upstream_tenant.token()
        for url in ("http://127.0.0.1:8000", "https://127.0.0.1:8443", "https://[::1]", "https://169.254.169.254"):
            refused = create(upstream_tenant, token, url, strict_client)
            assert refused["success"] is False, url
            assert "baseUrl" in refused["message"]
        assert create(upstream_tenant, token, "https://8.8.8.8", keyless_client)["message"] == NO_KEY
    strict.state.engine.dispose()
    keyless.state.engine.dispose()
