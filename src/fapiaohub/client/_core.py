"""The sans-I/O half of the SDK: requests to build, answers to judge, the retry policy; shared by Client and
AsyncClient so that the two differ only in how they wait and send."""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from fapiaohub.client.errors import AuthError, BusinessError, FapiaohubError
from fapiaohub.client.redact import RedactSecrets, redact
from fapiaohub.client.types import (
    BatchInvoice,
    PushedBatch,
    Relation,
    Task,
    UnifyBatch,
    UnifyCorporation,
    Upstream,
)
from fapiaohub.domain.codes import kinds_for
from fapiaohub.domain.invoice import Invoice
from fapiaohub.wire import dumps as wire_dumps

# httpx logs every request's full URL at INFO, and the API carries accessToken in the query string
logging.getLogger("httpx").addFilter(RedactSecrets())
log = logging.getLogger("fapiaohub.client")
log.addFilter(RedactSecrets())

TOKEN_PATH = "/api/openapi/v1/auth/getAccessToken"
REFRESH_PATH = "/api/openapi/v2/auth/refreshToken"
COLLECTION_PATH = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"
TASK_PATH = "/api/openapi/v2/invoice/v2/collectionTask"
UNIFY_CORPORATIONS_PATH = "/api/openapi/v1/invoice/unify/corporation/list"
UNIFY_PATHS = {"v2.1": "/api/openapi/v2.1/invoice/unify", "v1": "/api/openapi/v1/invoice/unify"}
UNIFY_CORPORATION_WRITE_PATH = "/api/openapi/fapiaohub/v1/unify/corporation"
UNIFY_BATCH_WRITE_PATH = "/api/openapi/fapiaohub/v1/unify/batch"
TASK_REVERT_PATH = "/api/openapi/fapiaohub/v1/collectionTask/revert"
REFRESH_MARGIN_MS = 5 * 60 * 1000  # refresh a token this long before it expires
COLLECTING = "4008"  # 当前税号在税局有正在执行的任务: the month is being collected
COLLECTING_POLL = 1.0  # seconds between page reads while waiting for a collection to end
RETRY_STATUSES = frozenset({429, 502, 503, 504})  # the server (or its proxy) says "not now", nothing done

UnifyVersion = Literal["v2.1", "v1"]


@dataclass(slots=True)
class Token:
    access: str
    refresh: str
    expires_ms: int
    corp_id: str  # the calling corporation (corpId), the one the token belongs to

    def __repr__(self) -> str:  # never print a token
        return f"Token(corp_id={self.corp_id!r}, expires_ms={self.expires_ms})"

    def fresh(self) -> bool:
        return time.time() * 1000 < self.expires_ms - REFRESH_MARGIN_MS


@dataclass(frozen=True, slots=True)
class CollectionPage:
    total_count: int
    total_page: int
    items: list[Any]  # CollectionItem: the seed's item shape of the page's family, Decimal amounts


# --- retries ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try a call again. ``deadline`` bounds a whole call (every attempt and every wait): no
    attempt starts after it and each attempt's timeout is cut to what is left. The wait before retry n
    is ``backoff`` × 2^n capped at ``max_backoff``, jittered to between half and all of it, or the
    server's ``Retry-After``; ``retries`` (None: no limit but the deadline) caps the count."""

    deadline: float = 30.0
    backoff: float = 0.25
    max_backoff: float = 2.0
    retries: int | None = None

    def delay(self, attempt: int, elapsed: float, retry_after: float | None) -> float | None:
        """Seconds to wait before the attempt after ``attempt`` (0-based), or None to give up."""
        if self.retries is not None and attempt >= self.retries:
            return None
        if retry_after is not None:
            wait = retry_after
        else:
            cap = min(self.max_backoff, self.backoff * 2**attempt)
            wait = random.uniform(cap / 2, cap)
        return wait if elapsed + wait < self.deadline else None


def retry_after(response: httpx.Response | None) -> float | None:
    """The ``Retry-After`` of a response in seconds (delta-seconds or an HTTP date), else None."""
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def retryable(error: Exception | None, response: httpx.Response | None, *, unsent_only: bool = False) -> bool:
    """Whether to try again: transport errors and 429/502/503/504 (never other 4xx/5xx, never business
    errors). ``unsent_only`` (uploads) retries only what surely reached no handler: failed connects, 429, 503."""
    if error is not None:
        if unsent_only:
            return isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
        return isinstance(error, httpx.TransportError)
    if response is None:
        return False
    return response.status_code in ({429, 503} if unsent_only else RETRY_STATUSES)


