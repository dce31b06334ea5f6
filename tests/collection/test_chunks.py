"""Page chunks (month_chunk): every page, of any size and start, is cut byte for byte as the stored
items joined, on both databases and through both readers, and writers keep the chunks of every
month they settle at its version, rebuilding only what changed; a page a lookup asks for comes in
the lookup's own statement."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from fapiaohub.auth.service import create_tenant, secret_digest
from fapiaohub.collection.repository import MonthLookup, MonthState, SqlPageReads, open_page_reads
from fapiaohub.demo.generator import generate_taxpayer_month
from fapiaohub.domain.invoice import Invoice
from fapiaohub.store.engine import alembic_config, make_engine, upgrade
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.months import CHUNK_ITEMS, cut_chunk
from fapiaohub.store.revert import revert_task_writes
from fapiaohub.store.tables import invoice, invoice_month, month_chunk
from fapiaohub.store.taxpayers import Taxpayer, add_taxpayer
from tests.collection.test_routes import URL
from tests.conftest import Tenant, scratch_postgres

NSRSBH = "91440300MA5CHUNK01"
KPYF = 202405


def kind_82_month(count: int, kpyf: int = KPYF) -> list[Invoice]:
    """``count`` distinct 数电 invoices of one month, all of kind 82."""
    found = [dataclasses.replace(inv, fplx="82") for inv in generate_taxpayer_month(NSRSBH, "分块测试", "jx", kpyf,
                                                                                     count * 3)
             if inv.fplx in ("81", "82") and not inv.fpdm]
    assert len(found) >= count
    return found[:count]


@dataclasses.dataclass
class Month:
    tenant: Tenant
    tp: Taxpayer
    month_id: int
    invoices: list[Invoice]


@pytest.fixture
def month(tenant: Tenant, engine: Engine) -> Month:
    """A month of 250 invoices: chunks of 100, 100 and 50 items."""
    invoices = kind_82_month(250)
    with engine.begin() as conn:
        tp = add_taxpayer(conn, tenant.corp_id, NSRSBH, "分块测试")
        store_invoices(conn, tp, "jx", invoices)
    return Month(tenant, tp, month_id(engine, tp), invoices)


def month_id(engine: Engine, tp: Taxpayer) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(invoice_month.c.id).where(
            invoice_month.c.taxpayer_id == tp.id, invoice_month.c.fplx == "82",
            invoice_month.c.kpyf == KPYF)).scalar_one()


def stored_items(engine: Engine, month: int) -> list[bytes]:
    """The truth: the month's rendered items in position order."""
    with engine.connect() as conn:
        return [text.encode() for text in conn.execute(
            sa.select(invoice.c.rendered).where(invoice.c.month_id == month).order_by(invoice.c.pos)).scalars()]


def read_pages(engine: Engine, month: int, spans: list[tuple[int, int]]) -> list[tuple[bytes, bytes]]:
    """Each (offset, limit) read by the serving reader (asyncpg on PostgreSQL) and by SQLAlchemy."""
    async def run() -> list[tuple[bytes, bytes]]:
        serving, plain = open_page_reads(engine), SqlPageReads(engine)
        try:
            return [((await serving.month_page(month, offset, limit)).items,
                     (await plain.month_page(month, offset, limit)).items) for offset, limit in spans]
        finally:
            await serving.close()

    return asyncio.run(run())


def assert_pages_are_the_items(engine: Engine, month: int, spans: list[tuple[int, int]]) -> None:
    items = stored_items(engine, month)
    for (offset, limit), (served, plain) in zip(spans, read_pages(engine, month, spans), strict=True):
        expected = b",".join(items[offset:offset + limit])
        assert served == expected, (offset, limit)
        assert plain == expected, (offset, limit)


def every_page(count: int, size: int) -> Iterator[tuple[int, int]]:
    return ((offset, size) for offset in range(0, count, size))


