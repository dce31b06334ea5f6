"""HTTP doors of unified invoicing: Ekuaibao's read endpoints and fapiaohub's own write endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from fapiaohub import wire
from fapiaohub.auth.dependencies import require_corporation
from fapiaohub.shapes import request_context
from fapiaohub.shapes.envelope import JSON
from fapiaohub.unify import service
from fapiaohub.unify.schemas import BatchIn, CorporationIn

router = APIRouter()
Corporation = Annotated[str, Depends(require_corporation)]


def _json(value: Any) -> Response:
    return Response(wire.dumps(value), media_type=JSON)


@router.get("/api/openapi/v1/invoice/unify/corporation/list")
def list_unify_corporations(request: Request, corp_id: Corporation) -> Response:
    with request.app.state.engine.connect() as conn:
        return _json({"items": service.list_corporations(conn, corp_id)})


async def _unify(request: Request, *, vat_only: bool) -> Response:
    state, params = request.app.state, request.query_params
    corp_id, answer = await service.answer_batches(
        state.unify_reads, state.unify_cache, params.get("accessToken"), params.get("unifyInvoiceCorporationId"),
        params.get("index"), params.get("count"), vat_only=vat_only)
    request.state.corp_id = corp_id
    request_context.note_corp(corp_id)  # the request's log line names its caller
    return Response(answer, media_type=JSON)


# the two reads are plain routes (api/app.py): they take their query parameters themselves and check
# the token in their own statement (service.answer_batches), not through require_corporation
V21_PATH, V1_PATH = "/api/openapi/v2.1/invoice/unify", "/api/openapi/v1/invoice/unify"


async def unify_v21(request: Request) -> Response:
    """Batches of every invoice kind with updateTime > index, oldest first, at most count (≤ 10)."""
    return await _unify(request, vat_only=False)


async def unify_v1(request: Request) -> Response:
    """The v1 behaviour: the same batches, listing only their VAT invoices."""
    return await _unify(request, vat_only=True)


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
