"""Taxpayers' collection channels: the sandbox bureau only for taxpayers an operator marked, its invoices flagged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from fapiaohub import wire
from fapiaohub.cli import app
from fapiaohub.demo.load import DEMO_CORP_ID, load_demo
from fapiaohub.exports import local_source
from fapiaohub.store.engine import make_engine, upgrade
from fapiaohub.store.tables import collection_task, invoice
from fapiaohub.store.taxpayers import add_taxpayer, find_taxpayer, set_channel
from fapiaohub.tasks.repository import SANDBOX_FLAG, UPLOAD_PATH, get_task
from fapiaohub.tasks.worker import Worker
from tests.conftest import Tenant

BASE = "/api/openapi/v2/invoice/v2/collectionTask"
NSRSBH = "91440300MA5DEM0019"


def create(tenant: Tenant, token: str, **body: Any) -> dict[str, Any]:
    response = tenant.client.post(f"{BASE}/create", params={"accessToken": token}, json={
        "corpId": tenant.corp_id, "nsrsbh": NSRSBH, "jxxbz": "jx", "kpyf": "202503", **body})
    assert response.status_code == 200, response.text
    return response.json()["value"]


def task_count(engine: Engine, corp_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(collection_task)
                                .where(collection_task.c.corp_id == corp_id)).scalar_one())


def test_a_files_taxpayer_refuses_sandbox_and_points_a_sourceless_create_to_the_upload(
        tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        tp = add_taxpayer(conn, tenant.corp_id, NSRSBH, "真实数据公司")
    assert tp.channel == "files"  # the default: nothing invents invoices unless an operator says so
    token = tenant.token()
    sandbox = create(tenant, token, source="sandbox")
    assert (sandbox["success"], sandbox["code"]) == (False, "500")
    assert "未被运维标记为沙箱纳税人" in sandbox["message"]
    sourceless = create(tenant, token)
    assert sourceless["success"] is False
    assert UPLOAD_PATH in sourceless["message"]
    assert task_count(engine, tenant.corp_id) == 0  # refused, not created


def test_a_sandbox_taxpayer_collects_flagged_invoices_without_a_source(tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, NSRSBH, "沙箱测试公司", channel="sandbox")
    token = tenant.token()
    task = create(tenant, token)["data"]
    assert task["source"] == "sandbox"
    Worker(engine).run_task(task["taskId"])
    with engine.connect() as conn:
        flags = conn.execute(sa.select(invoice.c.flags).where(invoice.c.corp_id == tenant.corp_id)).scalars().all()
    assert len(flags) == 40
    assert all(SANDBOX_FLAG in wire.loads(value) for value in flags)
    exported = list(local_source(engine, tenant.corp_id, NSRSBH, "jx", 202503, 202503).records)
    assert len(exported) == 40
    assert all(SANDBOX_FLAG in record.flags for record in exported)


def test_a_taxpayer_unmarked_before_its_sandbox_task_runs_gets_nothing(tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, NSRSBH, "曾为沙箱", channel="sandbox")
    task = create(tenant, tenant.token())["data"]
    with engine.begin() as conn:
        set_channel(conn, tenant.corp_id, NSRSBH, "files")
    Worker(engine).run_task(task["taskId"])
    with engine.connect() as conn:
        done = get_task(conn, tenant.corp_id, task["taskId"])
        stored = conn.execute(sa.select(sa.func.count()).select_from(invoice)
                              .where(invoice.c.corp_id == tenant.corp_id)).scalar_one()
    assert (done["state"], done["code"], stored) == ("failed", "500", 0)
    assert "未被标记为沙箱纳税人" in done["message"]


def test_an_upstream_taxpayer_needs_the_upstream_settings(tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, NSRSBH, "上游公司", channel="upstream")
    token = tenant.token()
    missing = create(tenant, token)
    assert (missing["code"], missing["message"]) == ("4006", "必填项为空：upstream（baseUrl、appKey、appSecurity）")
    assert "未被运维标记" in create(tenant, token, source="sandbox")["message"]


def test_operators_set_channels_from_the_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'channels.db'}"
    corp = wire.loads(runner.invoke(app, ["tenant", "create", "--name", "渠道", "--json", "--db", db]).stdout)["corpId"]
    assert runner.invoke(app, ["taxpayer", "add", "--corp", corp, "--nsrsbh", NSRSBH, "--name", "x",
                               "--db", db]).exit_code == 0
    marked = runner.invoke(app, ["taxpayer", "channel", "--corp", corp, "--nsrsbh", NSRSBH, "--channel", "sandbox",
                                 "--db", db])
    assert marked.exit_code == 0, marked.output
    assert "沙箱发票" in marked.output
    engine = make_engine(db)
    with engine.connect() as conn:
        assert find_taxpayer(conn, corp, NSRSBH).channel == "sandbox"
    back = runner.invoke(app, ["taxpayer", "channel", "--corp", corp, "--nsrsbh", NSRSBH, "--channel", "files",
                               "--db", db])
    assert back.exit_code == 0
    with engine.connect() as conn:
        assert find_taxpayer(conn, corp, NSRSBH).channel == "files"
    wrong = runner.invoke(app, ["taxpayer", "channel", "--corp", corp, "--nsrsbh", NSRSBH, "--channel", "bureau",
                                "--db", db])
    assert (wrong.exit_code, "--channel must be one of" in wrong.output) == (1, True)
    unknown = runner.invoke(app, ["taxpayer", "channel", "--corp", corp, "--nsrsbh", "91110000000000000X",
                                  "--channel", "files", "--db", db])
    assert unknown.exit_code == 1
    # configuring the sandbox bureau for a taxpayer marks it sandbox too
    assert runner.invoke(app, ["sandbox", "set", "--corp", corp, "--nsrsbh", NSRSBH, "--invoices", "5",
                               "--db", db]).exit_code == 0
    with engine.connect() as conn:
        assert find_taxpayer(conn, corp, NSRSBH).channel == "sandbox"
    engine.dispose()


def test_the_demo_marks_its_invented_taxpayers_sandbox(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    upgrade(engine)
    summary = load_demo(engine, 10)
    with engine.connect() as conn:
        channels = {find_taxpayer(conn, DEMO_CORP_ID, tp["nsrsbh"]).channel for tp in summary.taxpayers}
    assert channels == {"sandbox"}
    engine.dispose()
