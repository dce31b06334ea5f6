"""The worker's housekeeping: task outcomes logged, uploaded files removed on success, kept a while on failure."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, OperationalError

from fapiaohub.config import Settings
from fapiaohub.demo.generator import demo_taxpayers
from fapiaohub.demo.samples import write_samples
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks import repository, sources
from fapiaohub.tasks.service import TaskFile, create_file_task
from fapiaohub.tasks.worker import Worker, failure_message, poison_message
from tests.conftest import Tenant, json_log_of

BASE = "/api/openapi/v2/invoice/v2/collectionTask"
TAXPAYER = demo_taxpayers()[0]


@pytest.fixture
def worker_log() -> Iterator[io.StringIO]:
    with json_log_of("fapiaohub.worker") as out:
        yield out


def _upload(tenant: Tenant, path: Path) -> dict[str, Any]:
    with tenant.client.app.state.engine.begin() as conn:  # type: ignore[attr-defined]
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    response = tenant.client.post(
        f"{BASE}/upload", params={"accessToken": tenant.token()},
        data={"corpId": tenant.corp_id, "nsrsbh": TAXPAYER.nsrsbh, "jxxbz": "jx"},
        files=[("files", (path.name, path.read_bytes(), "application/octet-stream"))])
    task: dict[str, Any] = response.json()["value"]["data"]
    assert task["state"] == "toProcess", response.text
    return task


def _settings(tenant: Tenant) -> Settings:
    return tenant.client.app.state.settings  # type: ignore[attr-defined,no-any-return]


def _uploads(tenant: Tenant) -> Path:
    return Path(tenant.client.app.state.settings.data_dir) / "uploads"  # type: ignore[attr-defined]


def test_a_successful_upload_is_removed_and_its_outcome_logged(
        tenant: Tenant, engine: Engine, tmp_path: Path, worker_log: io.StringIO) -> None:
    export = write_samples(tmp_path)[0].path
    task = _upload(tenant, export)
    folder = _uploads(tenant) / task["taskId"]
    assert folder.is_dir()
    Worker(engine, settings=_settings(tenant)).run_task(task["taskId"])
    assert not folder.exists()
    lines = [json.loads(line) for line in worker_log.getvalue().splitlines()]
    outcome = [line for line in lines if line.get("taskId") == task["taskId"] and "state" in line]
    assert len(outcome) == 1
    assert outcome[0]["state"] == "processed"
    assert outcome[0]["code"] == "2000"
    assert outcome[0]["corpId"] == tenant.corp_id
    assert outcome[0]["rows"] == 40
    assert outcome[0]["rowsPerSecond"] > 0


def test_a_failed_upload_is_kept_for_the_configured_time_then_swept(
        tenant: Tenant, engine: Engine, tmp_path: Path, worker_log: io.StringIO) -> None:
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(write_samples(tmp_path)[0].path.read_bytes()[:2000])  # cut: unreadable
    task = _upload(tenant, broken)
    folder = _uploads(tenant) / task["taskId"]
    worker = Worker(engine, settings=_settings(tenant).model_copy(update={"keep_failed_uploads_hours": 24}))
    worker.run_task(task["taskId"])
    assert folder.is_dir(), "kept to look into"
    assert "failed" in worker_log.getvalue()
    now = datetime.now(UTC)
    assert task["taskId"] not in worker.sweep_uploads(now + timedelta(hours=23))
    assert folder.is_dir()
    assert task["taskId"] in worker.sweep_uploads(now + timedelta(hours=25))
    assert not folder.exists()


def test_the_cli_import_leaves_the_users_files_where_they_are(tmp_path: Path) -> None:
    """`fapiaohub import` reads the user's own files: a successful import removes none of them."""
    samples = [sample.path for sample in write_samples(tmp_path / "samples")]
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "FAPIAOHUB_DATA_DIR": str(tmp_path / "data")}

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "fapiaohub.cli", *args, "--db", db], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    corp = json.loads(cli("tenant", "create", "--name", "试用企业", "--json"))["corpId"]
    cli("taxpayer", "add", "--corp", corp, "--nsrsbh", TAXPAYER.nsrsbh, "--name", TAXPAYER.name)
    result = json.loads(cli("import", *map(str, samples), "--corp", corp, "--nsrsbh", TAXPAYER.nsrsbh,
                            "--jxxbz", "jx", "--json"))
    assert result["state"] == "processed"
    assert all(path.is_file() for path in samples)

