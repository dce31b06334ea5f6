"""A file imported again while nothing has changed since is answered without reading it, with what
reading it would give; after any write, or a revert, it is read again."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from fapiaohub.importers.base import ImportRecord
from fapiaohub.importers.isolated import IsolatedReader
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks import known_files, repository
from fapiaohub.tasks.repository import NewTask
from fapiaohub.tasks.service import TaskFile, create_file_task
from fapiaohub.tasks.worker import Worker
from tests.conftest import Tenant
from tests.tasks.test_sources import TAXPAYER, export


def _import(engine: Engine, tenant: Tenant, *paths: Path) -> dict[str, Any]:
    """What `fapiaohub import` does: a files task of the 进项 side, run; its status."""
    with engine.begin() as conn:
        task = create_file_task(conn, NewTask(tenant.corp_id, TAXPAYER.nsrsbh, "jx", None, None, "files", {}),
                                lambda _: [TaskFile(p.name, str(p), p.stat().st_size) for p in paths])
    Worker(engine).run_task(task["taskId"])
    with engine.connect() as conn:
        return repository.get_task(conn, tenant.corp_id, task["taskId"])


def _records(engine: Engine, tenant: Tenant, task: dict[str, Any]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return repository.task_records(conn, tenant.corp_id, task["taskId"])


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the importer reads from now on."""
    read: list[str] = []
    original = IsolatedReader.read

    def counted(self: IsolatedReader, path: Path, *, spool: bool = False) -> Iterator[ImportRecord]:
        read.append(Path(path).name)
        return original(self, path, spool=spool)

    monkeypatch.setattr(IsolatedReader, "read", counted)
    return read


@pytest.fixture
def imported(tenant: Tenant, engine: Engine, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """An export of both sides imported as 进项: its 销项 rows are rejected, each with its row."""
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    path, jx, others = export(tmp_path)
    first = _import(engine, tenant, path)
    assert (first["state"], first["counts"]["inserted"], first["counts"]["rejected"]) == ("processed", jx, others)
    assert others > 0
    return path, first


def test_the_same_file_again_gives_what_reading_it_gives_without_reading_it(
        tenant: Tenant, engine: Engine, imported: tuple[Path, dict[str, Any]], reads: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, first = imported
    with monkeypatch.context() as patch:  # read again, as before this feature
        patch.setattr(known_files, "unchanged_since", lambda *_: None)
        read_again = _import(engine, tenant, path)
    assert reads == [path.name]
    known = _import(engine, tenant, path)
    assert reads == [path.name]  # not read this time
    assert read_again["counts"] == known["counts"] == {
        "inserted": 0, "updated": 0, "unchanged": first["counts"]["inserted"],
        "rejected": first["counts"]["rejected"], "skipped": 0}
    assert (known["state"], known["code"], known["message"]) == (
        read_again["state"], read_again["code"], read_again["message"])
    assert known["rejections"] == read_again["rejections"]
    assert _records(engine, tenant, known) == _records(engine, tenant, read_again)
    assert len(_records(engine, tenant, known)) == first["counts"]["rejected"]


def test_a_known_file_under_another_name_is_reported_under_that_name(
        tenant: Tenant, engine: Engine, imported: tuple[Path, dict[str, Any]], reads: list[str],
        tmp_path: Path) -> None:
    path, first = imported
    again = tmp_path / "again" / "再次下载.xlsx"
    again.parent.mkdir()
    shutil.copyfile(path, again)
    known = _import(engine, tenant, again)
    assert reads == []
    assert known["counts"]["unchanged"] == first["counts"]["inserted"]
    assert {record["file"] for record in _records(engine, tenant, known)} == {again.name}


def test_after_another_write_the_file_is_read_again(
        tenant: Tenant, engine: Engine, imported: tuple[Path, dict[str, Any]], reads: list[str],
        tmp_path: Path) -> None:
    path, first = imported
    (tmp_path / "other").mkdir()
    other, _, _ = export(tmp_path / "other", "其他.xlsx", total=700)  # more of the taxpayer's invoices
    assert _import(engine, tenant, other)["counts"]["inserted"] > 0
    again = _import(engine, tenant, path)
    assert reads == [other.name, path.name]
    assert again["counts"]["unchanged"] == first["counts"]["inserted"]


def test_after_a_revert_the_file_is_read_again_and_stored_again(
        tenant: Tenant, engine: Engine, imported: tuple[Path, dict[str, Any]], reads: list[str]) -> None:
    path, first = imported
    with engine.begin() as conn:
        repository.revert_task(conn, tenant.corp_id, first["taskId"])
    again = _import(engine, tenant, path)
    assert reads == [path.name]
    assert again["counts"]["inserted"] == first["counts"]["inserted"]
