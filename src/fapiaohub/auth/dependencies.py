"""The token check as a FastAPI dependency: which corporation is calling."""

from __future__ import annotations

from fastapi import Request

from fapiaohub.auth.service import corporation_for_token
from fapiaohub.errors import UNAUTHORIZED, HttpError
from fapiaohub.shapes import request_context


def require_corporation(request: Request, accessToken: str | None = None) -> str:  # noqa: N803
    """The corporation of a live ``accessToken`` query parameter; 403 otherwise. It is also put on
    the request, where the error handler finds it to address a BusinessError's envelope."""
    if not accessToken:
        raise HttpError(403, UNAUTHORIZED)
    with request.app.state.engine.connect() as conn:
        corp_id = corporation_for_token(conn, accessToken)
    if corp_id is None:
        raise HttpError(403, UNAUTHORIZED)
    request.state.corp_id = corp_id
    request_context.note_corp(corp_id)  # the request's log line names its caller
    return corp_id
