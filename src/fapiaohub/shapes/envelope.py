"""Response bodies in Ekuaibao's two styles: the collection envelope and the plain error object."""

from __future__ import annotations

from typing import Any

from fapiaohub import wire
from fapiaohub.shapes import request_context

JSON = "application/json"


def new_req_id() -> str:
    """The current request's id (the one its log lines carry), or a fresh one outside a request."""
    return request_context.req_id()


def envelope(
    corp_id: str, code: str, message: str, data: Any, *, req_id: str | None = None
) -> bytes:
    """The getInvoiceCollectionData envelope ``{"value": {corpId, reqId, code, success, message, data}}``."""
    request_context.note_corp(corp_id)
    return wire.dumps(
        {
            "value": {
                "corpId": corp_id,
                "reqId": req_id or new_req_id(),
                "code": code,
                "success": code == "2000",
                "message": message,
                "data": data,
            }
        }
    )


def error_body(status: int, message: str) -> bytes:
    """Ekuaibao's error object for non-200 answers (400 parameters, 403 auth, 412 preconditions)."""
    return wire.dumps({"errorCode": status, "errorMessage": message, "errorDetails": None, "code": None, "data": None})
