"""Server processes under benchmark, and wrk (a separate process) as the load generator."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from bench.data import Credentials
from bench.procs import cpu_seconds

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).with_name(".data")
COLLECT = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    base: str
    client: httpx.Client
    pid: int  # the server process (with --workers N, uvicorn's supervisor of the N workers)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        return cpu_seconds(self.pid)

    def token(self, creds: Credentials) -> str:
        response = self.client.post("/api/openapi/v1/auth/getAccessToken",
                                    json={"appKey": creds.app_key, "appSecurity": creds.app_security})
        response.raise_for_status()
        return response.json()["value"]["accessToken"]


def database_cpu(db: str) -> dict[int, float]:
    """CPU time (user + system) so far of each PostgreSQL backend that serves the API's asyncpg
    reads (application_name fapiaohub-api) on ``db``, by pid: the server runs on this machine, so
    /proc has them. Empty for SQLite."""
    if not db.startswith("postgresql"):
        return {}
    import psycopg  # noqa: PLC0415 - only for PostgreSQL runs

    with psycopg.connect(make_url(db).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'fapiaohub-api'")]
    found: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # it has just ended
            found[pid] = cpu_seconds(pid)
    return found


@contextlib.contextmanager
def bench_server(db: str, *, page_cache_mb: float | None = None, unify_cache_mb: float | None = None) -> Iterator[Server]:
    """One process of fapiaohub's app plus the floor routes (bench/app.py), no access log."""
    env = {"FAPIAOHUB_DATABASE_URL": db, "FAPIAOHUB_BENCH_FLOOR": str(DATA / "floor.json"),
           "FAPIAOHUB_BENCH_UNIFY_FLOOR": str(DATA / "unify_floor.json")}
    if page_cache_mb is not None:
        env["FAPIAOHUB_PAGE_CACHE_MB"] = str(page_cache_mb)
    if unify_cache_mb is not None:
        env["FAPIAOHUB_UNIFY_CACHE_MB"] = str(unify_cache_mb)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.app:create_bench_app", "--factory", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    with _process(command, env, port) as server:
        yield server


@contextlib.contextmanager
def fapiaohub_serve(db: str, workers: int) -> Iterator[Server]:
    """`fapiaohub serve --workers N`, as deployed (access log on, no embedded collection worker)."""
    port = free_port()
    command = [sys.executable, "-m", "fapiaohub.cli", "serve", "--db", db, "--port", str(port),
               "--workers", str(workers), "--no-worker"]
    with _process(command, {}, port) as server:
        yield server


@contextlib.contextmanager
def _process(command: list[str], env: dict[str, str], port: int) -> Iterator[Server]:
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            _wait_until_up(client, process)
            yield Server(base, client, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _wait_until_up(client: httpx.Client, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server process exited with {process.returncode}: {' '.join(process.args)}")
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"the server at {client.base_url} did not come up in {timeout} s")




# A request per call of request(): the bodies rotate, so pages differ request to request.
# delay() paces each connection when a rate is asked for (wrk adds it after every response).
WRK_SCRIPT = """
local bodies = {%(bodies)s}
local counter = %(start)d
wrk.method = "%(method)s"
wrk.headers["Content-Type"] = "application/json"
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 7919
end
function init(args)
  n = offset
end
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n %% #bodies) + 1])
end
function delay()
  return %(delay_ms)d
end
"""


@dataclass(frozen=True)
class WrkRun:
    requests_per_second: float
    latency_ms: dict[str, float]  # percentile ("50%", "99%" ...) -> milliseconds
    requests: int
    errors: int


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk(url: str, bodies: list[str], *, seconds: int, connections: int, delay_ms: int = 0,
        method: str = "POST") -> WrkRun:
    """Run wrk (two threads) against ``url``, POSTing ``bodies`` in turn (or GETting it: ``[""]``)."""
    script = DATA / f"bench-{os.getpid()}.lua"
    quoted = ", ".join("[==[" + body + "]==]" for body in bodies)
    script.write_text(WRK_SCRIPT % {"bodies": quoted, "start": 0, "delay_ms": delay_ms, "method": method})
    try:
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(script),
                              url], capture_output=True, text=True, check=True).stdout
    finally:
        script.unlink()
    latency = {}
    for percentile, value, unit in re.findall(r"^\s+(\d+%)\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE):
        latency[percentile] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = 0
    for line in out.splitlines():
        if "Non-2xx" in line:
            errors += int(line.split(":")[1])
        if "Socket errors" in line:
            errors += sum(int(n) for n in re.findall(r"\d+", line))
    done = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done is None or rps is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return WrkRun(float(rps.group(1)), latency, int(done.group(1)), errors)
