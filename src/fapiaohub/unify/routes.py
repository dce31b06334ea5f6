"""HTTP doors of unified invoicing: Ekuaibao's read endpoints and fapiaohub's own write endpoints."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from fapiaohub import wire
from fapiaohub.auth.dependencies import require_corporation
from fapiaohub.errors import HttpError
from fapiaohub.shapes.envelope import JSON
from fapiaohub.unify import service
from fapiaohub.unify.schemas import BatchIn, CorporationIn

router = APIRouter()
Corporation = Annotated[str, Depends(require_corporation)]
MAX_COUNT = 10
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # BIGINT: a cursor beyond it is the caller's error, not a 500


def _json(value: Any) -> Response:
    return Response(wire.dumps(value), media_type=JSON)


@router.get("/api/openapi/v1/invoice/unify/corporation/list")
def list_unify_corporations(request: Request, corp_id: Corporation) -> Response:
    with request.app.state.engine.connect() as conn:
        return _json({"items": service.list_corporations(conn, corp_id)})


def _cursor_params(unify_corp_id: str | None, index: str | None, count: str | None) -> tuple[str, int, int]:
    if not unify_corp_id:
        raise HttpError(400, "unifyInvoiceCorporationId 必填")
    if "\x00" in unify_corp_id or len(unify_corp_id) > 64:
        raise HttpError(400, "unifyInvoiceCorporationId 无效（含NUL字符或超过64个字符）")
    if index is None or not _is_int64(index):
        raise HttpError(400, f"index 必填且必须是64位整数（上次返回的 updateTime），收到 {(index or '')[:40]!r}")
    if count is None or not re.fullmatch(r"\s*[0-9]{1,2}\s*", count) or not 1 <= int(count) <= MAX_COUNT:
        raise HttpError(400, f"count 必须是 1 到 {MAX_COUNT} 之间的整数，收到 {(count or '')[:40]!r}")
    return unify_corp_id, int(index), int(count)


def _is_int64(text: str) -> bool:
    # ASCII digits only (str.isdigit takes "²", which int() refuses), and few enough for int()
    if not re.fullmatch(r"\s*-?[0-9]{1,19}\s*", text):
        return False
    return INT64_MIN <= int(text) <= INT64_MAX


def _unify(request: Request, corp_id: str, unify_corp_id: str | None, index: str | None,
           count: str | None, *, vat_only: bool) -> Response:
    unify_corp_id, cursor, limit = _cursor_params(unify_corp_id, index, count)
    with request.app.state.engine.connect() as conn:
        answer = service.read_batches(conn, corp_id, unify_corp_id, cursor, limit, vat_only=vat_only)
    return Response(answer, media_type=JSON)


@router.get("/api/openapi/v2.1/invoice/unify")
def unify_v21(
    request: Request, corp_id: Corporation, unifyInvoiceCorporationId: str | None = None,  # noqa: N803
    index: str | None = None, count: str | None = None,
) -> Response:
    """Batches of every invoice kind with updateTime > index, oldest first, at most count (≤ 10)."""
    return _unify(request, corp_id, unifyInvoiceCorporationId, index, count, vat_only=False)


@router.get("/api/openapi/v1/invoice/unify")
def unify_v1(
    request: Request, corp_id: Corporation, unifyInvoiceCorporationId: str | None = None,  # noqa: N803
    index: str | None = None, count: str | None = None,
) -> Response:
    """The v1 behaviour: the same batches, listing only their VAT invoices."""
    return _unify(request, corp_id, unifyInvoiceCorporationId, index, count, vat_only=True)


@router.post("/api/openapi/fapiaohub/v1/unify/corporation")
def put_unify_corporation(request: Request, corp_id: Corporation, body: CorporationIn) -> Response:
    """Create a unify corporation, or update the one with the same code."""
    return _json({"value": service.put_corporation(request.app.state.engine, corp_id, **body.model_dump())})


@router.post("/api/openapi/fapiaohub/v1/unify/batch")
def push_unify_batch(request: Request, corp_id: Corporation, body: BatchIn) -> Response:
    """Create a batch, or replace the batch with the same batchNo; either bumps its updateTime."""
    with request.app.state.engine.begin() as conn:
        result = service.push_batch(conn, corp_id, body.to_push())
    return _json({"value": result})
