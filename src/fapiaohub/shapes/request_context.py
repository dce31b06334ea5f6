"""The current request's id and corporation, for the envelope's reqId and the log lines of that request.

The API's middleware opens a context per request; code anywhere in the request (including threads started
with run_in_threadpool, which copy the context) reads the same id and may note the calling corporation.
Outside a request (the CLI, tests calling services directly) every envelope gets a fresh id.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class RequestInfo:
    req_id: str
    corp_id: str = ""  # noted once authentication has named the caller


_CURRENT: ContextVar[RequestInfo | None] = ContextVar("fapiaohub_request", default=None)


def new_req_id() -> str:
    return uuid.uuid4().hex


def begin() -> RequestInfo:
    """Open the context of a new request (the middleware calls this)."""
    info = RequestInfo(new_req_id())
    _CURRENT.set(info)
    return info


def current() -> RequestInfo | None:
    return _CURRENT.get()


def req_id() -> str:
    """The current request's id, or a fresh one outside a request."""
    info = _CURRENT.get()
    return info.req_id if info is not None else new_req_id()


def note_corp(corp_id: str) -> None:
    """Record the authenticated corporation of the current request (the object is shared across threads)."""
    info = _CURRENT.get()
    if info is not None and corp_id:
        info.corp_id = corp_id
