"""The asynchronous twin of Client: the same calls, awaited; the same rules from _core."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from fapiaohub.client import _core
from fapiaohub.client.errors import AuthError, FapiaohubError
from fapiaohub.client.sync import Checkpoint, CollectionPage, kinds
from fapiaohub.client.types import CollectionItem, Task, UnifyBatch
from fapiaohub.domain.codes import ACTIVE_TASK_STATES
from fapiaohub.domain.invoice import Invoice
from fapiaohub.shapes.collection_parse import invoice_from_item


class AsyncClient:
    """``async with AsyncClient(...) as client``; see Client for the rules it follows."""

    def __init__(self, base_url: str, app_key: str, app_security: str, *, timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.5, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self._app_key = app_key
        self._app_security = app_security
        self._token: _core.Token | None = None
        self._token_lock = asyncio.Lock()  # concurrent calls share one sign-in
        self.retries = retries
        self.backoff = backoff

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={str(self._http.base_url)!r}, app_key={self._app_key!r})"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            error: Exception | None = None
            response = None
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                error = exc
            if attempt == self.retries or not _core.retryable(error, response):
                if error is not None:
                    raise FapiaohubError(f"{method} {path}: {type(error).__name__}: {error}") from error
                assert response is not None
                return response
            await asyncio.sleep(_core.backoff(attempt, self.backoff))
        raise AssertionError("unreachable")

    async def token(self) -> _core.Token:
        async with self._token_lock:
            if self._token is not None and self._token.fresh():
                return self._token
            if self._token is not None:
                try:
                    self._token = _core.token_from(await self._send(
                        "POST", _core.REFRESH_PATH, params={"accessToken": self._token.access,
                                                            "refreshToken": self._token.refresh,
                                                            "powerCode": "219904"}))
                    return self._token
                except AuthError:
                    self._token = None
            self._token = _core.token_from(await self._send(
                "POST", _core.TOKEN_PATH, json={"appKey": self._app_key, "appSecurity": self._app_security}))
            return self._token

    async def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                    json: Any = None) -> httpx.Response:
        for attempt in range(2):
            token = await self.token()
            response = await self._send(method, path, params={**(params or {}), "accessToken": token.access},
                                        json=json)
            if response.status_code != 403 or attempt == 1:
                return response
            self._token = None
        raise AssertionError("unreachable")

    async def corporation_id(self) -> str:
        return (await self.token()).corporation_id

    async def collection_page(self, nsrsbh: str, kpyf: str, jxxbz: str, fplx: str, *, page: int = 1,
                              page_size: int = 100) -> CollectionPage:
        body = _core.collection_body(await self.corporation_id(), nsrsbh, kpyf, jxxbz, fplx, page, page_size)
        data = _core.envelope_data(await self._call("POST", _core.COLLECTION_PATH, json=body))
        return CollectionPage(int(data["page"]["totalCount"]), int(data["page"]["totalPage"]), data["list"])

    async def iter_items(self, nsrsbh: str, kpyf: str, jxxbz: str, fplx: str | None = None, *,
                         page_size: int = 100) -> AsyncIterator[tuple[str, CollectionItem]]:
        for kind in kinds(jxxbz, fplx):
            page = 1
            while True:
                result = await self.collection_page(nsrsbh, kpyf, jxxbz, kind, page=page, page_size=page_size)
                for item in result.items:
                    yield kind, item
                if page >= result.total_page:
                    break
                page += 1

    async def iter_invoices(self, nsrsbh: str, kpyf: str, jxxbz: str,
                            fplx: str | None = None) -> AsyncIterator[Invoice]:
        async for kind, item in self.iter_items(nsrsbh, kpyf, jxxbz, fplx):
            yield invoice_from_item(kind, item)

    async def create_task(self, nsrsbh: str, jxxbz: str, kpyf: str, *, fplx: str | None = None,
                          source: str = "sandbox", upstream: dict[str, str] | None = None) -> Task:
        body = {"corpId": await self.corporation_id(), "nsrsbh": nsrsbh, "jxxbz": jxxbz, "kpyf": kpyf,
                "fplx": fplx or "", "source": source, **({"upstream": upstream} if upstream else {})}
        return _core.envelope_data(await self._call("POST", f"{_core.TASK_PATH}/create", json=body))

    async def task(self, task_id: str) -> Task:
        body = {"corpId": await self.corporation_id(), "taskId": task_id}
        return _core.envelope_data(await self._call("POST", f"{_core.TASK_PATH}/status", json=body))

    async def wait_for_task(self, task_id: str, *, timeout: float = 300.0, poll: float = 1.0) -> Task:
        deadline = time.monotonic() + timeout
        while True:
            task = await self.task(task_id)
            if task["state"] not in ACTIVE_TASK_STATES:
                return task
            if time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} still {task['state']} after {timeout} s")
            await asyncio.sleep(poll)

    async def unify_corporations(self) -> list[dict[str, Any]]:
        response = await self._call("GET", _core.UNIFY_CORPORATIONS_PATH)
        _core.raise_for_status(response)
        return _core.decode(response)["items"]

    async def unify_batches(self, corporation_id: str, index: int = 0, count: int = 10) -> list[UnifyBatch]:
        response = await self._call("GET", _core.UNIFY_PATH, params={
            "unifyInvoiceCorporationId": corporation_id, "index": index, "count": count})
        _core.raise_for_status(response)
        return _core.decode(response)["items"]

    async def sync_unify(self, corporation_id: str, since: int = 0, *,
                         checkpoint: Path | str | None = None) -> AsyncIterator[UnifyBatch]:
        store = Checkpoint(Path(checkpoint), corporation_id) if checkpoint else None
        index = store.load(since) if store else since
        while batches := await self.unify_batches(corporation_id, index):
            for batch in batches:
                yield batch
                index = int(batch["updateTime"])
                if store:
                    store.save(index)
