"""The benchmark's data, built with the demo generator into the database under test (once: a
second run finds it and builds nothing)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fapiaohub import wire
from fapiaohub.auth.service import create_tenant
from fapiaohub.demo.generator import DEMO_CORP_ID, generate_taxpayer_month
from fapiaohub.demo.load import DEMO_APP_KEY, DEMO_APP_SECURITY, load_demo
from fapiaohub.domain.invoice import Invoice
from fapiaohub.store.engine import make_engine, upgrade
from fapiaohub.store.entities import render_listed
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.tables import (
    corporation,
    invoice,
    invoice_month,
    unify_batch,
    unify_batch_invoice,
    unify_corporation,
)
from fapiaohub.store.taxpayers import add_taxpayer, find_taxpayer
from fapiaohub.unify.service import upsert_corporation

# A corporation of the bench's own, with fixed keys so that a second run finds it.
BENCH_CORP_ID = "BENCHcorp00100"
BENCH_APP_KEY = "bench-app-key"
BENCH_APP_SECURITY = "bench-app-security-not-for-production"
BENCH_NSRSBH = "91440300MA5DEM0019"
BIG_MONTH, SMALL_MONTH = 202401, 202402
PLATFORM_CODE = "91310000MA1BENCH0X"


@dataclass(frozen=True)
class Credentials:
    corp_id: str
    app_key: str
    app_security: str


DEMO = Credentials(DEMO_CORP_ID, DEMO_APP_KEY, DEMO_APP_SECURITY)
BENCH = Credentials(BENCH_CORP_ID, BENCH_APP_KEY, BENCH_APP_SECURITY)


def prepared_engine(db: str) -> Engine:
    engine = make_engine(db)
    upgrade(engine)
    return engine


def ensure_demo(engine: Engine, invoices: int) -> int:
    """The demo corporation with at least ``invoices`` invoices in the database (into an empty
    PostgreSQL database, about 3.5 minutes per million on a 2-core machine, the first time);
    returns how many there are."""
    total = _count(engine, DEMO_CORP_ID)
    if total < invoices:
        print(f"  loading {invoices} demo invoices (once; about 3.5 min per million)", flush=True)
        start = time.perf_counter()
        total = load_demo(engine, invoices).invoices_total
        print(f"  loaded in {time.perf_counter() - start:.0f} s", flush=True)
    return total


def _count(engine: Engine, corp_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(invoice)
                            .where(invoice.c.corp_id == corp_id)).scalar_one()


def _one_kind_month(kpyf: int, count: int) -> list[Invoice]:
    """``count`` distinct 数电 invoices of one month, all relabelled kind 82 (电子发票（普通发票）)."""
    found: list[Invoice] = []
    for inv in generate_taxpayer_month(BENCH_NSRSBH, "基准测试", "jx", kpyf, count * 3):
        if inv.fplx in ("81", "82") and not inv.fpdm:
            found.append(dataclasses.replace(inv, fplx="82"))
            if len(found) == count:
                return found
    raise RuntimeError(f"the generator gave fewer than {count} 数电 invoices for {kpyf}")


def ensure_paging_months(engine: Engine, month_size: int) -> None:
    """The bench corporation: a month of ``month_size`` kind-82 invoices and a month of 100."""
    with engine.begin() as conn:
        if conn.execute(sa.select(corporation.c.id).where(corporation.c.id == BENCH_CORP_ID)).first() is None:
            create_tenant(conn, "基准测试企业", corp_id=BENCH_CORP_ID, app_key=BENCH_APP_KEY,
                          app_security=BENCH_APP_SECURITY)
        tp = find_taxpayer(conn, BENCH_CORP_ID, BENCH_NSRSBH) or add_taxpayer(
            conn, BENCH_CORP_ID, BENCH_NSRSBH, "基准测试")
        counts = dict(conn.execute(
            sa.select(invoice_month.c.kpyf, invoice_month.c.invoice_count)
            .where(invoice_month.c.taxpayer_id == tp.id, invoice_month.c.fplx == "82")
        ).all())
    for kpyf, size in ((BIG_MONTH, month_size), (SMALL_MONTH, 100)):
        if counts.get(kpyf, 0) >= size:
            continue
        print(f"  storing a month of {size} invoices (once)", flush=True)
        month = _one_kind_month(kpyf, size)
        with engine.begin() as conn:
            store_invoices(conn, tp, "jx", month)
    _analyze(engine)


def ensure_unify_batches(engine: Engine, batches: int) -> str:
    """A unify platform of the bench corporation with ``batches`` batches of three invoices each;
    returns its unifyInvoiceCorporationId. Written in bulk: the cursor is what is measured."""
    with engine.begin() as conn:
        platform = upsert_corporation(conn, BENCH_CORP_ID, code=PLATFORM_CODE, name="基准差旅服务有限公司")
        have = conn.execute(sa.select(sa.func.count()).select_from(unify_batch)
                            .where(unify_batch.c.unify_corp_id == platform["id"])).scalar_one()
        if have >= batches:
            return platform["id"]
        invoice_ids = conn.execute(
            sa.select(invoice.c.id).where(invoice.c.corp_id == BENCH_CORP_ID).order_by(invoice.c.id).limit(3000)
        ).scalars().all()
        print(f"  writing {batches - have} unify batches (once)", flush=True)
        start_time = conn.execute(sa.select(unify_corporation.c.last_batch_time)
                                  .where(unify_corporation.c.id == platform["id"])).scalar_one() + 1
        for chunk in _chunks(range(have, batches), 5000):
            rows, members = [], []
            for n in chunk:
                batch_id = f"BB{platform['id'][:6]}{n:08d}"
                moment = start_time + n - have
                rows.append({"id": batch_id, "corp_id": BENCH_CORP_ID, "unify_corp_id": platform["id"],
                             "batch_no": f"BN{n:010d}", "period": "2024-01", "create_time": moment,
                             "update_time": moment, "relations": wire.dumps([{
                                 "flowId": f"FL{n:010d}", "flowCode": f"B{n:08d}", "feeDetailId": f"FD{n:010d}",
                                 "invoiceDetailId": "null", "invoiceId": "null"}]).decode()})
                members += [{"batch_id": batch_id, "seq": seq, "invoice_id": invoice_ids[(3 * n + seq) % len(invoice_ids)]}
                            for seq in range(3)]
            conn.execute(sa.insert(unify_batch), rows)
            conn.execute(sa.insert(unify_batch_invoice), members)
        conn.execute(sa.update(unify_corporation).where(unify_corporation.c.id == platform["id"])
                     .values(last_batch_time=start_time + batches - have))
        render_listed(conn, invoice_ids)  # their entity forms, as a push stores them
    _analyze(engine)
    return platform["id"]


def _chunks(numbers: range, size: int) -> Iterator[range]:
    for start in range(numbers.start, numbers.stop, size):
        yield range(start, min(start + size, numbers.stop))


def _analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":  # fresh statistics: autovacuum may be off
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
