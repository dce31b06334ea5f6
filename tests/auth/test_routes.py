"""Authentication as Ekuaibao does it: key exchange, rotation on refresh, expiry, 403s, no leaks."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fapiaohub.auth import service
from fapiaohub.client.redact import RedactSecrets
from fapiaohub.store.tables import access_token, api_app
from tests.conftest import Tenant

TOKEN_URL = "/api/openapi/v1/auth/getAccessToken"
REFRESH_URL = "/api/openapi/v2/auth/refreshToken"
COLLECT_URL = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"


def _refresh(tenant: Tenant, access: str, refresh: str):  # type: ignore[no-untyped-def]
    return tenant.client.post(
        REFRESH_URL, params={"accessToken": access, "refreshToken": refresh, "powerCode": "219904"}
    )


def test_get_access_token_returns_the_documented_value(tenant: Tenant) -> None:
    before = service.now_ms()
    response = tenant.client.post(
        TOKEN_URL, json={"appKey": tenant.creds.app_key, "appSecurity": tenant.creds.app_security}
    )
    assert response.status_code == 200
    value = response.json()["value"]
    assert set(value) == {"accessToken", "refreshToken", "expireTime", "corporationId"}
    assert value["corporationId"] == tenant.corp_id
    assert isinstance(value["expireTime"], int)
    # two hours, in epoch milliseconds
    assert before + 7_200_000 <= value["expireTime"] <= service.now_ms() + 7_200_000
    assert value["accessToken"] != value["refreshToken"]


def test_wrong_keys_are_403_with_invalid_key_message(tenant: Tenant) -> None:
    for body in (
        {"appKey": tenant.creds.app_key, "appSecurity": "wrong"},
        {"appKey": "no-such-key", "appSecurity": tenant.creds.app_security},
        {"appKey": tenant.creds.app_key},
        {"appKey": 1, "appSecurity": ["x"]},
        [],
    ):
        response = tenant.client.post(TOKEN_URL, json=body)
        assert response.status_code == 403, body
        assert response.json()["errorMessage"] == "密钥无效"
    malformed = tenant.client.post(TOKEN_URL, content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 403


def test_keys_in_the_query_string_are_refused(tenant: Tenant) -> None:
    response = tenant.client.post(
        TOKEN_URL, params={"appKey": tenant.creds.app_key, "appSecurity": tenant.creds.app_security}
    )
    assert response.status_code == 403


def test_refresh_rotates_both_tokens_and_kills_the_old_pair(tenant: Tenant) -> None:
    first = tenant.client.post(
        TOKEN_URL, json={"appKey": tenant.creds.app_key, "appSecurity": tenant.creds.app_security}
    ).json()["value"]
    response = _refresh(tenant, first["accessToken"], first["refreshToken"])
    assert response.status_code == 200, response.text
    second = response.json()["value"]
    assert second["accessToken"] != first["accessToken"]
    assert second["refreshToken"] != first["refreshToken"]
    assert second["corporationId"] == tenant.corp_id
    # the old pair is spent: neither refresh nor a query works with it
    assert _refresh(tenant, first["accessToken"], first["refreshToken"]).status_code == 403
    old_query = tenant.client.post(COLLECT_URL, params={"accessToken": first["accessToken"]}, json={})
    assert old_query.status_code == 403
    new_query = tenant.client.post(COLLECT_URL, params={"accessToken": second["accessToken"]}, json={})
    assert new_query.status_code == 200  # a 4006 business error, but authenticated


def test_refresh_needs_the_matching_refresh_token(tenant: Tenant) -> None:
    a = tenant.client.post(
        TOKEN_URL, json={"appKey": tenant.creds.app_key, "appSecurity": tenant.creds.app_security}
    ).json()["value"]
    b = tenant.client.post(
        TOKEN_URL, json={"appKey": tenant.creds.app_key, "appSecurity": tenant.creds.app_security}
    ).json()["value"]
    assert _refresh(tenant, a["accessToken"], b["refreshToken"]).status_code == 403
    assert _refresh(tenant, a["accessToken"], "").status_code == 403
    assert tenant.client.post(REFRESH_URL).status_code == 403


def test_expired_token_is_refused_and_cannot_be_refreshed(tenant: Tenant, engine: Engine) -> None:
    pair = tenant.client.post(
        TOKEN_URL, json={"appKey": tenant.creds.app_key, "appSecurity": tenant.creds.app_security}
    ).json()["value"]
    with engine.begin() as conn:
        conn.execute(
            sa.update(access_token)
            .where(access_token.c.corp_id == tenant.corp_id)
            .values(expires_at=service.now_ms() - 1)
        )
    query = tenant.client.post(COLLECT_URL, params={"accessToken": pair["accessToken"]}, json={})
    assert query.status_code == 403
    assert query.json()["errorMessage"] == "未授权"
    assert _refresh(tenant, pair["accessToken"], pair["refreshToken"]).status_code == 403


def test_missing_or_unknown_token_is_403(tenant: Tenant) -> None:
    assert tenant.client.post(COLLECT_URL, json={}).status_code == 403
    assert tenant.client.post(COLLECT_URL, params={"accessToken": "nope"}, json={}).status_code == 403


def test_secrets_are_stored_hashed(tenant: Tenant, engine: Engine) -> None:
    token = tenant.token()
    with engine.connect() as conn:
        stored_secret = conn.execute(
            sa.select(api_app.c.secret_hash).where(api_app.c.app_key == tenant.creds.app_key)
        ).scalar_one()
        stored_tokens = conn.execute(
            sa.select(access_token.c.token_hash, access_token.c.refresh_hash).where(
                access_token.c.corp_id == tenant.corp_id
            )
        ).all()
    assert tenant.creds.app_security not in stored_secret
    assert len(stored_secret) == 64
    assert stored_tokens
    assert all(token not in row for row in stored_tokens)


def test_reprs_and_access_logs_do_not_show_secrets(tenant: Tenant) -> None:
    assert tenant.creds.app_security not in repr(tenant.creds)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"{COLLECT_URL}?accessToken=abc123SECRET&x=1", "1.1", 200), None,
    )
    RedactSecrets().filter(record)
    line = record.getMessage()
    assert "abc123SECRET" not in line
    assert "accessToken=***&x=1" in line


EXPIRE_URL = "/api/openapi/v2/auth/refreshToken/expireDate"


def _refresh_until(tenant: Tenant, pair: dict[str, str], expire: object):  # type: ignore[no-untyped-def]
    return tenant.client.post(EXPIRE_URL, params={"accessToken": pair["accessToken"],
                                                  "refreshToken": pair["refreshToken"],
                                                  "expireDate": str(expire), "powerCode": "219904"})


def _pair(tenant: Tenant) -> dict[str, str]:
    return tenant.client.post(  # type: ignore[no-any-return]
        TOKEN_URL, json={"appKey": tenant.creds.app_key, "appSecurity": tenant.creds.app_security}
    ).json()["value"]


def test_refresh_with_expire_date_gives_a_pair_that_lives_until_then(tenant: Tenant, engine: Engine) -> None:
    first = _pair(tenant)
    expire = service.now_ms() + 3 * 24 * 3600 * 1000  # three days: beyond the 2-hour default
    response = _refresh_until(tenant, first, expire)
    assert response.status_code == 200
    second = response.json()["value"]
    assert set(second) == {"accessToken", "refreshToken", "expireTime", "corporationId"}
    assert second["expireTime"] == expire
    assert second["corporationId"] == tenant.corp_id
    with engine.connect() as conn:
        stored = conn.execute(sa.select(access_token.c.expires_at).where(
            access_token.c.token_hash == service.secret_digest(second["accessToken"]))).scalar_one()
    assert stored == expire
    # the new token works, the old pair is spent
    assert tenant.client.post(COLLECT_URL, params={"accessToken": second["accessToken"]}, json={}).status_code == 200
    assert _refresh_until(tenant, first, expire).status_code == 403


def test_refresh_with_expire_date_refuses_past_far_and_malformed_dates(tenant: Tenant) -> None:
    pair = _pair(tenant)
    too_far = service.now_ms() + (service.MAX_EXPIRE_DATE_DAYS + 1) * 24 * 3600 * 1000
    for bad, says in ((service.now_ms() - 1000, "不能早于当前时间"), (too_far, "不能超过 366 天"),
                      ("tomorrow", "毫秒时间戳"), ("", "不能为空")):
        response = _refresh_until(tenant, pair, bad)
        assert response.status_code == 400, bad
        assert says in response.json()["errorMessage"]
        assert response.json()["errorCode"] == 400
    # a refused date spends nothing: the pair still refreshes
    assert _refresh(tenant, pair["accessToken"], pair["refreshToken"]).status_code == 200


def test_refresh_with_expire_date_needs_a_live_matching_pair(tenant: Tenant) -> None:
    a, b = _pair(tenant), _pair(tenant)
    expire = service.now_ms() + 3600 * 1000
    mixed = {"accessToken": a["accessToken"], "refreshToken": b["refreshToken"]}
    assert _refresh_until(tenant, mixed, expire).json()["errorMessage"] == "未授权"
    assert _refresh_until(tenant, {"accessToken": "", "refreshToken": ""}, expire).status_code == 403

def test_nul_or_overlong_keys_are_403_not_500(tenant: Tenant) -> None:
    for key in ("a\x00b", tenant.creds.app_key + "\x00", "k" * 65):
        response = tenant.client.post("/api/openapi/v1/auth/getAccessToken",
                                      json={"appKey": key, "appSecurity": "s\x00"})
        assert response.status_code == 403, response.text
