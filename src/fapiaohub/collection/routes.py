"""HTTP door of the collection API (getInvoiceCollectionData)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fapiaohub.collection import service
from fapiaohub.errors import HttpError
from fapiaohub.shapes.envelope import JSON

PATH = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"  # served as a plain route (api/app.py)
MAX_BODY_BYTES = 64 * 1024  # a query body is a few hundred bytes; refuse floods before parsing


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