def describe(method: str, path: str, params: Mapping[str, Any] | None) -> str:
    """The request as logs and error messages show it, the token masked."""
    return redact(f"{method} {path}" + (f"?{urlencode(dict(params))}" if params else ""))


def give_up(what: str, error: Exception | None, response: httpx.Response | None, attempts: int,
            elapsed: float) -> httpx.Response:
    """The last answer when retries are over: the response itself, or the transport error raised."""
    if error is None:
        assert response is not None
        return response
    raise FapiaohubError(f"{what}: {type(error).__name__}: {error} (after {attempts} attempts in {elapsed:.1f} s)"
                         ) from error


def log_retry(what: str, attempt: int, wait: float, elapsed: float, policy: RetryPolicy,
              error: Exception | None, response: httpx.Response | None) -> None:
    status = response.status_code if response is not None else "?"
    reason = f"{type(error).__name__}: {error}" if error is not None else f"HTTP {status}"
    log.debug("retrying %s in %.2f s (attempt %d failed, %.1f of %.1f s used): %s",
              what, wait, attempt + 1, elapsed, policy.deadline, reason)


# --- answers ------------------------------------------------------------------------------------

def decode(response: httpx.Response) -> Any:
    """JSON with Decimal for every non-integer number, so amounts keep their digits."""
    try:
        return json.loads(response.text, parse_float=Decimal)
    except ValueError:
        raise FapiaohubError(f"HTTP {response.status_code}: not JSON: {response.text[:200]!r}",
                             status=response.status_code) from None


def token_from(response: httpx.Response) -> Token:
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


def plain_json(response: httpx.Response, key: str) -> Any:
    """``body[key]`` of an endpoint that answers plain JSON (unify), HTTP errors raised."""
    raise_for_status(response)
    return decode(response)[key]


def collecting_pause(error: BusinessError, deadline: float | None, what: str) -> float | None:
    """Seconds to wait before reading a page again while its month is being collected (4008), or None
    to raise: not a 4008, no ``wait_while_collecting`` given, or its time is up."""
    if error.code != COLLECTING or deadline is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    pause = min(COLLECTING_POLL, remaining)
    log.debug("%s: month being collected (4008), asking again in %.1f s (%.1f s left)", what, pause, remaining)
    return pause


# --- requests -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Call:
    """One API request, before the token is added."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None


def month(kpyf: str | int) -> str:
    """``kpyf`` as the API's yyyyMM string (202503 and "202503" alike)."""
    if isinstance(kpyf, bool) or not isinstance(kpyf, (str, int)):
        raise TypeError(f"kpyf must be yyyyMM as str or int, not {type(kpyf).__name__}")
    return str(kpyf).strip()


def kinds(jxxbz: str, fplx: str | None) -> list[str]:
    return [fplx] if fplx is not None else kinds_for(jxxbz)


def collection_call(corp_id: str, nsrsbh: str, kpyf: str | int, jxxbz: str, fplx: str, page: int,
                    page_size: int) -> Call:
    return Call("POST", COLLECTION_PATH, json={
        "corpId": corp_id, "nsrsbh": nsrsbh, "fplx": fplx, "kpyf": month(kpyf), "jxxbz": jxxbz,
        "page": {"pageSize": page_size, "currentPage": page}})


def collection_page(data: Any) -> CollectionPage:
    return CollectionPage(int(data["page"]["totalCount"]), int(data["page"]["totalPage"]), data["list"])


def create_task_call(corp_id: str, nsrsbh: str, jxxbz: str, kpyf: str | int, fplx: str | None, source: str | None,
                     upstream: Upstream | None) -> Call:
    body: dict[str, Any] = {"corpId": corp_id, "nsrsbh": nsrsbh, "jxxbz": jxxbz, "kpyf": month(kpyf),
                            "fplx": fplx or ""}
    if source is not None:  # without it the server uses the taxpayer's channel
        body["source"] = source
    if upstream is not None:
        body["upstream"] = dict(upstream)
    return Call("POST", f"{TASK_PATH}/create", json=body)


def task_call(action: Literal["status", "cancel"], corp_id: str, task_id: str) -> Call:
    return Call("POST", f"{TASK_PATH}/{action}", json={"corpId": corp_id, "taskId": task_id})


