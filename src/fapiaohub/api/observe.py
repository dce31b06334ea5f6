"""Per-request bookkeeping, as plain ASGI middleware (cheap on the hot path): the request's id, one access
log line (reqId, route, status, duration, corpId; never the query string, where tokens travel) and the
Prometheus request counters."""

from __future__ import annotations

import logging
import time

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fapiaohub import metrics
from fapiaohub.shapes import request_context

access_log = logging.getLogger("fapiaohub.access")
QUIET = {"/healthz", "/readyz", "/metrics"}  # probes and scrapes: counted, not logged


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info = request_context.begin()
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", info.req_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or _static_route(scope["path"])
            method = scope["method"]
            metrics.REQUESTS.labels(method, route, str(status)).inc()
            metrics.LATENCY.labels(method, route).observe(elapsed)
            if route not in QUIET:
                access_log.info("%s %s %d %.1fms", method, route, status, elapsed * 1000, extra={
                    "reqId": info.req_id, "corpId": info.corp_id, "method": method, "route": route,
                    "status": status, "durationMs": round(elapsed * 1000, 2)})


class NamedRoute(Route):
    """A plain Starlette route (api/app.py says which and why) that names itself in the scope, as
    FastAPI's routes do, so that its requests are logged and counted under its path: FastAPI's
    router sets scope["route"] for its own routes only."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        await super().handle(scope, receive, send)


def _static_route(path: str) -> str:
    # paths no route matched, and mounted static files: a few fixed labels, so that a scan of
    # random URLs cannot create unbounded metric series
    for prefix in ("/static/", "/console/static/"):
        if path.startswith(prefix):
            return prefix + "*"
    return "unmatched"
