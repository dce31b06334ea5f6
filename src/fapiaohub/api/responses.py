"""Response bodies in Ekuaibao's two styles: the collection envelope and the plain error object."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Response

from fapiaohub import wire

JSON = "application/json"


def new_req_id() -> str:
    return uuid.uuid4().hex


def envelope(
    corp_id: str, code: str, message: str, data: Any, *, req_id: str | None = None
) -> bytes:
    """The getInvoiceCollectionData envelope ``{"value": {corpId, reqId, code, success, message, data}}``."""
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


def business_error(corp_id: str, code: str, message: str) -> Response:
    """A business failure: HTTP 200, success false, data null (the seed's 失败响应)."""
    return Response(envelope(corp_id, code, message, None), media_type=JSON)


def error_response(status: int, message: str) -> Response:
    """Ekuaibao's error object for non-200 answers (400 parameters, 403 auth, 412 preconditions)."""
    body = {"errorCode": status, "errorMessage": message, "errorDetails": None, "code": None, "data": None}
    return Response(wire.dumps(body), status_code=status, media_type=JSON)


class ApiError(Exception):
    """Raised anywhere below a route to answer with :func:`error_response`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


INVALID_KEYS = "密钥无效"
UNAUTHORIZED = "未授权"
