"""The scale figures (issue 15): the same requests against a database of ``--invoices`` demo invoices
and one of ``--scale-invoices`` (``--scale-db``), each served by a process of its own, sent in
turn (small, big, small, big …) so that noise hits both alike; every figure is big / small."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import sqlalchemy as sa

from bench.data import BENCH, DEMO, ensure_demo, ensure_paging_months, ensure_unify_batches, prepared_engine
from bench.server import COLLECT, Server, bench_server
from bench.serving import Figure, checked_batches, collection_body, paired_medians
from fapiaohub.demo.generator import DEMO_MONTHS, demo_taxpayers
from fapiaohub.store.tables import invoice_month, taxpayer, unify_batch

KIND = "82"  # the demo's commonest kind: its months are the largest


def scale_figures(db: str, scale_db: str, invoices: int, scale_invoices: int, month_size: int, batches: int,
                  repeat: int) -> list[Figure]:
    """Page 1, a deep page (90% of the month) and totalCount (pageSize 1) of a demo month whose size
    grows with the data, and unify count=10 at the end of the batches: latency medians with the
    page and unify caches off (the database path is what is measured)."""
    sides = {"small": (db, invoices), "big": (scale_db, scale_invoices)}
    prepared = {name: _prepare(url, count, month_size, batches) for name, (url, count) in sides.items()}
    with bench_server(db, page_cache_mb=0, unify_cache_mb=0) as small, \
            bench_server(scale_db, page_cache_mb=0, unify_cache_mb=0) as big:
        requests: dict[str, Callable[[], httpx.Response]] = {}
        for name, server in (("small", small), ("big", big)):
            requests |= _requests(name, server, prepared[name])
        medians = paired_medians(small.client, requests, repeat)
    print("  month sizes: " + ", ".join(f"{name} {prepared[name].month_count}" for name in sides)
          + "; medians, ms: " + ", ".join(f"{name} {value * 1000:.2f}" for name, value in medians.items()), flush=True)
    label = f"{scale_invoices // 1000}k / {invoices // 1000}k invoices"
    return [(f"{what}, latency {label}", medians[f"big {what}"] / medians[f"small {what}"], "≤ 1.2")
            for what in ("page 1", "deep page", "totalCount", "unify cursor at the end")]


@dataclass(frozen=True)
class _Prepared:
    """One side's data: the measured demo month's size, and the unify platform with its last batches' index."""

    month_count: int
    kpyf: int
    platform: str
    end_index: int


def _prepare(db: str, invoices: int, month_size: int, batches: int) -> _Prepared:
    engine = prepared_engine(db)
    ensure_demo(engine, invoices)
    ensure_paging_months(engine, month_size)
    platform = ensure_unify_batches(engine, batches)
    kpyf = DEMO_MONTHS[2]
    with engine.connect() as conn:
        count = conn.execute(
            sa.select(invoice_month.c.invoice_count).join(taxpayer, taxpayer.c.id == invoice_month.c.taxpayer_id)
            .where(taxpayer.c.corp_id == DEMO.corp_id, taxpayer.c.nsrsbh == demo_taxpayers()[0].nsrsbh,
                   invoice_month.c.direction == "jx", invoice_month.c.fplx == KIND, invoice_month.c.kpyf == kpyf)
        ).scalar_one()
        end_index = conn.execute(sa.select(unify_batch.c.update_time).where(unify_batch.c.unify_corp_id == platform)
                                 .order_by(unify_batch.c.update_time.desc()).offset(10).limit(1)).scalar_one()
    engine.dispose()
    return _Prepared(count, kpyf, platform, end_index)


def _requests(name: str, server: Server, prepared: _Prepared) -> dict[str, Callable[[], httpx.Response]]:
    token = server.token(DEMO)
    nsrsbh = demo_taxpayers()[0].nsrsbh
    deep = max(1, math.ceil(prepared.month_count / 100 * 0.9))

    def page(number: int, size: int) -> Callable[[], httpx.Response]:
        body = collection_body(DEMO.corp_id, nsrsbh, KIND, prepared.kpyf, number, size)
        return lambda: _checked_page(server, token, body, size)

    # the unify batches are the bench corporation's
    params = {"accessToken": server.token(BENCH), "unifyInvoiceCorporationId": prepared.platform,
              "index": str(prepared.end_index), "count": "10"}
    return {f"{name} page 1": page(1, 100), f"{name} deep page": page(deep, 100),
            f"{name} totalCount": page(1, 1),
            f"{name} unify cursor at the end": lambda: checked_batches(server, params)}


def _checked_page(server: Server, token: str, body: str, size: int) -> httpx.Response:
    response = server.client.post(COLLECT, params={"accessToken": token}, content=body,
                                  headers={"Content-Type": "application/json"})
    value = response.json()["value"]
    if not value["success"] or not value["data"]["list"] or len(value["data"]["list"]) > size:
        raise RuntimeError(f"unexpected page: {response.text[:300]}")
    return response
