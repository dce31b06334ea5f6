"""Demo unified invoicing: four platforms invoicing the demo corporation monthly, tied to expense documents."""

from __future__ import annotations

import random

from sqlalchemy.engine import Connection

from fapiaohub.domain.validation import uscc_check_char
from fapiaohub.store.invoices import first_keys
from fapiaohub.store.taxpayers import taxpayer_by_id
from fapiaohub.unify import service

# (uscc without check character, name, invoice kinds its batches carry)
PLATFORMS = [
    ("91310000MA1K8TRA0", "上海行云差旅服务有限公司", ("81", "82")),
    ("91110108MA01TAX12", "北京快达出行科技有限公司", ("82",)),
    ("91310000132AJRL1F", "东方云翼航空股份有限公司", ("61",)),
    ("91440000RA1LWAY81", "华南铁路客运服务有限公司", ("51",)),
]
INVOICES_PER_BATCH = 6


def load_unify_demo(conn: Connection, corp_id: str, taxpayer_id: int, months: list[int]) -> int:
    """Create the platforms and one batch per platform and month; returns the batches written.
    Does nothing when the platforms exist already."""
    if service.list_corporations(conn, corp_id):
        return 0
    rng = random.Random(20250101)
    nsrsbh = taxpayer_by_id(conn, taxpayer_id).nsrsbh
    batches = 0
    for number, (code17, name, kinds) in enumerate(PLATFORMS, start=1):
        platform = service.upsert_corporation(conn, corp_id, code=code17 + uscc_check_char(code17), name=name)
        for kpyf in months:
            keys = first_keys(conn, taxpayer_id, "jx", kinds, kpyf, INVOICES_PER_BATCH)
            flow = f"B{kpyf % 10000:04d}{number:02d}{rng.randrange(1000):03d}"
            service.push_batch(conn, corp_id, service.BatchPush(
                unify_corp_id=platform["id"],
                batch_no=f"{kpyf}{number:02d}{rng.randrange(10**8):08d}",
                period=f"{kpyf // 100}-{kpyf % 100:02d}",
                invoices=[service.InvoiceRef(nsrsbh=nsrsbh, key=key) for key in keys],
                # one fee detail per invoice; a month without invoices still settles its expense document
                relations=[
                    {"flowId": f"FL{rng.randrange(16**10):010x}", "flowCode": flow,
                     "feeDetailId": f"FD{rng.randrange(16**10):010x}"}
                    for _ in range(max(len(keys), 1))
                ],
            ))
            batches += 1
    return batches

