"""The SDK's TypedDicts against the seed pages: the same keys at every level."""

from __future__ import annotations

from typing import get_type_hints

from fapiaohub.client import types
from fapiaohub.domain.codes import Family
from tests.seedspec import collection_examples, json_blocks

ITEMS = {Family.VAT: types.VatItem, Family.MOTOR_VEHICLE: types.MotorVehicleItem, Family.TOLL: types.TollItem,
         Family.CUSTOMS: types.CustomsItem, Family.FULL_DIGITAL: types.FullDigitalItem,
         Family.AVIATION: types.AviationItem, Family.RAILWAY: types.RailwayItem}
ELEMENTS = {(Family.VAT, "hwxx"): types.VatLine, (Family.TOLL, "hwxx"): types.Line,
            (Family.CUSTOMS, "hwxx"): types.CustomsLine, (Family.FULL_DIGITAL, "hwxx"): types.Line,
            (Family.FULL_DIGITAL, "tdysList"): types.SpecialElement, (Family.AVIATION, "xcdList"): types.FlightSegment,
            (Family.RAILWAY, "xcdList"): types.TrainSegment, (Family.AVIATION, "hwxx"): types.Line,
            (Family.RAILWAY, "hwxx"): types.Line}


def keys(typed: type) -> set[str]:
    return set(get_type_hints(typed))


def test_item_types_have_the_seed_keys() -> None:
    for family, typed in ITEMS.items():
        assert keys(typed) == set(collection_examples()[family]), family


def test_nested_types_have_the_seed_keys() -> None:
    for (family, field), typed in ELEMENTS.items():
        assert keys(typed) == set(collection_examples()[family][field][0]), (family, field)


def test_unify_batch_type_has_the_seed_keys() -> None:
    batch = json_blocks("unify-invoice-v2.1.md")[0]["items"][0]
    assert keys(types.UnifyBatch) == set(batch)
    assert keys(types.UnifyInvoice) == set(batch["invoices"][0])
    assert keys(types.UnifyRelation) == set(batch["relation"][0])
