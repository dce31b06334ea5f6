"""The sans-I/O half of the SDK: requests to build, answers to judge, shared by Client and AsyncClient."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from fapiaohub.client.errors import AuthError, BusinessError, FapiaohubError
from fapiaohub.client.redact import RedactSecrets

# httpx logs every request's full URL at INFO, and the API carries accessToken in the query string
logging.getLogger("httpx").addFilter(RedactSecrets())

TOKEN_PATH = "/api/openapi/v1/auth/getAccessToken"
REFRESH_PATH = "/api/openapi/v2/auth/refreshToken"
COLLECTION_PATH = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"
TASK_PATH = "/api/openapi/v2/invoice/v2/collectionTask"
UNIFY_CORPORATIONS_PATH = "/api/openapi/v1/invoice/unify/corporation/list"
UNIFY_PATH = "/api/openapi/v2.1/invoice/unify"
REFRESH_MARGIN_MS = 5 * 60 * 1000  # refresh a token this long before it expires


@dataclass(slots=True)
class Token:
    access: str
    refresh: str
    expires_ms: int
    corporation_id: str

    def __repr__(self) -> str:  # never print a token
        return f"Token(corporation_id={self.corporation_id!r}, expires_ms={self.expires_ms})"

    def fresh(self) -> bool:
        return time.time() * 1000 < self.expires_ms - REFRESH_MARGIN_MS


def decode(response: httpx.Response) -> Any:
    """JSON with Decimal for every non-integer number, so amounts keep their digits."""
    try:
        return json.loads(response.text, parse_float=Decimal)
    except ValueError:
        raise FapiaohubError(f"HTTP {response.status_code}: not JSON: {response.text[:200]!r}") from None


def token_from(response: httpx.Response) -> Token:
    if response.status_code == 403:
        raise AuthError(_error_message(response))
    raise_for_status(response)
    value = decode(response)["value"]
    return Token(value["accessToken"], value["refreshToken"], int(value["expireTime"]), value["corporationId"])


def _error_message(response: httpx.Response) -> str:
    try:
        return str(json.loads(response.text).get("errorMessage") or response.text[:200])
    except (ValueError, AttributeError):
        return response.text[:200]


def raise_for_status(response: httpx.Response) -> None:
    """HTTP errors as exceptions: 403 → AuthError, other 4xx/5xx → FapiaohubError with the message."""
    if response.status_code == 403:
        raise AuthError(_error_message(response))
    if response.status_code >= 400:
        raise FapiaohubError(f"HTTP {response.status_code}: {_error_message(response)}", status=response.status_code)


def envelope_data(response: httpx.Response) -> Any:
    """The ``data`` of a successful envelope; BusinessError with code, message and reqId otherwise."""
    raise_for_status(response)
    value = decode(response)["value"]
    if not value.get("success"):
        raise BusinessError(str(value.get("code")), str(value.get("message")), str(value.get("reqId") or ""))
    return value["data"]


def retryable(error: Exception | None, response: httpx.Response | None) -> bool:
    """Connection errors, timeouts and 5xx are retried; 4xx and business errors never are."""
    if error is not None:
        return isinstance(error, (httpx.TransportError,))
    return response is not None and response.status_code >= 500


def backoff(attempt: int, base: float) -> float:
    """Exponential backoff with full jitter: a random delay up to base × 2^attempt."""
    return random.uniform(0, base * (2**attempt))


def collection_body(corp_id: str, nsrsbh: str, kpyf: str, jxxbz: str, fplx: str, page: int,
                    page_size: int) -> dict[str, Any]:
    return {"corpId": corp_id, "nsrsbh": nsrsbh, "fplx": fplx, "kpyf": kpyf, "jxxbz": jxxbz,
            "page": {"pageSize": page_size, "currentPage": page}}
