"""`fapiaohub serve --workers 2 --log-format json` as operators run it: metrics summed over the processes,
JSON log lines whose reqId is the response's, no token in them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.acceptance.test_cli import FAPIAOHUB, free_port, wait_until_up

pytestmark = pytest.mark.slow
REFRESH = "/api/openapi/v2/auth/refreshToken"


def _count(metrics: str) -> float:
    pattern = rf'fapiaohub_http_requests_total\{{[^}}]*route="{re.escape(REFRESH)}"[^}}]*status="403"[^}}]*\}} (\S+)'
    return sum(float(value) for value in re.findall(pattern, metrics))


def test_two_processes_report_their_sum_and_log_json_lines(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    port = free_port()
    proc = subprocess.Popen([*FAPIAOHUB, "serve", "--db", db, "--port", str(port), "--workers", "2",
                             "--no-worker", "--log-format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    request_ids = []
    try:
        wait_until_up(base, proc)
        for n in range(30):  # a new connection each time: the kernel spreads them over both processes
            answer = httpx.post(f"{base}{REFRESH}", params={"accessToken": f"secret-token-{n}", "refreshToken": "r"})
            assert answer.status_code == 403
            request_ids.append(answer.headers["x-request-id"])
        # whichever process answers the scrape reports both processes' requests
        for _ in range(4):
            assert _count(httpx.get(f"{base}/metrics").text) == 30
        assert httpx.get(f"{base}/readyz").json()["status"] == "ok"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = {line["reqId"]: line for line in lines if line["logger"] == "fapiaohub.access"}
    assert set(request_ids) <= set(access)
    assert all(access[req_id]["status"] == 403 and access[req_id]["route"] == REFRESH for req_id in request_ids)
    assert "secret-token" not in output
