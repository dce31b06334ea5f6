"""Tenants, app keys and access tokens (Ekuaibao auth): secrets are stored hashed, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from fapiaohub.auth import repository

_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class TenantCredentials:
    corp_id: str
    app_key: str
    app_security: str

    def __repr__(self) -> str:  # never let a secret reach a log through a repr
        return f"TenantCredentials(corp_id={self.corp_id!r}, app_key={self.app_key!r}, app_security=***)"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expire_time: int  # epoch milliseconds
    corporation_id: str

    def __repr__(self) -> str:
        return f"TokenPair(corporation_id={self.corporation_id!r}, expire_time={self.expire_time})"


def secret_digest(secret: str) -> str:
    # Secrets here are 32+ random bytes, so a fast hash is safe; the database never holds them.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_corp_id() -> str:
    """An id in Ekuaibao's style: 12 random letters/digits followed by '00'."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12)) + "00"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def create_tenant(
    conn: Connection,
    name: str,
    *,
    corp_id: str | None = None,
    app_key: str | None = None,
    app_security: str | None = None,
) -> TenantCredentials:
    """Create a corporation with one app key. Fixed ids/keys are for the demo only."""
    corp_id = corp_id or new_corp_id()
    app_key = app_key or secrets.token_hex(16)
    app_security = app_security or secrets.token_urlsafe(32)
    repository.insert_corporation(conn, corp_id, name)
    repository.insert_app(conn, corp_id, app_key, secret_digest(app_security))
    return TenantCredentials(corp_id, app_key, app_security)


# refreshToken/expireDate: the latest expiry a caller may ask for (a year: long-lived integrations renew yearly)
MAX_EXPIRE_DATE_DAYS = 366


def _issue(conn: Connection, corp_id: str, ttl_seconds: int, *, expire_time: int | None = None) -> TokenPair:
    pair = TokenPair(
        access_token=secrets.token_urlsafe(24),
        refresh_token=secrets.token_urlsafe(24),
        expire_time=expire_time if expire_time is not None else now_ms() + ttl_seconds * 1000,
        corporation_id=corp_id,
    )
    repository.insert_token(conn, corp_id, secret_digest(pair.access_token), secret_digest(pair.refresh_token),
                            pair.expire_time, now_ms())
    return pair


MAX_APP_KEY_LENGTH = 64  # app.app_key is VARCHAR(64)


def get_access_token(
    conn: Connection, app_key: str, app_security: str, ttl_seconds: int
) -> TokenPair | None:
    """Exchange appKey/appSecurity for a token pair; None when the keys are wrong."""
    # a key no app can have (NUL, which PostgreSQL text refuses, or absurd length) is looked up by nobody
    plausible = "\x00" not in app_key and len(app_key) <= MAX_APP_KEY_LENGTH
    row = repository.find_app(conn, app_key) if plausible else None
    # Compare even when the key is unknown, so timing does not tell which half was wrong.
    expected = row.secret_hash if row else secret_digest(secrets.token_hex(16))
    if not hmac.compare_digest(expected, secret_digest(app_security)) or row is None:
        return None
    return _issue(conn, row.corp_id, ttl_seconds)


def refresh_token(
    conn: Connection, token: str, refresh: str, ttl_seconds: int, *, expire_time: int | None = None
) -> TokenPair | None:
    """Replace a live token pair by a new one; None for an unknown, mismatched or expired pair.

    ``expire_time`` (epoch ms, checked by :func:`check_expire_date`) fixes the new pair's expiry
    instead of now + ``ttl_seconds``: Ekuaibao's 刷新授权(指定有效时间).
    """
    row = repository.lock_token(conn, secret_digest(token))
    if row is None or row.expires_at <= now_ms():
        return None
    if not hmac.compare_digest(row.refresh_hash, secret_digest(refresh)):
        return None
    if repository.delete_token(conn, secret_digest(token)) != 1:  # a concurrent refresh won the race
        return None
    return _issue(conn, row.corp_id, ttl_seconds, expire_time=expire_time)


def check_expire_date(raw: str | None, now: int | None = None) -> int | str:
    """``expireDate`` as epoch ms, or the reason it is refused (missing, not a number, past, too far)."""
    if raw is None or not raw.strip():
        return "expireDate 不能为空"
    try:
        value = int(raw.strip())
    except ValueError:
        return f"expireDate 必须是毫秒时间戳：{raw[:32]!r}"
    now = now_ms() if now is None else now
    if value <= now:
        return "expireDate 不能早于当前时间"
    if value > now + MAX_EXPIRE_DATE_DAYS * 86_400_000:
        return f"expireDate 不能超过 {MAX_EXPIRE_DATE_DAYS} 天后"
    return value


def corporation_for_token(conn: Connection, token: str) -> str | None:
    """The corporation a live access token belongs to, or None."""
    return corporation_for_digest(conn, secret_digest(token))


def corporation_for_digest(conn: Connection, digest: str) -> str | None:
    """The corporation of the live access token whose :func:`secret_digest` is ``digest``, or None."""
    row = repository.find_token(conn, digest)
    if row is None or row.expires_at <= now_ms():
        return None
    return row.corp_id
