"""File imports as tasks: the upload endpoint, the import command, rejections, idempotency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fapiaohub.demo.generator import demo_taxpayers, iter_demo_invoices
from fapiaohub.shapes.bureau_layout import write_bureau_export
from fapiaohub.store.tables import invoice
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks.worker import Worker
from tests.conftest import Tenant
from tests.importers.test_bureau_xlsx import truncated

BASE = "/api/openapi/v2/invoice/v2/collectionTask"
TAXPAYER = demo_taxpayers()[0]


def export(tmp_path: Path, name: str = "全量发票查询导出结果.xlsx", total: int = 400) -> tuple[Path, int, int]:
    """An export of both directions of the demo taxpayer; returns path, 进项 count, others."""
    invoices = [i for i in iter_demo_invoices(total) if i.nsrsbh == TAXPAYER.nsrsbh and i.invoice.fplx != "17"]
    path = tmp_path / name
    write_bureau_export(path, [i.invoice for i in invoices])
    jx = sum(1 for i in invoices if i.direction == "jx")
    return path, jx, len(invoices) - jx


def upload(tenant: Tenant, token: str, files: list[Path], **fields: str):  # type: ignore[no-untyped-def]
    return tenant.client.post(
        f"{BASE}/upload", params={"accessToken": token},
        data={"corpId": tenant.corp_id, "nsrsbh": TAXPAYER.nsrsbh, "jxxbz": "jx", **fields},
        files=[("files", (f.name, f.read_bytes(), "application/octet-stream")) for f in files],
    )


def test_upload_imports_the_taxpayers_side_and_rejects_the_rest(tenant: Tenant, engine: Engine,
                                                               tmp_path: Path) -> None:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    path, jx, others = export(tmp_path)
    token = tenant.token()
    response = upload(tenant, token, [path])
    assert response.status_code == 200, response.text
    task = response.json()["value"]["data"]
    assert task["source"] == "files"
    assert task["state"] == "toProcess"
    Worker(engine).run_task(task["taskId"])
    done = tenant.client.post(f"{BASE}/status", params={"accessToken": token},
                              json={"corpId": tenant.corp_id, "taskId": task["taskId"]}).json()["value"]["data"]
    assert done["state"] == "processed"
    assert done["code"] == "2000"
    assert done["counts"]["inserted"] == jx
    assert done["counts"]["rejected"] == others
    assert all("不属于进项" in r["reason"] and r["file"] == path.name for r in done["rejections"])
    # the same file again: nothing changes
    again = upload(tenant, token, [path]).json()["value"]["data"]
    Worker(engine).run_task(again["taskId"])
    repeat = tenant.client.post(f"{BASE}/status", params={"accessToken": token},
                                json={"corpId": tenant.corp_id, "taskId": again["taskId"]}).json()["value"]["data"]
    assert repeat["counts"]["inserted"] == 0
    assert repeat["counts"]["unchanged"] == jx


def test_an_unreadable_file_stores_nothing_from_it(tenant: Tenant, engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    good, jx, _ = export(tmp_path)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])  # cut in half
    token = tenant.token()
    task = upload(tenant, token, [broken, good]).json()["value"]["data"]
    Worker(engine).run_task(task["taskId"])
    done = tenant.client.post(f"{BASE}/status", params={"accessToken": token},
                              json={"corpId": tenant.corp_id, "taskId": task["taskId"]}).json()["value"]["data"]
    assert done["state"] == "failed"
    assert "broken.xlsx" in done["message"]
    assert done["counts"]["inserted"] == jx  # the readable file was still imported


def test_upload_errors(tenant: Tenant, engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    token = tenant.token()
    none = tenant.client.post(f"{BASE}/upload", params={"accessToken": token},
                              data={"corpId": tenant.corp_id, "nsrsbh": TAXPAYER.nsrsbh, "jxxbz": "jx"})
    assert none.json()["value"]["code"] == "4006"
    assert "files" in none.json()["value"]["message"]
    not_multipart = tenant.client.post(f"{BASE}/upload", params={"accessToken": token}, content=b"x",
                                       headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert not_multipart.status_code in (200, 400)
    assert "Traceback" not in not_multipart.text
    big = tmp_path / "big.xlsx"
    big.write_bytes(b"\0" * (tenant.client.app.state.settings.max_upload_bytes + 1))
    too_big = upload(tenant, token, [big])
    assert too_big.status_code == 413
    assert "上限" in too_big.json()["errorMessage"]


def test_import_command(tmp_path: Path, database_url: str) -> None:
    db = f"sqlite:///{tmp_path / 'import.db'}" if database_url.startswith("sqlite") else database_url
    env = {**os.environ, "FAPIAOHUB_DATABASE_URL": db}
    cli = [sys.executable, "-m", "fapiaohub.cli"]
    creds = json.loads(subprocess.run([*cli, "tenant", "create", "--name", "导入测试", "--json"],
                                      capture_output=True, text=True, env=env, check=True).stdout)
    subprocess.run([*cli, "taxpayer", "add", "--corp", creds["corpId"], "--nsrsbh", TAXPAYER.nsrsbh,
                    "--name", TAXPAYER.name], capture_output=True, env=env, check=True)
    path, jx, others = export(tmp_path)
    done = subprocess.run([*cli, "import", "--corp", creds["corpId"], "--nsrsbh", TAXPAYER.nsrsbh,
                           "--jxxbz", "jx", str(path), "--json"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["counts"]["inserted"] == jx
    assert result["counts"]["rejected"] == others
    text = subprocess.run([*cli, "import", "--corp", creds["corpId"], "--nsrsbh", TAXPAYER.nsrsbh,
                           "--jxxbz", "xx", str(path)], capture_output=True, text=True, env=env)
    assert text.returncode == 0
    assert f"inserted {others}" in text.stdout
    missing = subprocess.run([*cli, "import", "--corp", creds["corpId"], "--nsrsbh", TAXPAYER.nsrsbh,
                              "--jxxbz", "jx", str(tmp_path / "nope.xlsx")], capture_output=True, text=True, env=env)
    assert missing.returncode == 1
    assert "no such file" in missing.stderr


def test_soft_findings_are_stored_as_flags(tenant: Tenant, engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    single = [i.invoice for i in iter_demo_invoices(400)
              if i.nsrsbh == TAXPAYER.nsrsbh and i.direction == "jx" and len(i.invoice.lines) == 1][:3]
    path = tmp_path / "flags.xlsx"
    write_bureau_export(path, single)
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=2, column=header.index("销方识别号") + 1, value="440300123456789")  # an older tax id
    sheet.cell(row=3, column=header.index("发票风险等级") + 1, value="疑点发票")
    book.save(path)
    task = upload(tenant, tenant.token(), [path]).json()["value"]["data"]
    Worker(engine).run_task(task["taskId"])
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.select(invoice.c.invoice_key, invoice.c.flags)
                                   .where(invoice.c.corp_id == tenant.corp_id)).all())
    assert "旧式税号" in stored[single[0].key]
    assert "疑点发票" in stored[single[1].key]
    assert stored[single[2].key] == "[]"


def test_a_file_broken_halfway_stores_nothing_from_it(tenant: Tenant, engine: Engine, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Whenever the break is found (the file is parsed in a child process, where a monkeypatch of
    the reader does not reach): on PostgreSQL the file's transaction takes back what was stored,
    on SQLite the file is read whole before its first commit."""

    monkeypatch.setattr("fapiaohub.store.invoices.BATCH_SIZE", 10)
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    good, jx, _ = export(tmp_path)
    broken = truncated(good, keep=0.8)
    token = tenant.token()
    task = upload(tenant, token, [broken]).json()["value"]["data"]
    Worker(engine).run_task(task["taskId"])
    done = tenant.client.post(f"{BASE}/status", params={"accessToken": token},
                              json={"corpId": tenant.corp_id, "taskId": task["taskId"]}).json()["value"]["data"]
    assert done["state"] == "failed"
    assert broken.name in done["message"]
    assert done["counts"]["inserted"] == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(invoice)
                            .where(invoice.c.corp_id == tenant.corp_id)).scalar_one() == 0


