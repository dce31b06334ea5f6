"""HTTP door of the collection API (getInvoiceCollectionData)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from fapiaohub.collection import service
from fapiaohub.errors import HttpError
from fapiaohub.shapes.envelope import JSON

router = APIRouter()

MAX_BODY_BYTES = 64 * 1024  # a query body is a few hundred bytes; refuse floods before parsing

# The route reads its query parameter and body itself (FastAPI's parameter and body machinery
# cost about a tenth of the endpoint's floor, docs/performance.md); this describes them for /docs.
_OPENAPI: dict[str, Any] = {
    "parameters": [{"name": "accessToken", "in": "query", "required": True, "schema": {"type": "string"}}],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["corpId", "nsrsbh", "fplx", "kpyf", "jxxbz", "page"],
            "properties": {
                "corpId": {"type": "string"}, "nsrsbh": {"type": "string"}, "fplx": {"type": "string"},
                "kpyf": {"type": "string", "description": "yyyyMM"},
                "jxxbz": {"type": "string", "enum": ["jx", "xx"]},
                "page": {"type": "object", "required": ["pageSize"], "properties": {
                    "pageSize": {"type": "integer", "minimum": 1, "maximum": 100},
                    "currentPage": {"type": "integer", "minimum": 1},
                }},
            },
        }}},
    },
}


@router.post("/api/openapi/v2/invoice/v2/getInvoiceCollectionData", openapi_extra=_OPENAPI)
async def get_invoice_collection_data(request: Request) -> Response:
    """One page of a taxpayer's invoices of one kind and month (the seed's getInvoiceCollectionData)."""
    body = await bounded_body(request)
    state = request.app.state
    payload = await service.answer(state.page_reads, state.page_cache, request.query_params.get("accessToken"), body)
    return Response(payload, media_type=JSON)


async def bounded_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HttpError(413, f"请求体过大：上限{MAX_BODY_BYTES}字节")
        chunks.append(chunk)
    return b"".join(chunks)
