"""HTTP door of the collection API (getInvoiceCollectionData)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from fapiaohub.api.responses import JSON, ApiError
from fapiaohub.collection import service

router = APIRouter()

MAX_BODY_BYTES = 64 * 1024  # a query body is a few hundred bytes; refuse floods before parsing


@router.post("/api/openapi/v2/invoice/v2/getInvoiceCollectionData")
async def get_invoice_collection_data(
    request: Request,
    accessToken: str | None = None,  # noqa: N803 - the wire's parameter name
) -> Response:
    body = await bounded_body(request)
    payload = await run_in_threadpool(service.answer, request.app.state.engine, accessToken, body)
    return Response(payload, media_type=JSON)


async def bounded_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"请求体过大：上限{MAX_BODY_BYTES}字节")
        chunks.append(chunk)
    return b"".join(chunks)
