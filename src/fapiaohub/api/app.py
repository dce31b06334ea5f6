"""The FastAPI application: routers, and error handlers that never leak a stack trace."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fapiaohub.api.limits import BodyLimit
from fapiaohub.auth.routes import router as auth_router
from fapiaohub.collection.page_cache import PageCache
from fapiaohub.collection.repository import open_page_reads
from fapiaohub.collection.routes import router as collection_router
from fapiaohub.config import Settings, load_settings
from fapiaohub.console.routes import install as install_console
from fapiaohub.errors import BusinessError, HttpError
from fapiaohub.shapes.envelope import JSON, envelope, error_body
from fapiaohub.store.engine import make_engine
from fapiaohub.tasks.routes import router as task_router
from fapiaohub.tasks.worker import Worker
from fapiaohub.unify.routes import router as unify_router

log = logging.getLogger("fapiaohub.api")


def error_response(status: int, message: str) -> Response:
    return Response(error_body(status, message), status_code=status, media_type=JSON)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database URL comes from the settings (FAPIAOHUB_DATABASE_URL by default)."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the embedded worker: `fapiaohub serve` runs one per server process
        stop = threading.Event()
        thread = None
        if settings.embedded_worker:
            thread = threading.Thread(target=Worker(app.state.engine).run, args=(stop,),
                                      name="fapiaohub-worker", daemon=True)
            thread.start()
        yield
        stop.set()
        await app.state.page_reads.close()
        if thread is not None:
            thread.join(timeout=30)
        app.state.engine.dispose()

    app = FastAPI(title="fapiaohub", version="0.1.0", docs_url="/docs", redoc_url=None,
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    # getInvoiceCollectionData's reads and this process's cache of its rendered pages
    app.state.page_reads = open_page_reads(app.state.engine)
    app.state.page_cache = PageCache(settings.page_cache_bytes)
    app.include_router(auth_router)
    app.include_router(collection_router)
    app.include_router(task_router)
    app.include_router(unify_router)
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

    @app.get("/healthz", include_in_schema=False)
    async def _health() -> dict[str, str]:
        return {"status": "ok"}

    return app
