"""Unified invoicing over HTTP: the v2.1 seed's shape, the cursor, the v1 filter, tenancy, bad input."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from fapiaohub.auth.service import secret_digest
from fapiaohub.unify.pg_repository import PostgresBatchReads
from tests.conftest import Seeded, Tenant
from tests.seedspec import json_blocks, shape

CORP_LIST = "/api/openapi/v1/invoice/unify/corporation/list"
V21 = "/api/openapi/v2.1/invoice/unify"
V1 = "/api/openapi/v1/invoice/unify"
PUT_CORP = "/api/openapi/fapiaohub/v1/unify/corporation"
PUSH = "/api/openapi/fapiaohub/v1/unify/batch"


def assert_conforms(actual: Any, expected: Any, path: str = "$") -> None:
    """Keys and JSON types as in the seed; a seed ``null`` leaves the type open (the seed does)."""
    if expected == "null":
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        assert set(actual) == set(expected), (
            f"{path}: keys differ: missing {set(expected) - set(actual)}, extra {set(actual) - set(expected)}"
        )
        for key, sub in expected.items():
            assert_conforms(actual[key], sub, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        for i, element in enumerate(actual):
            if expected:
                assert_conforms(element, expected[0], f"{path}[{i}]")
    else:
        assert shape(actual) == expected, f"{path}: expected {expected}, got {shape(actual)} ({actual!r})"


def seed_items() -> Any:
    return shape(json_blocks("unify-invoice-v2.1.md")[0])


def put_corporation(tenant: Tenant, token: str, code: str, name: str) -> dict[str, Any]:
    response = tenant.client.post(PUT_CORP, params={"accessToken": token}, json={"code": code, "name": name})
    assert response.status_code == 200, response.text
    return response.json()["value"]


def push(tenant: Tenant, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = tenant.client.post(PUSH, params={"accessToken": token}, json=body)
    assert response.status_code == 200, response.text
    return response.json()["value"]


def jx_refs(seeded: Seeded, kinds: set[str], limit: int) -> list[dict[str, str]]:
    refs = []
    for (nsrsbh, direction), invoices in seeded.invoices.items():
        if direction == "jx":
            refs += [{"nsrsbh": nsrsbh, "key": inv.key} for inv in invoices if inv.fplx in kinds]
    return refs[:limit]


def read(tenant: Tenant, token: str, url: str, **params: Any):  # type: ignore[no-untyped-def]
    return tenant.client.get(url, params={"accessToken": token, **params})


@pytest.fixture
def batch_setup(writable_seeded: Seeded) -> tuple[Seeded, str, str]:
    seeded = writable_seeded
    token = seeded.tenant.token()
    corp = put_corporation(seeded.tenant, token, "91110000MA01TRAVEL", "北京差旅平台科技有限公司")
    return seeded, token, corp["id"]


def test_corporation_list_has_the_documented_fields(batch_setup: tuple[Seeded, str, str]) -> None:
    seeded, token, corp_id = batch_setup
    items = read(seeded.tenant, token, CORP_LIST).json()["items"]
    assert [item["id"] for item in items] == [corp_id]
    item = items[0]
    assert set(item) == {"id", "version", "active", "createTime", "updateTime", "name", "nameSpell",
                         "code", "corporationId", "channel"}
    assert item["corporationId"] == seeded.tenant.corp_id
    assert item["channel"] == "OFFLINE"
    assert item["nameSpell"].startswith("BEIJING")
    again = put_corporation(seeded.tenant, token, "91110000MA01TRAVEL", "北京差旅平台有限公司")
    assert again["id"] == corp_id
    assert again["version"] == item["version"] + 1


def test_batches_render_in_the_seed_shape(batch_setup: tuple[Seeded, str, str]) -> None:
    seeded, token, corp_id = batch_setup
    refs = jx_refs(seeded, {"01", "82", "51", "61"}, 6)
    pushed = push(seeded.tenant, token, {
        "unifyInvoiceCorporationId": corp_id, "batchNo": "22080320472461612",
        "invoices": refs,
        "relation": [{"flowId": "YcccgmkfKcH800", "flowCode": "B21000011", "feeDetailId": "xBxdPl5EyGA3L1"}],
    })
    push(seeded.tenant, token, {"unifyInvoiceCorporationId": corp_id, "batchNo": "23102716134166729",
                                "relation": [{"flowId": "f2", "flowCode": "B23001006", "feeDetailId": "d2"}]})
    body = read(seeded.tenant, token, V21, unifyInvoiceCorporationId=corp_id, index=0, count=10).json()
    assert_conforms(body, seed_items())
    first, second = body["items"]
    assert first["updateTime"] == pushed["updateTime"] < second["updateTime"]
    assert first["batchNo"] == "22080320472461612"
    assert second["invoices"] == []
    assert [inv["master"]["code"] for inv in first["invoices"]] == [ref["key"] for ref in refs]
    for entry in first["invoices"]:
        assert entry["invoiceDetailsId"] == [d["id"] for d in entry["details"]]
        assert all(d["masterId"] == entry["invoiceId"] for d in entry["details"])
        assert entry["master"]["form"]["E_system_发票主体_价税合计"]["standard"].count(".") == 1
    assert first["relation"][0]["invoiceId"] == "null"  # Ekuaibao's own spelling of "unset"


def test_cursor_returns_each_batch_once_and_later_changes(batch_setup: tuple[Seeded, str, str]) -> None:
    seeded, token, corp_id = batch_setup
    refs = jx_refs(seeded, {"82"}, 30)
    for n in range(25):
        push(seeded.tenant, token, {"unifyInvoiceCorporationId": corp_id, "batchNo": f"B{n:03d}",
                                    "invoices": refs[n:n + 1]})
    seen, index = [], 0
    while items := read(seeded.tenant, token, V21, unifyInvoiceCorporationId=corp_id,
                        index=index, count=4).json()["items"]:
        assert len(items) <= 4
        seen += [item["batchNo"] for item in items]
        index = items[-1]["updateTime"]
    assert seen == [f"B{n:03d}" for n in range(25)]
    # a re-push is an update: same id, new updateTime, seen again past the cursor
    push(seeded.tenant, token, {"unifyInvoiceCorporationId": corp_id, "batchNo": "B003", "invoices": refs[:2]})
    items = read(seeded.tenant, token, V21, unifyInvoiceCorporationId=corp_id, index=index, count=10).json()["items"]
    assert [item["batchNo"] for item in items] == ["B003"]
    assert len(items[0]["invoices"]) == 2
    everything = read(seeded.tenant, token, V21, unifyInvoiceCorporationId=corp_id, index=0, count=10).json()
    assert "B003" not in [item["batchNo"] for item in everything["items"]]  # moved to the end


def test_concurrent_writers_never_slip_behind_a_reader(batch_setup: tuple[Seeded, str, str]) -> None:
    seeded, token, corp_id = batch_setup
    refs = jx_refs(seeded, {"82", "81"}, 10)
    writers, per_writer = 4, 12
    errors: list[str] = []

    def write(w: int) -> None:
        for n in range(per_writer):
            response = seeded.tenant.client.post(PUSH, params={"accessToken": token}, json={
                "unifyInvoiceCorporationId": corp_id, "batchNo": f"W{w}-{n}", "invoices": refs[n % 10:n % 10 + 1]})
            if response.status_code != 200:
                errors.append(response.text)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    seen: list[str] = []
    index = 0
    while True:
        writing = any(t.is_alive() for t in threads)  # read before the page: no batch can be missed
        items = read(seeded.tenant, token, V21, unifyInvoiceCorporationId=corp_id,
                     index=index, count=3).json()["items"]
        seen += [item["batchNo"] for item in items]
        if items:
            index = items[-1]["updateTime"]
        elif not writing:
            break
    assert not errors, errors[:3]
    assert sorted(seen) == sorted(f"W{w}-{n}" for w in range(writers) for n in range(per_writer))


def test_v1_lists_only_vat_invoices(batch_setup: tuple[Seeded, str, str]) -> None:
    seeded, token, corp_id = batch_setup
    refs = jx_refs(seeded, {"01"}, 2) + jx_refs(seeded, {"51"}, 2) + jx_refs(seeded, {"61"}, 1)
    push(seeded.tenant, token, {"unifyInvoiceCorporationId": corp_id, "batchNo": "MIX", "invoices": refs})
    v21 = read(seeded.tenant, token, V21, unifyInvoiceCorporationId=corp_id, index=0, count=1).json()
    v1 = read(seeded.tenant, token, V1, unifyInvoiceCorporationId=corp_id, index=0, count=1).json()
    assert len(v21["items"][0]["invoices"]) == 5
    categories = [i["master"]["form"]["E_system_发票主体_发票类别"] for i in v1["items"][0]["invoices"]]
    assert categories == ["PAPER_SPECIAL"] * 2
    assert v1["items"][0]["batchNo"] == v21["items"][0]["batchNo"]


def test_other_tenants_see_nothing(batch_setup: tuple[Seeded, str, str], tenant_factory) -> None:
    seeded, token, corp_id = batch_setup
    push(seeded.tenant, token, {"unifyInvoiceCorporationId": corp_id, "batchNo": "SECRET",
                                "invoices": jx_refs(seeded, {"82"}, 1)})
    other = tenant_factory()
    other_token = other.token()
    assert read(other, other_token, CORP_LIST).json() == {"items": []}
    assert read(other, other_token, V21, unifyInvoiceCorporationId=corp_id, index=0, count=10).json() == {"items": []}
    stolen = other.client.post(PUSH, params={"accessToken": other_token}, json={
        "unifyInvoiceCorporationId": corp_id, "batchNo": "X"})
    assert stolen.status_code == 400
    assert "SECRET" not in stolen.text


def test_unknown_corporation_is_an_empty_list(tenant: Tenant) -> None:
    body = read(tenant, tenant.token(), V21, unifyInvoiceCorporationId="nope", index=0, count=10)
    assert body.status_code == 200
    assert body.json() == {"items": []}


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"index": "0", "count": "0"}, "count"),
        ({"index": "0", "count": "11"}, "count"),
        ({"index": "0", "count": "x"}, "count"),
        ({"index": "0"}, "count"),
        ({"count": "5"}, "index"),
        ({"index": "yesterday", "count": "5"}, "index"),
        ({"index": "1.5", "count": "5"}, "index"),
        ({"index": str(2**63), "count": "5"}, "index"),  # beyond BIGINT
        ({"index": str(-(2**63) - 1), "count": "5"}, "index"),
        ({"index": "9" * 5000, "count": "5"}, "index"),  # more digits than int() takes
        ({"index": "²", "count": "5"}, "index"),  # a digit to str.isdigit, not to int()
        ({"index": "0", "count": "9" * 5000}, "count"),
        ({"index": "0", "count": "²"}, "count"),
    ],
)
def test_bad_cursor_parameters_are_400(tenant: Tenant, params: dict[str, str], needle: str) -> None:
    response = read(tenant, tenant.token(), V21, unifyInvoiceCorporationId="any", **params)
    assert response.status_code == 400
    assert needle in response.json()["errorMessage"]


def test_unauthenticated_reads_are_403(tenant: Tenant) -> None:
    assert tenant.client.get(V21, params={"unifyInvoiceCorporationId": "x", "index": 0, "count": 1}).status_code == 403
    assert tenant.client.get(CORP_LIST, params={"accessToken": "bad"}).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"unifyInvoiceCorporationId": "x"},
        {"unifyInvoiceCorporationId": "x", "batchNo": "1", "invoices": [{"nsrsbh": "a"}]},
        {"unifyInvoiceCorporationId": "x", "batchNo": "1", "invoices": [{"nsrsbh": "a", "key": "k",
                                                                        "invoice": {}}]},
        {"unifyInvoiceCorporationId": "x", "batchNo": "1", "relation": [{"flowId": "f"}]},
        {"unifyInvoiceCorporationId": "x", "batchNo": "1", "invoices": "all"},
        [],
    ],
)
def test_bad_push_bodies_are_400_naming_the_field(tenant: Tenant, body: Any) -> None:
    response = tenant.client.post(PUSH, params={"accessToken": tenant.token()}, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errorMessage"]


def test_push_of_full_invoice_data_stores_it(batch_setup: tuple[Seeded, str, str], engine: Engine) -> None:
    seeded, token, corp_id = batch_setup
    nsrsbh = next(iter(seeded.taxpayers))
    source = next(inv for inv in seeded.invoices[(nsrsbh, "jx")] if inv.fplx == "82")
    doc = source.to_doc()
    doc["fphm"] = doc["fphm"][:-4] + "7777"
    push(seeded.tenant, token, {"unifyInvoiceCorporationId": corp_id, "batchNo": "FULL",
                                "invoices": [{"nsrsbh": nsrsbh, "invoice": doc}]})
    item = read(seeded.tenant, token, V21, unifyInvoiceCorporationId=corp_id, index=0, count=1).json()["items"][0]
    assert item["invoices"][0]["master"]["form"]["E_system_发票主体_发票号码"] == doc["fphm"]
    # and it is an ordinary stored invoice: the collection API lists it
    listed = seeded.tenant.client.post(
        "/api/openapi/v2/invoice/v2/getInvoiceCollectionData", params={"accessToken": token},
        json={"corpId": seeded.tenant.corp_id, "nsrsbh": nsrsbh, "fplx": "82", "kpyf": str(source.kpyf),
              "jxxbz": "jx", "page": {"pageSize": 100, "currentPage": 1}},
    ).json()["value"]["data"]["list"]
    assert doc["fphm"] in [entry["fphm"] for entry in listed]


def test_batched_version_lookups_say_what_each_full_read_answers(batch_setup: tuple[Seeded, str, str],
                                                                 engine: Engine) -> None:
    """Concurrent unify reads share their version lookups (one statement for many requests); each
    must still name exactly the corporation, forms version and batches its own full read answers."""
    if engine.dialect.name != "postgresql":
        pytest.skip("version lookups are batched on PostgreSQL only (SQLite reads the batches at once)")
    seeded, token, unify_corp_id = batch_setup
    refs = jx_refs(seeded, {"01", "82", "51", "61"}, 8)
    times = [push(seeded.tenant, token, {"unifyInvoiceCorporationId": unify_corp_id, "batchNo": f"V{n}",
                                         "invoices": refs[2 * n:2 * n + 2]})["updateTime"] for n in range(4)]
    digest, unknown = secret_digest(token), secret_digest(uuid.uuid4().hex)
    lookups = [(digest, unify_corp_id, 0, 10), (digest, unify_corp_id, times[1], 2), (digest, unify_corp_id, times[3], 5),
               (unknown, unify_corp_id, 0, 10), (digest, "no-such-platform", 0, 10)] * 8

    async def run() -> tuple[list[Any], list[Any], int]:
        reads = PostgresBatchReads(engine.url)
        try:
            together = await asyncio.gather(*(reads.versions(*lookup) for lookup in lookups))
            full = [await reads.batches(*lookup) for lookup in lookups]
            return together, full, reads.version_statements
        finally:
            await reads.close()

    together, full, statements = asyncio.run(run())
    assert statements < len(lookups), "concurrent lookups went out together"
    for lookup, versions, read in zip(lookups, together, full, strict=True):
        assert versions is not None
        assert versions.corp_id == read.corp_id, lookup
        if read.corp_id is not None:
            assert versions.forms_version == read.forms_version, lookup
            assert versions.batches == [(batch.id, batch.update_time) for batch in read.batches], lookup
    answered = [len(versions.batches) for versions in together[:5]]
    assert answered == [4, 2, 0, 0, 0]
    assert together[3].corp_id is None
