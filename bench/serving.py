"""The serving figures: collection page vs its floor, deep pages, totalCount, the unify cursor,
unify batches vs their floor, and latency under a steady load. Each is a ratio (or a percentile) of measurements taken in the
same run, over real HTTP on 127.0.0.1, against a separate server process."""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.data import (
    BENCH,
    BENCH_NSRSBH,
    BIG_MONTH,
    DEMO,
    SMALL_MONTH,
    ensure_demo,
    ensure_paging_months,
    ensure_unify_batches,
    prepared_engine,
)
from bench.procs import child_pids, rss_mb
from bench.server import (
    COLLECT,
    DATA,
    Server,
    WrkRun,
    bench_server,
    database_cpu,
    fapiaohub_serve,
    wrk,
    wrk_available,
)
from fapiaohub.demo.generator import DEMO_MONTHS, demo_taxpayers
from fapiaohub.store.tables import invoice_month, taxpayer, unify_batch

Figure = tuple[str, float, str]
UNIFY = "/api/openapi/v2.1/invoice/unify"


def collection_body(corp_id: str, nsrsbh: str, fplx: str, kpyf: int, page: int, size: int = 100) -> str:
    return json.dumps({"corpId": corp_id, "nsrsbh": nsrsbh, "fplx": fplx, "kpyf": str(kpyf), "jxxbz": "jx",
                       "page": {"pageSize": size, "currentPage": page}})


def _mean_rps(runs: list[WrkRun]) -> float:
    errors = sum(run.errors for run in runs)
    if errors:
        raise RuntimeError(f"wrk saw {errors} errors")
    return statistics.mean(run.requests_per_second for run in runs)


def floor_figures(db: str, invoices: int, seconds: int, connections: int) -> list[Figure]:
    """getInvoiceCollectionData (pageSize 100, kind 82, ~4 lines an invoice) vs the same server
    answering the same bytes from memory, req/s with wrk: with this process's page cache (the
    same page again and again) and with the cache off (every request reads the database)."""
    if not wrk_available():
        print("  wrk not found (apt-get install wrk): skipping the endpoint-vs-floor figures")
        return []
    engine = prepared_engine(db)
    total = ensure_demo(engine, invoices)
    engine.dispose()
    body = collection_body(DEMO.corp_id, demo_taxpayers()[0].nsrsbh, "82", DEMO_MONTHS[2], 1)
    figures = []
    for label, cache_mb in (("page cached", None), ("cache off", 0.0)):
        with bench_server(db, page_cache_mb=cache_mb) as server:
            token = server.token(DEMO)
            answer = server.client.post(COLLECT, params={"accessToken": token}, content=body,
                                        headers={"Content-Type": "application/json"})
            page = answer.json()["value"]["data"]
            # a full page, except in --quick's small months (whose figures mean nothing anyway)
            if len(page["list"]) != min(100, page["page"]["totalCount"]) or not page["list"]:
                raise RuntimeError(f"the measured page holds {len(page['list'])} items of "
                                   f"{page['page']['totalCount']}, not a full page")
            (DATA / "floor.json").write_bytes(answer.content)
            real_url, floor_url = f"{server.base}{COLLECT}?accessToken={token}", f"{server.base}/bench/floor"
            measured = endpoint_and_floor(server, db, real_url, floor_url, [body], seconds, connections)
            real_rps, floor_rps = measured.real_rps, measured.floor_rps
        print(f"  {label}: endpoint {real_rps:.0f} req/s, floor {floor_rps:.0f} req/s; CPU a request: server "
              f"{measured.real_cpu_us:.0f} + PostgreSQL {measured.real_db_us:.0f} vs floor {measured.floor_cpu_us:.0f} µs "
              f"({total} invoices, a page of {len(answer.content)} bytes, wrk -c{connections})", flush=True)
        target = "≥ 0.75" if cache_mb is None else "≥ 0.5"
        figures += [
            (f"collection page / floor, req/s ({label})", real_rps / floor_rps, target),
            (f"collection page: floor / endpoint, CPU a request, server + PostgreSQL ({label})",
             measured.floor_cpu_us / (measured.real_cpu_us + measured.real_db_us), "(reported)"),
        ]
    return figures


