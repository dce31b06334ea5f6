"""The synchronous client: auth handled for the caller, retries, iterators that hide paging."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fapiaohub.client import _core
from fapiaohub.client.errors import AuthError, FapiaohubError
from fapiaohub.client.types import CollectionItem, Task, UnifyBatch
from fapiaohub.domain.codes import ACTIVE_TASK_STATES, kinds_for
from fapiaohub.domain.invoice import Invoice
from fapiaohub.shapes.collection_parse import invoice_from_item


@dataclass(frozen=True, slots=True)
class CollectionPage:
    total_count: int
    total_page: int
    items: list[CollectionItem]  # the seed's item shape of the page's family, Decimal amounts


class Client:
    """A client of getInvoiceCollectionData, collection tasks and unify; use it as a context manager.

    Tokens are fetched on first use, refreshed five minutes before they expire, and fetched anew
    once after a 403. Connection errors, timeouts and 5xx are retried ``retries`` times with
    exponential backoff and jitter; 4xx and business errors (BusinessError) are not.
    """

    def __init__(self, base_url: str, app_key: str, app_security: str, *, timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.5, transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self._app_key = app_key
        self._app_security = app_security
        self._token: _core.Token | None = None
        self.retries = retries
        self.backoff = backoff

    def __repr__(self) -> str:
        return f"Client(base_url={str(self._http.base_url)!r}, app_key={self._app_key!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- transport ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            error: Exception | None = None
            response = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                error = exc
            if attempt == self.retries or not _core.retryable(error, response):
                if error is not None:
                    raise FapiaohubError(f"{method} {path}: {type(error).__name__}: {error}") from error
                assert response is not None
                return response
            time.sleep(_core.backoff(attempt, self.backoff))
        raise AssertionError("unreachable")

    def token(self) -> _core.Token:
        """The current token, fetched or refreshed as needed."""
        if self._token is not None and self._token.fresh():
            return self._token
        if self._token is not None:
            try:
                self._token = _core.token_from(self._send(
                    "POST", _core.REFRESH_PATH, params={"accessToken": self._token.access,
                                                        "refreshToken": self._token.refresh, "powerCode": "219904"}))
                return self._token
            except AuthError:
                self._token = None  # expired or rotated elsewhere: sign in again
        self._token = _core.token_from(self._send(
            "POST", _core.TOKEN_PATH, json={"appKey": self._app_key, "appSecurity": self._app_security}))
        return self._token

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
              json: Any = None) -> httpx.Response:
        for attempt in range(2):
            response = self._send(method, path, params={**(params or {}), "accessToken": self.token().access},
                                  json=json)
            if response.status_code != 403 or attempt == 1:
                return response
            self._token = None  # the server no longer takes this token: one retry with a new one
        raise AssertionError("unreachable")

    @property
    def corporation_id(self) -> str:
        return self.token().corporation_id

    # --- collection ------------------------------------------------------------------------------

    def collection_page(self, nsrsbh: str, kpyf: str, jxxbz: str, fplx: str, *, page: int = 1,
                        page_size: int = 100) -> CollectionPage:
        body = _core.collection_body(self.corporation_id, nsrsbh, kpyf, jxxbz, fplx, page, page_size)
        data = _core.envelope_data(self._call("POST", _core.COLLECTION_PATH, json=body))
        return CollectionPage(int(data["page"]["totalCount"]), int(data["page"]["totalPage"]), data["list"])

    def iter_items(self, nsrsbh: str, kpyf: str, jxxbz: str, fplx: str | None = None, *,
                   page_size: int = 100) -> Iterator[tuple[str, CollectionItem]]:
        """(fplx, item) for every invoice of the month, page after page, kind after kind."""
        for kind in kinds(jxxbz, fplx):
            page = 1
            while True:
                result = self.collection_page(nsrsbh, kpyf, jxxbz, kind, page=page, page_size=page_size)
                for item in result.items:
                    yield kind, item
                if page >= result.total_page:
                    break
                page += 1

    def iter_invoices(self, nsrsbh: str, kpyf: str, jxxbz: str, fplx: str | None = None) -> Iterator[Invoice]:
        """Every invoice of a taxpayer's month as a typed canonical Invoice (all kinds when no fplx)."""
        for kind, item in self.iter_items(nsrsbh, kpyf, jxxbz, fplx):
            yield invoice_from_item(kind, item)

    # --- tasks -------------------------------------------------------------------------------

    def create_task(self, nsrsbh: str, jxxbz: str, kpyf: str, *, fplx: str | None = None,
                    source: str = "sandbox", upstream: dict[str, str] | None = None) -> Task:
        body = {"corpId": self.corporation_id, "nsrsbh": nsrsbh, "jxxbz": jxxbz, "kpyf": kpyf,
                "fplx": fplx or "", "source": source, **({"upstream": upstream} if upstream else {})}
        return _core.envelope_data(self._call("POST", f"{_core.TASK_PATH}/create", json=body))

    def task(self, task_id: str) -> Task:
        body = {"corpId": self.corporation_id, "taskId": task_id}
        return _core.envelope_data(self._call("POST", f"{_core.TASK_PATH}/status", json=body))

    def wait_for_task(self, task_id: str, *, timeout: float = 300.0, poll: float = 1.0) -> Task:
        """Poll until the task is no longer waiting or running; TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(task_id)
            if task["state"] not in ACTIVE_TASK_STATES:
                return task
            if time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} still {task['state']} after {timeout} s")
            time.sleep(poll)

    # --- unify -------------------------------------------------------------------------------

    def unify_corporations(self) -> list[dict[str, Any]]:
        response = self._call("GET", _core.UNIFY_CORPORATIONS_PATH)
        _core.raise_for_status(response)
        return _core.decode(response)["items"]

    def unify_batches(self, corporation_id: str, index: int = 0, count: int = 10) -> list[UnifyBatch]:
        response = self._call("GET", _core.UNIFY_PATH, params={
            "unifyInvoiceCorporationId": corporation_id, "index": index, "count": count})
        _core.raise_for_status(response)
        return _core.decode(response)["items"]

    def sync_unify(self, corporation_id: str, since: int = 0, *,
                   checkpoint: Path | str | None = None) -> Iterator[UnifyBatch]:
        """Every batch (and every later change of one) after ``since``, following the cursor.

        With ``checkpoint``, the position is read from that file at the start (it wins over
        ``since``) and written once the caller asks for the batch after the one it was handed:
        a restarted sync resumes after the last batch the caller finished, and never skips one.
        The one batch being handled when the caller stopped or died is handed out again (a
        generator cannot tell a deliberate ``break`` from a crash), so handle batches
        idempotently, by ``id`` and ``updateTime``.
        """
        store = Checkpoint(Path(checkpoint), corporation_id) if checkpoint else None
        index = store.load(since) if store else since
        while batches := self.unify_batches(corporation_id, index):
            for batch in batches:
                yield batch
                index = int(batch["updateTime"])  # reached only when the caller wants the next one
                if store:
                    store.save(index)


def kinds(jxxbz: str, fplx: str | None) -> list[str]:
    return [fplx] if fplx is not None else kinds_for(jxxbz)


class Checkpoint:
    """The sync position, written atomically (write a temporary file, then rename)."""

    def __init__(self, path: Path, corporation_id: str) -> None:
        self.path = path
        self.corporation_id = corporation_id

    def load(self, default: int) -> int:
        if not self.path.exists():
            return default
        saved = json.loads(self.path.read_text())
        if saved.get("unifyInvoiceCorporationId") != self.corporation_id:
            raise FapiaohubError(f"{self.path} is the checkpoint of {saved.get('unifyInvoiceCorporationId')!r}, "
                                 f"not of {self.corporation_id!r}")
        return int(saved["index"])

    def save(self, index: int) -> None:
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps({"unifyInvoiceCorporationId": self.corporation_id, "index": index}))
        temporary.replace(self.path)
