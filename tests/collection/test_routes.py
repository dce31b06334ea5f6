"""getInvoiceCollectionData over HTTP: the seed's wire format, every error rule, paging, tenancy."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from fapiaohub.domain.codes import FPLX, ROLL_TICKET, Family, family_of
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.taxpayers import add_taxpayer
from tests.conftest import Seeded, Tenant
from tests.seedspec import (
    assert_same_shape,
    collection_examples,
    collection_failure_example,
    json_blocks,
    shape,
)
from tests.shapes.test_collection_item import sample_invoice

URL = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"
NOT_ENABLED = "未开通【增值税发票全量采集】功能或传参错误"


def query(tenant: Tenant, token: str, body: Any) -> dict[str, Any]:
    response = tenant.client.post(URL, params={"accessToken": token}, json=body)
    assert response.status_code == 200, response.text
    return response.json()["value"]


def body_for(seeded: Seeded, nsrsbh: str, direction: str, fplx: str, kpyf: int, **page: int) -> dict:
    return {
        "corpId": seeded.tenant.corp_id, "nsrsbh": nsrsbh, "fplx": fplx, "kpyf": str(kpyf),
        "jxxbz": direction, "page": {"pageSize": page.get("size", 100), "currentPage": page.get("page", 1)},
    }


def fullest_month(seeded: Seeded, fplx: str) -> tuple[str, str, int, int]:
    """The (nsrsbh, direction, kpyf) holding the most invoices of a kind, and that count."""
    best: dict[tuple[str, str, int], int] = {}
    for (nsrsbh, direction), invoices in seeded.invoices.items():
        for inv in invoices:
            if inv.fplx == fplx:
                best[(nsrsbh, direction, inv.kpyf)] = best.get((nsrsbh, direction, inv.kpyf), 0) + 1
    (nsrsbh, direction, kpyf), count = max(best.items(), key=lambda kv: kv[1])
    return nsrsbh, direction, kpyf, count


def expected_item_shape(fplx: str) -> Any:
    expected = copy.deepcopy(shape(collection_examples()[family_of(fplx)]))
    if family_of(fplx) is Family.VAT and fplx != ROLL_TICKET:
        # hsdj/hsje are 卷票 fields (the seed marks them so); other VAT kinds' lines omit them
        for key in ("hsdj", "hsje"):
            del expected["hwxx"][0][key]
    return expected


@pytest.mark.parametrize("fplx", sorted(FPLX))
def test_every_fplx_renders_its_seed_shape(seeded: Seeded, fplx: str) -> None:
    nsrsbh, direction, kpyf, count = fullest_month(seeded, fplx)
    value = query(seeded.tenant, seeded.tenant.token(), body_for(seeded, nsrsbh, direction, fplx, kpyf))
    envelope_seed = json_blocks("getInvoiceCollectionData.md")[0]["value"]
    assert_same_shape({**value, "data": {"page": value["data"]["page"]}},
                      {**envelope_seed, "data": {"page": envelope_seed["data"]["page"]}})
    assert value["code"] == "2000"
    assert value["success"] is True
    assert value["message"] == ""
    assert value["corpId"] == seeded.tenant.corp_id
    assert value["data"]["page"]["totalCount"] == count
    assert len(value["data"]["list"]) == min(count, 100)
    for item in value["data"]["list"]:
        assert_same_shape(item, expected_item_shape(fplx))


def test_items_carry_the_stored_values_with_exact_money(seeded: Seeded) -> None:
    nsrsbh, direction, kpyf, _ = fullest_month(seeded, "01")
    raw = seeded.tenant.client.post(
        URL, params={"accessToken": seeded.tenant.token()},
        json=body_for(seeded, nsrsbh, direction, "01", kpyf),
    ).content
    expected = sorted(seeded.month(nsrsbh, direction, "01", kpyf), key=lambda i: (i.kprq, i.key))
    items = query(seeded.tenant, seeded.tenant.token(), body_for(seeded, nsrsbh, direction, "01", kpyf))
    items = items["data"]["list"]
    assert [(i["fpdm"], i["fphm"]) for i in items] == [(e.fpdm, e.fphm) for e in expected]
    for item, inv in zip(items, expected, strict=True):
        assert Decimal(str(item["jshj"])) == inv.jshj
        assert item["kprq"] == inv.kprq.strftime("%Y-%m-%d %H:%M:%S")
        assert item["kpyf"] == kpyf
        assert item["gfsbh"] == inv.gfsbh
        assert item["xfsbh"] == inv.xfsbh
        assert len(item["hwxx"]) == len(inv.lines)
        # the stored digits appear verbatim, e.g. 896.00 and never 896.0
        assert f'"jshj":{inv.jshj:f}'.encode() in raw


def test_money_keeps_trailing_zeros(tenant: Tenant, engine: Engine) -> None:
    nsrsbh = "91440300MA5FXXXX0X"  # a legacy-format id is accepted for registration
    with engine.begin() as conn:
        tp = add_taxpayer(conn, tenant.corp_id, nsrsbh, "深圳测试有限公司")

        inv = sample_invoice("01")
        inv.gfsbh = nsrsbh
        inv.je, inv.se, inv.jshj = Decimal("792.92"), Decimal("103.08"), Decimal("896.00")
        store_invoices(conn, tp, "jx", [inv])
    raw = tenant.client.post(URL, params={"accessToken": tenant.token()}, json={
        "corpId": tenant.corp_id, "nsrsbh": nsrsbh, "fplx": "01", "kpyf": str(inv.kpyf),
        "jxxbz": "jx", "page": {"pageSize": 10, "currentPage": 1}}).content
    assert b'"jshj":896.00' in raw
    assert b'"je":792.92' in raw
    assert b'"se":103.08' in raw


def test_paging_returns_every_invoice_exactly_once_in_order(seeded: Seeded) -> None:
    nsrsbh, direction, kpyf, count = fullest_month(seeded, "82")
    assert count > 7, "the fixture must give a month with several pages"
    token = seeded.tenant.token()
    seen: list[str] = []
    page_no = 1
    while True:
        value = query(seeded.tenant, token,
                      body_for(seeded, nsrsbh, direction, "82", kpyf, size=3, page=page_no))
        page = value["data"]["page"]
        assert page == {"totalPage": -(-count // 3), "pageSize": 3, "currentPage": page_no,
                        "totalCount": count}
        if not value["data"]["list"]:
            break
        seen += [item["fphm"] for item in value["data"]["list"]]
        page_no += 1
    expected = sorted(seeded.month(nsrsbh, direction, "82", kpyf), key=lambda i: (i.kprq, i.key))
    assert seen == [inv.fphm for inv in expected]
    assert page_no == -(-count // 3) + 1


def test_empty_month_and_page_past_the_end(seeded: Seeded) -> None:
    token = seeded.tenant.token()
    nsrsbh = next(iter(seeded.taxpayers))
    empty = query(seeded.tenant, token, body_for(seeded, nsrsbh, "jx", "01", 199912))
    assert empty["success"] is True
    assert empty["code"] == "2000"
    assert empty["data"] == {"page": {"totalPage": 0, "pageSize": 100, "currentPage": 1, "totalCount": 0},
                             "list": []}
    nsrsbh, direction, kpyf, count = fullest_month(seeded, "01")
    past = query(seeded.tenant, token, body_for(seeded, nsrsbh, direction, "01", kpyf, size=10, page=99))
    assert past["success"] is True
    assert past["data"]["list"] == []
    assert past["data"]["page"]["totalCount"] == count


def test_rewriting_the_same_invoices_changes_nothing(writable_seeded: Seeded, engine: Engine) -> None:
    seeded = writable_seeded
    nsrsbh, direction, kpyf, count = fullest_month(seeded, "04")
    before = query(seeded.tenant, seeded.tenant.token(), body_for(seeded, nsrsbh, direction, "04", kpyf))
    with engine.begin() as conn:
        counts = store_invoices(conn, seeded.taxpayers[nsrsbh], direction,
                                seeded.invoices[(nsrsbh, direction)])
    assert counts.inserted == 0
    assert counts.updated == 0
    assert counts.unchanged == len(seeded.invoices[(nsrsbh, direction)])
    after = query(seeded.tenant, seeded.tenant.token(), body_for(seeded, nsrsbh, direction, "04", kpyf))
    assert after["data"] == before["data"]


def test_late_invoice_lands_in_order_and_count(writable_seeded: Seeded, engine: Engine) -> None:
    seeded = writable_seeded
    nsrsbh, direction, kpyf, count = fullest_month(seeded, "82")
    month = sorted(seeded.month(nsrsbh, direction, "82", kpyf), key=lambda i: (i.kprq, i.key))
    late = copy.deepcopy(month[0])
    late.fphm = late.fphm[:-6] + "999999"
    with engine.begin() as conn:
        counts = store_invoices(conn, seeded.taxpayers[nsrsbh], direction, [late])
    assert counts.inserted == 1
    value = query(seeded.tenant, seeded.tenant.token(), body_for(seeded, nsrsbh, direction, "82", kpyf))
    numbers = [item["fphm"] for item in value["data"]["list"]]
    assert value["data"]["page"]["totalCount"] == count + 1
    assert numbers == [inv.fphm for inv in sorted(month + [late], key=lambda i: (i.kprq, i.key))]


# --- business errors: HTTP 200, success false, data null -------------------------------------------

def assert_business_error(value: dict[str, Any], code: str, needle: str) -> None:
    assert_same_shape(value, collection_failure_example()["value"])
    assert value["success"] is False
    assert value["data"] is None
    assert value["code"] == code, value
    assert needle in value["message"], value["message"]


@pytest.mark.parametrize(
    ("field", "bad", "needle"),
    [
        ("fplx", "02", "发票类型格式错误"),
        ("fplx", "8209", "发票类型格式错误"),
        ("kpyf", "202413", "kpyf"),
        ("kpyf", "2024-1", "kpyf"),
        ("kpyf", "20241", "kpyf"),
        ("kpyf", "abcdef", "kpyf"),
        ("kpyf", "202400", "kpyf"),
        ("kpyf", ["202401"], "kpyf"),
        ("jxxbz", "jxx", "jxxbz"),
        ("jxxbz", "JX ", "jxxbz"),
        ("nsrsbh", 12345, "nsrsbh"),
        ("page", "1", "page"),
    ],
)
def test_malformed_field_is_code_500_naming_it(seeded: Seeded, field: str, bad: Any, needle: str) -> None:
    body = body_for(seeded, next(iter(seeded.taxpayers)), "jx", "01", 202503)
    body[field] = bad
    assert_business_error(query(seeded.tenant, seeded.tenant.token(), body), "500", needle)


@pytest.mark.parametrize(
    ("page", "needle"),
    [
        ({"pageSize": 0, "currentPage": 1}, "pageSize"),
        ({"pageSize": 101, "currentPage": 1}, "pageSize"),
        ({"pageSize": "ten", "currentPage": 1}, "pageSize"),
        ({"pageSize": 1.5, "currentPage": 1}, "pageSize"),
        ({"pageSize": True, "currentPage": 1}, "pageSize"),
        ({"pageSize": 10, "currentPage": 0}, "currentPage"),
        ({"pageSize": 10, "currentPage": -3}, "currentPage"),
        ({"pageSize": 10, "currentPage": {"n": 1}}, "currentPage"),
    ],
)
def test_bad_paging_is_code_500_naming_the_field(seeded: Seeded, page: dict, needle: str) -> None:
    body = body_for(seeded, next(iter(seeded.taxpayers)), "jx", "01", 202503)
    body["page"] = page
    assert_business_error(query(seeded.tenant, seeded.tenant.token(), body), "500", needle)


@pytest.mark.parametrize("field", ["corpId", "nsrsbh", "fplx", "kpyf", "jxxbz", "page", "page.pageSize"])
@pytest.mark.parametrize("absent", ["missing", "empty", "null"])
def test_missing_required_field_is_4006_naming_it(seeded: Seeded, field: str, absent: str) -> None:
    body = body_for(seeded, next(iter(seeded.taxpayers)), "jx", "01", 202503)
    holder, key = (body["page"], "pageSize") if field == "page.pageSize" else (body, field)
    if absent == "missing":
        del holder[key]
    else:
        holder[key] = "" if absent == "empty" else None
    assert_business_error(query(seeded.tenant, seeded.tenant.token(), body), "4006", field)


def test_current_page_defaults_to_one(seeded: Seeded) -> None:
    nsrsbh, direction, kpyf, _ = fullest_month(seeded, "81")
    body = body_for(seeded, nsrsbh, direction, "81", kpyf)
    del body["page"]["currentPage"]
    assert query(seeded.tenant, seeded.tenant.token(), body)["data"]["page"]["currentPage"] == 1


def test_numbers_given_as_strings_or_kpyf_as_number_are_accepted(seeded: Seeded) -> None:
    nsrsbh, direction, kpyf, count = fullest_month(seeded, "81")
    body = body_for(seeded, nsrsbh, direction, "81", kpyf)
    body["kpyf"] = kpyf
    body["page"] = {"pageSize": "5", "currentPage": "1"}
    value = query(seeded.tenant, seeded.tenant.token(), body)
    assert value["success"]
    assert value["data"]["page"]["totalCount"] == count


def test_customs_payments_are_not_available_as_xiaoxiang(seeded: Seeded) -> None:
    body = body_for(seeded, next(iter(seeded.taxpayers)), "xx", "17", 202503)
    assert_business_error(query(seeded.tenant, seeded.tenant.token(), body), "500", "销项不支持海关缴款书")


def test_unknown_taxpayer_or_collection_off(writable_seeded: Seeded, engine: Engine) -> None:
    seeded = writable_seeded
    token = seeded.tenant.token()
    unknown = body_for(seeded, "91110000000000000X", "jx", "01", 202503)
    assert_business_error(query(seeded.tenant, token, unknown), "500", NOT_ENABLED)
    with engine.begin() as conn:
        add_taxpayer(conn, seeded.tenant.corp_id, "91310000MA1FL0000X", "关闭采集公司",
                     collection_enabled=False)
    switched_off = body_for(seeded, "91310000MA1FL0000X", "jx", "01", 202503)
    assert_business_error(query(seeded.tenant, token, switched_off), "500", NOT_ENABLED)


# --- tenancy ---------------------------------------------------------------------------------------

def test_another_corporations_corp_id_is_403_and_no_data(seeded: Seeded, tenant_factory) -> None:
    other = tenant_factory()
    nsrsbh, direction, kpyf, _ = fullest_month(seeded, "01")
    body = body_for(seeded, nsrsbh, direction, "01", kpyf)  # names the seeded corporation
    response = other.client.post(URL, params={"accessToken": other.token()}, json=body)
    assert response.status_code == 403
    assert nsrsbh not in response.text
    assert "hwxx" not in response.text


def test_same_tax_id_in_two_corporations_stays_apart(writable_seeded: Seeded, tenant_factory, engine: Engine) -> None:
    seeded = writable_seeded
    other = tenant_factory()
    nsrsbh, direction, kpyf, count = fullest_month(seeded, "01")
    with engine.begin() as conn:
        add_taxpayer(conn, other.corp_id, nsrsbh, "同号不同企业")
    body = body_for(seeded, nsrsbh, direction, "01", kpyf)
    body["corpId"] = other.corp_id
    value = query(other, other.token(), body)
    assert value["success"]
    assert value["data"]["page"]["totalCount"] == 0
    assert query(seeded.tenant, seeded.tenant.token(),
                 body_for(seeded, nsrsbh, direction, "01", kpyf))["data"]["page"]["totalCount"] == count


# --- malformed requests never give a 500 or a trace ------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"null", b"[]", b'"text"', b"12", b"\xff\xfe", b'{"corpId": }', b"{" * 5000,
     b'{"page": {"pageSize": 1e400}}'],
)
def test_malformed_bodies_get_clear_errors(tenant: Tenant, raw: bytes) -> None:
    response = tenant.client.post(URL, params={"accessToken": tenant.token()}, content=raw,
                                  headers={"Content-Type": "application/json"})
    assert response.status_code in (200, 400), response.text
    assert "Traceback" not in response.text
    body = response.json()
    if response.status_code == 200:
        assert body["value"]["success"] is False
        assert body["value"]["data"] is None
    else:
        assert "JSON" in body["errorMessage"]


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [("nsrsbh", "9144030\u0000MA5DEM0019", "nsrsbh"), ("nsrsbh", "x" * 5000, "nsrsbh"),
     ("nsrsbh", "91440300-MA5DEM001", "nsrsbh"), ("corpId", "abc\u0000", "corpId"),
     ("jxxbz", "j\u0000x", "jxxbz")],
)
def test_text_no_identifier_can_hold_is_a_business_error(seeded: Seeded, field: str, value: str,
                                                         needle: str) -> None:
    body = body_for(seeded, next(iter(seeded.taxpayers)), "jx", "01", 202503)
    body[field] = value
    response = seeded.tenant.client.post(URL, params={"accessToken": seeded.tenant.token()}, json=body)
    assert response.status_code == 200, response.text
    assert_business_error(response.json()["value"], "500", needle)


def test_oversized_body_is_refused(tenant: Tenant) -> None:
    response = tenant.client.post(URL, params={"accessToken": tenant.token()},
                                  content=b'{"x":"' + b"a" * 200_000 + b'"}')
    assert response.status_code == 413
