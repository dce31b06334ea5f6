"""HTTP doors of collection tasks, in the style and envelope of getInvoiceCollectionData."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from fapiaohub import wire
from fapiaohub.auth.dependencies import require_corporation
from fapiaohub.collection.query import (
    check_direction,
    check_fplx,
    check_kpyf,
    require,
    text_field,
)
from fapiaohub.collection.routes import bounded_body
from fapiaohub.config import Settings
from fapiaohub.errors import UNAUTHORIZED, BusinessError, HttpError
from fapiaohub.sealing import sealer_for
from fapiaohub.shapes.envelope import JSON, envelope
from fapiaohub.tasks import repository
from fapiaohub.tasks.outbound import UnsafeUpstreamError, check_base_url
from fapiaohub.tasks.service import TaskFile, create_file_task

router = APIRouter()
BASE = "/api/openapi/v2/invoice/v2/collectionTask"
MAX_FILES = 50


def _answer(request: Request, corp_id: str, work: Callable[[Engine], Any]) -> Response:
    """Run ``work`` and wrap its result in the envelope (a BusinessError it raises is rendered by
    the app's handler, with the calling corporation require_corporation put on the request)."""
    return Response(envelope(corp_id, "2000", "", work(request.app.state.engine)), media_type=JSON)


async def _json_body(request: Request, corp_id: str) -> dict[str, Any]:
    try:
        body = wire.loads(await bounded_body(request))
    except wire.JSONDecodeError as exc:
        raise HttpError(400, f"请求体不是合法的JSON：{exc}") from None
    body = require(body, "corpId")
    if text_field(body, "corpId") != corp_id:
        raise HttpError(403, UNAUTHORIZED)
    return body


def _new_task(body: dict[str, Any], corp_id: str, settings: Settings, *,
              source: str | None = None) -> repository.NewTask:
    """The task a create asks for; its source, when not given, is decided by the taxpayer's channel
    (repository.create_task). Upstream credentials are sealed here, before anything stores them."""
    require(body, "nsrsbh", "jxxbz")
    direction = text_field(body, "jxxbz")
    check_direction(direction)
    kpyf = None
    if body.get("kpyf") not in (None, ""):
        kpyf = check_kpyf(text_field(body, "kpyf", allow_int=True))
    fplx = None
    if body.get("fplx") not in (None, ""):
        fplx = text_field(body, "fplx")
        check_fplx(fplx)
    source = source or (text_field(body, "source") if body.get("source") else None)
    if source not in (None, "sandbox", "files", "upstream"):
        raise BusinessError("500", f"source格式错误：只能是sandbox或upstream（文件请用上传接口），收到{source!r}")
    options: dict[str, Any] = {}
    if source == "upstream" or (source is None and body.get("upstream") is not None):
        options = upstream_options(body.get("upstream"), settings)
    return repository.NewTask(corp_id, text_field(body, "nsrsbh"), direction, kpyf, fplx, source, options)


def upstream_options(upstream: Any, settings: Settings) -> dict[str, Any]:
    """An upstream task's options: its base URL checked (tasks.outbound), its appSecurity sealed."""
    if not isinstance(upstream, dict):
        raise BusinessError("4006", "必填项为空：upstream（baseUrl、appKey、appSecurity）")
    require(upstream, "baseUrl", "appKey", "appSecurity")
    sealer = sealer_for(settings.secret_key, settings.old_secret_keys)
    try:
        base_url = check_base_url(text_field(upstream, "baseUrl"), settings.upstream_allow)
    except UnsafeUpstreamError as exc:
        raise BusinessError("500", str(exc)) from None
    secret = text_field(upstream, "appSecurity")
    options: dict[str, Any] = {"baseUrl": base_url, "appKey": text_field(upstream, "appKey"),
                               "appSecuritySealed": sealer.seal(secret),
                               "appSecurityFingerprint": sealer.fingerprint(secret)}
    options.update({key: text_field(upstream, key) for key in ("corpId", "nsrsbh") if upstream.get(key)})
    return options


Work = Callable[[Engine, str, dict[str, Any]], Any]  # (engine, corp_id, body) -> data


async def _json_call(request: Request, access_token: str | None, work: Work) -> Response:
    """Authorise, read the JSON body (its corpId must be the token's), run ``work``, wrap it."""
    corp_id = await run_in_threadpool(require_corporation, request, access_token)
    body = await _json_body(request, corp_id)
    return await run_in_threadpool(_answer, request, corp_id, lambda engine: work(engine, corp_id, body))


def _create(settings: Settings) -> Work:
    def create(engine: Engine, corp_id: str, body: dict[str, Any]) -> dict[str, Any]:
        new = _new_task(body, corp_id, settings)
        with engine.begin() as conn:
            return repository.create_task(conn, new, reuse_active=True)  # a retried create gets its task back
    return create


def _revert(engine: Engine, corp_id: str, body: dict[str, Any]) -> dict[str, Any]:
    require(body, "taskId")
    with engine.begin() as conn:
        return repository.revert_task(conn, corp_id, text_field(body, "taskId"))


def _status(engine: Engine, corp_id: str, body: dict[str, Any]) -> dict[str, Any]:
    require(body, "taskId")
    with engine.connect() as conn:
        return repository.get_task(conn, corp_id, text_field(body, "taskId"))


def _list(engine: Engine, corp_id: str, body: dict[str, Any]) -> dict[str, Any]:
    require(body, "nsrsbh")
    with engine.connect() as conn:
        return {"list": repository.list_tasks(conn, corp_id, text_field(body, "nsrsbh"))}


def _cancel(engine: Engine, corp_id: str, body: dict[str, Any]) -> dict[str, Any]:
    require(body, "taskId")
    with engine.begin() as conn:
        return repository.cancel_task(conn, corp_id, text_field(body, "taskId"))


RECORDS_PAGE = 1000  # records per answer of /records


def _records(engine: Engine, corp_id: str, body: dict[str, Any]) -> dict[str, Any]:
    require(body, "taskId")
    offset = body.get("offset", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < 2**31:
        raise BusinessError("500", "offset格式错误：应为非负整数")
    with engine.connect() as conn:
        records = repository.task_records(conn, corp_id, text_field(body, "taskId"), offset=offset,
                                          limit=RECORDS_PAGE + 1)
    return {"records": records[:RECORDS_PAGE], "offset": offset, "more": len(records) > RECORDS_PAGE}


@router.post(f"{BASE}/create")
async def create_collection_task(request: Request, accessToken: str | None = None) -> Response:  # noqa: N803
    """Start a collection task for one taxpayer, direction and month (sandbox bureau or upstream)."""
    return await _json_call(request, accessToken, _create(request.app.state.settings))


@router.post(f"{BASE}/status")
async def collection_task_status(request: Request, accessToken: str | None = None) -> Response:  # noqa: N803
    """A task's state, result code and counts."""
    return await _json_call(request, accessToken, _status)


@router.post(f"{BASE}/list")
async def list_collection_tasks(request: Request, accessToken: str | None = None) -> Response:  # noqa: N803
    """A taxpayer's latest 100 tasks, newest first."""
    return await _json_call(request, accessToken, _list)


@router.post(f"{BASE}/records")
async def collection_task_records(request: Request, accessToken: str | None = None) -> Response:  # noqa: N803
    """Every record a task rejected or skipped (file, sheet, row, reason), 1,000 per answer from ``offset``."""
    return await _json_call(request, accessToken, _records)


@router.post(f"{BASE}/cancel")
async def cancel_collection_task(request: Request, accessToken: str | None = None) -> Response:  # noqa: N803
    """Cancel a task no worker has started."""
    return await _json_call(request, accessToken, _cancel)


@router.post("/api/openapi/fapiaohub/v1/collectionTask/revert")
async def revert_collection_task(request: Request, accessToken: str | None = None) -> Response:  # noqa: N803
    """Undo what a finished task wrote: delete the invoices it inserted, restore those it changed
    (fapiaohub's own endpoint; the corporation's key reverts only its own tasks)."""
    return await _json_call(request, accessToken, _revert)



async def upload_form(request: Request, limit: int, too_big: Callable[[int | None], Exception],
                      malformed: Callable[[Exception], Exception]) -> FormData:
    """The multipart form of an upload (the API's and the console's), refused with ``too_big``
    past ``limit`` bytes: by its declared length before anything is read, else as the body
    arrives (a chunked body declares none). A body that is not multipart raises ``malformed``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big(int(declared))
    received = 0
    refusal: Exception | None = None
    receive = request.receive

    async def counting_receive() -> Message:
        nonlocal received, refusal
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            refusal = too_big(None)
            raise refusal
        return message

    try:
        return await Request(request.scope, counting_receive).form(max_files=MAX_FILES, max_fields=20)
    except Exception as exc:  # noqa: BLE001 - any malformed multipart body is the client's error
        if exc is refusal:
            raise
        raise malformed(exc) from None

@router.post(f"{BASE}/upload")
async def upload_collection_files(request: Request, accessToken: str | None = None) -> Response:  # noqa: N803
    """Create a file-import task from multipart form fields (corpId, nsrsbh, jxxbz, optional kpyf
    and fplx) and one or more ``files``; the files stream to the data directory."""
    corp_id = await run_in_threadpool(require_corporation, request, accessToken)
    settings = request.app.state.settings
    limit = settings.max_upload_bytes

    def too_big(declared: int | None) -> HttpError:
        if declared is not None:
            return HttpError(413, f"上传过大：{declared}字节，上限{limit}字节（FAPIAOHUB_MAX_UPLOAD_BYTES）")
        return HttpError(413, f"上传过大：超过上限{limit}字节（FAPIAOHUB_MAX_UPLOAD_BYTES）")

    form = await upload_form(request, limit, too_big,
                             lambda exc: HttpError(400, f"上传格式错误：应为multipart/form-data（{exc}）"))
    try:
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        uploads = [value for value in form.getlist("files") if isinstance(value, UploadFile)]
        require(fields, "corpId")
        if fields["corpId"].strip() != corp_id:
            raise HttpError(403, UNAUTHORIZED)
        if not uploads:
            raise BusinessError("4006", "必填项为空：files（至少上传一个文件）")
        new = _new_task(fields, corp_id, settings, source="files")
        return await run_in_threadpool(_answer, request, corp_id,
                                       lambda engine: _store_uploads(engine, settings.data_dir, new, uploads))
    finally:
        await form.close()


MAX_NAME_BYTES = 200  # file systems allow 255 bytes a name; the seq prefix and a margin take the rest


def stored_name(filename: str | None, seq: int) -> str:
    """An uploaded file's name made safe to store: no directories, no NUL or control characters, and at
    most MAX_NAME_BYTES of UTF-8, shortened in the middle of the stem so the extension (which picks
    the reader) survives and no character is cut in half."""
    name = "".join(char for char in os.path.basename((filename or "").replace("\\", "/"))
                   if char.isprintable())
    if not name.strip(". "):
        return f"file{seq}"
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode()) > 16:
        stem, ext = name, ""
    budget = MAX_NAME_BYTES - len(ext.encode()) - len(dot) - 1
    short = stem.encode()[:budget].decode(errors="ignore")
    return f"{short}~{dot}{ext}" if ext else f"{short}~"


def _store_uploads(engine: Engine, data_dir: str, new: repository.NewTask, uploads: list[UploadFile]) -> dict[str, Any]:
    """Create the task and its files in one transaction; the files are on disk before it commits."""
    def place(task_id: str) -> list[TaskFile]:
        folder = Path(data_dir) / "uploads" / task_id
        folder.mkdir(parents=True, exist_ok=True)
        placed = []
        for seq, upload in enumerate(uploads):
            name = stored_name(upload.filename, seq)
            path = folder / f"{seq:03d}-{name}"
            with path.open("wb") as target:
                shutil.copyfileobj(upload.file, target, 1024 * 1024)
            placed.append(TaskFile(name, str(path), path.stat().st_size))
        return placed

    with engine.begin() as conn:
        return create_file_task(conn, new, place)
