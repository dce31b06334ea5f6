"""Settings from the environment (FAPIAOHUB_*) with command-line flags taking precedence."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite:///fapiaohub.db"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    token_ttl_seconds: int = 2 * 60 * 60  # Ekuaibao tokens live 2 hours
    data_dir: str = "fapiaohub-data"  # uploaded files; shared storage when workers are on other machines
    max_upload_bytes: int = 200 * 1024 * 1024
    embedded_worker: bool = False  # `fapiaohub serve` turns it on
    page_cache_bytes: int = 64 * 1024 * 1024  # rendered collection pages kept per API process
    # Fernet key sealing stored secrets (upstream appSecurity); None: upstream tasks are refused
    secret_key: str | None = field(default=None, repr=False)
    old_secret_keys: tuple[str, ...] = field(default=(), repr=False)  # still open what they sealed (rotation)
    # upstream hosts (names, addresses or CIDR networks) a task may reach although they are private,
    # loopback or link-local; they may also use http. Everything else: https to public addresses only.
    upstream_allow: tuple[str, ...] = ()
    # failed getAccessToken attempts: a burst per appKey and per client address, refilled per minute
    auth_failure_burst: int = 10
    auth_failures_per_minute: float = 6.0


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
    if key := env("FAPIAOHUB_SECRET_KEY"):
        overrides["secret_key"] = key.strip()
    overrides["old_secret_keys"] = _listed(env("FAPIAOHUB_OLD_SECRET_KEYS"))
    overrides["upstream_allow"] = _listed(env("FAPIAOHUB_UPSTREAM_ALLOW"))
    if burst := env("FAPIAOHUB_AUTH_FAILURE_BURST"):
        overrides["auth_failure_burst"] = int(burst)
    if rate := env("FAPIAOHUB_AUTH_FAILURES_PER_MINUTE"):
        overrides["auth_failures_per_minute"] = float(rate)
    overrides["embedded_worker"] = env("FAPIAOHUB_EMBEDDED_WORKER", "0") == "1"
    return Settings(database_url=database_url(database_url_flag), **overrides)  # type: ignore[arg-type]


def _listed(value: str | None) -> tuple[str, ...]:
    """A comma-separated setting as a tuple, blanks dropped."""
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())
