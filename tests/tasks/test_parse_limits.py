"""Parsing in a child process within FAPIAOHUB_PARSE_MEMORY_MB and _SECONDS; SQLite imports in short commits."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fapiaohub.config import Settings
from fapiaohub.demo.generator import demo_taxpayers, generate_taxpayer_month
from fapiaohub.shapes.bureau_layout import write_bureau_export
from fapiaohub.store.tables import invoice, invoice_month
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks.repository import NewTask
from fapiaohub.tasks.service import TaskFile, create_file_task
from fapiaohub.tasks.worker import Worker
from tests.conftest import Tenant
from tests.seedspec import assert_same_shape, json_blocks
from tests.tasks.test_sources import BASE, export, upload

TAXPAYER = demo_taxpayers()[0]
COLLECT_URL = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"
TOKEN_URL = "/api/openapi/v1/auth/getAccessToken"
REVERT_URL = "/api/openapi/fapiaohub/v1/collectionTask/revert"


def _children() -> set[str]:
    return {pid for task in Path("/proc/self/task").glob("*/children") for pid in task.read_text().split()}


def _status(tenant: Tenant, token: str, task_id: str) -> dict:  # type: ignore[type-arg]
    response = tenant.client.post(f"{BASE}/status", params={"accessToken": token},
                                  json={"corpId": tenant.corp_id, "taskId": task_id})
    return response.json()["value"]["data"]


def _stored(engine: Engine, corp_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(invoice)
                                .where(invoice.c.corp_id == corp_id)).scalar_one())


def memory_hungry_xml(path: Path) -> Path:
    """A 数电 XML of 16 MB (under the 20 MB the reader accepts) whose parse tree needs several
    hundred MB: four million empty elements."""
    path.write_bytes(b"<EInvoice>" + b"<a/>" * (4 * 1024 * 1024) + b"</EInvoice>")
    return path


def test_a_file_over_the_memory_limit_fails_alone_and_the_worker_goes_on(
        tenant: Tenant, engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    hungry = memory_hungry_xml(tmp_path / "hungry.xml")
    good, jx, _ = export(tmp_path)
    token = tenant.token()
    with engine.begin() as conn:  # as `fapiaohub import` does: the XML is larger than the tests' upload bound
        task = create_file_task(conn, NewTask(tenant.corp_id, TAXPAYER.nsrsbh, "jx", None, None, "files", {}),
                                lambda _: [TaskFile(p.name, str(p), p.stat().st_size) for p in (hungry, good)])
    before = _children()
    Worker(engine, settings=Settings(parse_memory_mb=64)).run_task(task["taskId"])
    done = _status(tenant, token, task["taskId"])
    assert done["state"] == "failed"
    assert "hungry.xml: 解析所需内存超过上限 64 MB（FAPIAOHUB_PARSE_MEMORY_MB）" in done["message"]
    assert done["counts"]["inserted"] == jx  # the other file, read after it, was imported
    assert _stored(engine, tenant.corp_id) == jx
    assert _children() <= before  # no parse left running


def test_a_parse_over_the_time_limit_is_ended_and_the_task_goes_on(
        tenant: Tenant, engine: Engine, tmp_path: Path) -> None:
    """A limit no parse can meet (a child cannot even start in a millisecond): each file is ended
    and failed on its own, the task reaches its end, nothing is stored."""
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    first, _, _ = export(tmp_path, "first.xlsx")
    second, _, _ = export(tmp_path, "second.xlsx", total=300)
    token = tenant.token()
    task = upload(tenant, token, [first, second]).json()["value"]["data"]
    before = _children()
    Worker(engine, settings=Settings(parse_seconds=0.001)).run_task(task["taskId"])
    done = _status(tenant, token, task["taskId"])
    assert done["state"] == "failed"
    for name in ("first.xlsx", "second.xlsx"):
        assert f"{name}: 解析超过时限 0.001 秒（FAPIAOHUB_PARSE_SECONDS），已中止" in done["message"]
    assert _stored(engine, tenant.corp_id) == 0
    assert _children() <= before  # the ended children were reaped


def _page(tenant: Tenant, token: str, fplx: str, kpyf: int, number: int) -> dict:  # type: ignore[type-arg]
    read = tenant.client.post(COLLECT_URL, params={"accessToken": token}, json={
        "corpId": tenant.corp_id, "nsrsbh": TAXPAYER.nsrsbh, "fplx": fplx, "kpyf": str(kpyf), "jxxbz": "jx",
        "page": {"pageSize": 100, "currentPage": number}})
    assert read.status_code == 200, read.text
    return read.json()["value"]


def received(months: list[int], per_month: int) -> list:  # type: ignore[type-arg]
    """Invoices the demo taxpayer received (进项) in ``months``, as a real export holds them."""
    return [inv for kpyf in months
            for inv in generate_taxpayer_month(TAXPAYER.nsrsbh, TAXPAYER.name, "jx", kpyf, per_month)
            if inv.fplx != "17"]


def test_on_sqlite_a_long_import_leaves_auth_and_reads_answering(tenant: Tenant, engine: Engine,
                                                                  tmp_path: Path) -> None:
    """The import is paused at a progress report well into its file (after more than one batch of
    the store, as a slow file would be): getAccessToken, which writes a token, and a read of a
    month already committed answer at once, with the seed's envelope and a whole month."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL writers take row locks: one transaction per file holds nothing they need")
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, TAXPAYER.nsrsbh, TAXPAYER.name)
    invoices = received([202501, 202502, 202503], 900)
    path = tmp_path / "全量发票查询导出结果.xlsx"
    write_bureau_export(path, invoices)
    token = tenant.token()
    task = upload(tenant, token, [path]).json()["value"]["data"]

    paused, resume = threading.Event(), threading.Event()

    def progress(_name: str, count: int, _done: bool) -> None:
        if count >= 1500 and not paused.is_set():  # past the store's first batch of 1,000
            paused.set()
            assert resume.wait(120), "the test did not let the import go on"

    worker = Worker(engine, settings=Settings(sqlite_commit_invoices=200))
    runner = threading.Thread(target=worker.run_task, args=(task["taskId"], progress))
    runner.start()
    try:
        assert paused.wait(120), "the import never reached its 1,500th record"
        assert _status(tenant, token, task["taskId"])["state"] == "processing"
        answer = tenant.client.post(TOKEN_URL, json={"appKey": tenant.creds.app_key,
                                                     "appSecurity": tenant.creds.app_security})
        assert answer.status_code == 200, answer.text
        assert set(answer.json()["value"]) == {"accessToken", "refreshToken", "expireTime", "corporationId"}
        with engine.connect() as conn:
            fplx, kpyf, count = conn.execute(
                sa.select(invoice_month.c.fplx, invoice_month.c.kpyf, invoice_month.c.invoice_count)
                .join(invoice, invoice.c.month_id == invoice_month.c.id)
                .where(invoice.c.corp_id == tenant.corp_id)
                .group_by(invoice_month.c.id).order_by(sa.func.count().desc()).limit(1)).one()
        access = answer.json()["value"]["accessToken"]
        pages = [_page(tenant, access, fplx, kpyf, number) for number in range(1, (count + 99) // 100 + 1)]
        seed = json_blocks("getInvoiceCollectionData.md")[0]["value"]
        for value in pages:
            assert value["code"] == "2000", value["message"]
            assert_same_shape({**value, "data": {"page": value["data"]["page"]}},
                              {**seed, "data": {"page": seed["data"]["page"]}})
            assert value["data"]["page"]["totalCount"] == count > 0  # the month as last committed
        items = [item["fphm"] for value in pages for item in value["data"]["list"]]
        assert len(items) == len(set(items)) == count  # whole: every position once, none missing
    finally:
        resume.set()
        runner.join()
    done = _status(tenant, token, task["taskId"])
    assert done["state"] == "processed", done["message"]
    assert done["counts"]["inserted"] == len(invoices) == _stored(engine, tenant.corp_id)
    # its many commits are still one task: a revert takes every one of them back
    reverted = tenant.client.post(REVERT_URL, params={"accessToken": token},
                                  json={"corpId": tenant.corp_id, "taskId": task["taskId"]}).json()["value"]
    assert reverted["data"]["reverted"] == {"taskId": task["taskId"], "deleted": len(invoices), "restored": 0}
    assert _stored(engine, tenant.corp_id) == 0