def revert_call(corp_id: str, task_id: str) -> Call:
    return Call("POST", TASK_REVERT_PATH, json={"corpId": corp_id, "taskId": task_id})


def list_tasks_call(corp_id: str, nsrsbh: str) -> Call:
    return Call("POST", f"{TASK_PATH}/list", json={"corpId": corp_id, "nsrsbh": nsrsbh})


def task(data: Any) -> Task:
    return data


def task_list(data: Any) -> list[Task]:
    return list(data["list"])


def upload_fields(corp_id: str, nsrsbh: str, jxxbz: str, kpyf: str | int | None, fplx: str | None) -> dict[str, str]:
    fields = {"corpId": corp_id, "nsrsbh": nsrsbh, "jxxbz": jxxbz}
    if kpyf is not None:
        fields["kpyf"] = month(kpyf)
    if fplx is not None:
        fields["fplx"] = fplx
    return fields


def unify_batches_call(unify_corporation_id: str, index: int, count: int, version: UnifyVersion) -> Call:
    if version not in UNIFY_PATHS:
        raise ValueError(f"version must be one of {', '.join(UNIFY_PATHS)}, not {version!r}")
    return Call("GET", UNIFY_PATHS[version], params={
        "unifyInvoiceCorporationId": unify_corporation_id, "index": index, "count": count})


def unify_corporation_call(code: str, name: str, channel: str, active: bool) -> Call:
    return Call("POST", UNIFY_CORPORATION_WRITE_PATH,
                json={"code": code, "name": name, "channel": channel, "active": active})


def push_batch_call(unify_corporation_id: str, batch_no: str, invoices: Sequence[BatchInvoice],
                    relation: Sequence[Relation], period: str | None) -> Call:
    return Call("POST", UNIFY_BATCH_WRITE_PATH, json={
        "unifyInvoiceCorporationId": unify_corporation_id, "batchNo": batch_no, "period": period,
        "invoices": [_batch_invoice(entry) for entry in invoices], "relation": [dict(r) for r in relation]})


def _batch_invoice(entry: BatchInvoice) -> dict[str, Any]:
    """A batch entry as the wire wants it: an ``Invoice`` object becomes its document (money as strings)."""
    out: dict[str, Any] = dict(entry)
    if isinstance(out.get("invoice"), Invoice):
        out["invoice"] = out["invoice"].to_doc()
    return out


def unify_corporation(value: Any) -> UnifyCorporation:
    return value


def pushed_batch(value: Any) -> PushedBatch:
    return value


def unify_batch_list(items: Any) -> list[UnifyBatch]:
    return list(items)


def body_bytes(value: Any) -> bytes:
    """JSON bodies leave through wire.dumps, so Decimals go as exact numbers."""
    return wire_dumps(value)


class Checkpoint:
    """The unify sync position, written atomically (write a temporary file, then rename)."""

    def __init__(self, path: str | os.PathLike[str], unify_corporation_id: str) -> None:
        self.path = Path(path)
        self.unify_corporation_id = unify_corporation_id

    def load(self, default: int) -> int:
        if not self.path.exists():
            return default
        saved = json.loads(self.path.read_text())
        if saved.get("unifyInvoiceCorporationId") != self.unify_corporation_id:
            raise FapiaohubError(f"{self.path} is the checkpoint of {saved.get('unifyInvoiceCorporationId')!r}, "
                                 f"not of {self.unify_corporation_id!r}")
        return int(saved["index"])

    def save(self, index: int) -> None:
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps({"unifyInvoiceCorporationId": self.unify_corporation_id, "index": index}))
        temporary.replace(self.path)


UploadFile = str | os.PathLike[str] | tuple[str, bytes]  # a path, or (file name, content)


def upload_parts(files: Sequence[UploadFile]) -> list[tuple[str, tuple[str, Any]]]:
    """Multipart ``files`` parts, opened afresh for every attempt (a retry re-reads each file)."""
    if not files:
        raise ValueError("upload_files needs at least one file")
    parts: list[tuple[str, tuple[str, Any]]] = []
    for entry in files:
        if isinstance(entry, tuple):
            parts.append(("files", (entry[0], entry[1])))
        else:
            path = Path(entry)
            parts.append(("files", (path.name, path.open("rb"))))
    return parts


def close_parts(parts: list[tuple[str, tuple[str, Any]]]) -> None:
    for _, (_, content) in parts:
        if hasattr(content, "close"):
            content.close()
