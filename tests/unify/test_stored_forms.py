"""Unify reads served from stored entity forms (store.entities): byte for byte what rendering every
record from the canonical document on every read answered, and still so after the invoices change."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fapiaohub import wire
from fapiaohub.domain.invoice import Invoice
from fapiaohub.shapes.entity_form import VAT_KINDS, unify_invoice
from fapiaohub.store import entities
from fapiaohub.store.entities import backfill
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.revert import revert_task_writes
from fapiaohub.store.tables import invoice, unify_batch, unify_batch_invoice, unify_forms_version
from tests.conftest import Seeded
from tests.unify.test_routes import V1, V21, batch_setup, jx_refs, push, read  # noqa: F401 - the fixture

Setup = tuple[Seeded, str, str]


def rendered_from_documents(engine: Engine, corp_id: str, unify_corp_id: str, *, vat_only: bool) -> bytes:
    """The answer to index=0, count=10 as the previous implementation built it on every read: each
    member's entity records rendered from its canonical document, the relations parsed and dumped."""
    with engine.connect() as conn:
        batches = conn.execute(sa.select(unify_batch).where(unify_batch.c.unify_corp_id == unify_corp_id)
                               .order_by(unify_batch.c.update_time).limit(10)).all()
        items = []
        for batch in batches:
            members = conn.execute(
                sa.select(invoice.c.fplx, invoice.c.doc, invoice.c.created_at, invoice.c.updated_at)
                .join(unify_batch_invoice, unify_batch_invoice.c.invoice_id == invoice.c.id)
                .where(unify_batch_invoice.c.batch_id == batch.id).order_by(unify_batch_invoice.c.seq)).all()
            items.append({
                "id": batch.id, "batchNo": batch.batch_no, "updateTime": batch.update_time,
                "masterBillPeriods": batch.period, "unifyInvoiceCorporationId": batch.unify_corp_id,
                "invoices": [unify_invoice(corp_id, Invoice.from_doc(wire.loads(m.doc)), m.created_at, m.updated_at)
                             for m in members if not vat_only or m.fplx in VAT_KINDS],
                "relation": wire.loads(batch.relations),
            })
    return wire.dumps({"items": items})


def served(seeded: Seeded, token: str, unify_corp_id: str, url: str = V21) -> bytes:
    response = read(seeded.tenant, token, url, unifyInvoiceCorporationId=unify_corp_id, index=0, count=10)
    assert response.status_code == 200, response.text
    return response.content


def assert_as_rendered_from_documents(seeded: Seeded, engine: Engine, token: str, unify_corp_id: str) -> None:
    corp_id = seeded.tenant.corp_id
    assert served(seeded, token, unify_corp_id) == rendered_from_documents(engine, corp_id, unify_corp_id,
                                                                           vat_only=False)
    assert served(seeded, token, unify_corp_id, V1) == rendered_from_documents(engine, corp_id, unify_corp_id,
                                                                               vat_only=True)


def stored_forms(engine: Engine, corp_id: str, keys: list[str]) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(invoice.c.invoice_key, invoice.c.entity_rendered)
                                 .where(invoice.c.corp_id == corp_id, invoice.c.invoice_key.in_(keys))).all())


def pushed_batches(seeded: Seeded, token: str, unify_corp_id: str) -> list[dict[str, str]]:
    refs = jx_refs(seeded, {"01", "04", "82", "81", "51", "61", "10"}, 12)
    for n in range(4):
        push(seeded.tenant, token, {
            "unifyInvoiceCorporationId": unify_corp_id, "batchNo": f"S{n}", "invoices": refs[3 * n:3 * n + 3],
            "relation": [{"flowId": f"F{n}", "flowCode": f"B{n}", "feeDetailId": f"D{n}"}],
        })
    return refs


