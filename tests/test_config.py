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


def test_trust_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPIAOHUB_SECRET_KEY", " current-key ")
    monkeypatch.setenv("FAPIAOHUB_OLD_SECRET_KEYS", "old-1, old-2,")
    monkeypatch.setenv("FAPIAOHUB_UPSTREAM_ALLOW", "127.0.0.1,localhost, 10.0.0.0/8")
    monkeypatch.setenv("FAPIAOHUB_AUTH_FAILURE_BURST", "5")
    monkeypatch.setenv("FAPIAOHUB_AUTH_FAILURES_PER_MINUTE", "2.5")
    settings = load_settings()
    assert settings.secret_key == "current-key"
    assert settings.old_secret_keys == ("old-1", "old-2")
    assert settings.upstream_allow == ("127.0.0.1", "localhost", "10.0.0.0/8")
    assert (settings.auth_failure_burst, settings.auth_failures_per_minute) == (5, 2.5)
    assert "current-key" not in repr(settings)  # settings get logged
    assert "old-1" not in repr(settings)


def test_without_trust_settings_nothing_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FAPIAOHUB_SECRET_KEY", "FAPIAOHUB_OLD_SECRET_KEYS", "FAPIAOHUB_UPSTREAM_ALLOW"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.secret_key, settings.old_secret_keys, settings.upstream_allow) == (None, (), ())


def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPIAOHUB_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match="FAPIAOHUB_LOG_FORMAT") as raised:
        load_settings()
    assert "\n" not in str(raised.value)


def test_the_page_cache_is_given_in_megabytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPIAOHUB_PAGE_CACHE_MB", "0.5")
    assert load_settings().page_cache_bytes == 512 * 1024
