"""The synchronous client: every endpoint of docs/api.md as a typed method; auth, retries and paging hidden."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import httpx

from fapiaohub.client import _core
from fapiaohub.client._core import CollectionPage, RetryPolicy, UnifyVersion, UploadFile
from fapiaohub.client.errors import AuthError, BusinessError
from fapiaohub.client.types import (
    BatchInvoice,
    CollectionItem,
    PushedBatch,
    Relation,
    Task,
    UnifyBatch,
    UnifyCorporation,
    Upstream,
)
from fapiaohub.domain.codes import ACTIVE_TASK_STATES
from fapiaohub.domain.invoice import Invoice
from fapiaohub.shapes.collection_parse import invoice_from_item

__all__ = ["Client", "CollectionPage"]


class Client:
    """A client of fapiaohub (or of Ekuaibao's invoice OpenAPI); use it as a context manager.

    Tokens are fetched on first use, refreshed five minutes before they expire, and fetched anew
    once after a 403. Connection errors, timeouts and HTTP 429/502/503/504 are retried until
    ``retry_deadline`` seconds after the call began (30 s: a server restart is ridden out), waiting
    ``backoff`` × 2^n (at most ``max_backoff``) with jitter, or the server's ``Retry-After``;
    ``retries`` caps the count as well. Other 4xx/5xx and business errors are never retried.
    ``timeout`` bounds each attempt, and never reaches past the deadline.
    """

    def __init__(self, base_url: str, app_key: str, app_security: str, *, timeout: float = 30.0,
                 retry_deadline: float = 30.0, retries: int | None = None, backoff: float = 0.25,
                 max_backoff: float = 2.0, transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self._timeout = timeout
        self._app_key = app_key
        self._app_security = app_security
        self._token: _core.Token | None = None
        self.retry = RetryPolicy(retry_deadline, backoff, max_backoff, retries)

    def __repr__(self) -> str:
        return f"Client(base_url={str(self._http.base_url)!r}, app_key={self._app_key!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- transport ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
              data: dict[str, str] | None = None, files: Sequence[UploadFile] | None = None) -> httpx.Response:
        what = _core.describe(method, path, params)
        start = time.monotonic()
        attempt = 0
        while True:
            error: Exception | None = None
            response: httpx.Response | None = None
            parts = _core.upload_parts(files) if files is not None else None
            timeout = max(0.001, min(self._timeout, self.retry.deadline - (time.monotonic() - start)))
            try:
                response = self._http.request(
                    method, path, params=params, data=data, files=parts, timeout=timeout,
                    content=_core.body_bytes(json) if json is not None else None,
                    headers={"Content-Type": "application/json"} if json is not None else None)
            except httpx.TransportError as exc:
                error = exc
            finally:
                if parts:
                    _core.close_parts(parts)
            elapsed = time.monotonic() - start
            wait = None
            if _core.retryable(error, response, unsent_only=files is not None):
                wait = self.retry.delay(attempt, elapsed, _core.retry_after(response))
            if wait is None:
                return _core.give_up(what, error, response, attempt + 1, elapsed)
            _core.log_retry(what, attempt, wait, elapsed, self.retry, error, response)
            time.sleep(wait)
            attempt += 1

    def token(self) -> _core.Token:
        """The current token (getAccessToken on first use, refreshToken when it nears expiry)."""
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

    def _call(self, call: _core.Call, *, data: dict[str, str] | None = None,
              files: Sequence[UploadFile] | None = None) -> httpx.Response:
        for attempt in range(2):
            response = self._send(call.method, call.path, params={**call.params, "accessToken": self.token().access},
                                  json=call.json, data=data, files=files)
            if response.status_code != 403 or attempt == 1:
                return response
            self._token = None  # the server no longer takes this token: one retry with a new one
        raise AssertionError("unreachable")

    def corp_id(self) -> str:
        """The calling corporation's corpId (the token's)."""
        return self.token().corp_id

    # --- getInvoiceCollectionData -------------------------------------------------------------

    def collection_page(self, nsrsbh: str, kpyf: str | int, jxxbz: str, fplx: str, *, page: int = 1,
                        page_size: int = 100, wait_while_collecting: float | None = None) -> CollectionPage:
        """One page of a taxpayer's month of one kind. ``wait_while_collecting`` (seconds): while a task
        collects that month (business error 4008), ask again every second until then, instead of raising."""
        deadline = None if wait_while_collecting is None else time.monotonic() + wait_while_collecting
        while True:
            call = _core.collection_call(self.corp_id(), nsrsbh, kpyf, jxxbz, fplx, page, page_size)
            try:
                return _core.collection_page(_core.envelope_data(self._call(call)))
            except BusinessError as err:
                pause = _core.collecting_pause(err, deadline, f"{nsrsbh} {kpyf} {jxxbz} {fplx}")
                if pause is None:
                    raise
                time.sleep(pause)

    def iter_items(self, nsrsbh: str, kpyf: str | int, jxxbz: str, fplx: str | None = None, *,
                   page_size: int = 100, wait_while_collecting: float | None = None,
                   ) -> Iterator[tuple[str, CollectionItem]]:
        """(fplx, item) for every invoice of the month, page after page, kind after kind."""
        for kind in _core.kinds(jxxbz, fplx):
            page = 1
            while True:
                result = self.collection_page(nsrsbh, kpyf, jxxbz, kind, page=page, page_size=page_size,
                                              wait_while_collecting=wait_while_collecting)
                for item in result.items:
                    yield kind, item
                if page >= result.total_page:
                    break
                page += 1

    def iter_invoices(self, nsrsbh: str, kpyf: str | int, jxxbz: str, fplx: str | None = None, *,
                      page_size: int = 100, wait_while_collecting: float | None = None) -> Iterator[Invoice]:
        """Every invoice of a taxpayer's month as a typed canonical Invoice (all kinds when no fplx)."""
        for kind, item in self.iter_items(nsrsbh, kpyf, jxxbz, fplx, page_size=page_size,
                                          wait_while_collecting=wait_while_collecting):
            yield invoice_from_item(kind, cast(dict[str, Any], item))

    # --- collection tasks ---------------------------------------------------------------------

    def create_task(self, nsrsbh: str, jxxbz: str, kpyf: str | int, *, fplx: str | None = None,
                    source: str | None = None, upstream: Upstream | None = None) -> Task:
        """Start collecting a month. Safe to retry: the same create while its task is active answers that task."""
        call = _core.create_task_call(self.corp_id(), nsrsbh, jxxbz, kpyf, fplx, source, upstream)
        return _core.task(_core.envelope_data(self._call(call)))

    def task(self, task_id: str) -> Task:
        """A task's state, result code and counts (collectionTask/status)."""
        call = _core.task_call("status", self.corp_id(), task_id)
        return _core.task(_core.envelope_data(self._call(call)))

    def list_tasks(self, nsrsbh: str) -> list[Task]:
        """A taxpayer's latest 100 tasks, newest first."""
        call = _core.list_tasks_call(self.corp_id(), nsrsbh)
        return _core.task_list(_core.envelope_data(self._call(call)))

    def cancel_task(self, task_id: str) -> Task:
        """Cancel a task no worker has started (BusinessError 500 once it has)."""
        call = _core.task_call("cancel", self.corp_id(), task_id)
        return _core.task(_core.envelope_data(self._call(call)))

    def revert_task(self, task_id: str) -> Task:
        """Undo a finished task: the invoices it inserted are deleted, those it changed restored. The
        answer is the task row recording the revert (source "revert"); BusinessError 500 when refused."""
        call = _core.revert_call(self.corp_id(), task_id)
        return _core.task(_core.envelope_data(self._call(call)))

    def upload_files(self, nsrsbh: str, jxxbz: str, files: Sequence[str | Path | tuple[str, bytes]], *,
                     kpyf: str | int | None = None, fplx: str | None = None) -> Task:
        """Import bureau exports, 数电 XML, OFD or PDF files (paths, or (name, bytes)) as a file task.
        Retried only when the upload surely reached no handler (connect errors, 429, 503)."""
        fields = _core.upload_fields(self.corp_id(), nsrsbh, jxxbz, kpyf, fplx)
        call = _core.Call("POST", f"{_core.TASK_PATH}/upload")
        return _core.task(_core.envelope_data(self._call(call, data=fields, files=list(files))))

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

    # --- unify --------------------------------------------------------------------------------

    def unify_corporations(self) -> list[UnifyCorporation]:
        """The unify corporations (统一开票方) that invoice the calling corporation, oldest first."""
        response = self._call(_core.Call("GET", _core.UNIFY_CORPORATIONS_PATH))
        return list(_core.plain_json(response, "items"))

    def unify_batches(self, unify_corporation_id: str, *, index: int = 0, count: int = 10,
                      version: UnifyVersion = "v2.1") -> list[UnifyBatch]:
        """The batches with updateTime > ``index`` (v1: each batch's VAT invoices only)."""
        call = _core.unify_batches_call(unify_corporation_id, index, count, version)
        return _core.unify_batch_list(_core.plain_json(self._call(call), "items"))

    def sync_unify(self, unify_corporation_id: str, *, since: int = 0, checkpoint: str | Path | None = None,
                   version: UnifyVersion = "v2.1", count: int = 10) -> Iterator[UnifyBatch]:
        """Every batch (and every later change of one) after ``since``, following the cursor.

        With ``checkpoint``, the position is read from that file at the start (it wins over
        ``since``) and written once the caller asks for the batch after the one it was handed:
        a restarted sync resumes after the last batch the caller finished, and never skips one.
        The one batch being handled when the caller stopped or died is handed out again (a
        generator cannot tell a deliberate ``break`` from a crash), so handle batches
        idempotently, by ``id`` and ``updateTime``.
        """
        store = _core.Checkpoint(checkpoint, unify_corporation_id) if checkpoint else None
        index = store.load(since) if store else since
        while batches := self.unify_batches(unify_corporation_id, index=index, count=count, version=version):
            for batch in batches:
                yield batch
                index = int(batch["updateTime"])  # reached only when the caller wants the next one
                if store:
                    store.save(index)

    def upsert_unify_corporation(self, *, code: str, name: str, channel: str = "OFFLINE",
                                 active: bool = True) -> UnifyCorporation:
        """Create a unify corporation, or update the one with this ``code`` (fapiaohub's own endpoint)."""
        response = self._call(_core.unify_corporation_call(code, name, channel, active))
        return _core.unify_corporation(_core.plain_json(response, "value"))

    def push_unify_batch(self, unify_corporation_id: str, batch_no: str, invoices: Sequence[BatchInvoice], *,
                         relation: Sequence[Relation] = (), period: str | None = None) -> PushedBatch:
        """Push a batch (fapiaohub's own endpoint); pushing ``batch_no`` again replaces it with a new updateTime."""
        call = _core.push_batch_call(unify_corporation_id, batch_no, invoices, relation, period)
        return _core.pushed_batch(_core.plain_json(self._call(call), "value"))
