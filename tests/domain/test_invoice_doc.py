"""Invoice.doc_json: the stored canonical document, byte for byte what wire.dumps(to_doc()) gives.

Imports compare a file's invoices with the stored ones by this text, so a difference of one byte
would turn every re-import into changes with history rows."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import datetime
from decimal import Decimal

import pytest

from fapiaohub import wire
from fapiaohub.demo.generator import iter_demo_invoices
from fapiaohub.domain.codes import FPLX
from fapiaohub.domain.invoice import Invoice
from tests.factories import sample_invoice


@pytest.mark.parametrize("fplx", sorted(FPLX))
def test_every_kind(fplx: str) -> None:
    inv = sample_invoice(fplx)
    assert inv.doc_json() == wire.dumps(inv.to_doc())
    assert Invoice.from_doc(wire.loads(inv.doc_json())) == inv


def test_demo_invoices_and_odd_values() -> None:
    for item in iter_demo_invoices(600):
        assert item.invoice.doc_json() == wire.dumps(item.invoice.to_doc())
    inv = dataclasses.replace(sample_invoice("82"), kprq=datetime(2025, 1, 2, 3, 4, 5, 600),
                              je=Decimal("-0.10"), se=Decimal("0E-2"), jshj=Decimal("-0.1"), bz='引号" \\ \n')
    assert inv.doc_json() == wire.dumps(inv.to_doc())


@pytest.mark.parametrize("fplx", sorted(FPLX))
def test_an_invoice_crosses_a_pickle_whole(fplx: str) -> None:
    """The parse child sends invoices to the importer pickled (Invoice.__reduce__ lists the fields
    itself): every field of every kind comes back, the exact Decimals and the lines too."""
    inv = dataclasses.replace(sample_invoice(fplx), origin="xlsx", bz="备注", je=Decimal("1.10"),
                              special=[{"cph": "云A572AE"}], itinerary=[{"cfd": "昆明"}], vehicle={"cllx": "轿车"},
                              customs={"jkkadm": "8601"}, kprq=datetime(2025, 1, 2, 3, 4, 5, 600))
    assert inv.lines, "the sample has lines"
    back = pickle.loads(pickle.dumps([inv, inv.lines], protocol=pickle.HIGHEST_PROTOCOL))
    assert back == [inv, inv.lines]
    assert back[0].doc_json() == inv.doc_json()  # Decimal("1.10") keeps its digits
