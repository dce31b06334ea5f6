"""Failed getAccessToken attempts: limited per appKey and per client address, answered 429 with Retry-After."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from fapiaohub.api.app import create_app
from fapiaohub.auth.ratelimit import FailureLimiter
from tests.conftest import Tenant, server_settings

TOKEN_URL = "/api/openapi/v1/auth/getAccessToken"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_buckets_empty_after_the_burst_and_refill_with_time() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 6.0, clock)  # one failure back every 10 s
    key, address = ("appKey", "k"), ("address", "10.0.0.1")
    for _ in range(3):
        assert limiter.retry_after(key, address) == 0
        limiter.failed(key, address)
    assert limiter.retry_after(key) == 10
    assert limiter.retry_after(address) == 10
    assert limiter.retry_after(("appKey", "other")) == 0  # other keys are not affected by this one
    clock.now += 4
    assert limiter.retry_after(key) == 6
    clock.now += 6
    assert limiter.retry_after(key, address) == 0
    limiter.failed(key, address)
    assert limiter.retry_after(key) == 10


def test_the_server_answers_429_after_repeated_failures(tenant: Tenant, database_url: str, tmp_path: Path) -> None:
    app = create_app(server_settings(database_url, auth_failure_burst=3, data_dir=str(tmp_path)))
    clock = Clock()
    app.state.auth_limiter = FailureLimiter(3, 6.0, clock)
    right = {"appKey": tenant.creds.app_key, "appSecurity": tenant.creds.app_security}
    wrong = {**right, "appSecurity": "guess"}
    with TestClient(app) as client:
        assert client.post(TOKEN_URL, json=right).status_code == 200  # successes cost nothing
        assert [client.post(TOKEN_URL, json=wrong).status_code for _ in range(3)] == [403, 403, 403]
        limited = client.post(TOKEN_URL, json=wrong)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "10"
        assert limited.json()["errorCode"] == 429
        # while limited, even the right keys wait: a guesser cannot tell a hit from a miss
        assert client.post(TOKEN_URL, json=right).status_code == 429
        assert client.post(TOKEN_URL, content=b"not json").status_code == 429
        clock.now += 10
        assert client.post(TOKEN_URL, json=right).status_code == 200
    app.state.engine.dispose()
