"""Unified invoicing (统一开票): corporations, batch pushes with a safe cursor, and the batch reads.

A batch's updateTime is the cursor of GET /invoice/unify. It is handed out under a row lock on the
unify corporation (last_batch_time), held until the pushing transaction commits: a later batch
can only get a larger time after every earlier one is visible, so a reader that has passed time T
can never miss a batch that commits later with a time ≤ T.
"""

from __future__ import annotations

import re
import secrets
import string
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from fapiaohub import wire
from fapiaohub.auth.service import now_ms, secret_digest
from fapiaohub.domain.invoice import Invoice
from fapiaohub.domain.validation import Finding, validate_invoice, write_findings
from fapiaohub.errors import UNAUTHORIZED, HttpError
from fapiaohub.metrics import UNIFY_READS
from fapiaohub.shapes.entity_form import CHINA, VAT_KINDS, name_spell
from fapiaohub.store import taxpayers as taxpayer_store
from fapiaohub.store.entities import render_listed
from fapiaohub.store.invoices import store_invoices
from fapiaohub.unify import repository
from fapiaohub.unify.batch_cache import BatchCache, BatchKey
from fapiaohub.unify.repository import Batch, BatchReads

_ALPHABET = string.ascii_letters + string.digits
UPSERT_ATTEMPTS = 3
RELATION_KEYS = ("flowId", "flowCode", "feeDetailId", "invoiceDetailId", "invoiceId")
MAX_COUNT = 10
_CACHED, _READ = UNIFY_READS.labels("cached"), UNIFY_READS.labels("read")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # BIGINT: a cursor beyond it is the caller's error, not a 500


def _new_id(prefix: str = "ID01") -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def corporation_item(row: Any) -> dict[str, Any]:
    """A unify corporation as 获取统一开票方 lists it."""
    return {
        "id": row.id, "version": row.version, "active": row.active, "createTime": row.create_time,
        "updateTime": row.update_time, "name": row.name, "nameSpell": row.name_spell,
        "code": row.code, "corporationId": row.corp_id, "channel": row.channel,
    }


def upsert_corporation(
    conn: Connection, corp_id: str, *, code: str, name: str, channel: str = "OFFLINE", active: bool = True
) -> dict[str, Any]:
    """Create a unify corporation, or update the one with this code (its id never changes)."""
    existing = repository.find_corporation(conn, corp_id, code)
    values = {"name": name, "name_spell": name_spell(name), "channel": channel, "active": active,
              "update_time": now_ms()}
    if existing is None:
        repository.insert_corporation(conn, {"id": _new_id(""), "corp_id": corp_id, "code": code, "version": 1,
                                             "create_time": values["update_time"], "last_batch_time": 0, **values})
    else:
        repository.update_corporation(conn, existing.id, {"version": repository.NEXT_VERSION, **values})
    return corporation_item(repository.find_corporation(conn, corp_id, code))


def put_corporation(engine: Engine, corp_id: str, **fields: Any) -> dict[str, Any]:
    """upsert_corporation in a transaction of its own, retried when a concurrent call created the same
    code first (the unique (corp_id, code) refused our insert): the retry finds the row and updates it."""
    for _ in range(UPSERT_ATTEMPTS - 1):
        try:
            with engine.begin() as conn:
                return upsert_corporation(conn, corp_id, **fields)
        except IntegrityError:
            continue  # the other writer's row is committed now: the next attempt updates it
    with engine.begin() as conn:
        return upsert_corporation(conn, corp_id, **fields)


def list_corporations(conn: Connection, corp_id: str) -> list[dict[str, Any]]:
    return [corporation_item(row) for row in repository.list_corporations(conn, corp_id)]


@dataclass(frozen=True, slots=True)
class InvoiceRef:
    """A batch entry: an invoice already stored (``invoice`` None) or one to store first."""

    nsrsbh: str  # the collecting taxpayer (the buyer: unify invoices are 进项)
    key: str | None = None  # identity of a stored invoice
    invoice: Invoice | None = None


@dataclass(frozen=True, slots=True)
class BatchPush:
    unify_corp_id: str
    batch_no: str
    period: str | None
    invoices: list[InvoiceRef]
    relations: list[dict[str, str]]


