"""Request bodies are bounded before authentication: a real `fapiaohub serve` refuses 300 MB with flat memory."""

from __future__ import annotations

import os
import select
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fapiaohub.api.limits import SMALL_JSON_BYTES, UNIFY_BATCH_BYTES, body_limit
from tests.acceptance.test_cli import FAPIAOHUB, free_port, wait_until_up

pytestmark = pytest.mark.slow
BODY_BYTES = 300 * 1024 * 1024
RSS_BOUND_KB = 30 * 1024  # the server's peak resident memory may grow by at most 30 MiB over all the floods
TOKEN_URL = "/api/openapi/v1/auth/getAccessToken"
COLLECTION_URL = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"
UNIFY_BATCH_URL = "/api/openapi/fapiaohub/v1/unify/batch"
UPLOAD_URL = "/api/openapi/v2/invoice/v2/collectionTask/upload"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(port, pid) of `fapiaohub serve` on a fresh SQLite file."""
    folder: Path = tmp_path_factory.mktemp("limits")
    port = free_port()
    env = {**os.environ, "FAPIAOHUB_DATA_DIR": str(folder / "data")}
    proc = subprocess.Popen([*FAPIAOHUB, "serve", "--no-worker", "--port", str(port),
                             "--db", f"sqlite:///{folder / 'limits.db'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", proc)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def peak_rss_kb(pid: int) -> int:
    """The process's high-water resident set (VmHWM): what it ever held, not just now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def flood(port: int, path: str, *, chunked: bool) -> tuple[int, bytes, int]:
    """POST up to 300 MB of JSON-ish bytes without a token, stopping when the server answers.
    Returns (status, response body, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY_BYTES}"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 f"{framing}\r\n\r\n".encode())
    piece = b'{"a":"' + b"a" * (1024 * 1024 - 6)
    sent = 0
    try:
        while sent < BODY_BYTES:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered: stop sending
            sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
    except OSError:
        pass  # the server closed the connection on us: its answer is already in our buffer
    response = b""
    try:
        while chunk := sock.recv(65536):
            response += chunk
    except OSError:
        pass
    sock.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body, sent


@pytest.mark.parametrize(("path", "chunked"), [
    (TOKEN_URL, False), (TOKEN_URL, True), (COLLECTION_URL, False), (COLLECTION_URL, True),
    (UNIFY_BATCH_URL, False), (UNIFY_BATCH_URL, True), (UPLOAD_URL, False),
])
def test_a_300_mb_body_without_a_token_is_refused_with_flat_memory(
    server: tuple[int, int], path: str, chunked: bool
) -> None:
    port, pid = server
    before = peak_rss_kb(pid)
    status, body, sent = flood(port, path, chunked=chunked)
    grown = peak_rss_kb(pid) - before
    assert status == 413, body[:300]
    assert b'"errorCode":413' in body
    assert "上限".encode() in body
    assert sent < BODY_BYTES  # refused while streaming, not after the whole body arrived
    assert grown < RSS_BOUND_KB, f"peak RSS grew by {grown} KiB"


def test_limits_per_route() -> None:
    assert body_limit(TOKEN_URL, 10)[0] == SMALL_JSON_BYTES == 64 * 1024
    assert body_limit(UNIFY_BATCH_URL, 10)[0] == UNIFY_BATCH_BYTES == 8 * 1024 * 1024
    assert body_limit(UPLOAD_URL, 10)[0] == 10
    assert body_limit("/console/tasks/upload", 10)[0] == 10
