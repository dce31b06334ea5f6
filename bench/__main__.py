"""fapiaohub benchmarks: every figure is a ratio of two measurements taken in the same run.

    python -m bench [--db postgresql://postgres@127.0.0.1:5432/fapiaohub_bench] [--month-size 100000]

Builds its own data with the demo generator (nothing generated is committed: bench/.data is
ignored), starts `fapiaohub serve` as a separate process and measures over real HTTP on
127.0.0.1. See docs/performance.md for the method and the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import python_calamine
import sqlalchemy as sa

from fapiaohub.auth.service import create_tenant
from fapiaohub.collection.repository import add_taxpayer, store_invoices
from fapiaohub.demo.generator import DEMO_CORP_ID, generate_taxpayer_month, iter_demo_invoices
from fapiaohub.demo.load import DEMO_APP_KEY, DEMO_APP_SECURITY, load_demo
from fapiaohub.importers.bureau_xlsx_writer import write_bureau_export
from fapiaohub.storage.engine import make_engine, upgrade

DATA = Path(__file__).with_name(".data")
URL = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"
NSRSBH = "91440300MA5DEM0019"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def month_of(kpyf: int, fplx: str, count: int) -> list:
    """``count`` distinct invoices of one kind in one month (the generator's, relabelled)."""
    return [dataclasses.replace(inv, fplx=fplx) for inv in generate_taxpayer_month(NSRSBH, "基准测试", "jx", kpyf, count)
            if inv.fplx in ("81", "82") and not inv.fpdm]


def prepare(db: str, month_size: int) -> tuple[str, str, str]:
    """A corporation with one month of ``month_size`` 82-invoices and one of about 100."""
    engine = make_engine(db)
    upgrade(engine)
    with engine.begin() as conn:
        creds = create_tenant(conn, "基准测试企业")
        tp = add_taxpayer(conn, creds.corp_id, NSRSBH, "基准测试")
    big = month_of(202401, "82", int(month_size * 2.3))[:month_size]
    small = month_of(202402, "82", 250)[:100]
    with engine.begin() as conn:
        store_invoices(conn, tp, "jx", big + small)
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE invoice"))
    engine.dispose()
    print(f"  stored a month of {len(big)} and a month of {len(small)} invoices")
    return creds.corp_id, creds.app_key, creds.app_security


def wait_until_up(client: httpx.Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"the server at {client.base_url} did not come up in {timeout} s")


def latency(client: httpx.Client, token: str, body: dict, repeat: int) -> float:
    """Median seconds of ``repeat`` sequential requests (after a warm-up)."""
    for _ in range(5):
        client.post(URL, params={"accessToken": token}, json=body)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.post(URL, params={"accessToken": token}, json=body)
        samples.append(time.perf_counter() - start)
        assert response.json()["value"]["success"], response.text
    return statistics.median(samples)


def paging_figures(db: str, month_size: int, repeat: int) -> list[tuple[str, float, str]]:
    corp, key, secret = prepare(db, month_size)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "fapiaohub.cli", "serve", "--db", db, "--port", str(port),
                               "--no-worker"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_until_up(client)
            token = client.post("/api/openapi/v1/auth/getAccessToken",
                                json={"appKey": key, "appSecurity": secret}).json()["value"]["accessToken"]

            def body(kpyf: int, page: int) -> dict:
                return {"corpId": corp, "nsrsbh": NSRSBH, "fplx": "82", "kpyf": str(kpyf), "jxxbz": "jx",
                        "page": {"pageSize": 100, "currentPage": page}}

            first = latency(client, token, body(202401, 1), repeat)
            deep = latency(client, token, body(202401, int(month_size / 100 * 0.9)), repeat)
            small = latency(client, token, body(202402, 1), repeat)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return [
        ("deep page (90%) / page 1", deep / first, "≤ 1.5"),
        (f"month of {month_size} / month of 100 (totalCount)", first / small, "≤ 1.5"),
    ]


MEMORY_PROBE = """
import re, sys, time
from fapiaohub.importers.bureau_xlsx import read_bureau_export

def peak_mb():
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak across exec
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024
start = time.perf_counter()
count = sum(1 for _ in read_bureau_export(sys.argv[1]))
print(time.perf_counter() - start, peak_mb())
"""


def import_figures(rows: int) -> list[tuple[str, float, str]]:
    DATA.mkdir(exist_ok=True)
    path = DATA / f"export-{rows}.xlsx"
    if not path.exists():
        print(f"  writing a {rows}-row export (once; kept in bench/.data)")
        written = 0

        def invoices():  # type: ignore[no-untyped-def]
            nonlocal written
            for item in iter_demo_invoices(10**8):
                written += len(item.invoice.lines)
                yield item.invoice
                if written >= rows:
                    return

        write_bureau_export(path, invoices())
    start = time.perf_counter()
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    cells = sum(1 for name in book.sheet_names for _ in book.get_sheet_by_name(name).iter_rows())
    floor = time.perf_counter() - start
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path)], capture_output=True, text=True, check=True)
    seconds, peak = probe.stdout.split()
    print(f"  calamine read {cells} rows in {floor:.1f} s; fapiaohub read and assembled them in {float(seconds):.1f} s,"
          f" peak {peak} MB")
    return [("import read / calamine read (200k rows)", float(seconds) / floor, "≤ 3"),
            ("import peak memory, MB", float(peak), "< 300")]