def check_invoices(refs: list[InvoiceRef]) -> None:
    """The importers' rules for every invoice of a push, before any statement: text (NUL, length),
    amounts to the cent, kind, identity and amounts (validate_invoice), and the collecting taxpayer
    on the buyer side (unify invoices are 进项). 400 naming the first bad field: ``invoices[3].je: …``."""
    for position, ref in enumerate(refs):
        inv = ref.invoice
        if inv is None:
            continue
        if inv.kprq.tzinfo is not None:  # stored naive, in China time, like every importer's
            inv.kprq = inv.kprq.astimezone(CHINA).replace(tzinfo=None)
        findings = write_findings(inv) or [f for f in validate_invoice(inv) if f.severity == "reject"]
        if not findings and inv.gfsbh != ref.nsrsbh:
            findings = [Finding("gfsbh", f"购买方纳税人识别号{inv.gfsbh!r}不是收票纳税人{ref.nsrsbh}"
                                         "（统一开票的发票是进项：购买方须为nsrsbh）", "reject")]
        if findings:
            raise HttpError(400, f"invoices[{position}].{findings[0].field}: {findings[0].message}")


def push_batch(conn: Connection, corp_id: str, push: BatchPush) -> dict[str, Any]:
    """Create or replace a batch (by batchNo) and give it the next updateTime. Caller commits."""
    check_invoices(push.invoices)
    last_batch_time = repository.lock_corporation(conn, corp_id, push.unify_corp_id)
    if last_batch_time is None:
        raise HttpError(400, f"unifyInvoiceCorporationId {push.unify_corp_id!r} 不存在：请先创建统一开票方")
    invoice_ids = _resolve_invoices(conn, corp_id, push.invoices)
    update_time = max(now_ms(), last_batch_time + 1)
    relations = wire.dumps([{key: str(rel.get(key, "null")) for key in RELATION_KEYS}
                            for rel in push.relations]).decode()
    batch_id = repository.find_batch(conn, push.unify_corp_id, push.batch_no)
    if batch_id is None:
        batch_id = _new_id()
        repository.insert_batch(conn, {
            "id": batch_id, "corp_id": corp_id, "unify_corp_id": push.unify_corp_id, "batch_no": push.batch_no,
            "period": push.period, "relations": relations, "create_time": update_time, "update_time": update_time,
        })
    else:
        repository.replace_batch(conn, batch_id, {"period": push.period, "relations": relations,
                                                  "update_time": update_time})
    repository.list_batch_invoices(conn, batch_id, invoice_ids)
    render_listed(conn, invoice_ids)  # the entity forms reads serve (store.entities)
    repository.update_corporation(conn, push.unify_corp_id, {"last_batch_time": update_time})
    return {"id": batch_id, "batchNo": push.batch_no, "updateTime": update_time}


def _resolve_invoices(conn: Connection, corp_id: str, refs: list[InvoiceRef]) -> list[int]:
    """Store the full invoices of a push, then map every entry to its invoice row id."""
    taxpayers: dict[str, taxpayer_store.Taxpayer] = {}
    for position, ref in enumerate(refs):
        if ref.nsrsbh not in taxpayers:
            tp = taxpayer_store.find_taxpayer(conn, corp_id, ref.nsrsbh)
            if tp is None:
                raise HttpError(400, f"invoices[{position}].nsrsbh {ref.nsrsbh!r} 不是本企业的纳税人")
            taxpayers[ref.nsrsbh] = tp
    to_store: dict[str, list[Invoice]] = defaultdict(list)
    for ref in refs:
        if ref.invoice is not None:
            to_store[ref.nsrsbh].append(ref.invoice)
    for nsrsbh, invoices in to_store.items():
        store_invoices(conn, taxpayers[nsrsbh], "jx", invoices)
    ids = []
    for position, ref in enumerate(refs):
        key = ref.invoice.key if ref.invoice is not None else ref.key
        found = repository.invoice_id(conn, taxpayers[ref.nsrsbh].id, "jx", key) if key else None
        if found is None:
            raise HttpError(400, f"invoices[{position}]: 进项发票 {key!r} 不存在于纳税人 {ref.nsrsbh}")
        ids.append(found)
    return ids


