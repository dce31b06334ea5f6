"""Settings (pydantic-settings): flags, then FAPIAOHUB_* environment variables, then a config file or .env.

The config file (``--config FILE`` or ``FAPIAOHUB_CONFIG``) is in the ``.env`` format: ``FAPIAOHUB_NAME=value``
lines. Without one, ``./.env`` is read when present. Every value is validated when the settings are loaded;
a bad one raises :class:`SettingsError` naming the variable, which the CLI prints on one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///fapiaohub.db"
ENV_PREFIX = "FAPIAOHUB_"
CONFIG_ENV = "FAPIAOHUB_CONFIG"  # how `--config` reaches the server processes uvicorn starts


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it and fits on one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True)

    database_url: str = Field(DEFAULT_DATABASE_URL, min_length=1, repr=False)  # may hold a password
    token_ttl_seconds: int = Field(2 * 60 * 60, gt=0)  # Ekuaibao tokens live 2 hours
    data_dir: str = "fapiaohub-data"  # uploaded files; shared storage when workers are on other machines
    max_upload_bytes: int = Field(200 * 1024 * 1024, gt=0)
    embedded_worker: bool = False  # `fapiaohub serve` turns it on
    # the embedded worker's lease on a task (renewed every third of it: a killed server's task is
    # reclaimed this long after the kill) and its wait when the queue is empty
    worker_lease_seconds: float = Field(30.0, ge=0.5)
    worker_poll_seconds: float = Field(1.0, gt=0)
    page_cache_mb: float = Field(64.0, ge=0)  # rendered collection pages kept per API process
    unify_cache_mb: float = Field(32.0, ge=0)  # rendered unify batches kept per API process
    keep_failed_uploads_hours: float = Field(72.0, ge=0)  # uploads of failed tasks, kept to look into
    log_format: Literal["plain", "json"] = "plain"
    # Fernet key sealing stored secrets (upstream appSecurity); None: upstream tasks are refused
    secret_key: str | None = Field(None, repr=False)
    # still open what they sealed (rotation); comma-separated in the environment
    old_secret_keys: Annotated[tuple[str, ...], NoDecode] = Field((), repr=False)
    # upstream hosts (names, addresses or CIDR networks) a task may reach although they are private,
    # loopback or link-local; they may also use http. Everything else: https to public addresses only.
    upstream_allow: Annotated[tuple[str, ...], NoDecode] = ()
    # failed getAccessToken attempts: a burst per appKey and per client address, refilled per minute
    auth_failure_burst: int = Field(10, ge=1)
    auth_failures_per_minute: float = Field(6.0, gt=0)
    # each uploaded file is parsed in a child process: its address space (MB) and the time it is waited for
    parse_memory_mb: int = Field(1024, ge=64)
    parse_seconds: float = Field(300.0, gt=0)
    # SQLite: invoices per committed transaction of an import, so that other writers (getAccessToken,
    # sign-in, task creation) get the database's one write lock between them
    sqlite_commit_invoices: int = Field(2000, ge=1)

    @field_validator("secret_key", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("old_secret_keys", "upstream_allow", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        """A comma-separated setting as a tuple, blanks dropped."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def page_cache_bytes(self) -> int:
        return int(self.page_cache_mb * 1024 * 1024)

    @property
    def unify_cache_bytes(self) -> int:
        return int(self.unify_cache_mb * 1024 * 1024)


def database_url(flag: str | None = None) -> str:
    """The database URL: the flag, else the settings (FAPIAOHUB_DATABASE_URL, config file), else ./fapiaohub.db."""
    return flag or load_settings().database_url


def load_settings(database_url_flag: str | None = None, config_file: str | None = None) -> Settings:
    """The validated settings; ``config_file`` (default $FAPIAOHUB_CONFIG, else ./.env) below the environment."""
    config_file = config_file or os.environ.get(CONFIG_ENV) or None
    if config_file and not Path(config_file).is_file():
        raise SettingsError(f"config file {config_file} does not exist")
    overrides: dict[str, Any] = {"database_url": database_url_flag} if database_url_flag else {}
    if config_file:
        overrides["_env_file"] = config_file
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """One line naming the first bad setting as the user writes it (FAPIAOHUB_TOKEN_TTL_SECONDS)."""
    first = exc.errors()[0]
    name = ENV_PREFIX + "_".join(str(part) for part in first["loc"]).upper()
    value = first.get("input")
    shown = f" (got {str(value)[:60]!r})" if isinstance(value, str | int | float) else ""
    return f"setting {name}: {first['msg']}{shown}"
