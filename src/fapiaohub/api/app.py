"""The FastAPI application: routers, error handlers that never leak a stack trace, the operations endpoints
(/healthz, /readyz, /metrics) and the API documentation served from files installed with the package."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fapiaohub import metrics, wire
from fapiaohub.api import openapi_docs
from fapiaohub.api.limits import BodyLimit
from fapiaohub.api.observe import NamedRoute, Observe
from fapiaohub.auth.ratelimit import FailureLimiter
from fapiaohub.auth.routes import router as auth_router
from fapiaohub.collection import routes as collection_routes
from fapiaohub.collection.page_cache import PageCache
from fapiaohub.collection.repository import open_page_reads
from fapiaohub.config import Settings, load_settings
from fapiaohub.console.routes import install as install_console
from fapiaohub.domain.codes import DISABLED, FAILED, NOT_SUPPORTED, PROCESSED, PROCESSING, TO_PROCESS
from fapiaohub.errors import DATABASE_UNAVAILABLE, BusinessError, HttpError
from fapiaohub.sealing import Sealer
from fapiaohub.shapes.envelope import JSON, envelope, error_body
from fapiaohub.store.engine import database_unavailable, first_line, make_engine, schema_revisions
from fapiaohub.tasks import repository as task_repository
from fapiaohub.tasks.routes import router as task_router
from fapiaohub.tasks.worker import Worker
from fapiaohub.unify import routes as unify_routes
from fapiaohub.unify.batch_cache import BatchCache
from fapiaohub.unify.repository import open_batch_reads

log = logging.getLogger("fapiaohub.api")
STATIC = Path(__file__).with_name("static")  # swagger-ui-dist and redoc, vendored (static/README.md)
ASSETS = "/static/docs"
TASK_STATES = (TO_PROCESS, PROCESSING, PROCESSED, FAILED, DISABLED, NOT_SUPPORTED)


def error_response(status: int, message: str) -> Response:
    return Response(error_body(status, message), status_code=status, media_type=JSON)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database URL comes from the settings (FAPIAOHUB_DATABASE_URL by default)."""
    settings = settings or load_settings()
    if settings.secret_key:  # a malformed key stops the start, not the first upstream task
        Sealer(settings.secret_key, settings.old_secret_keys)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the embedded worker: `fapiaohub serve` runs one per server process
        stop = threading.Event()
        thread = None
        if settings.embedded_worker:
            worker = Worker(app.state.engine, settings=settings, lease_seconds=settings.worker_lease_seconds,
                            poll_seconds=settings.worker_poll_seconds)
            thread = threading.Thread(target=worker.run, args=(stop,), name="fapiaohub-worker", daemon=True)
            thread.start()
        yield
        stop.set()
        await app.state.page_reads.close()
        await app.state.unify_reads.close()
        if thread is not None:
            thread.join(timeout=30)
        app.state.engine.dispose()

    app = FastAPI(title="fapiaohub", version="0.1.0", docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.add_middleware(Observe)  # reqId, access log line, request metrics
    openapi_docs.install(app)
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    # getInvoiceCollectionData's reads and this process's cache of its rendered pages
    app.state.page_reads = open_page_reads(app.state.engine)
    app.state.page_cache = PageCache(settings.page_cache_bytes)
    # GET /invoice/unify's reads and this process's cache of rendered batches
    app.state.unify_reads = open_batch_reads(app.state.engine)
    app.state.unify_cache = BatchCache(settings.unify_cache_bytes)
    app.state.auth_limiter = FailureLimiter(settings.auth_failure_burst, settings.auth_failures_per_minute)
    app.include_router(auth_router)
    app.include_router(task_router)
    app.include_router(unify_routes.router)
    # The hot reads are plain Starlette routes, not FastAPI's: its per-request machinery (solving the
    # route's dependencies, its request and response wrapper, the included router's layer) took about
    # 70 µs of the 290 µs of CPU a cached page cost (docs/performance.md), and they use none of it:
    # they read their parameters and body themselves. api/openapi_docs describes them for /docs.
    app.router.routes.extend([
        NamedRoute(collection_routes.PATH, collection_routes.get_invoice_collection_data, methods=["POST"]),
        NamedRoute(unify_routes.V21_PATH, unify_routes.unify_v21, methods=["GET"]),
        NamedRoute(unify_routes.V1_PATH, unify_routes.unify_v1, methods=["GET"]),
    ])
    install_console(app)  # /console: the web pages for finance staff
    # request bodies bounded per route before any route or auth code reads them (api/limits.py)
    app.add_middleware(BodyLimit, max_upload_bytes=settings.max_upload_bytes)

    @app.exception_handler(HttpError)
    async def _http_error_raised(_: Request, exc: HttpError) -> Response:
        return error_response(exc.status, exc.message)

    @app.exception_handler(BusinessError)
    async def _business_error(request: Request, exc: BusinessError) -> Response:
        # the envelope names the calling corporation, which the auth dependency put on the request
        corp_id = getattr(request.state, "corp_id", "")
        return Response(envelope(corp_id, exc.code, exc.message, None), media_type=JSON)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(400, f"参数错误：{where} {first.get('msg', '')}".strip())

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # the client gets a generic message; the trace goes to the server log only
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "服务器内部错误")

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> Response:
        if not database_unavailable(exc):
            return await _unexpected(request, exc)
        # the connection was cut or the database restarts: the pool replaces the connection (pre-ping),
        # so the client's next request works; no SQL or driver text reaches it
        log.warning("database out of reach on %s %s: %s", request.method, request.url.path,
                    first_line(exc))
        return error_response(503, DATABASE_UNAVAILABLE)

    _operations(app)
    _documentation(app)
    return app


def _operations(app: FastAPI) -> None:
    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.get("/readyz")
    async def readyz() -> Response:
        try:
            current, head = await run_in_threadpool(schema_revisions, app.state.engine)
        except Exception as exc:  # noqa: BLE001 - any failure to reach the database means not ready
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
            return _ready(503, "unavailable", reason=f"database unreachable: {reason}")
        if current != head:
            return _ready(503, "unavailable",
                          reason=f"schema at {current or 'nothing'}, code needs {head}: run `fapiaohub db upgrade`")
        return _ready(200, "ok", revision=str(head))

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        def task_counts() -> dict[str, int]:
            with app.state.engine.connect() as conn:
                counts = task_repository.count_by_state(conn)
            return {state: counts.get(state, 0) for state in (*TASK_STATES, *counts)}  # 0s are samples too

        body, content_type = await run_in_threadpool(metrics.exposition, task_counts)
        return Response(body, media_type=content_type)


def _ready(status: int, state: str, **details: str) -> Response:
    return Response(wire.dumps({"status": state, **details}), status_code=status, media_type=JSON)


def _documentation(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from the vendored files: they work without internet access."""
    app.mount(ASSETS, StaticFiles(directory=str(STATIC)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=str(app.openapi_url), title="fapiaohub API",
            swagger_js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/swagger-ui/favicon-32x32.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=str(app.openapi_url), title="fapiaohub API",
            redoc_js_url=f"{ASSETS}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/swagger-ui/favicon-32x32.png", with_google_fonts=False)
