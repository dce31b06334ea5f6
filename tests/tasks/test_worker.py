"""The worker's housekeeping: task outcomes logged, uploaded files removed on success, kept a while on failure."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError

from fapiaohub.config import Settings
from fapiaohub.demo.generator import demo_taxpayers
from fapiaohub.demo.samples import write_samples
from fapiaohub.logs import JsonLines
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks.worker import Worker, failure_message
from tests.conftest import Tenant

BASE = "/api/openapi/v2/invoice/v2/collectionTask"
TAXPAYER = demo_taxpayers()[0]


@pytest.fixture
def worker_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("fapiaohub.worker")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


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
