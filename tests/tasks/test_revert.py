"""Reverting a task (store.revert through the API and the CLI): every invoice back as it was before."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from fapiaohub.cli import app
from fapiaohub.demo.generator import generate_taxpayer_month
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.tables import collection_task, invoice, invoice_history, invoice_month
from fapiaohub.store.taxpayers import Taxpayer, add_taxpayer
from fapiaohub.tasks import repository
from fapiaohub.tasks.worker import Worker
from tests.conftest import Tenant

BASE = "/api/openapi/v2/invoice/v2/collectionTask"
REVERT = "/api/openapi/fapiaohub/v1/collectionTask/revert"
QUERY = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"
NSRSBH = "91440300MA5DEM0019"
NAME = "深圳示例智能制造有限公司"


def post(tenant: Tenant, token: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = tenant.client.post(url, params={"accessToken": token}, json={"corpId": tenant.corp_id, **body})
    assert response.status_code == 200, response.text
    return response.json()["value"]


def snapshot(engine: Engine, tp: Taxpayer) -> dict[str, tuple[Any, ...]]:
    """Every stored invoice of the taxpayer as readers and exports see it."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(invoice.c.invoice_key, invoice.c.doc, invoice.c.flags, invoice.c.fpzt_dm,
                                      invoice.c.rendered, invoice.c.pos, invoice.c.je)
                            .where(invoice.c.taxpayer_id == tp.id)).all()
    return {row.invoice_key: tuple(row[1:]) for row in rows}


def versions(engine: Engine, tp: Taxpayer) -> dict[int, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(invoice_month.c.id, invoice_month.c.version)
                                 .where(invoice_month.c.taxpayer_id == tp.id)).all())


@pytest.fixture
def prepared(tenant: Tenant, engine: Engine) -> tuple[Tenant, Taxpayer, list[Any]]:
    """A sandbox taxpayer holding five of the month's invoices before any task: the two the
    bureau will void ('8') stored as normal ('0'), three stored without the sandbox flag."""
    month = list(generate_taxpayer_month(NSRSBH, NAME, "jx", 202503, 40))
    changed_status = [copy.deepcopy(inv) for inv in month if inv.fpzt_dm == "8"]
    for inv in changed_status:
        inv.fpzt_dm = "0"
    others = [inv for inv in month if inv.fpzt_dm == "0"][:3]
    with engine.begin() as conn:
        tp = add_taxpayer(conn, tenant.corp_id, NSRSBH, NAME, channel="sandbox")
        store_invoices(conn, tp, "jx", [*changed_status, *others])
    return tenant, tp, changed_status


def run_task(tenant: Tenant, token: str, engine: Engine) -> dict[str, Any]:
    task = post(tenant, token, f"{BASE}/create", {"nsrsbh": NSRSBH, "jxxbz": "jx", "kpyf": "202503"})["data"]
    Worker(engine).run_task(task["taskId"])
    return post(tenant, token, f"{BASE}/status", {"taskId": task["taskId"]})["data"]


