"""The `fapiaohub` command as a user runs it: real processes, a real server on 127.0.0.1, real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from fapiaohub.domain.codes import Family
from fapiaohub.domain.validation import is_valid_uscc
from fapiaohub.store.engine import make_engine
from fapiaohub.store.tables import unify_batch
from tests.seedspec import assert_same_shape, collection_examples

pytestmark = pytest.mark.slow
FAPIAOHUB = [sys.executable, "-m", "fapiaohub.cli"]


def run(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAPIAOHUB_DATABASE_URL": db}
    return subprocess.run([*FAPIAOHUB, *args], capture_output=True, text=True, env=env, timeout=300)


def wait_until_up(base: str, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    """Wait for a server's /healthz; fail with its output if its process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            if proc is not None and proc.poll() is not None:
                pytest.fail(f"the server at {base} exited: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.3)
    pytest.fail(f"the server at {base} did not come up in {timeout} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cli_db(database_url: str, tmp_path: Path) -> str:
    """A database of its own per test: SQLite file, or the session's PostgreSQL database."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'cli.db'}"
    return database_url


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`fapiaohub demo` on a fresh SQLite file: what the README's first command does."""
    db = tmp_path / "demo.db"
    port = free_port()
    proc = subprocess.Popen(
        [*FAPIAOHUB, "demo", "--db", f"sqlite:///{db}", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc)
        assert db.exists()
        yield base, str(db)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "accessToken=$TOKEN" in output  # the printed curl call
    assert "demo-app-security" not in output.split("Serving on")[-1]  # no secret in access logs


def test_demo_serves_the_documented_api(demo_server: tuple[str, str]) -> None:
    base, db = demo_server
    info = json.loads(run("demo", "--load-only", "--json", db=f"sqlite:///{db}").stdout)
    assert set(info) == {"corpId", "appKey", "appSecurity", "taxpayers", "console"}
    token = httpx.post(f"{base}/api/openapi/v1/auth/getAccessToken",
                       json={"appKey": info["appKey"], "appSecurity": info["appSecurity"]}).json()
    token = token["value"]["accessToken"]
    total = 0
    for taxpayer in info["taxpayers"]:
        for kpyf in range(202501, 202513):
            response = httpx.post(
                f"{base}/api/openapi/v2/invoice/v2/getInvoiceCollectionData",
                params={"accessToken": token},
                json={"corpId": info["corpId"], "nsrsbh": taxpayer["nsrsbh"], "fplx": "81",
                      "kpyf": str(kpyf), "jxxbz": "jx", "page": {"pageSize": 100, "currentPage": 1}},
            )
            value = response.json()["value"]
            assert value["success"], value
            total += value["data"]["page"]["totalCount"]
            for item in value["data"]["list"]:
                assert_same_shape(item, collection_examples()[Family.FULL_DIGITAL])
                assert item["gfsbh"] == taxpayer["nsrsbh"]
    assert total > 0


def test_demo_load_only_json_is_deterministic(tmp_path: Path) -> None:
    first = run("demo", "--load-only", "--json", db=f"sqlite:///{tmp_path / 'a.db'}")
    second = run("demo", "--load-only", "--json", db=f"sqlite:///{tmp_path / 'b.db'}")
    assert first.returncode == 0, first.stderr
    info = json.loads(first.stdout)
    assert info == json.loads(second.stdout)
    assert len(info["taxpayers"]) == 2
    assert all(is_valid_uscc(tp["nsrsbh"]) for tp in info["taxpayers"])


def test_demo_load_only_prints_the_credentials_and_does_not_claim_to_serve(tmp_path: Path) -> None:
    done = run("demo", "--load-only", db=f"sqlite:///{tmp_path / 'c.db'}")
    assert done.returncode == 0, done.stderr
    assert "demo-app-key" in done.stdout
    assert "getInvoiceCollectionData" in done.stdout
    assert "Serving on" not in done.stdout


def test_tenant_and_taxpayer_commands(cli_db: str) -> None:
    assert run("db", "upgrade", db=cli_db).returncode == 0
    created = run("tenant", "create", "--name", "杭州示例科技有限公司", "--json", db=cli_db)
    assert created.returncode == 0, created.stderr
    creds = json.loads(created.stdout)
    assert set(creds) == {"corpId", "appKey", "appSecurity"}
    added = run("taxpayer", "add", "--corp", creds["corpId"], "--nsrsbh", "91330106MA27XL0C12",
                "--name", "杭州示例科技有限公司", "--no-collection", "--json", db=cli_db)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["collectionEnabled"] is False
    again = run("taxpayer", "add", "--corp", creds["corpId"], "--nsrsbh", "91330106MA27XL0C12",
                "--name", "x", db=cli_db)
    assert again.returncode == 1
    assert "already registered" in again.stderr
    bad_id = run("taxpayer", "add", "--corp", creds["corpId"], "--nsrsbh", "91330106MA27XL0C1A",
                 "--name", "x", db=cli_db)
    assert bad_id.returncode == 1
    assert "nsrsbh" in bad_id.stderr
    no_corp = run("taxpayer", "add", "--corp", "nope", "--nsrsbh", "91330106MA27XL0C12",
                  "--name", "x", db=cli_db)
    assert no_corp.returncode == 1
    assert "no corporation" in no_corp.stderr
    assert "Traceback" not in again.stderr + bad_id.stderr + no_corp.stderr


def test_unify_commands_with_the_documented_example(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'unify.db'}"
    assert run("demo", "--load-only", "--json", db=db).returncode == 0
    added = run("unify", "corporation", "add", "--corp", "DEMOcorp0001a0", "--code", "91310000MA1K8TRA0X",
                "--name", "上海示例差旅服务有限公司", "--json", db=db)
    assert added.returncode == 0, added.stderr
    corporation_id = json.loads(added.stdout)["id"]
    example = json.loads((Path(__file__).parents[2] / "docs/examples/unify-batches.json").read_text())
    example["batches"][0]["unifyInvoiceCorporationId"] = corporation_id
    good = tmp_path / "batches.json"
    good.write_text(json.dumps(example, ensure_ascii=False))
    imported = run("unify", "import", str(good), "--json", db=db)
    assert imported.returncode == 0, imported.stderr
    (result,) = json.loads(imported.stdout)
    assert result["batchNo"] == "2025030100000001"
    assert result["updateTime"] > 0
    # a file with one bad batch writes nothing, and says which batch and field
    example["batches"].append({**example["batches"][0], "batchNo": "B2",
                               "invoices": [{"nsrsbh": "91440300MA5DEM0019", "key": "no-such-invoice"}]})
    example["batches"][0]["batchNo"] = "B1"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(example, ensure_ascii=False))
    failed = run("unify", "import", str(bad), db=db)
    assert failed.returncode == 1
    assert "batches.1" in failed.stderr
    assert "no-such-invoice" in failed.stderr
    engine = make_engine(db)
    with engine.connect() as conn:
        batch_numbers = conn.execute(sa.select(unify_batch.c.batch_no)).scalars().all()
    assert "B1" not in batch_numbers
    assert "2025030100000001" in batch_numbers
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert "not valid JSON" in run("unify", "import", str(broken), db=db).stderr


def test_demo_server_runs_tasks_and_serves_unify_batches(demo_server: tuple[str, str]) -> None:
    base, db = demo_server
    info = json.loads(run("demo", "--load-only", "--json", db=f"sqlite:///{db}").stdout)
    token = httpx.post(f"{base}/api/openapi/v1/auth/getAccessToken",
                       json={"appKey": info["appKey"], "appSecurity": info["appSecurity"]}).json()["value"]["accessToken"]
    # the embedded worker of `serve` runs a task created over HTTP
    created = httpx.post(f"{base}/api/openapi/v2/invoice/v2/collectionTask/create", params={"accessToken": token},
                         json={"corpId": info["corpId"], "nsrsbh": info["taxpayers"][1]["nsrsbh"],
                               "jxxbz": "xx", "kpyf": "202406"}).json()["value"]
    assert created["code"] == "2000", created
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = httpx.post(f"{base}/api/openapi/v2/invoice/v2/collectionTask/status", params={"accessToken": token},
                            json={"corpId": info["corpId"], "taskId": created["data"]["taskId"]}).json()["value"]["data"]
        if status["state"] == "processed":
            break
        time.sleep(0.5)
    assert status["state"] == "processed"
    assert status["counts"]["inserted"] == 40
    # the demo's unify platforms, each with a year of batches
    corporations = httpx.get(f"{base}/api/openapi/v1/invoice/unify/corporation/list",
                             params={"accessToken": token}).json()["items"]
    assert len(corporations) == 4
    kinds = set()
    for corporation in corporations:
        batches, index = [], 0
        while items := httpx.get(f"{base}/api/openapi/v2.1/invoice/unify", params={
                "accessToken": token, "unifyInvoiceCorporationId": corporation["id"], "index": index,
                "count": 10}).json()["items"]:
            batches += items
            index = items[-1]["updateTime"]
        assert len(batches) == 12
        assert all(batch["relation"] and batch["relation"][0]["flowCode"].startswith("B") for batch in batches)
        kinds |= {entry["master"]["form"]["E_system_发票主体_发票类别"] for b in batches for entry in b["invoices"]}
    assert len(kinds) >= 2