def chunk_state(engine: Engine, month: int) -> tuple[int, int | None, dict[int, object]]:
    """(version, chunk_version, chunk number → the row's identity): on PostgreSQL its xmin, which a
    rebuild changes even when the content is the same; SQLite has no such column (a rowid is reused
    when the last row is deleted and inserted again), so there it is the chunk's content."""
    identity = sa.literal_column("xmin::text") if engine.dialect.name == "postgresql" else month_chunk.c.joined
    with engine.connect() as conn:
        version, chunk_version = conn.execute(sa.select(invoice_month.c.version, invoice_month.c.chunk_version)
                                              .where(invoice_month.c.id == month)).one()
        rows = conn.execute(sa.select(month_chunk.c.chunk_no, identity).where(month_chunk.c.month_id == month))
        return version, chunk_version, {number: ident for number, ident in rows}


@pytest.mark.parametrize("size", [1, 37, 100])
def test_pages_of_any_size_are_cut_exactly_from_the_chunks(month: Month, engine: Engine, size: int) -> None:
    version, chunk_version, chunks = chunk_state(engine, month.month_id)
    assert chunk_version == version
    assert sorted(chunks) == [0, 1, 2]
    spans = list(every_page(250, size))
    if size == 1:  # around each chunk boundary, and the last item
        spans = [(offset, 1) for offset in (0, 1, 98, 99, 100, 101, 199, 200, 201, 248, 249)]
    assert_pages_are_the_items(engine, month.month_id, spans)
    # pages reaching past the month's end hold what there is
    assert_pages_are_the_items(engine, month.month_id, [(240, 100), (200, 100), (150, 100)])


def test_an_unaligned_page_over_http_is_todays_page(month: Month, engine: Engine) -> None:
    items = stored_items(engine, month.month_id)
    response = month.tenant.client.post(URL, params={"accessToken": month.tenant.token()}, json={
        "corpId": month.tenant.corp_id, "nsrsbh": NSRSBH, "fplx": "82", "kpyf": str(KPYF), "jxxbz": "jx",
        "page": {"pageSize": 37, "currentPage": 3}})
    assert b"[" + b",".join(items[74:111]) + b"]" in response.content  # verbatim, across chunks 0 and 1
    page = response.json()["value"]["data"]
    assert page["page"] == {"totalPage": 7, "pageSize": 37, "currentPage": 3, "totalCount": 250}
    assert page["list"] == [json.loads(item) for item in items[74:111]]


def test_a_changed_invoice_rebuilds_its_chunk_only(month: Month, engine: Engine) -> None:
    version, _, chunks = chunk_state(engine, month.month_id)
    ordered = sorted(month.invoices, key=lambda inv: (inv.kprq, inv.key))
    cancelled = dataclasses.replace(ordered[150], fpzt_dm="2")  # position 151: chunk 1
    with engine.begin() as conn:
        assert store_invoices(conn, month.tp, "jx", [cancelled]).updated == 1
    version_now, chunk_version, chunks_now = chunk_state(engine, month.month_id)
    assert version_now == version + 1
    assert chunk_version == version_now
    assert chunks_now[0] == chunks[0]
    assert chunks_now[2] == chunks[2]
    assert chunks_now[1] != chunks[1]
    served = read_pages(engine, month.month_id, [(100, 100)])[0][0]
    assert json.loads(b"[" + served + b"]")[50]["fpztDm"] == "2"
    assert_pages_are_the_items(engine, month.month_id, list(every_page(250, 37)))


def test_an_unchanged_reimport_rebuilds_nothing(month: Month, engine: Engine) -> None:
    before = chunk_state(engine, month.month_id)
    with engine.begin() as conn:
        assert store_invoices(conn, month.tp, "jx", month.invoices).unchanged == 250
    assert chunk_state(engine, month.month_id) == before