@dataclass(frozen=True)
class Interleaved:
    """Mean req/s of an endpoint and of its floor, the server's CPU per request of each, and the
    CPU per request of the PostgreSQL backends serving the endpoint's reads."""

    real_rps: float
    floor_rps: float
    real_cpu_us: float
    floor_cpu_us: float
    real_db_us: float


def endpoint_and_floor(server: Server, db: str, real_url: str, floor_url: str, bodies: list[str], seconds: int,
                       connections: int, method: str = "POST") -> Interleaved:
    """wrk runs of the endpoint and of its floor, interleaved (floor, endpoint, floor, endpoint)
    after a warm-up, so that a noisy neighbour hurts both sides alike; the server process's CPU
    time per request is read too (what a busy machine disturbs least), and its database's."""
    wrk(real_url, bodies, seconds=2, connections=connections, method=method)  # warm the database's caches
    runs: dict[str, list[WrkRun]] = {"floor": [], "real": []}
    cpu = {"floor": 0.0, "real": 0.0}
    db_cpu = 0.0
    for _ in range(2):
        for side, url in (("floor", floor_url), ("real", real_url)):
            db_before = database_cpu(db) if side == "real" else {}  # the floor reads no database
            before = server.cpu_seconds()
            runs[side].append(wrk(url, bodies, seconds=seconds, connections=connections, method=method))
            cpu[side] += server.cpu_seconds() - before
            if side == "real":
                db_cpu += sum(now - db_before.get(pid, 0.0) for pid, now in database_cpu(db).items())
    requests = {side: sum(run.requests for run in runs[side]) for side in runs}
    per_request = {side: cpu[side] / requests[side] * 1e6 for side in runs}
    return Interleaved(_mean_rps(runs["real"]), _mean_rps(runs["floor"]), per_request["real"], per_request["floor"],
                       db_cpu / requests["real"] * 1e6)


def unify_figures(db: str, month_size: int, batches: int, seconds: int, connections: int) -> list[Figure]:
    """GET /invoice/unify (v2.1, count=10: ten batches of three invoices of about three lines) vs
    the same server answering the same bytes from memory, req/s with wrk: at the start of the
    batches (index 0) and at their end, with the process's batch cache (the same ten batches
    again and again, revalidated by every request), and at the start with the cache off (every
    request reads the batches' stored forms from the database)."""
    if not wrk_available():
        print("  wrk not found (apt-get install wrk): skipping the unify-vs-floor figures")
        return []
    engine = prepared_engine(db)
    ensure_paging_months(engine, month_size)
    platform = ensure_unify_batches(engine, batches)
    with engine.connect() as conn:
        end_index = conn.execute(sa.select(unify_batch.c.update_time).where(unify_batch.c.unify_corp_id == platform)
                                 .order_by(unify_batch.c.update_time.desc()).offset(10).limit(1)).scalar_one()
    engine.dispose()
    figures = []
    for label, index, cache_mb in (("first batches", 0, None), (f"last of {batches}", end_index, None),
                                   ("first batches, cache off", 0, 0.0)):
        with bench_server(db, unify_cache_mb=cache_mb) as server:
            params = {"accessToken": server.token(BENCH), "unifyInvoiceCorporationId": platform,
                      "index": str(index), "count": "10"}
            answer = checked_batches(server, params)
            (DATA / "unify_floor.json").write_bytes(answer.content)
            real_url = f"{server.base}{UNIFY}?" + "&".join(f"{key}={value}" for key, value in params.items())
            measured = endpoint_and_floor(server, db, real_url, f"{server.base}/bench/floor/unify", [""], seconds,
                                          connections, method="GET")
        print(f"  {label}: endpoint {measured.real_rps:.0f} req/s, floor {measured.floor_rps:.0f} req/s; CPU a request: "
              f"server {measured.real_cpu_us:.0f} + PostgreSQL {measured.real_db_us:.0f} vs floor "
              f"{measured.floor_cpu_us:.0f} µs (ten batches, {len(answer.content)} bytes, wrk -c{connections})", flush=True)
        figures += [
            (f"unify v2.1 count=10 / floor, req/s ({label})", measured.real_rps / measured.floor_rps,
             "≥ 0.5" if cache_mb is None else "(reported)"),
            (f"unify v2.1 count=10: floor / endpoint, server CPU a request ({label})",
             measured.floor_cpu_us / measured.real_cpu_us, "(reported)"),
        ]
    return figures


