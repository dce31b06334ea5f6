"""Request bodies bounded per route before any route or auth code runs (an ASGI middleware).

Content-Length is checked first (a declared oversize body is refused without reading a byte of it);
then the bytes are counted as the route reads them, so a chunked body is refused at the limit too.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fapiaohub import wire
from fapiaohub.errors import HttpError
from fapiaohub.shapes.envelope import JSON, error_body

SMALL_JSON_BYTES = 64 * 1024  # every JSON route: a query or a token request is a few hundred bytes
UNIFY_BATCH_BYTES = 8 * 1024 * 1024  # a unify batch push: up to 10,000 invoice entries
UNIFY_BATCH_PATH = "/api/openapi/fapiaohub/v1/unify/batch"
UPLOAD_PATHS = frozenset({"/api/openapi/v2/invoice/v2/collectionTask/upload", "/console/tasks/upload"})


class BodyTooLargeError(HttpError):
    """Raised from receive() when a body passes its route's limit; the app renders it as a 413."""


def body_limit(path: str, max_upload_bytes: int) -> tuple[int, str]:
    """The most bytes a request to ``path`` may carry, and the message that refuses more."""
    if path in UPLOAD_PATHS:
        return max_upload_bytes, f"上传过大：上限{max_upload_bytes}字节（FAPIAOHUB_MAX_UPLOAD_BYTES）"
    limit = UNIFY_BATCH_BYTES if path == UNIFY_BATCH_PATH else SMALL_JSON_BYTES
    return limit, f"请求体过大：上限{limit}字节"


class BodyLimit:
    """Refuses a body over its route's limit with 413 (the Ekuaibao error object)."""

    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit, message = body_limit(path, self.max_upload_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, path, message)
            return
        received = 0
        exceeded = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:  # the route swallowed the error and reads on: give it nothing more
                raise BodyTooLargeError(413, message)
            chunk = await receive()
            received += len(chunk.get("body", b""))
            if received > limit:
                exceeded = True
                raise BodyTooLargeError(413, message)
            return chunk

        async def guarded_send(sent: Message) -> None:
            # a route that turned the overflow into some other answer still answers 413
            nonlocal answered
            if exceeded:
                if sent["type"] == "http.response.start" and not answered:
                    answered = True
                    await _refuse(send, path, message)
                return
            await send(sent)

        await self.app(scope, counting_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(send: Send, path: str, message: str) -> None:
    # the console's pages read {"error": …}; the API's clients read Ekuaibao's error object
    body = wire.dumps({"error": message}) if path.startswith("/console/") else error_body(413, message)
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", JSON.encode()),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