def test_an_earlier_invoice_shifts_every_chunk_and_adds_one(month: Month, engine: Engine) -> None:
    first = min(month.invoices, key=lambda inv: (inv.kprq, inv.key))
    earliest = dataclasses.replace(kind_82_month(251)[250], kprq=first.kprq - timedelta(seconds=1))
    _, _, chunks = chunk_state(engine, month.month_id)
    with engine.begin() as conn:
        assert store_invoices(conn, month.tp, "jx", [earliest]).inserted == 1
    version, chunk_version, chunks_now = chunk_state(engine, month.month_id)
    assert chunk_version == version
    assert sorted(chunks_now) == [0, 1, 2]
    assert all(chunks_now[number] != chunks[number] for number in chunks)
    served = read_pages(engine, month.month_id, [(0, 1)])[0][0]
    assert json.loads(served)["fphm"] == earliest.fphm
    assert_pages_are_the_items(engine, month.month_id, list(every_page(251, 100)) + list(every_page(251, 37)))


def test_a_revert_that_shortens_the_month_rebuilds_its_new_last_chunk(month: Month, engine: Engine) -> None:
    last = max(month.invoices, key=lambda inv: (inv.kprq, inv.key))
    later = [dataclasses.replace(inv, kprq=last.kprq + timedelta(seconds=n + 1))
             for n, inv in enumerate(kind_82_month(290)[250:])]
    with engine.begin() as conn:
        store_invoices(conn, month.tp, "jx", later, task_id="chunktask0001")
    _, _, chunks = chunk_state(engine, month.month_id)
    assert sorted(chunks) == [0, 1, 2]  # 290 items: chunk 2 holds 90
    with engine.begin() as conn:  # positions 251..290 go; no remaining invoice moves
        assert revert_task_writes(conn, month.tp, "jx", "chunktask0001").deleted == 40
    version, chunk_version, chunks_now = chunk_state(engine, month.month_id)
    assert chunk_version == version
    assert chunks_now[0] == chunks[0]
    assert chunks_now[2] != chunks[2]
    assert_pages_are_the_items(engine, month.month_id, [(200, 100), (240, 37), (249, 1)])
    assert read_pages(engine, month.month_id, [(250, 100)]) == [(b"", b"")]


