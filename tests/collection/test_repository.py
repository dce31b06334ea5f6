"""The page cache and the reads behind it: a cached page is served only under its month's current
version and a live token, and batched month lookups give every request its own answer."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import uuid

import pytest
from sqlalchemy.engine import Engine

from fapiaohub.auth.service import create_tenant, get_access_token, secret_digest
from fapiaohub.collection.page_cache import PageAddress, PageCache, PageKey
from fapiaohub.collection.pg_repository import PostgresPageReads
from fapiaohub.collection.repository import MonthLookup, SqlPageReads, open_page_reads
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.taxpayers import add_taxpayer
from tests.collection.test_routes import URL, body_for, fullest_month, query
from tests.conftest import Seeded


def test_the_cache_keeps_the_most_recently_used_pages_within_its_bytes() -> None:
    cache = PageCache(max_bytes=10)
    a, b, c = PageKey(1, 1, 0, 100), PageKey(1, 1, 100, 100), PageKey(2, 1, 0, 100)
    cache.put(a, b"aaaa")
    cache.put(b, b"bbbb")
    assert cache.get(a) == b"aaaa"  # a is now the most recent
    cache.put(c, b"cccc")  # 12 bytes > 10: the least recent (b) goes
    assert cache.get(b) is None
    assert cache.get(a) == b"aaaa"
    assert cache.get(c) == b"cccc"
    assert cache.size == 8
    assert len(cache) == 2
    cache.put(PageKey(3, 1, 0, 100), b"x" * 11)  # larger than the whole cache: not kept
    assert len(cache) == 2
    assert cache.size == 8
    assert cache.get(PageKey(1, 2, 0, 100)) is None  # another version of a's month is another page


def test_a_zero_sized_cache_keeps_nothing() -> None:
    cache = PageCache(max_bytes=0)
    cache.put(PageKey(1, 1, 0, 10), b"x")
    assert len(cache) == 0
    assert cache.get(PageKey(1, 1, 0, 10)) is None


def test_a_cached_page_is_served_until_its_month_changes(writable_seeded: Seeded, engine: Engine) -> None:
    seeded = writable_seeded
    cache: PageCache = seeded.tenant.client.app.state.page_cache
    nsrsbh, direction, kpyf, _ = fullest_month(seeded, "81")
    token = seeded.tenant.token()
    body = body_for(seeded, nsrsbh, direction, "81", kpyf, size=5)
    first = query(seeded.tenant, token, body)
    hits = cache.hits
    again = query(seeded.tenant, token, body)
    assert cache.hits == hits + 1, "an unchanged month's page is served from the cache"
    assert again["data"] == first["data"]

    # the bureau reports the first invoice of the page as cancelled (作废)
    month = sorted(seeded.month(nsrsbh, direction, "81", kpyf), key=lambda inv: (inv.kprq, inv.key))
    cancelled = copy.deepcopy(month[0])
    cancelled.fpzt_dm = "2"
    with engine.begin() as conn:
        assert store_invoices(conn, seeded.taxpayers[nsrsbh], direction, [cancelled]).updated == 1
    after = query(seeded.tenant, token, body)
    assert after["data"]["list"][0]["fphm"] == cancelled.fphm
    assert after["data"]["list"][0]["fpztDm"] == "2", "the page cached before the change is not served"
    assert after["data"]["list"][1:] == first["data"]["list"][1:]


def test_a_dead_token_cannot_read_a_cached_page(seeded: Seeded) -> None:
    tenant = seeded.tenant
    pair = tenant.client.post("/api/openapi/v1/auth/getAccessToken", json={
        "appKey": tenant.creds.app_key, "appSecurity": tenant.creds.app_security}).json()["value"]
    nsrsbh, direction, kpyf, _ = fullest_month(seeded, "10")
    body = body_for(seeded, nsrsbh, direction, "10", kpyf, size=3)
    assert query(tenant, pair["accessToken"], body)["success"] is True  # the page is cached now
    refreshed = tenant.client.post("/api/openapi/v2/auth/refreshToken", params={
        "accessToken": pair["accessToken"], "refreshToken": pair["refreshToken"], "powerCode": "219904"})
    assert refreshed.status_code == 200
    response = tenant.client.post(URL, params={"accessToken": pair["accessToken"]}, json=body)
    assert response.status_code == 403
    fresh = refreshed.json()["value"]["accessToken"]
    assert query(tenant, fresh, body)["data"]["list"]


@pytest.fixture
def batch_world(engine: Engine) -> list[tuple[MonthLookup, str]]:
    """Lookups of three corporations, each labelled with what it must come back as."""
    if engine.dialect.name != "postgresql":
        pytest.skip("month lookups are batched on PostgreSQL only (SQLite answers them one by one)")
    lookups: list[tuple[MonthLookup, str]] = []
    with engine.begin() as conn:
        corps = []
        for n in range(3):
            creds = create_tenant(conn, f"批量企业{n}{uuid.uuid4().hex[:4]}")
            nsrsbh = f"91440300MA5BAT{n:03d}X"
            add_taxpayer(conn, creds.corp_id, nsrsbh, f"批量纳税人{n}", collection_enabled=n != 2)
            pair = get_access_token(conn, creds.app_key, creds.app_security, 600)
            assert pair is not None
            corps.append((creds.corp_id, nsrsbh, secret_digest(pair.access_token)))
    for i in range(60):
        corp_id, nsrsbh, digest = corps[i % 3]
        other_corp = corps[(i + 1) % 3][0]
        kind = ["own", "other-corp", "unknown-token", "unknown-taxpayer"][i % 4]
        if kind == "own":
            lookups.append((MonthLookup(digest, corp_id, nsrsbh, "jx", "82", 202401), kind))
        elif kind == "other-corp":
            lookups.append((MonthLookup(digest, other_corp, nsrsbh, "jx", "82", 202401), kind))
        elif kind == "unknown-token":
            lookups.append((MonthLookup(secret_digest(uuid.uuid4().hex), corp_id, nsrsbh, "jx", "82", 202401), kind))
        else:
            lookups.append((MonthLookup(digest, corp_id, "91440300MA5NOBODY0", "jx", "82", 202401), kind))
    return lookups


def test_batched_month_lookups_answer_each_request_as_one_lookup_would(
    engine: Engine, batch_world: list[tuple[MonthLookup, str]]
) -> None:
    lookups = [lookup for lookup, _ in batch_world]

    async def run() -> tuple[list, list, int]:
        batched = open_page_reads(engine)
        one_by_one = SqlPageReads(engine)
        try:
            together = await asyncio.gather(*(batched.month_state(lk) for lk in lookups))
            alone = [await one_by_one.month_state(lk) for lk in lookups]
            return together, alone, batched.batches  # type: ignore[attr-defined]
        finally:
            await batched.close()

    together, alone, batches = asyncio.run(run())
    assert together == alone
    assert batches < len(lookups), "concurrent lookups went out together"
    for (_, kind), state in zip(batch_world, together, strict=True):
        assert state.authorized is (kind in ("own", "unknown-taxpayer")), kind
        if kind == "own":
            assert state.slot is not None
            assert state.slot.month_id is None
        if kind == "unknown-taxpayer":
            assert state.slot is None


def test_a_failing_batch_fails_its_requests_and_the_next_batch_runs(
    engine: Engine, batch_world: list[tuple[MonthLookup, str]]
) -> None:
    """A database error reaches every request of the batch (each answers 500); nothing waits forever."""

    lookups = [lookup for lookup, _ in batch_world][:10]
    missing = engine.url.set(database=f"fapiaohub_missing_{uuid.uuid4().hex[:8]}")

    async def run() -> list[object]:
        reads = PostgresPageReads(missing)
        try:
            first = await asyncio.wait_for(
                asyncio.gather(*(reads.month_state(lk) for lk in lookups), return_exceptions=True), timeout=30)
            second = await asyncio.wait_for(reads.month_state(lookups[0]), timeout=30)
        except Exception as exc:  # noqa: BLE001 - the second call fails too: what matters is that it returns
            second = exc
        finally:
            await reads.close()
        return [*first, second]

    outcomes = asyncio.run(run())
    assert len(outcomes) == len(lookups) + 1
    assert all(isinstance(outcome, Exception) and not isinstance(outcome, TimeoutError) for outcome in outcomes)


def test_a_lookup_the_database_refuses_fails_alone(engine: Engine, batch_world: list[tuple[MonthLookup, str]]) -> None:
    """Values the query layer lets through but PostgreSQL refuses (a NUL in text) fail only their own
    request, not the others batched with it."""
    good = [lookup for lookup, _ in batch_world][:12]
    poison = dataclasses.replace(good[0], nsrsbh="91440300\x00MA5DEM001")

    async def run() -> list[object]:
        reads = open_page_reads(engine)
        try:
            return await asyncio.gather(*(reads.month_state(lk) for lk in [*good[:6], poison, *good[6:]]),
                                        return_exceptions=True)
        finally:
            await reads.close()

    outcomes = asyncio.run(run())
    expected = asyncio.run(_one_by_one(engine, good))
    assert isinstance(outcomes[6], Exception)
    assert [*outcomes[:6], *outcomes[7:]] == expected


async def _one_by_one(engine: Engine, lookups: list[MonthLookup]) -> list[object]:
    reads = SqlPageReads(engine)
    return [await reads.month_state(lookup) for lookup in lookups]


def test_the_cache_knows_the_addresses_it_holds_a_page_for() -> None:
    cache = PageCache(max_bytes=10)
    here, there = PageAddress("C", "N", "jx", "82", 202401, 0, 100), PageAddress("C", "N", "jx", "82", 202401, 100, 100)
    assert not cache.holds(here)
    cache.put(PageKey(1, 1, 0, 100), b"aaaa", here)
    assert cache.holds(here)
    cache.put(PageKey(1, 2, 0, 100), b"bbbb", here)  # the month's next version replaces the page
    assert cache.get(PageKey(1, 1, 0, 100)) is None
    assert cache.size == 4
    cache.put(PageKey(1, 2, 100, 100), b"cccc", there)
    cache.put(PageKey(2, 1, 0, 100), b"dddd")  # 12 bytes > 10: the least recent (here's) goes
    assert not cache.holds(here)
    assert cache.holds(there)
    assert not PageCache(max_bytes=0).holds(here)


def test_a_page_this_process_does_not_hold_costs_one_read(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the lookup brings the page along (no second read); the same page again is the
    cache's; SQLite reads it after the lookup."""
    app = seeded.tenant.client.app
    reads, cache = app.state.page_reads, app.state.page_cache
    later_reads = []
    month_page = type(reads).month_page

    async def counted(self: object, month_id: int, offset: int, limit: int) -> object:
        later_reads.append((month_id, offset, limit))
        return await month_page(self, month_id, offset, limit)

    monkeypatch.setattr(type(reads), "month_page", counted)
    nsrsbh, direction, kpyf, count = fullest_month(seeded, "82")
    assert count >= 14
    token = seeded.tenant.token()
    body = body_for(seeded, nsrsbh, direction, "82", kpyf, size=7, page=2)  # a page no other test asks for
    first = query(seeded.tenant, token, body)
    assert len(first["data"]["list"]) == 7
    assert len(later_reads) == (0 if isinstance(reads, PostgresPageReads) else 1)
    hits = cache.hits
    assert query(seeded.tenant, token, body)["data"] == first["data"]
    assert cache.hits == hits + 1
    assert len(later_reads) == (0 if isinstance(reads, PostgresPageReads) else 1)
