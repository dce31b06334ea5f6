"""The unify push validates as the importers do (400 naming the field), and corporation upserts race safely."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from fapiaohub.unify import service
from tests.conftest import Seeded, Tenant
from tests.unify.test_routes import PUSH, PUT_CORP, V21, batch_setup, read  # noqa: F401 - the fixture

Setup = tuple[Seeded, str, str]


def good_doc(seeded: Seeded, kind: str = "82") -> tuple[str, dict[str, Any]]:
    nsrsbh = next(iter(seeded.taxpayers))
    source = next(inv for inv in seeded.invoices[(nsrsbh, "jx")] if inv.fplx == kind)
    doc = source.to_doc()
    doc["fphm"] = doc["fphm"][:-4] + "8888"
    return nsrsbh, doc


def bad(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**doc, **changes}


def with_line(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**doc, "lines": [{**doc["lines"][0], **changes}, *doc["lines"][1:]]}


CASES: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str]] = [
    ("unknown kind", lambda d: bad(d, fplx="99"), "invoices[1].fplx"),
    ("amount below the cent", lambda d: bad(d, je="10.001", jshj="10.001"), "invoices[1].je"),
    ("NaN amount", lambda d: bad(d, se="NaN"), "invoices.1.invoice.se"),  # pydantic refuses it first
    ("amount out of range", lambda d: bad(d, je="1e20", jshj="1e20"), "invoices[1].je"),
    ("jshj not je+se", lambda d: bad(d, jshj="0.01"), "invoices[1].jshj"),
    ("bad 数电 number", lambda d: bad(d, fphm="123"), "invoices[1].fphm"),
    ("bad seller id", lambda d: bad(d, xfsbh="91110000XXXXXXXXX0"), "invoices[1].xfsbh"),
    ("another company is the buyer", lambda d: bad(d, gfsbh="91110108MA01KQH96H"), "invoices[1].gfsbh"),
    ("备注 of 50 MB would be 231 characters", lambda d: bad(d, bz="注" * 231), "invoices[1].bz"),
    ("name over 100", lambda d: bad(d, xfmc="公" * 101), "invoices[1].xfmc"),
    ("NUL in a name", lambda d: bad(d, gfmc="甲\x00乙"), "invoices[1].gfmc"),
    ("NUL in a line", lambda d: with_line(d, mc="a\x00"), "invoices[1].lines[0].mc"),
    ("line amount below the cent", lambda d: with_line(d, je="1.234"), "invoices[1].lines[0].je"),
    ("too many lines", lambda d: {**d, "lines": d["lines"] * 2001}, "invoices[1].lines"),
]


@pytest.mark.parametrize(("what", "change", "field"), CASES, ids=[case[0] for case in CASES])
def test_a_bad_invoice_is_400_naming_the_field_and_nothing_is_stored(
    batch_setup: Setup, what: str, change: Callable[[dict[str, Any]], dict[str, Any]], field: str  # noqa: F811
) -> None:
    seeded, token, corp_id = batch_setup
    nsrsbh, doc = good_doc(seeded)
    _, other = good_doc(seeded)
    other["fphm"] = other["fphm"][:-4] + "9999"
    response = seeded.tenant.client.post(PUSH, params={"accessToken": token}, json={
        "unifyInvoiceCorporationId": corp_id, "batchNo": "BAD",
        "invoices": [{"nsrsbh": nsrsbh, "invoice": other}, {"nsrsbh": nsrsbh, "invoice": change(doc)}]})
    assert response.status_code == 400, response.text
    assert field in response.json()["errorMessage"], response.json()["errorMessage"]
    assert read(seeded.tenant, token, V21, unifyInvoiceCorporationId=corp_id, index=0, count=10).json() == {
        "items": []}


def test_a_valid_invoice_with_a_zoned_time_is_stored_in_china_time(batch_setup: Setup) -> None:  # noqa: F811
    seeded, token, corp_id = batch_setup
    nsrsbh, doc = good_doc(seeded)
    doc["kprq"] = "2025-03-31T20:00:00+00:00"  # 2025-04-01 04:00 in Beijing
    response = seeded.tenant.client.post(PUSH, params={"accessToken": token}, json={
        "unifyInvoiceCorporationId": corp_id, "batchNo": "ZONED", "invoices": [{"nsrsbh": nsrsbh, "invoice": doc}]})
    assert response.status_code == 200, response.text
    item = read(seeded.tenant, token, V21, unifyInvoiceCorporationId=corp_id, index=0, count=1).json()["items"][0]
    assert item["invoices"][0]["master"]["form"]["E_system_发票主体_发票号码"] == doc["fphm"]


@pytest.mark.parametrize("body", [
    {"unifyInvoiceCorporationId": "x\x00", "batchNo": "1"},
    {"unifyInvoiceCorporationId": "x", "batchNo": "1\x00"},
    {"unifyInvoiceCorporationId": "x", "batchNo": "1", "invoices": [{"nsrsbh": "a\x00", "key": "k"}]},
    {"unifyInvoiceCorporationId": "x", "batchNo": "1", "relation": [
        {"flowId": "f", "flowCode": "c", "feeDetailId": "d", "invoiceId": "\x00"}]},
    {"unifyInvoiceCorporationId": "x", "batchNo": "b" * 65},
])
def test_nul_and_overlong_identifiers_are_400(tenant: Tenant, body: dict[str, Any]) -> None:
    response = tenant.client.post(PUSH, params={"accessToken": tenant.token()}, json=body)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("body", [{"code": "a\x00", "name": "n"}, {"code": "a", "name": "名" * 101},
                                  {"code": "c" * 65, "name": "n"}, {"code": "a", "name": "n", "channel": "\x00"}])
def test_bad_corporations_are_400(tenant: Tenant, body: dict[str, Any]) -> None:
    assert tenant.client.post(PUT_CORP, params={"accessToken": tenant.token()}, json=body).status_code == 400


def test_concurrent_upserts_of_one_code_never_fail(tenant: Tenant, engine: Engine) -> None:
    token = tenant.token()
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def put(n: int) -> None:
        barrier.wait()
        for round_ in range(5):
            response = tenant.client.post(PUT_CORP, params={"accessToken": token},
                                          json={"code": f"RACE{round_}", "name": f"并发{n}"})
            statuses.append(response.status_code)

    threads = [threading.Thread(target=put, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 40
    listed = tenant.client.get("/api/openapi/v1/invoice/unify/corporation/list",
                               params={"accessToken": token}).json()["items"]
    assert sorted(item["code"] for item in listed) == [f"RACE{n}" for n in range(5)]
    assert sorted(item["version"] for item in listed) == [8] * 5  # every write counted once


def test_put_corporation_retries_a_lost_insert_race(tenant: Tenant, engine: Engine,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # the race made deterministic: the first lookup misses a row another writer has just committed
    with engine.begin() as conn:
        service.upsert_corporation(conn, tenant.corp_id, code="LOST", name="先到")
    real = service.repository.find_corporation
    calls = iter([None])
    monkeypatch.setattr(service.repository, "find_corporation",
                        lambda conn, corp, code: next(calls, real(conn, corp, code)) if code == "LOST" else None)
    item = service.put_corporation(engine, tenant.corp_id, code="LOST", name="后到")
    assert (item["name"], item["version"]) == ("后到", 2)
