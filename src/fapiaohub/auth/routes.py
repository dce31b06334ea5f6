"""HTTP doors of auth: getAccessToken, refreshToken (and its expireDate variant), and the token check other routes use."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Connection, Engine

from fapiaohub import wire
from fapiaohub.auth import service
from fapiaohub.auth.ratelimit import FailureLimiter
from fapiaohub.config import Settings
from fapiaohub.errors import INVALID_KEYS, UNAUTHORIZED, HttpError
from fapiaohub.shapes import request_context
from fapiaohub.shapes.envelope import JSON, error_body

router = APIRouter()


def _token_body(pair: service.TokenPair) -> Response:
    request_context.note_corp(pair.corporation_id)
    return Response(
        wire.dumps(
            {
                "value": {
                    "accessToken": pair.access_token,
                    "refreshToken": pair.refresh_token,
                    "expireTime": pair.expire_time,
                    "corporationId": pair.corporation_id,
                }
            }
        ),
        media_type=JSON,
    )


async def _token_answer(
    request: Request, issue: Callable[[Connection, int], service.TokenPair | None], refused: str
) -> Response:
    """Run ``issue`` in a transaction off the event loop; its pair, or 403 with ``refused``."""
    engine: Engine = request.app.state.engine
    settings: Settings = request.app.state.settings

    def run() -> service.TokenPair | None:
        with engine.begin() as conn:
            return issue(conn, settings.token_ttl_seconds)

    pair = await run_in_threadpool(run)
    if pair is None:
        raise HttpError(403, refused)
    return _token_body(pair)


def _too_many(wait: int) -> Response:
    return Response(error_body(429, f"密钥错误次数过多，请{wait}秒后再试"), status_code=429, media_type=JSON,
                    headers={"Retry-After": str(wait)})


@router.post("/api/openapi/v1/auth/getAccessToken")
async def get_access_token(request: Request) -> Response:
    # Keys belong in the JSON body; keys sent as query parameters are refused like wrong keys.
    limiter: FailureLimiter = request.app.state.auth_limiter
    address = ("address", request.client.host if request.client else "")
    if wait := limiter.retry_after(address):
        return _too_many(wait)
    try:
        body = wire.loads(await request.body())
    except wire.JSONDecodeError:
        limiter.failed(address)
        raise HttpError(403, INVALID_KEYS) from None
    app_key = body.get("appKey") if isinstance(body, dict) else None
    app_security = body.get("appSecurity") if isinstance(body, dict) else None
    if not isinstance(app_key, str) or not isinstance(app_security, str) or not app_key:
        limiter.failed(address)
        raise HttpError(403, INVALID_KEYS)
    keys = (address, ("appKey", app_key))
    if wait := limiter.retry_after(*keys):
        return _too_many(wait)
    try:
        return await _token_answer(
            request, lambda conn, ttl: service.get_access_token(conn, app_key, app_security, ttl), INVALID_KEYS
        )
    except HttpError:
        limiter.failed(*keys)
        raise


@router.post("/api/openapi/v2/auth/refreshToken")
async def refresh_token(
    request: Request,
    accessToken: str | None = None,  # noqa: N803 - the wire's parameter names
    refreshToken: str | None = None,  # noqa: N803
    powerCode: str | None = None,  # noqa: N803 - accepted and ignored, as Ekuaibao's callers send 219904
) -> Response:
    if not accessToken or not refreshToken:
        raise HttpError(403, UNAUTHORIZED)
    return await _token_answer(
        request, lambda conn, ttl: service.refresh_token(conn, accessToken, refreshToken, ttl), UNAUTHORIZED
    )


@router.post("/api/openapi/v2/auth/refreshToken/expireDate")
async def refresh_token_until(
    request: Request,
    accessToken: str | None = None,  # noqa: N803 - the wire's parameter names
    refreshToken: str | None = None,  # noqa: N803
    expireDate: str | None = None,  # noqa: N803 - epoch milliseconds
    powerCode: str | None = None,  # noqa: N803 - accepted and ignored
) -> Response:
    """Ekuaibao's 刷新授权(指定有效时间): refreshToken whose new pair expires at ``expireDate``."""
    if not accessToken or not refreshToken:
        raise HttpError(403, UNAUTHORIZED)
    checked = service.check_expire_date(expireDate)
    if isinstance(checked, str):
        raise HttpError(400, checked)
    return await _token_answer(
        request,
        lambda conn, ttl: service.refresh_token(conn, accessToken, refreshToken, ttl, expire_time=checked),
        UNAUTHORIZED,
    )
