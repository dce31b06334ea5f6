"""Reading rendered items back (the upstream mirror's path): render → parse → render is identity."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from fapiaohub.demo.generator import iter_demo_invoices
from fapiaohub.domain.codes import FPLX
from fapiaohub.shapes.collection_item import render_collection_item
from fapiaohub.shapes.collection_parse import ItemError, invoice_from_item
from tests.factories import sample_invoice


def _round_trip(raw: bytes, fplx: str) -> bytes:
    item = json.loads(raw, parse_float=Decimal)
    return render_collection_item(invoice_from_item(fplx, item))


@pytest.mark.parametrize("fplx", sorted(FPLX))
def test_render_parse_render_is_identity(fplx: str) -> None:
    raw = render_collection_item(sample_invoice(fplx))
    assert _round_trip(raw, fplx) == raw


def test_demo_invoices_of_every_kind_round_trip() -> None:
    for item in iter_demo_invoices(600):
        raw = render_collection_item(item.invoice)
        assert _round_trip(raw, item.invoice.fplx) == raw, item.invoice.key


@pytest.mark.parametrize(
    ("fplx", "item", "needle"),
    [("01", {"kprq": "2025-01-01"}, "fphm"), ("01", {"fphm": "1", "kprq": "yesterday"}, "kprq"),
     ("01", {"fphm": "1", "kprq": "2025-01-01", "je": "lots"}, "je"), ("17", {}, "jkshm"), ("01", [], "object")],
)
def test_unusable_items_name_the_key(fplx: str, item: object, needle: str) -> None:
    with pytest.raises(ItemError, match=needle):
        invoice_from_item(fplx, item)  # type: ignore[arg-type]
