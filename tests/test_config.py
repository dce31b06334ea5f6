"""Settings from the environment."""

from __future__ import annotations

import pytest

from fapiaohub.config import DEFAULT_DATABASE_URL, Settings, SettingsError, load_settings


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FAPIAOHUB_DATABASE_URL", "FAPIAOHUB_TOKEN_TTL_SECONDS", "FAPIAOHUB_DATA_DIR",
                 "FAPIAOHUB_MAX_UPLOAD_BYTES", "FAPIAOHUB_EMBEDDED_WORKER"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings == Settings(database_url=DEFAULT_DATABASE_URL)
    assert settings.token_ttl_seconds == 7200
    assert settings.embedded_worker is False


def test_environment_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPIAOHUB_DATABASE_URL", "sqlite:///env.db")
    monkeypatch.setenv("FAPIAOHUB_TOKEN_TTL_SECONDS", "60")
    monkeypatch.setenv("FAPIAOHUB_EMBEDDED_WORKER", "1")
    assert load_settings().database_url == "sqlite:///env.db"
    assert load_settings("sqlite:///flag.db").database_url == "sqlite:///flag.db"
    assert load_settings().token_ttl_seconds == 60
    assert load_settings().embedded_worker is True


def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPIAOHUB_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match="FAPIAOHUB_LOG_FORMAT") as raised:
        load_settings()
    assert "\n" not in str(raised.value)


def test_the_page_cache_is_given_in_megabytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPIAOHUB_PAGE_CACHE_MB", "0.5")
    assert load_settings().page_cache_bytes == 512 * 1024
