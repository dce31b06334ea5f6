"""The worker's housekeeping: task outcomes logged, uploaded files removed on success, kept a while on failure."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from fapiaohub.demo.generator import demo_taxpayers
from fapiaohub.demo.samples import write_samples
from fapiaohub.logs import JsonLines
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks.worker import Worker
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


def _uploads(tenant: Tenant) -> Path:
    return Path(tenant.client.app.state.settings.data_dir) / "uploads"  # type: ignore[attr-defined]


def test_a_successful_upload_is_removed_and_its_outcome_logged(
        tenant: Tenant, engine: Engine, tmp_path: Path, worker_log: io.StringIO) -> None:
    export = write_samples(tmp_path)[0].path
    task = _upload(tenant, export)
    folder = _uploads(tenant) / task["taskId"]
    assert folder.is_dir()
    Worker(engine, data_dir=str(_uploads(tenant).parent)).run_task(task["taskId"])
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
    worker = Worker(engine, data_dir=str(_uploads(tenant).parent), keep_failed_uploads_hours=24)
    worker.run_task(task["taskId"])
    assert folder.is_dir(), "kept to look into"
    assert "failed" in worker_log.getvalue()
    now = datetime.now(UTC)
    assert task["taskId"] not in worker.sweep_uploads(now + timedelta(hours=23))
    assert folder.is_dir()
    assert task["taskId"] in worker.sweep_uploads(now + timedelta(hours=25))
    assert not folder.exists()


def test_without_a_data_directory_nothing_is_removed(engine: Engine, tmp_path: Path) -> None:
    """The CLI's `fapiaohub import` runs on the user's own files: its worker has no uploads to remove."""
    assert Worker(engine).sweep_uploads() == []
