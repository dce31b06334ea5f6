"""Tenants, app keys and access tokens (Ekuaibao auth): secrets are stored hashed, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub.store.tables import access_token, api_app, corporation

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
    created = datetime.now(UTC)
    conn.execute(sa.insert(corporation).values(id=corp_id, name=name, created_at=created))
    conn.execute(
        sa.insert(api_app).values(
            app_key=app_key, corp_id=corp_id, secret_hash=secret_digest(app_security), created_at=created
        )
    )
    return TenantCredentials(corp_id, app_key, app_security)


def _issue(conn: Connection, corp_id: str, ttl_seconds: int) -> TokenPair:
    pair = TokenPair(
        access_token=secrets.token_urlsafe(24),
        refresh_token=secrets.token_urlsafe(24),
        expire_time=now_ms() + ttl_seconds * 1000,
        corporation_id=corp_id,
    )
    conn.execute(
        sa.insert(access_token).values(
            token_hash=secret_digest(pair.access_token),
            refresh_hash=secret_digest(pair.refresh_token),
            corp_id=corp_id,
            expires_at=pair.expire_time,
            created_at=datetime.now(UTC),
        )
    )
    # Expired tokens are dead weight; sweep a corporation's on each issue so the table stays small.
    conn.execute(
        sa.delete(access_token).where(
            access_token.c.corp_id == corp_id, access_token.c.expires_at < now_ms()
        )
    )
    return pair


def get_access_token(
    conn: Connection, app_key: str, app_security: str, ttl_seconds: int
) -> TokenPair | None:
    """Exchange appKey/appSecurity for a token pair; None when the keys are wrong."""
    row = conn.execute(
        sa.select(api_app.c.corp_id, api_app.c.secret_hash).where(api_app.c.app_key == app_key)
    ).first()
    # Compare even when the key is unknown, so timing does not tell which half was wrong.
    expected = row.secret_hash if row else secret_digest(secrets.token_hex(16))
    if not hmac.compare_digest(expected, secret_digest(app_security)) or row is None:
        return None
    return _issue(conn, row.corp_id, ttl_seconds)


def refresh_token(
    conn: Connection, token: str, refresh: str, ttl_seconds: int
) -> TokenPair | None:
    """Replace a live token pair by a new one; None for an unknown, mismatched or expired pair."""
    row = conn.execute(
        sa.select(access_token.c.corp_id, access_token.c.refresh_hash, access_token.c.expires_at)
        .where(access_token.c.token_hash == secret_digest(token))
        .with_for_update()
    ).first()
    if row is None or row.expires_at <= now_ms():
        return None
    if not hmac.compare_digest(row.refresh_hash, secret_digest(refresh)):
        return None
    deleted = conn.execute(
        sa.delete(access_token).where(access_token.c.token_hash == secret_digest(token))
    ).rowcount
    if deleted != 1:  # a concurrent refresh won the race
        return None
    return _issue(conn, row.corp_id, ttl_seconds)


def corporation_for_token(conn: Connection, token: str) -> str | None:
    """The corporation a live access token belongs to, or None."""
    return corporation_for_digest(conn, secret_digest(token))


def corporation_for_digest(conn: Connection, digest: str) -> str | None:
    """The corporation of the live access token whose :func:`secret_digest` is ``digest``, or None."""
    row = conn.execute(
        sa.select(access_token.c.corp_id, access_token.c.expires_at).where(access_token.c.token_hash == digest)
    ).first()
    if row is None or row.expires_at <= now_ms():
        return None
    return row.corp_id
