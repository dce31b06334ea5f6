"""Collection tasks over HTTP: creation rules, states and codes, the sandbox bureau, idempotency."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fapiaohub.demo.generator import generate_taxpayer_month
from fapiaohub.domain.codes import RESULT_CODES
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.tables import invoice, invoice_history
from fapiaohub.store.taxpayers import add_taxpayer, find_taxpayer
from fapiaohub.tasks.repository import claim_next
from fapiaohub.tasks.sources import set_sandbox_behaviour
from fapiaohub.tasks.worker import Worker
from tests.conftest import Tenant

BASE = "/api/openapi/v2/invoice/v2/collectionTask"
QUERY = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"
NSRSBH = "91440300MA5DEM0019"


@pytest.fixture
def taxpayer_tenant(tenant: Tenant, engine: Engine) -> Tenant:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, NSRSBH, "深圳示例智能制造有限公司", channel="sandbox")
    return tenant


def call(tenant: Tenant, token: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    response = tenant.client.post(f"{BASE}/{action}", params={"accessToken": token},
                                  json={"corpId": tenant.corp_id, **body})
    assert response.status_code == 200, response.text
    return response.json()["value"]


def create(tenant: Tenant, token: str, **body: Any) -> dict[str, Any]:
    return call(tenant, token, "create", {"nsrsbh": NSRSBH, "jxxbz": "jx", "kpyf": "202503", **body})


def month_total(tenant: Tenant, token: str, fplx: str, kpyf: str = "202503", jxxbz: str = "jx") -> dict:
    response = tenant.client.post(QUERY, params={"accessToken": token}, json={
        "corpId": tenant.corp_id, "nsrsbh": NSRSBH, "fplx": fplx, "kpyf": kpyf, "jxxbz": jxxbz,
        "page": {"pageSize": 100, "currentPage": 1}})
    return response.json()["value"]


def test_sandbox_task_collects_the_month(taxpayer_tenant: Tenant, engine: Engine) -> None:
    tenant, token = taxpayer_tenant, taxpayer_tenant.token()
    created = create(tenant, token)
    assert created["code"] == "2000"
    assert created["success"] is True
    task = created["data"]
    assert task["state"] == "toProcess"
    assert task["kpyf"] == "202503"
    assert task["jxxbz"] == "jx"
    assert Worker(engine).run_task(task["taskId"]) == task["taskId"]
    done = call(tenant, token, "status", {"taskId": task["taskId"]})["data"]
    assert done["state"] == "processed"
    assert done["code"] == "2000"
    assert done["counts"]["inserted"] == 40
    assert done["months"] == [202503]
    assert done["startTime"] <= done["finishTime"]
    expected = list(generate_taxpayer_month(NSRSBH, "深圳示例智能制造有限公司", "jx", 202503, 40))
    for fplx in {inv.fplx for inv in expected}:
        value = month_total(tenant, token, fplx)
        assert value["success"], value
        assert sorted(i["fphm"] if "fphm" in i else i["jkshm"] for i in value["data"]["list"]) == sorted(
            inv.fphm for inv in expected if inv.fplx == fplx)


def test_collecting_again_changes_nothing(taxpayer_tenant: Tenant, engine: Engine) -> None:
    tenant, token = taxpayer_tenant, taxpayer_tenant.token()
    for _ in range(2):
        task = create(tenant, token)["data"]
        Worker(engine).run_task(task["taskId"])
    again = call(tenant, token, "status", {"taskId": task["taskId"]})["data"]
    assert again["counts"] == {"inserted": 0, "updated": 0, "unchanged": 40, "rejected": 0, "skipped": 0}


def test_second_task_while_one_is_active_is_4008(taxpayer_tenant: Tenant, engine: Engine) -> None:
    tenant, token = taxpayer_tenant, taxpayer_tenant.token()
    first = create(tenant, token)["data"]
    second = create(tenant, token, kpyf="202504")
    assert second["code"] == "4008"
    assert second["success"] is False
    assert second["data"] is None
    # and the month being collected answers 4008 instead of a half-written page
    assert month_total(tenant, token, "82")["code"] == "4008"
    assert month_total(tenant, token, "82", kpyf="202502")["code"] == "2000"  # other months are fine
    Worker(engine).run_task(first["taskId"])
    assert month_total(tenant, token, "82")["code"] == "2000"
    assert create(tenant, token, kpyf="202504")["code"] == "2000"


def test_a_month_with_data_is_answered_while_a_task_for_it_runs(taxpayer_tenant: Tenant, engine: Engine) -> None:
    """Reads never wait on a writer: a month already collected answers from its last committed state."""
    tenant, token = taxpayer_tenant, taxpayer_tenant.token()
    Worker(engine).run_task(create(tenant, token)["data"]["taskId"])
    before = month_total(tenant, token, "82")
    assert before["code"] == "2000"
    assert before["data"]["page"]["totalCount"] > 0
    again = create(tenant, token)["data"]  # the same month collected again, and a worker on it
    with engine.begin() as conn:
        assert claim_next(conn, "busy-worker", timedelta(minutes=5), again["taskId"]) is not None
    assert call(tenant, token, "status", {"taskId": again["taskId"]})["data"]["state"] == "processing"
    during = month_total(tenant, token, "82")
    assert during["code"] == "2000"
    assert during["data"] == before["data"]
    # (a month with nothing committed yet still answers 4008: test_second_task_while_one_is_active_is_4008)


def test_tasks_that_cannot_run(taxpayer_tenant: Tenant, engine: Engine) -> None:
    tenant, token = taxpayer_tenant, taxpayer_tenant.token()
    customs = create(tenant, token, jxxbz="xx", fplx="17")["data"]
    assert customs["state"] == "notSupported"
    assert "海关缴款书" in customs["message"]
    future = create(tenant, token, kpyf="299912")["data"]
    assert future["state"] == "notSupported"
    assert "大于当前月份" in future["message"]
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, "91310115MA1DEM002X", "关闭采集", collection_enabled=False,
                     channel="sandbox")
    disabled = create(tenant, token, nsrsbh="91310115MA1DEM002X")["data"]
    assert disabled["state"] == "disabled"
    assert disabled["message"] == RESULT_CODES["500"]
    for task in (customs, future, disabled):  # none of them is queued
        assert Worker(engine).run_task(task["taskId"]) is None


def test_creation_errors(taxpayer_tenant: Tenant) -> None:
    tenant, token = taxpayer_tenant, taxpayer_tenant.token()
    assert create(tenant, token, nsrsbh="91110000000000000X")["message"] == RESULT_CODES["500"]
    assert create(tenant, token, jxxbz="in")["code"] == "500"
    assert create(tenant, token, kpyf="202513")["code"] == "500"
    assert create(tenant, token, fplx="99")["message"] == "发票类型格式错误"
    assert create(tenant, token, kpyf="")["code"] == "4006"
    assert create(tenant, token, source="ftp")["code"] == "500"
    upstream = create(tenant, token, source="upstream", upstream={"baseUrl": "ftp://x", "appKey": "a",
                                                                   "appSecurity": "b"})
    assert upstream["code"] == "500"
    assert "baseUrl" in upstream["message"]
    assert create(tenant, token, source="upstream")["code"] == "4006"
    other_corp = tenant.client.post(f"{BASE}/create", params={"accessToken": token},
                                    json={"corpId": "someone-else", "nsrsbh": NSRSBH, "jxxbz": "jx", "kpyf": "202503"})
    assert other_corp.status_code == 403


def test_cancel_only_before_start(taxpayer_tenant: Tenant, engine: Engine) -> None:
    tenant, token = taxpayer_tenant, taxpayer_tenant.token()
    task = create(tenant, token)["data"]
    cancelled = call(tenant, token, "cancel", {"taskId": task["taskId"]})["data"]
    assert cancelled["state"] == "failed"
    assert "取消" in cancelled["message"]
    assert Worker(engine).run_task(task["taskId"]) is None
    again = call(tenant, token, "cancel", {"taskId": task["taskId"]})
    assert again["success"] is False
    assert "failed" in again["message"]
    ran = create(tenant, token)["data"]
    Worker(engine).run_task(ran["taskId"])
    assert call(tenant, token, "cancel", {"taskId": ran["taskId"]})["success"] is False


@pytest.mark.parametrize("code", ["4001", "4003", "4043", "4059"])
def test_sandbox_fails_as_configured(taxpayer_tenant: Tenant, engine: Engine, code: str) -> None:
    tenant, token = taxpayer_tenant, taxpayer_tenant.token()
    with engine.connect() as conn:
        tp = find_taxpayer(conn, tenant.corp_id, NSRSBH)
    set_sandbox_behaviour(engine, tp.id, code)
    task = create(tenant, token)["data"]
    Worker(engine).run_task(task["taskId"])
    done = call(tenant, token, "status", {"taskId": task["taskId"]})["data"]
    assert (done["state"], done["code"], done["message"]) == ("failed", code, RESULT_CODES[code])


def test_sandbox_behaviour_rejects_unknown_codes(engine: Engine) -> None:
    with pytest.raises(ValueError, match="9999"):
        set_sandbox_behaviour(engine, 1, "9999")


def test_empty_month_is_4000(taxpayer_tenant: Tenant, engine: Engine) -> None:
    tenant, token = taxpayer_tenant, taxpayer_tenant.token()
    with engine.connect() as conn:
        tp = find_taxpayer(conn, tenant.corp_id, NSRSBH)
    set_sandbox_behaviour(engine, tp.id, None, invoices_per_month=0)
    task = create(tenant, token)["data"]
    Worker(engine).run_task(task["taskId"])
    done = call(tenant, token, "status", {"taskId": task["taskId"]})["data"]
    assert (done["state"], done["code"], done["message"]) == ("processed", "4000", RESULT_CODES["4000"])


def test_list_and_status_are_scoped_to_the_corporation(taxpayer_tenant: Tenant, tenant_factory) -> None:
    tenant, token = taxpayer_tenant, taxpayer_tenant.token()
    task = create(tenant, token)["data"]
    listed = call(tenant, token, "list", {"nsrsbh": NSRSBH})["data"]["list"]
    assert [t["taskId"] for t in listed] == [task["taskId"]]
    other = tenant_factory()
    peek = call(other, other.token(), "status", {"taskId": task["taskId"]})
    assert peek["success"] is False
    assert peek["data"] is None
    assert call(other, other.token(), "list", {"nsrsbh": NSRSBH})["success"] is False
    assert call(tenant, token, "status", {})["code"] == "4006"


def test_a_later_status_change_keeps_the_earlier_state(taxpayer_tenant: Tenant, engine: Engine) -> None:
    invoices = list(generate_taxpayer_month(NSRSBH, "x", "jx", 202503, 5))
    with engine.begin() as conn:
        tp = find_taxpayer(conn, taxpayer_tenant.corp_id, NSRSBH)
        store_invoices(conn, tp, "jx", invoices)
        voided = copy.deepcopy(invoices[0])
        voided.fpzt_dm = "2"
        counts = store_invoices(conn, tp, "jx", [voided, *invoices[1:]], task_id="T-test")
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 4)
    with engine.connect() as conn:
        row = conn.execute(sa.select(invoice.c.id, invoice.c.fpzt_dm).where(
            invoice.c.taxpayer_id == tp.id, invoice.c.invoice_key == voided.key)).one()
        history = conn.execute(sa.select(invoice_history).where(invoice_history.c.invoice_id == row.id)).all()
    assert row.fpzt_dm == "2"
    assert [(h.fpzt_dm, h.task_id) for h in history] == [(invoices[0].fpzt_dm, "T-test")]