WRK_SCRIPT = """wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
"""


def wrk_rps(url: str, body: str, seconds: int, connections: int) -> float:
    """Requests per second that wrk (a separate process) reaches against ``url``."""
    script = DATA / "post.lua"
    script.write_text(WRK_SCRIPT % body)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    errors = [line for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    if errors:
        raise RuntimeError(f"wrk saw errors: {errors}")
    return float(next(line for line in out.splitlines() if line.startswith("Requests/sec")).split()[1])


def floor_figures(db: str, seconds: int, connections: int) -> list[tuple[str, float, str]]:
    """The real endpoint vs the same server answering the same bytes from memory."""
    if shutil.which("wrk") is None:
        print("  wrk not found (apt-get install wrk): skipping the endpoint-vs-floor figure")
        return []
    engine = make_engine(db)
    load_demo(engine)  # the demo corporation, if the database does not hold it yet
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM invoice")).scalar_one()
    engine.dispose()
    port = free_port()
    env = {**os.environ, "FAPIAOHUB_DATABASE_URL": db, "FAPIAOHUB_BENCH_FLOOR": str(DATA / "floor.json")}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.app:create_bench_app", "--factory",
                               "--port", str(port), "--log-level", "warning", "--no-access-log"],
                              env=env, cwd=Path(__file__).parents[1])
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            wait_until_up(client)
            token = client.post("/api/openapi/v1/auth/getAccessToken", json={
                "appKey": DEMO_APP_KEY, "appSecurity": DEMO_APP_SECURITY}).json()["value"]["accessToken"]
            body = json.dumps({"corpId": DEMO_CORP_ID, "nsrsbh": NSRSBH, "fplx": "82", "kpyf": "202503",
                               "jxxbz": "jx", "page": {"pageSize": 100, "currentPage": 1}})
            answer = client.post(URL, params={"accessToken": token}, content=body,
                                 headers={"Content-Type": "application/json"}).content
            items = len(json.loads(answer)["value"]["data"]["list"])
            (DATA / "floor.json").write_bytes(answer)
        print(f"  {count} invoices in the database; the page holds {items} items, {len(answer)} bytes")
        real = wrk_rps(f"{base}{URL}?accessToken={token}", body, seconds, connections)
        floor = wrk_rps(f"{base}/bench/floor", body, seconds, connections)
        print(f"  real endpoint {real:.0f} req/s, floor {floor:.0f} req/s ({connections} connections)")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return [("collection page / framework floor, req/s", real / floor, "≥ 0.5")]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("FAPIAOHUB_BENCH_DB", f"sqlite:///{DATA / 'bench.db'}"))
    parser.add_argument("--month-size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--import-rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    print(f"database {args.db}")
    print(f"\n{'figure':48} {'value':>8}  target")
    for measure in (lambda: floor_figures(args.db, args.seconds, args.connections),
                    lambda: paging_figures(args.db, args.month_size, args.repeat),
                    lambda: import_figures(args.import_rows)):
        for name, value, target in measure():
            print(f"{name:48} {value:8.2f}  {target}", flush=True)
    print(f"(bench process peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB)")


if __name__ == "__main__":
    main()
