"""Settings from the environment (FAPIAOHUB_*) with command-line flags taking precedence."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///fapiaohub.db"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    token_ttl_seconds: int = 2 * 60 * 60  # Ekuaibao tokens live 2 hours
    data_dir: str = "fapiaohub-data"  # uploaded files; shared storage when workers are on other machines
    max_upload_bytes: int = 200 * 1024 * 1024
    embedded_worker: bool = False  # `fapiaohub serve` turns it on
    page_cache_bytes: int = 64 * 1024 * 1024  # rendered collection pages kept per API process


def database_url(flag: str | None = None) -> str:
    """The database URL: the flag, else FAPIAOHUB_DATABASE_URL, else ./fapiaohub.db (SQLite)."""
    return flag or os.environ.get("FAPIAOHUB_DATABASE_URL") or DEFAULT_DATABASE_URL


def load_settings(database_url_flag: str | None = None) -> Settings:
    """Settings from FAPIAOHUB_* variables; unset ones keep the defaults above."""
    env = os.environ.get
    overrides: dict[str, object] = {}
    if ttl := env("FAPIAOHUB_TOKEN_TTL_SECONDS"):
        overrides["token_ttl_seconds"] = int(ttl)
    if data_dir := env("FAPIAOHUB_DATA_DIR"):
        overrides["data_dir"] = data_dir
    if max_upload := env("FAPIAOHUB_MAX_UPLOAD_BYTES"):
        overrides["max_upload_bytes"] = int(max_upload)
    if cache_mb := env("FAPIAOHUB_PAGE_CACHE_MB"):
        overrides["page_cache_bytes"] = int(float(cache_mb) * 1024 * 1024)
    overrides["embedded_worker"] = env("FAPIAOHUB_EMBEDDED_WORKER", "0") == "1"
    return Settings(database_url=database_url(database_url_flag), **overrides)  # type: ignore[arg-type]