def test_a_file_whose_every_record_is_rejected_fails_the_task_and_the_command(
        tenant: Tenant, engine: Engine, tmp_path: Path, database_url: str) -> None:
    """An export of another taxpayer's invoices: read fine, none of it this taxpayer's side."""
    other = demo_taxpayers()[1]
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, other.nsrsbh, other.name)
    invoices = [i.invoice for i in iter_demo_invoices(200) if i.nsrsbh == TAXPAYER.nsrsbh and i.direction == "jx"
                and i.invoice.fplx != "17"][:30]
    path = tmp_path / "someone-else.xlsx"
    write_bureau_export(path, invoices)
    env = {**os.environ, "FAPIAOHUB_DATABASE_URL": database_url}
    done = subprocess.run([sys.executable, "-m", "fapiaohub.cli", "import", "--corp", tenant.corp_id, "--nsrsbh",
                           other.nsrsbh, "--jxxbz", "jx", str(path), "--json"], capture_output=True, text=True, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["state"] == "failed"
    assert result["counts"]["rejected"] == len(invoices)
    assert f"全部{len(invoices)}条记录被拒绝" in result["message"]
    assert "不属于进项" in result["message"]  # the first reasons are named
    shown = subprocess.run([sys.executable, "-m", "fapiaohub.cli", "task", "show", result["taskId"], "--corp",
                            tenant.corp_id, "--json"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    records = json.loads(shown.stdout)["records"]
    assert [r["kind"] for r in records] == ["rejected"] * len(invoices)
    assert {r["file"] for r in records} == {path.name}
    listed = subprocess.run([sys.executable, "-m", "fapiaohub.cli", "task", "list", "--corp", tenant.corp_id,
                             "--nsrsbh", other.nsrsbh, "--json"], capture_output=True, text=True, env=env)
    assert [task["taskId"] for task in json.loads(listed.stdout)] == [result["taskId"]]


def test_rows_of_other_months_are_skipped_and_every_record_can_be_listed_later(
        tenant: Tenant, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    path, jx, others = export(tmp_path, total=600)
    months = sorted({i.invoice.kpyf for i in iter_demo_invoices(600) if i.nsrsbh == TAXPAYER.nsrsbh
                     and i.direction == "jx" and i.invoice.fplx != "17"})
    monkeypatch.setattr("fapiaohub.tasks.repository.REJECTIONS_KEPT", 3)  # the task row keeps only a few
    token = tenant.token()
    task = upload(tenant, token, [path], kpyf=str(months[0])).json()["value"]["data"]
    Worker(engine).run_task(task["taskId"])
    status = tenant.client.post(f"{BASE}/status", params={"accessToken": token},
                                json={"corpId": tenant.corp_id, "taskId": task["taskId"]}).json()["value"]["data"]
    counts = status["counts"]
    assert status["state"] == "processed"
    assert counts["rejected"] == others  # the other side's invoices: not this taxpayer's
    assert counts["skipped"] == jx - counts["inserted"]  # this taxpayer's other months: skipped, not rejected
    assert counts["skipped"] > 0
    assert len(status["rejections"]) == 3
    listed = tenant.client.post(f"{BASE}/records", params={"accessToken": token},
                                json={"corpId": tenant.corp_id, "taskId": task["taskId"]}).json()["value"]["data"]
    kinds = [r["kind"] for r in listed["records"]]
    assert kinds.count("rejected") == others
    assert kinds.count("skipped") == counts["skipped"]
    assert all("不是任务月份" in r["reason"] for r in listed["records"] if r["kind"] == "skipped")
    foreign = tenant.client.post(f"{BASE}/records", params={"accessToken": token},
                                 json={"corpId": tenant.corp_id, "taskId": "Tnosuchtask"}).json()["value"]
    assert foreign["success"] is False

def test_a_long_file_name_and_an_overlong_field_are_handled(tenant: Tenant, engine: Engine, tmp_path: Path) -> None:
    """A 360-byte file name is shortened (the extension kept); an invoice whose seller name passes the
    column's length is one rejection naming the field, not a failed file with SQL in its message."""
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    invoices = [i.invoice for i in iter_demo_invoices(400)
                if i.nsrsbh == TAXPAYER.nsrsbh and i.direction == "jx" and i.invoice.fplx != "17"]
    invoices[0].xfmc = "很长的销售方名称" * 40  # 320 characters: VARCHAR(200) on PostgreSQL would refuse it
    path = tmp_path / "long.xlsx"
    write_bureau_export(path, invoices)
    token = tenant.token()
    response = tenant.client.post(  # a name no local file system would even hold
        f"{BASE}/upload", params={"accessToken": token},
        data={"corpId": tenant.corp_id, "nsrsbh": TAXPAYER.nsrsbh, "jxxbz": "jx"},
        files=[("files", ("发票" * 60 + ".xlsx", path.read_bytes(), "application/octet-stream"))])
    assert response.status_code == 200, response.text
    task = response.json()["value"]["data"]
    Worker(engine).run_task(task["taskId"])
    done = tenant.client.post(f"{BASE}/status", params={"accessToken": token},
                              json={"corpId": tenant.corp_id, "taskId": task["taskId"]}).json()["value"]["data"]
    assert (done["state"], done["code"]) == ("processed", "2000"), done["message"]
    assert done["counts"]["inserted"] == len(invoices) - 1
    assert len(done["rejections"]) == 1
    assert "xfmc: 长度320超过上限100个字符" in done["rejections"][0]["reason"], done["rejections"]
    assert "SELECT" not in str(done)
    assert "INSERT" not in str(done)
    assert done["rejections"][0]["file"].endswith("~.xlsx")
    assert len(done["rejections"][0]["file"].encode()) <= 200