def test_reads_are_byte_identical_to_rendering_from_documents(batch_setup: Setup, engine: Engine) -> None:  # noqa: F811
    seeded, token, unify_corp_id = batch_setup
    refs = pushed_batches(seeded, token, unify_corp_id)
    push(seeded.tenant, token, {"unifyInvoiceCorporationId": unify_corp_id, "batchNo": "empty"})
    forms = stored_forms(engine, seeded.tenant.corp_id, [ref["key"] for ref in refs])
    assert len(forms) == len(refs)
    assert all(form is not None for form in forms.values())  # served from the stored forms, not re-rendered
    assert_as_rendered_from_documents(seeded, engine, token, unify_corp_id)


def test_a_reimport_with_another_status_and_amount_is_served(batch_setup: Setup, engine: Engine) -> None:  # noqa: F811
    seeded, token, unify_corp_id = batch_setup
    refs = pushed_batches(seeded, token, unify_corp_id)
    before = wire.loads(served(seeded, token, unify_corp_id))
    nsrsbh, key = refs[0]["nsrsbh"], refs[0]["key"]
    changed = copy.deepcopy(next(inv for inv in seeded.invoices[(nsrsbh, "jx")] if inv.key == key))
    changed.fpzt_dm = "2" if changed.fpzt_dm == "0" else "0"
    changed.bz = "重新导入的备注"
    with engine.begin() as conn:
        store_invoices(conn, seeded.taxpayers[nsrsbh], "jx", [changed])
    after = wire.loads(served(seeded, token, unify_corp_id))
    master = after["items"][0]["invoices"][0]["master"]
    assert master["form"]["E_system_发票主体_ifNormOpen"] is (changed.fpzt_dm == "0")
    assert master["form"]["E_system_发票主体_备注"] == "重新导入的备注"
    assert master["updateTime"] > before["items"][0]["invoices"][0]["master"]["updateTime"]
    assert after["items"][1:] == before["items"][1:]
    assert_as_rendered_from_documents(seeded, engine, token, unify_corp_id)


def test_a_reverted_task_is_served_as_before_it(batch_setup: Setup, engine: Engine) -> None:  # noqa: F811
    seeded, token, unify_corp_id = batch_setup
    refs = pushed_batches(seeded, token, unify_corp_id)
    before = wire.loads(served(seeded, token, unify_corp_id))
    nsrsbh = refs[3]["nsrsbh"]
    by_key = {inv.key: inv for inv in seeded.invoices[(nsrsbh, "jx")]}
    changed = []
    for ref in refs[3:6]:
        if ref["nsrsbh"] == nsrsbh:
            inv = copy.deepcopy(by_key[ref["key"]])
            inv.je, inv.jshj = inv.je + Decimal("1.00"), inv.jshj + Decimal("1.00")
            changed.append(inv)
    assert changed
    with engine.begin() as conn:
        store_invoices(conn, seeded.taxpayers[nsrsbh], "jx", changed, task_id="T-entity-revert")
    during = wire.loads(served(seeded, token, unify_corp_id))
    amount = during["items"][1]["invoices"][0]["master"]["form"]["E_system_发票主体_发票金额"]["standard"]
    assert amount == f"{changed[0].je:.2f}"
    assert_as_rendered_from_documents(seeded, engine, token, unify_corp_id)
    with engine.begin() as conn:
        counts = revert_task_writes(conn, seeded.taxpayers[nsrsbh], "jx", "T-entity-revert")
    assert counts.restored == len(changed)
    after = wire.loads(served(seeded, token, unify_corp_id))
    restored = after["items"][1]["invoices"][0]["master"]
    assert restored["form"] == before["items"][1]["invoices"][0]["master"]["form"]
    assert_as_rendered_from_documents(seeded, engine, token, unify_corp_id)


def test_members_without_a_stored_form_are_rendered_and_backfilled(batch_setup: Setup, engine: Engine) -> None:  # noqa: F811
    seeded, token, unify_corp_id = batch_setup
    refs = pushed_batches(seeded, token, unify_corp_id)
    keys = [ref["key"] for ref in refs]
    with engine.begin() as conn:  # as a bulk loader or a database from before 0008 leaves them
        conn.execute(sa.update(invoice).where(invoice.c.corp_id == seeded.tenant.corp_id, invoice.c.invoice_key.in_(keys))
                     .values(entity_rendered=None))
    assert_as_rendered_from_documents(seeded, engine, token, unify_corp_id)
    with engine.begin() as conn:
        assert backfill(conn) >= len(set(keys))  # (and any other test's, on a shared database)
    assert all(form is not None for form in stored_forms(engine, seeded.tenant.corp_id, keys).values())
    assert_as_rendered_from_documents(seeded, engine, token, unify_corp_id)


