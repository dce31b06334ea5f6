"""The getInvoiceCollectionData use case: authorise, validate, read one page, wrap it in the envelope.

A request costs one month lookup (token, taxpayer, month row with its count and version, running
tasks: batched with concurrent requests on PostgreSQL) and, unless this process holds the page
under the month's current version, one range read of pre-rendered items. A page this process
does not hold at all is asked for with the lookup, which PostgreSQL answers in the same statement
when the month's chunks are current: the range read is then not needed.
"""

from __future__ import annotations

import math

from fapiaohub import wire
from fapiaohub.auth.service import secret_digest
from fapiaohub.collection.page_cache import PageAddress, PageCache, PageKey
from fapiaohub.collection.query import parse_collection_query
from fapiaohub.collection.repository import MonthLookup, PageReads
from fapiaohub.domain.codes import RESULT_CODES
from fapiaohub.errors import UNAUTHORIZED, BusinessError, HttpError
from fapiaohub.shapes.envelope import envelope
from fapiaohub.store.months import MonthPage, MonthSlot

NOT_ENABLED = RESULT_CODES["500"]
COLLECTING = f"{RESULT_CODES['4008']}：该月份的归集任务尚未完成，请稍后再查询"


async def answer(reads: PageReads, cache: PageCache, access_token: str | None, body: bytes) -> bytes:
    """The whole request, as bytes of the seed's envelope; raises HttpError for HTTP-level failures
    (403 before anything else, then 400 for a body that is not JSON)."""
    if not access_token:
        raise HttpError(403, UNAUTHORIZED)
    digest = secret_digest(access_token)
    try:
        query = parse_collection_query(wire.loads(body))
    except wire.JSONDecodeError as exc:
        await _token_corporation(reads, digest)
        raise HttpError(400, f"请求体不是合法的JSON：{exc}") from None
    except BusinessError as err:
        return envelope(await _token_corporation(reads, digest), err.code, err.message, None)
    offset = (query.current_page - 1) * query.page_size
    address = PageAddress(query.corp_id, query.nsrsbh, query.jxxbz, query.fplx, query.kpyf, offset, query.page_size)
    state = await reads.month_state(MonthLookup(
        digest, query.corp_id, query.nsrsbh, query.jxxbz, query.fplx, query.kpyf,
        page=None if cache.holds(address) else (offset, query.page_size),
    ))
    if not state.authorized:  # a dead token, or a corpId that is not the token's corporation
        raise HttpError(403, UNAUTHORIZED)
    slot = state.slot
    if slot is None or not slot.collection_enabled:
        return envelope(query.corp_id, "500", NOT_ENABLED, None)
    if slot.collecting and slot.invoice_count == 0:
        # reads never wait on a writer: a month with committed data is answered from its last
        # committed state (a task's writes appear at its commit, under a new version); only a month
        # with nothing committed yet, which a running task may be about to fill, answers 4008
        return envelope(query.corp_id, "4008", COLLECTING, None)
    total, items = await _page(reads, cache, slot, address, state.page)
    data = {
        "page": {
            "totalPage": math.ceil(total / query.page_size),
            "pageSize": query.page_size,
            "currentPage": query.current_page,
            "totalCount": total,
        },
        # items are already JSON: embedded verbatim, never parsed and re-encoded (joined: one copy
        # of the ~124 kB of a page, where `b"[" + items + b"]"` makes two)
        "list": wire.Fragment(b"".join((b"[", items, b"]"))),
    }
    return envelope(query.corp_id, "2000", "", data)


async def _token_corporation(reads: PageReads, digest: str) -> str:
    corp_id = await reads.token_corporation(digest)
    if corp_id is None:
        raise HttpError(403, UNAUTHORIZED)
    return corp_id


async def _page(reads: PageReads, cache: PageCache, slot: MonthSlot, address: PageAddress,
                read_along: MonthPage | None) -> tuple[int, bytes]:
    """(totalCount, the page's items joined by commas): read along with the lookup, or from this
    process's cache when it holds the page under the month's current version, else from the
    database (and then cached)."""
    offset, limit = address.offset, address.limit
    if slot.month_id is None or offset >= slot.invoice_count:
        return slot.invoice_count, b""
    page = read_along
    if page is None:
        items = cache.get(PageKey(slot.month_id, slot.version, offset, limit))
        if items is not None:
            return slot.invoice_count, items
        # the month may have changed since the lookup: count and items come from this one read
        page = await reads.month_page(slot.month_id, offset, limit)
    cache.put(PageKey(slot.month_id, page.version, offset, limit), page.items, address)
    return page.invoice_count, page.items
