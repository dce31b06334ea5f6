"""The SDK against real fapiaohub server processes: paging, tokens, tasks, uploads, unify reads and writes,
retries across a restart, a create whose answer is lost, and the wait for a month being collected."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fapiaohub.client import AsyncClient, AuthError, BusinessError, Client, FapiaohubError
from fapiaohub.demo.generator import demo_taxpayers, generate_taxpayer_month
from fapiaohub.demo.load import DEMO_APP_KEY, DEMO_APP_SECURITY
from fapiaohub.exports import export
from tests.acceptance.test_cli import FAPIAOHUB, free_port, wait_until_up

pytestmark = pytest.mark.slow
TAXPAYER = demo_taxpayers()[0].nsrsbh
OTHER = demo_taxpayers()[1].nsrsbh


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`fapiaohub demo` with tokens that the client must refresh two seconds after issue."""
    port = free_port()
    db = tmp_path_factory.mktemp("sdk") / "sdk.db"
    env = {**os.environ, "FAPIAOHUB_TOKEN_TTL_SECONDS": "302"}  # the client refreshes 300 s early
    proc = subprocess.Popen([*FAPIAOHUB, "demo", "--db", f"sqlite:///{db}", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base, proc)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


class IdleServer:
    """`fapiaohub serve --no-worker` on the demo data: tasks stay `toProcess` until cancelled, and the
    process can be stopped and started again on the same port."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([*FAPIAOHUB, "serve", "--no-worker", "--db", f"sqlite:///{self.db}",
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdleServer]:
    db = tmp_path_factory.mktemp("idle") / "idle.db"
    subprocess.run([*FAPIAOHUB, "demo", "--load-only", "--invoices", "300", "--db", f"sqlite:///{db}"],
                   check=True, capture_output=True)
    idle = IdleServer(db)
    idle.start()
    wait_until_up(idle.base, idle.proc)
    yield idle
    idle.stop()


@pytest.fixture
def client(server: str) -> Iterator[Client]:
    with Client(server, DEMO_APP_KEY, DEMO_APP_SECURITY, backoff=0.01) as sdk:
        yield sdk


class _Signal(logging.Handler):
    """Sets ``event`` when the SDK logs a record matching ``pattern``; keeps every record's text."""

    def __init__(self, pattern: str) -> None:
        super().__init__(logging.DEBUG)
        self.pattern = re.compile(pattern)
        self.event = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages.append(message)
        if self.pattern.search(message):
            self.event.set()


@pytest.fixture
def sdk_log() -> Iterator[Callable[[str], _Signal]]:
    logger = logging.getLogger("fapiaohub.client")
    handlers: list[_Signal] = []
    level = logger.level

    def watch(pattern: str) -> _Signal:
        handler = _Signal(pattern)
        logger.addHandler(handler)
        handlers.append(handler)
        return handler

    logger.setLevel(logging.DEBUG)
    yield watch
    logger.setLevel(level)
    for handler in handlers:
        logger.removeHandler(handler)


# --- reading ------------------------------------------------------------------------------------

def test_iterators_walk_every_page_and_kind_once(client: Client) -> None:
    by_kind: dict[str, int] = {}
    keys: list[str] = []
    for kind, item in client.iter_items(TAXPAYER, "202503", "jx", page_size=3):
        by_kind[kind] = by_kind.get(kind, 0) + 1
        keys.append(str(item.get("fphm") or item.get("jkshm")))
    assert len(keys) == len(set(keys)) > 20
    for kind, count in by_kind.items():
        assert client.collection_page(TAXPAYER, "202503", "jx", kind, page_size=1).total_count == count
    invoices = list(client.iter_invoices(TAXPAYER, 202503, "jx"))  # kpyf as int too
    assert sorted(inv.fphm for inv in invoices) == sorted(keys)
    assert all(inv.gfsbh == TAXPAYER or inv.fplx == "17" for inv in invoices)


def test_tokens_are_refreshed_before_expiry_and_replaced_after_a_403(client: Client, server: str) -> None:
    first = client.token()
    assert first.access not in repr(first)
    assert DEMO_APP_SECURITY not in repr(client)
    time.sleep(2.5)  # a token's age, not synchronisation: now inside the refresh margin
    count = client.collection_page(TAXPAYER, "202503", "jx", "82").total_count
    assert count > 0
    second = client.token()
    assert second.access != first.access
    assert second.refresh != first.refresh
    old = httpx.post(f"{server}/api/openapi/v2/invoice/v2/getInvoiceCollectionData",
                     params={"accessToken": first.access}, json={})
    assert old.status_code == 403  # refresh rotated the old pair out
    second.access = "revoked-elsewhere"
    assert client.collection_page(TAXPAYER, "202503", "jx", "82").total_count == count  # one retry, new token
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


# --- tasks --------------------------------------------------------------------------------------

def test_tasks_can_be_created_listed_and_awaited(client: Client) -> None:
    task = client.create_task(OTHER, "jx", 202406)
    assert task["kpyf"] == "202406"
    assert task["state"] in ("toProcess", "processing", "processed")
    done = client.wait_for_task(task["taskId"], timeout=60, poll=0.2)
    assert done["state"] == "processed"
    assert done["counts"]["inserted"] == 40
    assert client.list_tasks(OTHER)[0]["taskId"] == task["taskId"]
    assert task["source"] == "sandbox"  # no source given: the demo taxpayer's channel


def test_a_finished_task_can_be_reverted(client: Client) -> None:
    task = client.wait_for_task(client.create_task(OTHER, "jx", 202405)["taskId"], timeout=60, poll=0.2)
    assert task["counts"]["inserted"] == 40
    record = client.revert_task(task["taskId"])
    assert record["source"] == "revert"
    assert record["reverted"] == {"taskId": task["taskId"], "deleted": 40, "restored": 0}  # type: ignore[typeddict-item]
    assert list(client.iter_invoices(OTHER, 202405, "jx")) == []
    with pytest.raises(BusinessError, match="已被撤销"):
        client.revert_task(task["taskId"])


def test_uploaded_files_become_a_task(client: Client, tmp_path: Path) -> None:
    invoices = list(client.iter_invoices(TAXPAYER, "202502", "jx"))
    export(invoices, "xlsx", tmp_path / "export.xlsx")
    task = client.upload_files(TAXPAYER, "jx", [tmp_path / "export.xlsx"], kpyf="202502")
    assert task["source"] == "files"
    assert task["kpyf"] == "202502"
    done = client.wait_for_task(task["taskId"], timeout=60, poll=0.2)
    assert done["state"] == "processed", done["message"]
    counts = done["counts"]  # the same invoices again: none new, none rejected
    assert counts["inserted"] == counts["rejected"] == 0
    assert counts["updated"] + counts["unchanged"] == len(invoices)


def test_a_waiting_task_can_be_cancelled(idle: IdleServer) -> None:
    with Client(idle.base, DEMO_APP_KEY, DEMO_APP_SECURITY) as sdk:
        task = sdk.upload_files(OTHER, "xx", [("notes.txt", b"not an invoice")])
        assert task["state"] == "toProcess"  # no worker runs here
        cancelled = sdk.cancel_task(task["taskId"])
        assert cancelled["state"] == "failed"
        assert "取消" in cancelled["message"]
        with pytest.raises(BusinessError, match="只能取消"):
            sdk.cancel_task(task["taskId"])


class _LosesFirstCreate(BaseHTTPRequestHandler):
    """A proxy to ``upstream`` that forwards the first task create but never delivers its answer."""

    upstream = ""
    creates = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = httpx.post(self.upstream + self.path, content=body,
                            headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
        if self.path.startswith("/api/openapi/v2/invoice/v2/collectionTask/create"):
            type(self).creates += 1
            if type(self).creates == 1:
                self.close_connection = True
                return  # the task exists on the server; the client hears nothing
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *_: object) -> None:
        pass


def test_a_create_whose_answer_was_lost_gets_its_own_task_back(idle: IdleServer) -> None:
    handler: Any = type("Proxy", (_LosesFirstCreate,), {"upstream": idle.base, "creates": 0})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        with Client(f"http://127.0.0.1:{proxy.server_address[1]}", DEMO_APP_KEY, DEMO_APP_SECURITY) as sdk:
            task = sdk.create_task(TAXPAYER, "xx", "202501")
            assert handler.creates == 2  # the answer of the first was lost, the retry answered
            waiting = [t for t in sdk.list_tasks(TAXPAYER) if t["state"] == "toProcess"]
            assert [t["taskId"] for t in waiting] == [task["taskId"]]  # one task, and it is ours
            with pytest.raises(BusinessError) as caught:  # another month still waits its turn
                sdk.create_task(TAXPAYER, "xx", "202502")
            assert caught.value.code == "4008"
            sdk.cancel_task(task["taskId"])
    finally:
        proxy.shutdown()


def test_page_reads_can_wait_while_the_month_is_collected(idle: IdleServer,
                                                           sdk_log: Callable[[str], _Signal]) -> None:
    with Client(idle.base, DEMO_APP_KEY, DEMO_APP_SECURITY) as sdk:
        # a month with no committed data yet (the demo holds 2025): 4008 while its first collection runs
        task = sdk.create_task(TAXPAYER, "jx", "202404")
        with pytest.raises(BusinessError) as caught:
            sdk.collection_page(TAXPAYER, "202404", "jx", "82")
        assert caught.value.code == "4008"  # not waiting is the default
        started = time.monotonic()
        with pytest.raises(BusinessError, match="4008"):
            sdk.collection_page(TAXPAYER, "202404", "jx", "82", wait_while_collecting=0.5)
        assert 0.5 <= time.monotonic() - started < 5
        signal = sdk_log(r"month being collected \(4008\)")

        def end_the_task() -> None:
            signal.event.wait(30)  # the reader has seen 4008 and is waiting
            with Client(idle.base, DEMO_APP_KEY, DEMO_APP_SECURITY) as other:
                other.cancel_task(task["taskId"])

        canceller = threading.Thread(target=end_the_task)
        canceller.start()
        page = sdk.collection_page(TAXPAYER, "202404", "jx", "82", wait_while_collecting=60)
        canceller.join()
        assert signal.event.is_set()
        assert page.total_count == sdk.collection_page(
            TAXPAYER, "202404", "jx", "82").total_count


# --- unify --------------------------------------------------------------------------------------

def test_checkpointed_unify_sync_resumes_without_missing_a_batch(client: Client, tmp_path: Path) -> None:
    corporation = client.unify_corporations()[0]["id"]
    everything = [b["id"] for b in client.sync_unify(corporation)]
    assert len(everything) >= 12
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


def test_unify_writes_are_read_back_by_both_cursors(client: Client) -> None:
    platform = client.upsert_unify_corporation(code="91310000SDKTEST01X", name="SDK测试差旅有限公司")
    again = client.upsert_unify_corporation(code="91310000SDKTEST01X", name="SDK测试差旅有限公司（改名）")
    assert again["id"] == platform["id"]
    assert again["version"] > platform["version"]
    assert platform["id"] in [c["id"] for c in client.unify_corporations()]
    stored = next(client.iter_invoices(TAXPAYER, "202503", "jx", "82"))
    new = next(generate_taxpayer_month(TAXPAYER, demo_taxpayers()[0].name, "jx", 202401, 1))
    pushed = client.push_unify_batch(
        platform["id"], "SDK-0001",
        [{"nsrsbh": TAXPAYER, "key": stored.key}, {"nsrsbh": TAXPAYER, "invoice": new}],
        relation=[{"flowId": "FL1", "flowCode": "B1", "feeDetailId": "FD1"}], period="2025-03")
    assert pushed["batchNo"] == "SDK-0001"
    [batch] = client.unify_batches(platform["id"])
    assert batch["id"] == pushed["id"]
    assert batch["masterBillPeriods"] == "2025-03"
    assert {i["invoiceId"].split(":", 1)[1] for i in batch["invoices"]} == {stored.key, new.key}
    [v1] = client.unify_batches(platform["id"], version="v1")
    assert v1["updateTime"] == batch["updateTime"]
    assert len(v1["invoices"]) <= len(batch["invoices"])
    assert client.unify_batches(platform["id"], index=batch["updateTime"]) == []
    assert list(client.sync_unify(platform["id"], version="v1")) == [v1]


# --- retries ------------------------------------------------------------------------------------

class _Flaky(BaseHTTPRequestHandler):
    """Fails the first ``failures`` requests with ``status`` (and ``Retry-After``), then issues a token."""

    failures = 2
    status = 503
    retry_after: str | None = None
    seen = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if type(self).seen <= type(self).failures:
            self.send_response(type(self).status)
            retry_after = type(self).retry_after
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
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
def flaky() -> Iterator[Any]:
    handler: Any = type("Flaky", (_Flaky,), {"seen": 0})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    handler.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield handler
    httpd.shutdown()


def test_503_is_retried_with_backoff(flaky: Any) -> None:
    with Client(flaky.base, "k", "s", backoff=0.01) as sdk:
        assert sdk.token().corp_id == "C"
    assert flaky.seen == 3


def test_retries_give_up_after_the_count(flaky: Any) -> None:
    with Client(flaky.base, "k", "s", retries=1, backoff=0.01) as sdk, pytest.raises(FapiaohubError, match="503"):
        sdk.token()
    assert flaky.seen == 2


@pytest.mark.parametrize("status", [400, 500])
def test_other_errors_are_not_retried(flaky: Any, status: int) -> None:
    flaky.status = status
    with Client(flaky.base, "k", "s", backoff=0.01) as sdk, pytest.raises(FapiaohubError, match=str(status)):
        sdk.token()
    assert flaky.seen == 1


def test_retry_after_is_honoured(flaky: Any, sdk_log: Callable[[str], _Signal]) -> None:
    flaky.failures, flaky.retry_after = 1, "1"
    log = sdk_log("retrying")
    started = time.monotonic()
    with Client(flaky.base, "k", "s", backoff=0.01) as sdk:
        sdk.token()
    assert time.monotonic() - started >= 1.0
    assert flaky.seen == 2
    assert any("in 1.00 s" in message for message in log.messages)


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(flaky: Any) -> None:
    flaky.retry_after = "120"
    started = time.monotonic()
    with Client(flaky.base, "k", "s", retry_deadline=30) as sdk, pytest.raises(FapiaohubError, match="503"):
        sdk.token()
    assert flaky.seen == 1
    assert time.monotonic() - started < 5


def test_the_deadline_bounds_a_call_to_a_server_that_is_down(sdk_log: Callable[[str], _Signal]) -> None:
    log = sdk_log("retrying")
    started = time.monotonic()
    with Client(f"http://127.0.0.1:{free_port()}", "k", "s", retry_deadline=1.0) as sdk:
        with pytest.raises(FapiaohubError, match="ConnectError.*attempts"):
            sdk.token()
    assert time.monotonic() - started < 2.0
    assert len(log.messages) >= 2


def test_a_server_restart_is_ridden_out_with_default_settings(idle: IdleServer,
                                                              sdk_log: Callable[[str], _Signal]) -> None:
    with Client(idle.base, DEMO_APP_KEY, DEMO_APP_SECURITY) as sdk:  # the defaults, nothing tuned
        before = sdk.collection_page(TAXPAYER, "202503", "jx", "82").total_count
        token = sdk.token().access
        retried = sdk_log(r"retrying POST .*getInvoiceCollectionData.*ConnectError")
        idle.stop()

        def restart_once_the_client_retries() -> None:
            retried.event.wait(30)
            idle.start()

        restarter = threading.Thread(target=restart_once_the_client_retries)
        restarter.start()
        started = time.monotonic()
        after = sdk.collection_page(TAXPAYER, "202503", "jx", "82").total_count
        restarter.join()
    assert after == before
    assert retried.event.is_set()
    assert time.monotonic() - started < 30  # the default deadline
    retries = [m for m in retried.messages if m.startswith("retrying")]
    assert len(retries) >= 2
    assert all("accessToken=***" in m and token not in m for m in retries)


# --- the async client ---------------------------------------------------------------------------

def test_the_async_client_gives_the_same_answers(client: Client, server: str, tmp_path: Path) -> None:
    async def scenario() -> Any:
        async with AsyncClient(server, DEMO_APP_KEY, DEMO_APP_SECURITY, backoff=0.01) as sdk:
            items = [(kind, item) async for kind, item in sdk.iter_items(TAXPAYER, 202503, "jx", page_size=7)]
            corporation = (await sdk.unify_corporations())[0]["id"]
            batches = [b["id"] async for b in sdk.sync_unify(corporation, checkpoint=tmp_path / "a.json")]
            with pytest.raises(BusinessError):
                await sdk.collection_page(TAXPAYER, "202500", "jx", "82")
            task = await sdk.create_task(OTHER, "xx", "202407")
            done = await sdk.wait_for_task(task["taskId"], timeout=60, poll=0.2)
            export([inv async for inv in sdk.iter_invoices(OTHER, "202407", "xx")], "xlsx", tmp_path / "x.xlsx")
            upload = await sdk.upload_files(OTHER, "xx", [tmp_path / "x.xlsx"], kpyf=202407)
            await sdk.wait_for_task(upload["taskId"], timeout=60, poll=0.2)
            platform = await sdk.upsert_unify_corporation(code="91310000ASYNC001X", name="异步差旅")
            await sdk.push_unify_batch(platform["id"], "A-1", [], period=None)
            return items, batches, done, [t["taskId"] for t in await sdk.list_tasks(OTHER)][:2] + [
                len(await sdk.unify_batches(platform["id"], version="v1"))]

    items, batches, task, listed = asyncio.run(scenario())
    assert items == list(client.iter_items(TAXPAYER, "202503", "jx"))
    assert batches == [b["id"] for b in client.sync_unify(client.unify_corporations()[0]["id"])]
    assert task["state"] == "processed"
    upload_id, task_id, v1_batches = listed
    assert client.task(upload_id)["source"] == "files"
    assert task_id == task["taskId"]
    assert v1_batches == 1


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


# --- the SDK's own distribution -----------------------------------------------------------------

def test_the_sdk_distribution_works_on_its_own(server: str, tmp_path: Path) -> None:
    """client-dist builds a wheel holding the SDK and what it imports, and none of the server; unpacked
    alone (no repository, no editable install, only httpx and orjson beside it) it reads the server."""
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(repo / "client-dist"),
                    "-w", str(tmp_path)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("fapiaohub_client-*.whl")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(unpacked)
    assert "fapiaohub/client/sync.py" in names
    assert "fapiaohub/shapes/collection_parse.py" in names
    assert not [n for n in names if n.startswith(("fapiaohub/api/", "fapiaohub/store/", "fapiaohub/cli.py",
                                                  "fapiaohub/shapes/bureau_layout.py"))]
    requires = [line for line in archive_text(wheel, "METADATA").splitlines() if line.startswith("Requires-Dist")]
    assert sorted(re.split(r"[<>=~! ]", line.split(": ", 1)[1])[0] for line in requires) == ["httpx", "orjson"]
    site = [p for p in sys.path if p.endswith("site-packages")]
    script = (f"import sys; sys.path[:0] = [{str(unpacked)!r}] + {site!r}\n"
              "import fapiaohub.client as sdk\n"
              f"assert sdk.__file__.startswith({str(unpacked)!r}), sdk.__file__\n"
              f"with sdk.Client({server!r}, {DEMO_APP_KEY!r}, {DEMO_APP_SECURITY!r}) as c:\n"
              f"    print(c.collection_page({TAXPAYER!r}, 202503, 'jx', '82').total_count)\n"
              "print(sorted({'fastapi', 'sqlalchemy', 'lxml', 'pydantic'} & set(sys.modules)))\n")
    # -S: no site-packages .pth files, so the repository's editable install cannot lend a module
    done = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Client(server, DEMO_APP_KEY, DEMO_APP_SECURITY) as sdk:
        expected = sdk.collection_page(TAXPAYER, "202503", "jx", "82").total_count
    assert done.stdout.split() == [str(expected), "[]"]


def archive_text(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        [member] = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
        return archive.read(member).decode()
