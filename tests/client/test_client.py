"""The SDK against a real fapiaohub server process: paging, tokens, retries, tasks, unify sync."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from fapiaohub.client import AsyncClient, AuthError, BusinessError, Client, FapiaohubError
from fapiaohub.demo.generator import demo_taxpayers
from fapiaohub.demo.load import DEMO_APP_KEY, DEMO_APP_SECURITY
from tests.acceptance.test_cli import FAPIAOHUB, free_port, wait_until_up

pytestmark = pytest.mark.slow
TAXPAYER = demo_taxpayers()[0].nsrsbh


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`fapiaohub demo` with tokens that the client must refresh two seconds after issue."""
    port = free_port()
    db = tmp_path_factory.mktemp("sdk") / "sdk.db"
    env = {**os.environ, "FAPIAOHUB_TOKEN_TTL_SECONDS": "302"}  # the client refreshes 300 s early
    proc = subprocess.Popen([*FAPIAOHUB, "demo", "--db", f"sqlite:///{db}", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def client(server: str) -> Iterator[Client]:
    with Client(server, DEMO_APP_KEY, DEMO_APP_SECURITY, backoff=0.01) as sdk:
        yield sdk


def test_iterators_walk_every_page_and_kind_once(client: Client) -> None:
    by_kind: dict[str, int] = {}
    keys = []
    for kind, item in client.iter_items(TAXPAYER, "202503", "jx", page_size=3):
        by_kind[kind] = by_kind.get(kind, 0) + 1
        keys.append(item.get("fphm") or item.get("jkshm"))
    assert len(keys) == len(set(keys)) > 20
    for kind, count in by_kind.items():
        assert client.collection_page(TAXPAYER, "202503", "jx", kind, page_size=1).total_count == count
    invoices = list(client.iter_invoices(TAXPAYER, "202503", "jx"))
    assert sorted(inv.fphm for inv in invoices) == sorted(keys)
    assert all(inv.gfsbh == TAXPAYER or inv.fplx == "17" for inv in invoices)


def test_tokens_are_refreshed_before_expiry_and_replaced_after_a_403(client: Client, server: str) -> None:
    first = client.token()
    assert first.access not in repr(first)
    assert DEMO_APP_SECURITY not in repr(client)
    time.sleep(2.5)  # now inside the refresh margin
    client.collection_page(TAXPAYER, "202503", "jx", "82")
    second = client.token()
    assert second.access != first.access
    assert second.refresh != first.refresh
    old = httpx.post(f"{server}/api/openapi/v2/invoice/v2/getInvoiceCollectionData",
                     params={"accessToken": first.access}, json={})
    assert old.status_code == 403  # refresh rotated the old pair out
    second.access = "revoked-elsewhere"
    assert client.collection_page(TAXPAYER, "202503", "jx", "82").total_count >= 0  # one retry, new token
    assert client.token().access != "revoked-elsewhere"


def test_business_errors_carry_code_message_and_req_id(client: Client) -> None:
    with pytest.raises(BusinessError) as caught:
        client.collection_page(TAXPAYER, "202513", "jx", "82")
    assert caught.value.code == "500"
    assert "kpyf" in caught.value.message
    assert len(caught.value.req_id) == 32


def test_wrong_keys_are_an_auth_error(server: str) -> None:
    with Client(server, DEMO_APP_KEY, "wrong") as sdk, pytest.raises(AuthError, match="密钥无效"):
        sdk.token()


def test_tasks_can_be_created_and_awaited(client: Client) -> None:
    task = client.create_task(demo_taxpayers()[1].nsrsbh, "jx", "202406")
    done = client.wait_for_task(task["taskId"], timeout=60, poll=0.2)
    assert done["state"] == "processed"
    assert done["counts"]["inserted"] == 40


def test_checkpointed_unify_sync_resumes_without_missing_a_batch(client: Client, tmp_path: Path) -> None:
    corporation = client.unify_corporations()[0]["id"]
    everything = [b["id"] for b in client.sync_unify(corporation)]
    assert len(everything) == 12
    checkpoint = tmp_path / "unify.json"
    seen = []
    for batch in client.sync_unify(corporation, checkpoint=checkpoint):
        seen.append(batch["id"])
        if len(seen) == 5:
            break  # the process stops while handling the fifth batch
    saved = json.loads(checkpoint.read_text())
    assert saved["unifyInvoiceCorporationId"] == corporation
    resumed = [b["id"] for b in client.sync_unify(corporation, checkpoint=checkpoint)]
    assert resumed[0] == seen[-1]  # the batch in hand is handed out again …
    assert seen[:-1] + resumed == everything  # … and nothing is missed or otherwise repeated
    with pytest.raises(FapiaohubError, match="checkpoint"):
        list(client.sync_unify("another-corporation", checkpoint=checkpoint))


class _Flaky(BaseHTTPRequestHandler):
    """Fails the first ``failures`` requests with ``status``, then issues a token."""

    failures = 2
    status = 503
    seen = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if type(self).seen <= type(self).failures:
            self.send_response(type(self).status)
            self.end_headers()
            self.wfile.write(b'{"errorMessage": "unavailable"}')
            return
        body = json.dumps({"value": {"accessToken": "a", "refreshToken": "r", "expireTime": 4102444800000,
                                     "corporationId": "C"}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[type[_Flaky]]:
    handler = type("Flaky", (_Flaky,), {"seen": 0})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    handler.base = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    httpd.shutdown()


def test_5xx_is_retried_with_backoff(flaky: type[_Flaky]) -> None:
    with Client(flaky.base, "k", "s", retries=3, backoff=0.01) as sdk:  # type: ignore[attr-defined]
        assert sdk.token().corporation_id == "C"
    assert flaky.seen == 3


def test_retries_give_up(flaky: type[_Flaky]) -> None:
    with Client(flaky.base, "k", "s", retries=1, backoff=0.01) as sdk, pytest.raises(FapiaohubError):  # type: ignore[attr-defined]
        sdk.token()
    assert flaky.seen == 2


def test_4xx_is_not_retried(flaky: type[_Flaky]) -> None:
    flaky.status = 400
    with Client(flaky.base, "k", "s", retries=3, backoff=0.01) as sdk, pytest.raises(FapiaohubError, match="400"):  # type: ignore[attr-defined]
        sdk.token()
    assert flaky.seen == 1


def test_connection_errors_are_retried_then_reported() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", "k", "s", retries=2, backoff=0.01) as sdk:
        with pytest.raises(FapiaohubError, match="ConnectError"):
            sdk.token()


def test_the_async_client_gives_the_same_answers(client: Client, server: str, tmp_path: Path) -> None:
    async def scenario() -> tuple[list, list, dict]:
        async with AsyncClient(server, DEMO_APP_KEY, DEMO_APP_SECURITY, backoff=0.01) as sdk:
            items = [(kind, item) async for kind, item in sdk.iter_items(TAXPAYER, "202503", "jx", page_size=7)]
            corporation = (await sdk.unify_corporations())[0]["id"]
            batches = [b["id"] async for b in sdk.sync_unify(corporation, checkpoint=tmp_path / "a.json")]
            with pytest.raises(BusinessError):
                await sdk.collection_page(TAXPAYER, "202500", "jx", "82")
            task = await sdk.create_task(demo_taxpayers()[1].nsrsbh, "xx", "202407")
            return items, batches, await sdk.wait_for_task(task["taskId"], timeout=60, poll=0.2)

    items, batches, task = asyncio.run(scenario())
    assert items == list(client.iter_items(TAXPAYER, "202503", "jx"))
    assert batches == [b["id"] for b in client.sync_unify(client.unify_corporations()[0]["id"])]
    assert task["state"] == "processed"


def test_remote_export_matches_the_servers_invoices(client: Client, server: str, tmp_path: Path) -> None:
    out = tmp_path / "remote.jsonl"
    done = subprocess.run([*FAPIAOHUB, "export", "--remote", server, "--app-key", DEMO_APP_KEY,
                           "--app-security", DEMO_APP_SECURITY, "--nsrsbh", TAXPAYER, "--jxxbz", "jx",
                           "--from", "202502", "--to", "202503", "--format", "jsonl", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    exported = [json.loads(line)["fphm"] for line in out.read_text(encoding="utf-8").splitlines()]
    expected = [inv.fphm for month in ("202502", "202503") for inv in client.iter_invoices(TAXPAYER, month, "jx")]
    assert exported == expected
    assert len(expected) > 20
    wrong = subprocess.run([*FAPIAOHUB, "export", "--remote", server, "--app-key", DEMO_APP_KEY,
                            "--app-security", "nope", "--nsrsbh", TAXPAYER, "--jxxbz", "jx", "--from", "202502",
                            "--to", "202502", "--format", "csv", "--out", str(tmp_path / "x.csv")],
                           capture_output=True, text=True)
    assert wrong.returncode == 1
    assert "密钥无效" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_tokens_do_not_reach_the_logs(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        client.collection_page(TAXPAYER, "202503", "jx", "82")
    token = client.token().access
    assert any("accessToken=***" in record.getMessage() for record in caplog.records)
    assert not any(token in record.getMessage() for record in caplog.records)
