"""All SQL of auth: corporations, app keys and access tokens (stored as digests, never in clear)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub.store.tables import access_token, api_app, corporation


def insert_corporation(conn: Connection, corp_id: str, name: str) -> None:
    conn.execute(sa.insert(corporation).values(id=corp_id, name=name, created_at=datetime.now(UTC)))


def corporation_exists(conn: Connection, corp_id: str) -> bool:
    return conn.execute(sa.select(corporation.c.id).where(corporation.c.id == corp_id)).first() is not None


def insert_app(conn: Connection, corp_id: str, app_key: str, secret_hash: str) -> None:
    conn.execute(sa.insert(api_app).values(app_key=app_key, corp_id=corp_id, secret_hash=secret_hash,
                                           created_at=datetime.now(UTC)))


def find_app(conn: Connection, app_key: str) -> Any:
    """(corp_id, secret_hash) of an app key, or None."""
    return conn.execute(
        sa.select(api_app.c.corp_id, api_app.c.secret_hash).where(api_app.c.app_key == app_key)
    ).first()


def insert_token(conn: Connection, corp_id: str, token_hash: str, refresh_hash: str, expires_at: int,
                 now_ms: int) -> None:
    """Store a token pair; a corporation's expired tokens are swept on each issue so the table stays small."""
    conn.execute(sa.insert(access_token).values(
        token_hash=token_hash, refresh_hash=refresh_hash, corp_id=corp_id, expires_at=expires_at,
        created_at=datetime.now(UTC),
    ))
    conn.execute(sa.delete(access_token).where(access_token.c.corp_id == corp_id,
                                               access_token.c.expires_at < now_ms))


def lock_token(conn: Connection, token_hash: str) -> Any:
    """(corp_id, refresh_hash, expires_at) of a token, its row locked until the transaction ends."""
    return conn.execute(
        sa.select(access_token.c.corp_id, access_token.c.refresh_hash, access_token.c.expires_at)
        .where(access_token.c.token_hash == token_hash)
        .with_for_update()
    ).first()


def delete_token(conn: Connection, token_hash: str) -> int:
    return conn.execute(sa.delete(access_token).where(access_token.c.token_hash == token_hash)).rowcount


def find_token(conn: Connection, token_hash: str) -> Any:
    """(corp_id, expires_at) of a token, or None."""
    return conn.execute(
        sa.select(access_token.c.corp_id, access_token.c.expires_at).where(access_token.c.token_hash == token_hash)
    ).first()


def other_corporations(conn: Connection, corp_id: str) -> int:
    """How many corporations other than ``corp_id`` the database holds (the demo refuses a database in use)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(corporation)
                            .where(corporation.c.id != corp_id)).scalar_one())
