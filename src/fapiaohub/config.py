"""Settings from the environment (FAPIAOHUB_*) with command-line flags taking precedence."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///fapiaohub.db"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    token_ttl_seconds: int = 2 * 60 * 60  # Ekuaibao tokens live 2 hours
    refresh_ttl_seconds: int = 30 * 24 * 60 * 60


def database_url(flag: str | None = None) -> str:
    """The database URL: the flag, else FAPIAOHUB_DATABASE_URL, else ./fapiaohub.db (SQLite)."""
    return flag or os.environ.get("FAPIAOHUB_DATABASE_URL") or DEFAULT_DATABASE_URL


def load_settings(database_url_flag: str | None = None) -> Settings:
    ttl = os.environ.get("FAPIAOHUB_TOKEN_TTL_SECONDS")
    return Settings(
        database_url=database_url(database_url_flag),
        token_ttl_seconds=int(ttl) if ttl else Settings.token_ttl_seconds,
    )