async def answer_batches(reads: BatchReads, cache: BatchCache, access_token: str | None, unify_corp_id: str | None,
                         index: str | None, count: str | None, *, vat_only: bool) -> tuple[str, bytes]:
    """GET /invoice/unify: (the calling corporation, the answer ``{"items": [...]}``); 403 for a
    token that is not live, then 400 for bad parameters, as the other routes answer.

    One statement reads the token's corporation, the keys of the batches to answer and the
    corporation's forms version (store.entities.refresh_listed); the batches come from this process's cache under those
    keys, and only when one is missing does a second statement read them with their members'
    entity forms, from one snapshot (the answer is that read's: never a mix of two states)."""
    if not access_token:
        raise HttpError(403, UNAUTHORIZED)
    digest = secret_digest(access_token)
    try:
        unify_corp_id, cursor, limit = cursor_params(unify_corp_id, index, count)
    except HttpError:
        if await reads.token_corporation(digest) is None:
            raise HttpError(403, UNAUTHORIZED) from None
        raise
    versions = await reads.versions(digest, unify_corp_id, cursor, limit)
    if versions is not None:
        if versions.corp_id is None:
            raise HttpError(403, UNAUTHORIZED)
        keys = tuple(BatchKey(batch_id, update_time, versions.forms_version, vat_only)
                     for batch_id, update_time in versions.batches)
        answer = cache.get(keys)  # answered before from these very batches (a poller repeats its cursor)
        if answer is None:
            cached = [cache.get(key) for key in keys]
            if None not in cached:
                answer = _items(cached)  # type: ignore[arg-type]  # (no None in it)
                cache.put(keys, answer)
        if answer is not None:
            _CACHED.inc()
            return versions.corp_id, answer
    _READ.inc()
    read = await reads.batches(digest, unify_corp_id, cursor, limit)
    if read.corp_id is None:
        raise HttpError(403, UNAUTHORIZED)
    rendered = [render_batch(batch, vat_only=vat_only) for batch in read.batches]
    answer = _items(rendered)
    if read.forms_version is not None:
        keys = tuple(BatchKey(batch.id, batch.update_time, read.forms_version, vat_only) for batch in read.batches)
        for key, one in zip(keys, rendered, strict=True):
            cache.put(key, one)
        cache.put(keys, answer)
    return read.corp_id, answer


def _items(rendered: list[bytes]) -> bytes:
    # joined once into the list (`b"[" + … + b"]"` copies the ~300 kB of ten batches twice more)
    return wire.dumps({"items": wire.Fragment(b"".join((b"[", b",".join(rendered), b"]")))})


def render_batch(batch: Batch, *, vat_only: bool) -> bytes:
    """One element of ``items``: the batch's few fields, its members' entity forms and its
    relations (stored by the push as wire.dumps wrote them) embedded verbatim, never parsed."""
    return wire.dumps({
        "id": batch.id,
        "batchNo": batch.batch_no,
        "updateTime": batch.update_time,
        "masterBillPeriods": batch.period,
        "unifyInvoiceCorporationId": batch.unify_corp_id,
        "invoices": wire.Fragment(b"[" + b",".join(
            member.form for member in batch.members if not vat_only or member.fplx in VAT_KINDS) + b"]"),
        "relation": wire.Fragment(batch.relations),
    })


def cursor_params(unify_corp_id: str | None, index: str | None, count: str | None) -> tuple[str, int, int]:
    if not unify_corp_id:
        raise HttpError(400, "unifyInvoiceCorporationId 必填")
    if "\x00" in unify_corp_id or len(unify_corp_id) > 64:
        raise HttpError(400, "unifyInvoiceCorporationId 无效（含NUL字符或超过64个字符）")
    if index is None or not _is_int64(index):
        raise HttpError(400, f"index 必填且必须是64位整数（上次返回的 updateTime），收到 {(index or '')[:40]!r}")
    if count is None or not re.fullmatch(r"\s*[0-9]{1,2}\s*", count) or not 1 <= int(count) <= MAX_COUNT:
        raise HttpError(400, f"count 必须是 1 到 {MAX_COUNT} 之间的整数，收到 {(count or '')[:40]!r}")
    return unify_corp_id, int(index), int(count)


def _is_int64(text: str) -> bool:
    # ASCII digits only (str.isdigit takes "²", which int() refuses), and few enough for int()
    if not re.fullmatch(r"\s*-?[0-9]{1,19}\s*", text):
        return False
    return INT64_MIN <= int(text) <= INT64_MAX
