"""Workers as separate processes on one database: safe claiming, kill -9 recovery, upstream mirroring."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fapiaohub.auth.service import create_tenant
from fapiaohub.demo.generator import demo_taxpayers, generate_taxpayer_month
from fapiaohub.demo.load import DEMO_APP_KEY, DEMO_APP_SECURITY
from fapiaohub.domain.codes import FPLX
from fapiaohub.domain.validation import uscc_check_char
from fapiaohub.shapes.bureau_layout import write_bureau_export
from fapiaohub.store.tables import collection_task, invoice
from fapiaohub.store.taxpayers import add_taxpayer, find_taxpayer
from fapiaohub.tasks import repository as tasks
from fapiaohub.tasks.routes import upstream_options
from fapiaohub.tasks.sources import set_sandbox_behaviour
from fapiaohub.tasks.worker import Worker
from tests.acceptance.test_cli import FAPIAOHUB, free_port, wait_until_up
from tests.conftest import server_settings

pytestmark = pytest.mark.slow
SETTINGS = server_settings("unused://")  # the test key, and loopback allow-listed for the upstream servers


def start_worker(url: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*FAPIAOHUB, "worker", "--db", url, "--poll", "0.2", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def new_taxpayers(engine: Engine, count: int) -> tuple[str, list[str]]:
    with engine.begin() as conn:
        corp = create_tenant(conn, f"多进程测试{uuid.uuid4().hex[:6]}").corp_id
        numbers = []
        for n in range(count):
            first17 = f"91440300MA5W{n:04d}{uuid.uuid4().int % 10}"
            numbers.append(first17 + uscc_check_char(first17))
            add_taxpayer(conn, corp, numbers[-1], f"深圳多进程{n}号有限公司", channel="sandbox")
    return corp, numbers


def task_rows(engine: Engine, ids: list[str]) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(collection_task).where(collection_task.c.id.in_(ids))).all()


def test_several_workers_run_every_task_exactly_once(worker_db: tuple[str, Engine]) -> None:
    url, engine = worker_db
    corp, numbers = new_taxpayers(engine, 24)
    with engine.begin() as conn:
        ids = [tasks.create_task(conn, tasks.NewTask(corp, n, "jx", 202503, None, "sandbox", {}))["taskId"]
               for n in numbers]
    workers = [start_worker(url) for _ in range(3)]
    try:
        wait_for(lambda: all(r.state == "processed" for r in task_rows(engine, ids)), 180, "24 tasks")
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait(timeout=30)
    rows = task_rows(engine, ids)
    assert all(r.attempts == 1 and r.code == "2000" and r.inserted == 40 for r in rows)
    assert len({r.lease_owner for r in rows}) == 1
    assert rows[0].lease_owner is None
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(invoice).where(invoice.c.corp_id == corp))
        assert stored.scalar_one() == 24 * 40


def test_a_killed_worker_leaves_a_lease_that_another_worker_finishes(worker_db: tuple[str, Engine]) -> None:
    url, engine = worker_db
    corp, (number,) = new_taxpayers(engine, 1)
    with engine.connect() as conn:
        tp = find_taxpayer(conn, corp, number)
    set_sandbox_behaviour(engine, tp.id, None, invoices_per_month=20_000)  # long enough to be killed
    with engine.begin() as conn:
        task_id = tasks.create_task(conn, tasks.NewTask(corp, number, "jx", 202503, None, "sandbox", {}))["taskId"]
    first = start_worker(url, "--lease", "3")

    def claimed_by_first() -> bool:
        (row,) = task_rows(engine, [task_id])
        return row.state == "processing" and f":{first.pid}:" in (row.lease_owner or "")

    try:
        wait_for(claimed_by_first, 60, "the first worker to claim the task")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    second = start_worker(url, "--lease", "3")
    try:
        wait_for(lambda: task_rows(engine, [task_id])[0].state == "processed", 240, "the second worker")
    finally:
        second.terminate()
        second.wait(timeout=30)
    (row,) = task_rows(engine, [task_id])
    assert row.attempts == 2
    assert row.code == "2000"
    assert row.inserted + row.unchanged == 20_000
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(invoice).where(invoice.c.taxpayer_id == tp.id))
        assert stored.scalar_one() == 20_000  # nothing lost, nothing twice


@pytest.fixture
def upstream_server(tmp_path: Path) -> Iterator[str]:
    """A second fapiaohub, serving the demo corporation over real HTTP."""
    port = free_port()
    proc = subprocess.Popen([*FAPIAOHUB, "demo", "--db", f"sqlite:///{tmp_path / 'upstream.db'}",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)



def test_mirroring_an_upstream_server_reproduces_its_items(upstream_server: str, engine: Engine,
                                                          tenant_factory) -> None:
    local = tenant_factory()
    taxpayer = demo_taxpayers()[0]
    with engine.begin() as conn:
        add_taxpayer(conn, local.corp_id, taxpayer.nsrsbh, taxpayer.name)
        task_id = tasks.create_task(conn, tasks.NewTask(
            local.corp_id, taxpayer.nsrsbh, "jx", 202503, None, "upstream",
            upstream_options({"baseUrl": upstream_server, "appKey": DEMO_APP_KEY, "appSecurity": DEMO_APP_SECURITY},
                             SETTINGS),
        ))["taskId"]
    Worker(engine, settings=SETTINGS).run_task(task_id)
    with engine.connect() as conn:
        result = tasks.get_task(conn, local.corp_id, task_id)
    assert result["state"] == "processed", result
    assert result["code"] == "2000", result
    assert result["counts"]["inserted"] > 0
    assert result["counts"]["rejected"] == 0
    remote_token = httpx.post(f"{upstream_server}/api/openapi/v1/auth/getAccessToken",
                              json={"appKey": DEMO_APP_KEY, "appSecurity": DEMO_APP_SECURITY}).json()["value"]
    local_token = local.token()
    compared = 0
    for fplx in FPLX:
        query = {"nsrsbh": taxpayer.nsrsbh, "fplx": fplx, "kpyf": "202503", "jxxbz": "jx",
                 "page": {"pageSize": 100, "currentPage": 1}}
        remote = httpx.post(f"{upstream_server}/api/openapi/v2/invoice/v2/getInvoiceCollectionData",
                            params={"accessToken": remote_token["accessToken"]},
                            json={**query, "corpId": remote_token["corporationId"]}).json()["value"]["data"]
        mirrored = local.client.post("/api/openapi/v2/invoice/v2/getInvoiceCollectionData",
                                     params={"accessToken": local_token},
                                     json={**query, "corpId": local.corp_id}).json()["value"]["data"]
        assert mirrored == remote, fplx  # same items, same order, same values
        compared += len(remote["list"])
    assert compared == result["counts"]["inserted"]


def test_an_unreachable_upstream_fails_the_task_clearly(engine: Engine, tenant_factory) -> None:
    local = tenant_factory()
    taxpayer = demo_taxpayers()[0]
    with engine.begin() as conn:
        add_taxpayer(conn, local.corp_id, taxpayer.nsrsbh, taxpayer.name)
        task_id = tasks.create_task(conn, tasks.NewTask(
            local.corp_id, taxpayer.nsrsbh, "jx", 202503, None, "upstream",
            upstream_options({"baseUrl": f"http://127.0.0.1:{free_port()}", "appKey": "k", "appSecurity": "s"},
                             SETTINGS),
        ))["taskId"]
    Worker(engine, settings=SETTINGS).run_task(task_id)
    with engine.connect() as conn:
        result = tasks.get_task(conn, local.corp_id, task_id)
    assert result["state"] == "failed"
    assert "没有给出可用的应答" in result["message"]


def test_a_killed_cli_import_leaves_nothing_half_written_and_blocks_only_until_its_lease_ends(
        worker_db: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = worker_db
    corp, (number,) = new_taxpayers(engine, 1)
    seen: set[tuple[str, str]] = set()
    invoices = []
    for inv in generate_taxpayer_month(number, "深圳多进程0号有限公司", "jx", 202503, 10_000):
        if (inv.fpdm, inv.fphm) not in seen:  # an export lists each invoice once
            seen.add((inv.fpdm, inv.fphm))
            invoices.append(inv)
    big = tmp_path / "全量发票查询导出结果-big.xlsx"
    write_bureau_export(big, invoices)
    small = tmp_path / "全量发票查询导出结果-small.xlsx"
    write_bureau_export(small, invoices[:5])
    env = {**os.environ, "FAPIAOHUB_DATABASE_URL": url}
    args = ["import", "--corp", corp, "--nsrsbh", number, "--jxxbz", "jx", "--json"]
    importing = subprocess.Popen([*FAPIAOHUB, *args, "--lease", "1.5", str(big)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen_leases: set[object] = set()

    def held_and_renewed() -> bool:
        """The import holds its task and its heartbeat has renewed the lease: it is well into the file."""
        with engine.connect() as conn:
            row = conn.execute(sa.select(collection_task).where(collection_task.c.corp_id == corp)).first()
        if row is None or row.state != "processing":
            return False
        seen_leases.add(row.lease_expires_at)
        return len(seen_leases) > 1

    try:
        wait_for(held_and_renewed, 120, "the import to hold its task and renew its lease")
    finally:
        os.kill(importing.pid, signal.SIGKILL)
        importing.wait(timeout=30)
    assert importing.returncode == -signal.SIGKILL
    with engine.connect() as conn:
        (killed,) = conn.execute(sa.select(collection_task).where(collection_task.c.corp_id == corp)).all()
        stored = conn.execute(sa.select(sa.func.count()).select_from(invoice).where(invoice.c.corp_id == corp))
        assert stored.scalar_one() == 0  # the file's transaction rolled back: nothing half-written
    assert (killed.state, killed.attempts) == ("processing", 1)
    assert killed.lease_owner is not None
    assert f":{importing.pid}:" in killed.lease_owner

    def lease_over() -> bool:
        with engine.connect() as conn:
            expires = conn.execute(sa.select(collection_task.c.lease_expires_at)
                                   .where(collection_task.c.id == killed.id)).scalar_one()
        return bool(expires.replace(tzinfo=expires.tzinfo or UTC) < datetime.now(UTC))  # SQLite: naive UTC

    wait_for(lease_over, 30, "the killed import's lease to run out")
    again = subprocess.run([*FAPIAOHUB, *args, str(small)], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr  # not blocked: the expired task is ended, the new one runs
    assert json.loads(again.stdout)["counts"]["inserted"] == 5
    (row,) = task_rows(engine, [killed.id])
    assert (row.state, row.message) == ("failed", "处理中断：租约已过期")