def test_a_month_emptied_by_a_revert_has_no_chunks(tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        tp = add_taxpayer(conn, tenant.corp_id, NSRSBH, "分块测试")
        store_invoices(conn, tp, "jx", kind_82_month(120), task_id="chunktask0002")
    emptied = month_id(engine, tp)
    assert sorted(chunk_state(engine, emptied)[2]) == [0, 1]
    with engine.begin() as conn:
        assert revert_task_writes(conn, tp, "jx", "chunktask0002").deleted == 120
    version, chunk_version, chunks = chunk_state(engine, emptied)
    assert (chunk_version, chunks) == (version, {})
    assert read_pages(engine, emptied, [(0, 100)]) == [(b"", b"")]
    page = tenant.client.post(URL, params={"accessToken": tenant.token()}, json={
        "corpId": tenant.corp_id, "nsrsbh": NSRSBH, "fplx": "82", "kpyf": str(KPYF), "jxxbz": "jx",
        "page": {"pageSize": 100, "currentPage": 1}}).json()["value"]["data"]
    assert page == {"page": {"totalPage": 0, "pageSize": 100, "currentPage": 1, "totalCount": 0}, "list": []}


def test_a_month_whose_chunks_are_behind_is_read_item_by_item(month: Month, engine: Engine) -> None:
    """Chunks of another version are never cut from: a month the 0008 migration left unbuilt (on
    SQLite) is read from its items, and its next write builds its chunks whole."""
    with engine.begin() as conn:
        conn.execute(sa.update(invoice_month).where(invoice_month.c.id == month.month_id).values(chunk_version=None))
        conn.execute(sa.update(month_chunk).where(month_chunk.c.month_id == month.month_id)
                     .values(joined=b"stale", offsets=[0]))
    assert_pages_are_the_items(engine, month.month_id, [(0, 100), (74, 37), (249, 1)])
    ordered = sorted(month.invoices, key=lambda inv: (inv.kprq, inv.key))
    with engine.begin() as conn:
        store_invoices(conn, month.tp, "jx", [dataclasses.replace(ordered[10], fpzt_dm="2")])
    version, chunk_version, chunks = chunk_state(engine, month.month_id)
    assert (chunk_version, sorted(chunks)) == (version, [0, 1, 2])
    assert_pages_are_the_items(engine, month.month_id, list(every_page(250, 100)) + [(74, 37)])


def test_cutting_a_chunk_clamps_to_its_items() -> None:
    items = [b'{"a":1}', b'{"b":22}', b'{"c":333}']
    joined, offsets = b",".join(items), [0, 8, 17]
    assert cut_chunk(joined, offsets, 0, CHUNK_ITEMS) == joined
    assert cut_chunk(joined, offsets, 1, 2) == items[1]
    assert cut_chunk(joined, offsets, -5, 2) == b",".join(items[:2])
    assert cut_chunk(joined, offsets, 2, 3) == items[2]
    assert cut_chunk(joined, offsets, 3, 9) == b""


def test_the_migration_builds_the_chunks_the_writer_builds() -> None:
    """0008 on PostgreSQL backfills every settled month with the statement the writer uses: a
    database written before it reads its pages from chunks at once."""
    with scratch_postgres("fapiaohub_chunks", "PostgreSQL is not reachable: the backfill runs on PostgreSQL only") as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            with engine.begin() as conn:
                corp = create_tenant(conn, "分块迁移测试企业")
                tp = add_taxpayer(conn, corp.corp_id, NSRSBH, "分块测试")
                store_invoices(conn, tp, "jx", kind_82_month(250) + kind_82_month(30, kpyf=202406))
            query = sa.select(month_chunk.c.month_id, month_chunk.c.chunk_no, month_chunk.c.joined,
                              month_chunk.c.offsets).order_by(month_chunk.c.month_id, month_chunk.c.chunk_no)
            with engine.connect() as conn:
                built = conn.execute(query).all()
            assert [(row.month_id, row.chunk_no) for row in built][-1] == (built[0].month_id + 1, 0)
            command.downgrade(alembic_config(engine), "0007")
            upgrade(engine)
            with engine.connect() as conn:
                assert conn.execute(query).all() == built
                months = conn.execute(sa.select(invoice_month.c.version, invoice_month.c.chunk_version)).all()
            assert all(version == chunk_version for version, chunk_version in months)
        finally:
            engine.dispose()


def test_a_page_asked_for_with_its_lookup_is_cut_in_the_same_statement(month: Month, engine: Engine) -> None:
    """PostgreSQL reads a page a lookup asks for in the lookup's own statement, batched with other
    lookups, each its own page; from chunks of the month's version only."""
    if engine.dialect.name != "postgresql":
        pytest.skip("lookups carry their pages on PostgreSQL only (SQLite reads the page after the lookup)")
    items = stored_items(engine, month.month_id)
    digest = secret_digest(month.tenant.token())
    spans = [(0, 100), (50, 100), (74, 37), (200, 100), (249, 1), (250, 10)]

    def lookup(page: tuple[int, int] | None) -> MonthLookup:
        return MonthLookup(digest, month.tenant.corp_id, NSRSBH, "jx", "82", KPYF, page=page)

    async def run(pages: list[tuple[int, int] | None]) -> tuple[list[MonthState], int]:
        reads = open_page_reads(engine)
        try:
            states = await asyncio.gather(*(reads.month_state(lookup(page)) for page in pages))
            return states, reads.batches
        finally:
            await reads.close()

    states, batches = asyncio.run(run([*spans, None]))
    assert batches < len(states)  # lookups shared statements
    for (offset, limit), state in zip(spans, states, strict=False):
        assert state.slot is not None
        assert state.page is not None
        assert (state.page.invoice_count, state.page.version) == (250, state.slot.version)
        assert state.page.items == b",".join(items[offset:offset + limit]), (offset, limit)
    assert states[-1].page is None  # it asked for none
    with engine.begin() as conn:  # chunks behind the month's version: never cut from
        conn.execute(sa.update(invoice_month).where(invoice_month.c.id == month.month_id).values(chunk_version=None))
    states, _ = asyncio.run(run([(0, 100)]))
    assert states[0].slot is not None
    assert states[0].page is None
