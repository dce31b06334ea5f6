"""The getInvoiceCollectionData use case: authorise, validate, read one page, wrap it in the envelope."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from fapiaohub import wire
from fapiaohub.api.responses import UNAUTHORIZED, ApiError, envelope
from fapiaohub.auth.service import corporation_for_token
from fapiaohub.collection import repository
from fapiaohub.collection.query import CollectionQuery, QueryError, parse_collection_query
from fapiaohub.domain.codes import RESULT_CODES

NOT_ENABLED = RESULT_CODES["500"]


@dataclass(frozen=True, slots=True)
class CollectionPage:
    total_count: int
    items: list[str]  # pre-rendered JSON items


def read_page(conn: Connection, corp_id: str, query: CollectionQuery) -> CollectionPage:
    """One page of a taxpayer's month; QueryError when the taxpayer is unknown or switched off."""
    slot = repository.find_month(conn, corp_id, query.nsrsbh, query.jxxbz, query.fplx, query.kpyf)
    if slot is None or not slot.collection_enabled:
        raise QueryError("500", NOT_ENABLED)
    if slot.collecting:
        raise QueryError("4008", f"{RESULT_CODES['4008']}：该月份的归集任务尚未完成，请稍后再查询")
    if slot.month_id is None or slot.invoice_count == 0:
        return CollectionPage(0, [])
    offset = (query.current_page - 1) * query.page_size
    if offset >= slot.invoice_count:
        return CollectionPage(slot.invoice_count, [])
    return CollectionPage(slot.invoice_count, repository.page_items(conn, slot.month_id, offset, query.page_size))


def answer(engine: Engine, access_token: str | None, body: bytes) -> bytes:
    """The whole request, as bytes of the seed's envelope; raises ApiError for HTTP-level failures.
    One connection serves the token check and the page: a request is three indexed reads."""
    if not access_token:
        raise ApiError(403, UNAUTHORIZED)
    with engine.connect() as conn:
        corp_id = corporation_for_token(conn, access_token)
        if corp_id is None:
            raise ApiError(403, UNAUTHORIZED)
        try:
            decoded = wire.loads(body)
        except wire.JSONDecodeError as exc:
            raise ApiError(400, f"请求体不是合法的JSON：{exc}") from None
        try:
            query = parse_collection_query(decoded)
            if query.corp_id != corp_id:
                raise ApiError(403, UNAUTHORIZED)
            page = read_page(conn, corp_id, query)
        except QueryError as err:
            return envelope(corp_id, err.code, err.message, None)
    data = {
        "page": {
            "totalPage": math.ceil(page.total_count / query.page_size),
            "pageSize": query.page_size,
            "currentPage": query.current_page,
            "totalCount": page.total_count,
        },
        # items are already JSON: embedded verbatim, never parsed and re-encoded
        "list": [wire.Fragment(item) for item in page.items],
    }
    return envelope(corp_id, "2000", "", data)
