"""Response bodies in Ekuaibao's two styles: the collection envelope and the plain error object."""

from __future__ import annotations

import uuid
from typing import Any

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


def error_body(status: int, message: str) -> bytes:
    """Ekuaibao's error object for non-200 answers (400 parameters, 403 auth, 412 preconditions)."""
    return wire.dumps({"errorCode": status, "errorMessage": message, "errorDetails": None, "code": None, "data": None})