def paired_medians(client: httpx.Client, requests: dict[str, Callable[[], httpx.Response]], repeat: int) -> dict[str, float]:
    """Median seconds of each request, sent in turn (A, B, A, B, ...) so that noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in requests}
    for round_ in range(repeat + 5):
        for name, send in requests.items():
            start = time.perf_counter()
            response = send()
            elapsed = time.perf_counter() - start
            response.raise_for_status()
            if round_ >= 5:  # the first rounds warm caches up
                samples[name].append(elapsed)
    return {name: statistics.median(values) for name, values in samples.items()}


def paging_figures(db: str, month_size: int, batches: int, repeat: int) -> list[Figure]:
    """Deep page vs page 1, totalCount of a big month vs a small one, and the unify cursor at the
    end of ``batches`` batches vs at the start: latency medians, page and unify caches off (the
    database path is what is measured)."""
    engine = prepared_engine(db)
    ensure_paging_months(engine, month_size)
    platform = ensure_unify_batches(engine, batches)
    with engine.connect() as conn:
        times = conn.execute(sa.select(unify_batch.c.update_time).where(unify_batch.c.unify_corp_id == platform)
                             .order_by(unify_batch.c.update_time)).scalars().all()
    engine.dispose()
    end_index = times[-11]  # the last ten batches follow it
    with bench_server(db, page_cache_mb=0, unify_cache_mb=0) as server:
        token = server.token(BENCH)

        def page(kpyf: int, number: int) -> Callable[[], httpx.Response]:
            body = collection_body(BENCH.corp_id, BENCH_NSRSBH, "82", kpyf, number)
            return lambda: _checked_page(server, token, body)

        def cursor(index: int) -> Callable[[], httpx.Response]:
            params = {"accessToken": token, "unifyInvoiceCorporationId": platform, "index": str(index), "count": "10"}
            return lambda: checked_batches(server, params)

        medians = paired_medians(server.client, {
            "first": page(BIG_MONTH, 1), "deep": page(BIG_MONTH, int(month_size / 100 * 0.9)),
            "small": page(SMALL_MONTH, 1), "cursor start": cursor(0), "cursor end": cursor(end_index),
        }, repeat)
    print("  medians, ms: " + ", ".join(f"{name} {value * 1000:.2f}" for name, value in medians.items()), flush=True)
    return [
        (f"deep page (90% of {month_size}) / page 1, latency", medians["deep"] / medians["first"], "≤ 1.5"),
        (f"month of {month_size} / month of 100 (totalCount), latency", medians["first"] / medians["small"], "≤ 1.5"),
        (f"unify count=10 at the end of {len(times)} batches / at the start", medians["cursor end"] / medians["cursor start"],
         "≤ 1.2"),
    ]


def _checked_page(server: Server, token: str, body: str) -> httpx.Response:
    response = server.client.post(COLLECT, params={"accessToken": token}, content=body,
                                  headers={"Content-Type": "application/json"})
    value = response.json()["value"]
    if not value["success"] or len(value["data"]["list"]) != 100:
        raise RuntimeError(f"unexpected page: {response.text[:300]}")
    return response


def checked_batches(server: Server, params: dict[str, str]) -> httpx.Response:
    response = server.client.get(UNIFY, params=params)
    if len(response.json()["items"]) != 10:
        raise RuntimeError(f"unexpected batches: {response.text[:300]}")
    return response


@dataclass(frozen=True)
class LoadResult:
    capacity: float
    held: WrkRun


def load_figures(db: str, invoices: int, workers: int, seconds: int, connections: int) -> list[Figure]:
    """`fapiaohub serve --workers N` as deployed, a mix of pages over a year of months and five
    kinds: first its capacity (wrk flat out), then p99 latency at about half of it for ``seconds``."""
    if not wrk_available():
        print("  wrk not found (apt-get install wrk): skipping the serving-under-load figure")
        return []
    engine = prepared_engine(db)
    ensure_demo(engine, invoices)
    bodies = _page_mix(engine)
    engine.dispose()
    with fapiaohub_serve(db, workers) as server:
        url = f"{server.base}{COLLECT}?accessToken={server.token(DEMO)}"
        capacity = wrk(url, bodies, seconds=15, connections=connections)
        if capacity.errors:
            raise RuntimeError(f"wrk saw {capacity.errors} errors at full speed")
        # each connection waits delay() after every answer: about half the capacity is offered
        delay_ms = max(1, round(connections * 1000 / (capacity.requests_per_second / 2)))
        # uvicorn's workers, or the one server process itself (--workers 1)
        worker_pids = [pid for pid in child_pids(server.pid) if _is_worker(pid)] or [server.pid]
        with _memory_samples(worker_pids, seconds) as memory:
            held = wrk(url, bodies, seconds=seconds, connections=connections, delay_ms=delay_ms)
    print(f"  {len(bodies)} distinct pages; capacity {capacity.requests_per_second:.0f} req/s; held "
          f"{held.requests_per_second:.0f} req/s for {seconds} s: "
          + ", ".join(f"p{p.rstrip('%')} {ms:.1f} ms" for p, ms in held.latency_ms.items())
          + f", {held.errors} errors", flush=True)
    name = f"serve --workers {workers}, {held.requests_per_second:.0f} req/s for {seconds} s"
    figures = [(f"{name}: p99 latency, ms", held.latency_ms["99%"], "(reported)"),
               (f"{name}: errors", float(held.errors), "= 0")]
    for n, pid in enumerate(worker_pids, 1):
        rss = [sample[pid] for sample in memory]
        growth = rss[-1] - rss[0]
        verdict = ("EXITED during the run" if math.isnan(growth)
                   else "flat" if abs(growth) <= FLAT_MB else "NOT flat")
        print(f"  worker {n} (pid {pid}) RSS at start, middle, end: " + ", ".join(f"{mb:.1f}" for mb in rss)
              + f" MB: {verdict} (±{FLAT_MB:.0f} MB)", flush=True)
        figures += [(f"{name}: worker {n} RSS at the end, MB", rss[-1], "(reported)"),
                    (f"{name}: worker {n} RSS growth over the run, MB", growth, f"flat (±{FLAT_MB:.0f})")]
    return figures


FLAT_MB = 5.0  # RSS that moves less than this over the held run counts as flat


def _is_worker(pid: int) -> bool:
    # uvicorn's workers are multiprocessing spawns (spawn_main); its resource tracker serves nothing
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:  # a short-lived child, gone already
        return False


def _rss_or_gone(pid: int) -> float:
    """RSS in MB, or NaN when the process has exited (a worker that died and was replaced)."""
    try:
        return rss_mb(pid)
    except FileNotFoundError:
        return math.nan


@contextlib.contextmanager
def _memory_samples(pids: list[int], seconds: int) -> Iterator[list[dict[int, float]]]:
    """RSS of each process at the start, the middle and near the end of the next ``seconds``, taken
    by a thread while the body runs (the held wrk run)."""
    samples: list[dict[int, float]] = []
    done = threading.Event()
    start = time.monotonic()

    def sample() -> None:
        for at in (0.0, seconds / 2, max(seconds - 1.0, seconds * 0.9)):
            if done.wait(max(0.0, start + at - time.monotonic())):
                return
            samples.append({pid: _rss_or_gone(pid) for pid in pids})

    thread = threading.Thread(target=sample, name="rss-samples")
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()
    if len(samples) < 3:
        raise RuntimeError(f"the run ended before its memory was sampled three times ({len(samples)})")


def _page_mix(engine: sa.Engine) -> list[str]:
    """Every page (size 100) of five common kinds over the demo year, for the first taxpayer."""
    nsrsbh = demo_taxpayers()[0].nsrsbh
    with engine.connect() as conn:
        months = conn.execute(
            sa.select(invoice_month.c.fplx, invoice_month.c.kpyf, invoice_month.c.invoice_count)
            .join(taxpayer, taxpayer.c.id == invoice_month.c.taxpayer_id)
            .where(taxpayer.c.corp_id == DEMO.corp_id, taxpayer.c.nsrsbh == nsrsbh, invoice_month.c.direction == "jx",
                   invoice_month.c.fplx.in_(("81", "82", "01", "04", "10")))
        ).all()
    return [collection_body(DEMO.corp_id, nsrsbh, fplx, kpyf, page)
            for fplx, kpyf, count in months for page in range(1, max(1, count // 100) + 1)]  # small data: page 1