# --- a failed task's message: never SQL or bound parameters --------------------------------




def test_a_database_error_is_reported_without_its_sql() -> None:
    exc = DataError("INSERT INTO invoice (xfmc) VALUES (%(xfmc)s)", {"xfmc": "秘密" * 200}, Exception("too long"))
    message = failure_message(exc)
    for leak in ("INSERT", "秘密", "xfmc"):
        assert leak not in message
    assert "数据库错误" in message


def test_other_errors_keep_a_bounded_reason() -> None:
    assert failure_message(ValueError("x" * 5000)) == "处理失败：ValueError: " + "x" * 200


# --- the CLI's import holds its own task; interrupted tasks; poison ---------------------------

class _Recording(Worker):
    """A worker that records every task it runs (a source actually started on it)."""

    def __init__(self, engine: Engine, ran: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self.ran = ran

    def _run(self, task: repository.ClaimedTask, progress: Any, **how: bool) -> str:
        self.ran.append((self.name, task.id))
        return super()._run(task, progress, **how)


def _taxpayer(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)


def _cli_import(engine: Engine, tenant: Tenant, worker: Worker, files: list[Path]) -> str:
    """What `fapiaohub import` does: create the task held by its own worker, then run it."""
    with engine.begin() as conn:
        task = create_file_task(conn, repository.NewTask(tenant.corp_id, TAXPAYER.nsrsbh, "jx", None, None, "files",
                                                         {}),
                                lambda _: [TaskFile(p.name, str(p), p.stat().st_size) for p in files],
                                claimed_by=worker.holding)
    assert task["state"] == "processing"
    assert worker.run_held(task["taskId"]) == task["taskId"]
    return str(task["taskId"])


def test_a_cli_import_is_never_taken_by_a_polling_worker(tenant: Tenant, engine: Engine, tmp_path: Path) -> None:
    _taxpayer(engine, tenant)
    export = write_samples(tmp_path)[0].path
    ran: list[tuple[str, str]] = []
    server = _Recording(engine, ran, name="server-worker", poll_seconds=0.001)
    stop = threading.Event()
    polling = threading.Thread(target=server.run, args=(stop,))
    polling.start()
    try:
        imports = []
        for number in range(20):
            cli = _Recording(engine, ran, name=f"cli-{number}")
            imports.append((cli.name, _cli_import(engine, tenant, cli, [export])))
    finally:
        stop.set()
        polling.join()
    ours = {task_id for _, task_id in imports}  # (the server's worker may run other tests' leftovers)
    assert sorted(entry for entry in ran if entry[1] in ours) == sorted(imports)  # once each, on the CLI's worker
    with engine.connect() as conn:
        for _, task_id in imports:
            task = repository.get_task(conn, tenant.corp_id, task_id)
            assert (task["state"], task["attempts"]) == ("processed", 1)


def test_a_held_task_runs_only_on_its_holder(tenant: Tenant, engine: Engine, tmp_path: Path) -> None:
    _taxpayer(engine, tenant)
    export = write_samples(tmp_path)[0].path
    holder = Worker(engine, name="holder")
    with engine.begin() as conn:
        task = create_file_task(conn, repository.NewTask(tenant.corp_id, TAXPAYER.nsrsbh, "jx", None, None, "files",
                                                         {}),
                                lambda _: [TaskFile(export.name, str(export), export.stat().st_size)],
                                claimed_by=holder.holding)
    assert Worker(engine, name="other").run_task(task["taskId"]) is None  # its lease is alive: not claimable
    assert Worker(engine, name="other").run_held(task["taskId"]) is None  # nor runnable by a non-holder
    assert holder.run_held(task["taskId"]) == task["taskId"]


def test_an_expired_cli_import_is_reclaimed_by_a_worker(tenant: Tenant, engine: Engine, tmp_path: Path) -> None:
    _taxpayer(engine, tenant)
    export = write_samples(tmp_path)[0].path
    dead = Worker(engine, name="killed-cli", lease_seconds=-1)  # a CLI killed at once: its lease already ran out
    with engine.begin() as conn:
        task = create_file_task(conn, repository.NewTask(tenant.corp_id, TAXPAYER.nsrsbh, "jx", None, None, "files",
                                                         {}),
                                lambda _: [TaskFile(export.name, str(export), export.stat().st_size)],
                                claimed_by=dead.holding)
    assert Worker(engine, name="server").run_task(task["taskId"]) == task["taskId"]
    with engine.connect() as conn:
        done = repository.get_task(conn, tenant.corp_id, task["taskId"])
    assert (done["state"], done["attempts"], done["counts"]["inserted"]) == ("processed", 2, 40)


def test_a_task_that_interrupted_two_holders_is_failed_as_poison(
        tenant: Tenant, engine: Engine, tmp_path: Path) -> None:
    _taxpayer(engine, tenant)
    export = write_samples(tmp_path)[0].path
    ran: list[tuple[str, str]] = []
    first = Worker(engine, name="crashed-cli", lease_seconds=-1)  # attempt 1: the CLI import, killed
    with engine.begin() as conn:
        task = create_file_task(conn, repository.NewTask(tenant.corp_id, TAXPAYER.nsrsbh, "jx", None, None, "files",
                                                         {}),
                                lambda _: [TaskFile(export.name, str(export), export.stat().st_size)],
                                claimed_by=first.holding)
        # attempt 2: a worker claimed it and died too (its lease ran out as well)
        assert repository.claim_next(conn, "crashed-worker", timedelta(seconds=-1), task["taskId"]) is not None
    assert _Recording(engine, ran, name="third").run_task(task["taskId"]) == task["taskId"]
    assert ran == []  # given up without running it a third time
    with engine.connect() as conn:
        done = repository.get_task(conn, tenant.corp_id, task["taskId"])
    assert (done["state"], done["code"], done["attempts"]) == ("failed", "500", 3)
    assert done["message"] == poison_message(2)
    assert "2次" in done["message"]
    assert "不再重试" in done["message"]
    assert done["counts"]["inserted"] == 0


def _connection_cut() -> OperationalError:
    """What SQLAlchemy raises when the server terminated the connection under a statement."""
    return OperationalError("INSERT INTO invoice …", {}, Exception("terminating connection due to administrator command"),
                            connection_invalidated=True)


def test_a_task_whose_database_connection_is_lost_goes_back_to_the_queue(
        tenant: Tenant, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = _upload(tenant, write_samples(tmp_path)[0].path)
    real_run_files = sources.run_files
    calls = []

    def cut_once(*args: Any, **kwargs: Any) -> repository.TaskResult:
        calls.append(1)
        if len(calls) == 1:
            raise _connection_cut()
        return real_run_files(*args, **kwargs)

    monkeypatch.setattr(sources, "run_files", cut_once)
    Worker(engine, name="cut", settings=_settings(tenant)).run_task(task["taskId"])
    with engine.connect() as conn:
        requeued = repository.get_task(conn, tenant.corp_id, task["taskId"])
    assert (requeued["state"], requeued["attempts"]) == ("toProcess", 1)
    assert requeued["message"] == repository.DATABASE_LOST  # not failed: the loss is not the task's fault
    Worker(engine, name="next", settings=_settings(tenant)).run_task(task["taskId"])
    with engine.connect() as conn:
        done = repository.get_task(conn, tenant.corp_id, task["taskId"])
    assert (done["state"], done["attempts"], done["counts"]["inserted"]) == ("processed", 2, 40)


def test_a_cli_import_whose_database_connection_is_lost_fails_with_a_clear_message(
        tenant: Tenant, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _taxpayer(engine, tenant)
    export = write_samples(tmp_path)[0].path

    def cut(*_: Any, **__: Any) -> repository.TaskResult:
        raise _connection_cut()

    monkeypatch.setattr(sources, "run_files", cut)
    task_id = _cli_import(engine, tenant, Worker(engine, name="cli"), [export])  # no queue behind it: it reports
    with engine.connect() as conn:
        done = repository.get_task(conn, tenant.corp_id, task_id)
    assert (done["state"], done["message"]) == ("failed", "处理失败：数据库错误（详情见服务器日志）")
