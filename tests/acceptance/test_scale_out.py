"""Scale-out: two API processes and two workers on one PostgreSQL serve and collect correctly."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine

from fapiaohub.auth.service import create_tenant
from fapiaohub.domain.validation import uscc_check_char
from fapiaohub.store.months import find_month, month_page
from fapiaohub.store.taxpayers import add_taxpayer, find_taxpayer
from fapiaohub.tasks.sources import set_sandbox_behaviour
from tests.acceptance.test_cli import FAPIAOHUB, free_port, wait_until_up
from tests.acceptance.test_workers import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(database_url: str) -> Iterator[list[str]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("scale-out is several processes on one PostgreSQL; SQLite is the single-machine default")
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([*FAPIAOHUB, "serve", "--db", database_url, "--port", str(port), "--no-worker"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    procs += [subprocess.Popen([*FAPIAOHUB, "worker", "--db", database_url, "--poll", "0.2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base in bases:
            wait_until_up(base)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)



def test_two_apis_and_two_workers_share_one_database(cluster: list[str], engine: Engine) -> None:
    with engine.begin() as conn:
        creds = create_tenant(conn, "横向扩展测试")
        numbers = []
        for n in range(8):
            first17 = f"91310115MA1T{n:04d}0"
            numbers.append(first17 + uscc_check_char(first17))
            add_taxpayer(conn, creds.corp_id, numbers[-1], f"扩展{n}号", channel="sandbox")
    # a token from one API process is good on the other: nothing lives in process memory
    token = httpx.post(f"{cluster[0]}/api/openapi/v1/auth/getAccessToken",
                       json={"appKey": creds.app_key, "appSecurity": creds.app_security}).json()["value"]["accessToken"]
    task_ids = []
    for n, nsrsbh in enumerate(numbers):
        created = httpx.post(f"{cluster[n % 2]}/api/openapi/v2/invoice/v2/collectionTask/create",
                             params={"accessToken": token},
                             json={"corpId": creds.corp_id, "nsrsbh": nsrsbh, "jxxbz": "jx", "kpyf": "202503"})
        task_ids.append(created.json()["value"]["data"]["taskId"])

    def status(base: str, task_id: str) -> dict:
        return httpx.post(f"{base}/api/openapi/v2/invoice/v2/collectionTask/status", params={"accessToken": token},
                          json={"corpId": creds.corp_id, "taskId": task_id}).json()["value"]["data"]

    wait_for(lambda: all(status(cluster[1], t)["state"] == "processed" for t in task_ids), 120, "the workers")
    assert all(status(cluster[0], t)["attempts"] == 1 for t in task_ids)

    def pages(nsrsbh: str) -> list[dict]:
        return [httpx.post(f"{base}/api/openapi/v2/invoice/v2/getInvoiceCollectionData",
                           params={"accessToken": token},
                           json={"corpId": creds.corp_id, "nsrsbh": nsrsbh, "fplx": "82", "kpyf": "202503",
                                 "jxxbz": "jx", "page": {"pageSize": 100, "currentPage": 1}}).json()["value"]
                for base in cluster]

    for nsrsbh in numbers:
        answers = pages(nsrsbh)
        assert answers[0]["success"]
        assert answers[0]["data"] == answers[1]["data"]
        assert answers[0]["data"]["page"]["totalCount"] > 0

    # both processes now hold the first taxpayer's page; a collection through one API changes
    # the month, and neither process serves the page it cached before
    before = pages(numbers[0])[0]["data"]["page"]["totalCount"]
    with engine.connect() as conn:
        first = find_taxpayer(conn, creds.corp_id, numbers[0])
    set_sandbox_behaviour(engine, first.id, None, invoices_per_month=400)
    again = httpx.post(f"{cluster[0]}/api/openapi/v2/invoice/v2/collectionTask/create", params={"accessToken": token},
                       json={"corpId": creds.corp_id, "nsrsbh": numbers[0], "jxxbz": "jx", "kpyf": "202503"})
    task_id = again.json()["value"]["data"]["taskId"]
    wait_for(lambda: status(cluster[1], task_id)["state"] == "processed", 120, "the second collection")
    after = pages(numbers[0])
    assert after[0]["data"] == after[1]["data"]
    assert after[0]["data"]["page"]["totalCount"] > before
    with engine.connect() as conn:
        slot = find_month(conn, creds.corp_id, numbers[0], "jx", "82", 202503)
        truth = month_page(conn, slot.month_id, 0, 100)
    assert after[0]["data"]["list"] == json.loads(b"[" + truth.items + b"]")