def test_a_form_is_not_stored_over_a_row_changed_since_it_was_read(
        batch_setup: Setup, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """render_listed stores a form only where the row still holds what it was rendered from."""
    seeded, token, unify_corp_id = batch_setup
    key = pushed_batches(seeded, token, unify_corp_id)[0]["key"]
    own = (invoice.c.corp_id == seeded.tenant.corp_id, invoice.c.invoice_key == key)
    with engine.begin() as conn:
        conn.execute(sa.update(invoice).where(*own).values(entity_rendered=None))
        row_id = conn.execute(sa.select(invoice.c.id).where(*own)).scalar_one()
    render = entities.render_entity
    with engine.begin() as conn:

        def render_while_a_writer_changes_the_row(*args: Any) -> str:
            conn.execute(sa.update(invoice).where(invoice.c.id == row_id)
                         .values(updated_at=datetime.now(UTC) + timedelta(seconds=1)))
            return render(*args)

        monkeypatch.setattr(entities, "render_entity", render_while_a_writer_changes_the_row)
        assert entities.render_listed(conn, [row_id]) == 0
    assert stored_forms(engine, seeded.tenant.corp_id, [key])[key] is None


def test_a_dead_token_is_403_before_anything_else(batch_setup: Setup) -> None:  # noqa: F811
    seeded, token, unify_corp_id = batch_setup
    pushed_batches(seeded, token, unify_corp_id)
    for params in ({"unifyInvoiceCorporationId": unify_corp_id, "index": "0", "count": "10"},
                   {"unifyInvoiceCorporationId": unify_corp_id, "index": "x", "count": "99"}):
        for url in (V21, V1):
            response = seeded.tenant.client.get(url, params={"accessToken": "not-a-token", **params})
            assert response.status_code == 403, response.text
    bad = seeded.tenant.client.get(V21, params={"accessToken": token, "unifyInvoiceCorporationId": unify_corp_id,
                                                "index": "x", "count": "10"})
    assert bad.status_code == 400
    assert "index" in bad.text


def forms_versions(engine: Engine, corp_id: str) -> dict[tuple[int, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(unify_forms_version).where(unify_forms_version.c.corp_id == corp_id)).all()
    return {(row.taxpayer_id, row.direction): row.version for row in rows}


def test_only_changes_to_listed_invoices_move_the_forms_version(batch_setup: Setup, engine: Engine) -> None:  # noqa: F811
    seeded, token, unify_corp_id = batch_setup
    corp_id = seeded.tenant.corp_id
    refs = pushed_batches(seeded, token, unify_corp_id)
    assert forms_versions(engine, corp_id) == {}  # pushing renders forms: nothing served changed
    nsrsbh = refs[0]["nsrsbh"]
    tp = seeded.taxpayers[nsrsbh]
    listed = {ref["key"] for ref in refs}
    unlisted = copy.deepcopy(next(inv for inv in seeded.invoices[(nsrsbh, "jx")] if inv.key not in listed))
    unlisted.bz = "未列入批次的发票"
    with engine.begin() as conn:
        store_invoices(conn, tp, "jx", [unlisted])
    assert forms_versions(engine, corp_id) == {}
    changed = copy.deepcopy(next(inv for inv in seeded.invoices[(nsrsbh, "jx")] if inv.key == refs[0]["key"]))
    changed.bz = "列入批次的发票"
    for expected in (1, 2):
        changed.bz += "!"
        with engine.begin() as conn:
            store_invoices(conn, tp, "jx", [changed])
        assert forms_versions(engine, corp_id) == {(tp.id, "jx"): expected}
