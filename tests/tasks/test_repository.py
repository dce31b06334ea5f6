"""The task table's creation rules around leases: a dead holder's task no longer blocks its taxpayer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fapiaohub.errors import BusinessError
from fapiaohub.store.tables import collection_task
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks import repository
from tests.conftest import Tenant

NSRSBH = "91440300MA5DEM0019"


def _new(tenant: Tenant) -> repository.NewTask:
    return repository.NewTask(tenant.corp_id, NSRSBH, "jx", None, None, "files", {})


@pytest.fixture
def files_tenant(tenant: Tenant, engine: Engine) -> Tenant:
    with engine.begin() as conn:
        add_taxpayer(conn, tenant.corp_id, NSRSBH, "深圳示例智能制造有限公司")
    return tenant


def test_a_task_left_processing_with_an_expired_lease_no_longer_blocks(files_tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:  # a killed `fapiaohub import`: processing, its lease in the past
        killed = repository.create_task(conn, _new(files_tenant), claimed_by=repository.Lease("cli", timedelta(seconds=30)))
        conn.execute(sa.update(collection_task).where(collection_task.c.id == killed["taskId"])
                     .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=5)))
    assert killed["state"] == "processing"
    with engine.begin() as conn:
        again = repository.create_task(conn, _new(files_tenant), claimed_by=repository.Lease("cli2", timedelta(seconds=60)))
    assert again["state"] == "processing"
    with engine.connect() as conn:
        ended = repository.get_task(conn, files_tenant.corp_id, killed["taskId"])
        row = conn.execute(sa.select(collection_task.c.lease_owner, collection_task.c.lease_expires_at)
                           .where(collection_task.c.id == killed["taskId"])).one()
    assert (ended["state"], ended["code"], ended["message"]) == ("failed", "500", "处理中断：租约已过期")
    assert ended["finishTime"] is not None
    assert (row.lease_owner, row.lease_expires_at) == (None, None)


def test_a_live_lease_still_blocks_a_second_task(files_tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        running = repository.create_task(conn, _new(files_tenant),
                                         claimed_by=repository.Lease("cli", timedelta(minutes=5)))
    with engine.begin() as conn, pytest.raises(BusinessError) as refused:
        repository.create_task(conn, _new(files_tenant))
    assert refused.value.code == "4008"
    assert running["taskId"] in refused.value.message
    with engine.connect() as conn:
        assert repository.get_task(conn, files_tenant.corp_id, running["taskId"])["state"] == "processing"


def test_a_waiting_task_still_blocks_whatever_its_age(files_tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        waiting = repository.create_task(conn, _new(files_tenant))
    assert waiting["state"] == "toProcess"
    with engine.begin() as conn, pytest.raises(BusinessError) as refused:
        repository.create_task(conn, _new(files_tenant))
    assert refused.value.code == "4008"


def test_an_operator_can_cancel_a_stuck_task_but_not_a_live_one(files_tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        live = repository.create_task(conn, _new(files_tenant), claimed_by=repository.Lease("cli", timedelta(minutes=5)))
    with engine.begin() as conn, pytest.raises(BusinessError, match="只能取消尚未开始或已中断"):
        repository.cancel_task(conn, files_tenant.corp_id, live["taskId"])
    with engine.begin() as conn:  # its holder died: the lease ran out
        conn.execute(sa.update(collection_task).where(collection_task.c.id == live["taskId"])
                     .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with engine.begin() as conn:
        cancelled = repository.cancel_task(conn, files_tenant.corp_id, live["taskId"])
    assert cancelled["state"] == "failed"
    assert cancelled["message"] == repository.CANCELLED