def test_a_revert_restores_inserted_updated_and_status_changed_invoices(
        prepared: tuple[Tenant, Taxpayer, list[Any]], engine: Engine) -> None:
    tenant, tp, changed_status = prepared
    token = tenant.token()
    before, versions_before = snapshot(engine, tp), versions(engine, tp)
    page_before = post(tenant, token, QUERY, {"nsrsbh": NSRSBH, "fplx": changed_status[0].fplx, "kpyf": "202503",
                                              "jxxbz": "jx", "page": {"pageSize": 100, "currentPage": 1}})
    done = run_task(tenant, token, engine)
    assert done["counts"] == {"inserted": 35, "updated": 5, "unchanged": 0, "rejected": 0}
    after_task = snapshot(engine, tp)
    assert {after_task[inv.key][2] for inv in changed_status} == {"8"}  # the task did change the statuses

    reverted = post(tenant, token, REVERT, {"taskId": done["taskId"]})
    assert reverted["success"] is True, reverted
    record = reverted["data"]
    assert record["reverted"] == {"taskId": done["taskId"], "deleted": 35, "restored": 5}
    assert (record["source"], record["state"], record["code"]) == ("revert", "processed", "2000")
    assert done["taskId"] in record["message"]
    assert snapshot(engine, tp) == before  # documents, flags, statuses, rendered items, positions
    after = versions(engine, tp)
    assert all(after[month] > version for month, version in versions_before.items())
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(invoice_history)
                            .where(invoice_history.c.task_id == done["taskId"])).scalar_one() == 0
        assert conn.execute(sa.select(collection_task.c.reverted_by)
                            .where(collection_task.c.id == done["taskId"])).scalar_one() == record["taskId"]
    page_after = post(tenant, token, QUERY, {"nsrsbh": NSRSBH, "fplx": changed_status[0].fplx, "kpyf": "202503",
                                             "jxxbz": "jx", "page": {"pageSize": 100, "currentPage": 1}})
    assert page_after["data"]["list"] == page_before["data"]["list"]
    listed = post(tenant, token, f"{BASE}/list", {"nsrsbh": NSRSBH})["data"]["list"]
    assert [task["source"] for task in listed][:2] == ["revert", "sandbox"]

    again = post(tenant, token, REVERT, {"taskId": done["taskId"]})
    assert again["success"] is False
    assert "已被撤销" in again["message"]
    assert "不能再撤销" in post(tenant, token, REVERT, {"taskId": record["taskId"]})["message"]
    # and the month can be collected again, to the same result as the first time
    assert run_task(tenant, token, engine)["counts"] == done["counts"]


def test_a_waiting_task_and_another_corporations_task_are_refused(
        prepared: tuple[Tenant, Taxpayer, list[Any]], engine: Engine, tenant_factory: Any) -> None:
    tenant, tp, _ = prepared
    token = tenant.token()
    waiting = post(tenant, token, f"{BASE}/create", {"nsrsbh": NSRSBH, "jxxbz": "jx", "kpyf": "202503"})["data"]
    refused = post(tenant, token, REVERT, {"taskId": waiting["taskId"]})
    assert refused["success"] is False
    assert "尚未结束" in refused["message"]
    Worker(engine).run_task(waiting["taskId"])
    other = tenant_factory()
    foreign = post(other, other.token(), REVERT, {"taskId": waiting["taskId"]})
    assert foreign["success"] is False
    assert "不存在" in foreign["message"]
    assert post(tenant, token, REVERT, {})["code"] == "4006"
    assert post(tenant, token, REVERT, {"taskId": waiting["taskId"]})["success"] is True


def test_a_revert_is_refused_when_a_later_writer_changed_the_invoices(
        prepared: tuple[Tenant, Taxpayer, list[Any]], engine: Engine) -> None:
    tenant, tp, changed_status = prepared
    token = tenant.token()
    done = run_task(tenant, token, engine)
    later = copy.deepcopy(changed_status[0])
    later.fpzt_dm = "2"
    with engine.begin() as conn:
        store_invoices(conn, tp, "jx", [later], task_id="T-later")
    before = snapshot(engine, tp)
    refused = post(tenant, token, REVERT, {"taskId": done["taskId"]})
    assert refused["success"] is False
    assert "其他任务或推送修改" in refused["message"]
    assert snapshot(engine, tp) == before  # nothing half done
    with engine.connect() as conn:
        assert repository.get_task(conn, tenant.corp_id, done["taskId"])["state"] == "processed"
        assert conn.execute(sa.select(collection_task.c.reverted_by)
                            .where(collection_task.c.id == done["taskId"])).scalar_one() is None


def test_the_cli_reverts_a_task(prepared: tuple[Tenant, Taxpayer, list[Any]], engine: Engine,
                                database_url: str) -> None:
    tenant, tp, _ = prepared
    before = snapshot(engine, tp)
    done = run_task(tenant, tenant.token(), engine)
    runner = CliRunner()
    result = runner.invoke(app, ["task", "revert", done["taskId"], "--json", "--db", database_url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reverted"] == {"taskId": done["taskId"], "deleted": 35, "restored": 5}
    assert snapshot(engine, tp) == before
    again = runner.invoke(app, ["task", "revert", done["taskId"], "--db", database_url])
    assert again.exit_code == 1
    assert "已被撤销" in again.output
    missing = runner.invoke(app, ["task", "revert", "Tnope", "--db", database_url])
    assert missing.exit_code == 1
    assert "no task Tnope" in missing.output
