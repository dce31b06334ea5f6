"""Loading the demo corporation: fixed credentials, two taxpayers, and N generated invoices in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from sqlalchemy.engine import Engine

from fapiaohub.auth.repository import corporation_exists
from fapiaohub.auth.service import create_tenant
from fapiaohub.demo.generator import (
    DEMO_CORP_ID,
    DEMO_CORP_NAME,
    DEMO_MONTHS,
    DemoInvoice,
    demo_taxpayers,
    iter_demo_invoices,
)
from fapiaohub.demo.unify import load_unify_demo
from fapiaohub.domain.invoice import Invoice
from fapiaohub.store import invoices, months
from fapiaohub.store import taxpayers as taxpayer_store

# Fixed so that the printed curl call works on every run; the demo serves on 127.0.0.1 only.
DEMO_APP_KEY = "demo-app-key"
DEMO_APP_SECURITY = "demo-app-security-not-for-production"
# The demo console user (admin of the demo corporation only); fixed and documented, like the keys above.
# `fapiaohub demo` creates it with console.users.ensure_user (the console imports tasks, which import
# demo: creating it here would make a package cycle).
DEMO_CONSOLE_USER = "demo"
DEMO_CONSOLE_PASSWORD = "demo-console-password"
DEFAULT_INVOICES = 3000
CHUNK = 5000  # invoices per transaction: progress is visible and memory stays flat


@dataclass(frozen=True, slots=True)
class DemoSummary:
    corp_id: str
    app_key: str
    app_security: str
    taxpayers: list[dict[str, str]]
    invoices_loaded: int  # written by this run (0 when the demo was already there)
    invoices_total: int
    console_user: str = DEMO_CONSOLE_USER
    console_password: str = DEMO_CONSOLE_PASSWORD


def load_demo(
    engine: Engine,
    invoices: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Create the demo tenant if missing and load invoices; ``invoices=None`` loads the default set
    once (a second run finds it and loads nothing), an explicit number (re)loads that many."""
    with engine.begin() as conn:
        if not corporation_exists(conn, DEMO_CORP_ID):
            create_tenant(
                conn, DEMO_CORP_NAME, corp_id=DEMO_CORP_ID,
                app_key=DEMO_APP_KEY, app_security=DEMO_APP_SECURITY,
            )
        taxpayers = {}
        for tp in demo_taxpayers():
            found = taxpayer_store.find_taxpayer(conn, DEMO_CORP_ID, tp.nsrsbh)
            taxpayers[tp.nsrsbh] = found or taxpayer_store.add_taxpayer(conn, DEMO_CORP_ID, tp.nsrsbh, tp.name)
            # the demo's taxpayers are invented: their tasks may run the sandbox bureau (docs/security.md)
            taxpayer_store.set_channel(conn, DEMO_CORP_ID, tp.nsrsbh, "sandbox")
    loaded = 0
    if invoices is not None or _count(engine) == 0:
        loaded = _bulk_load(engine, taxpayers, invoices or DEFAULT_INVOICES, progress)
    with engine.begin() as conn:
        first = next(iter(taxpayers.values()))
        load_unify_demo(conn, DEMO_CORP_ID, first.id, DEMO_MONTHS)
    return DemoSummary(
        DEMO_CORP_ID, DEMO_APP_KEY, DEMO_APP_SECURITY,
        [{"nsrsbh": tp.nsrsbh, "name": tp.name} for tp in taxpayers.values()],
        loaded, _count(engine),
    )


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return invoices.count_corporation_invoices(conn, DEMO_CORP_ID)


def _bulk_load(
    engine: Engine,
    taxpayers: dict[str, taxpayer_store.Taxpayer],
    total: int,
    progress: Callable[[int], None] | None,
) -> int:
    stream = iter_demo_invoices(total)
    with engine.begin() as conn:
        empty = invoices.EmptyTableLoad.start(conn)
        if empty is not None:  # a database being built (PostgreSQL): one transaction, all or nothing
            written = 0
            while chunk := list(islice(stream, CHUNK)):
                for (nsrsbh, direction), group in _by_owner(chunk).items():
                    empty.add(taxpayers[nsrsbh], direction, group)
                written += len(chunk)
                if progress:
                    progress(len(chunk))
            empty.finish()
            return written
    touched: set[int] = set()
    written = 0
    while chunk := list(islice(stream, CHUNK)):
        with engine.begin() as conn:
            for (nsrsbh, direction), group in _by_owner(chunk).items():
                counts = invoices.store_invoices(
                    conn, taxpayers[nsrsbh], direction, group, renumber=False
                )
                touched |= counts.months
        written += len(chunk)
        if progress:
            progress(len(chunk))
        if written in (CHUNK, 10 * CHUNK) or written % (50 * CHUNK) == 0:
            _analyze(engine)  # fresh statistics as the table grows tenfold (autovacuum may be off)
    # positions and counts once at the end: renumbering per chunk would rewrite months repeatedly
    with engine.begin() as conn:
        months.renumber_months(conn, touched)
    _analyze(engine)
    return written


def _by_owner(chunk: list[DemoInvoice]) -> dict[tuple[str, str], list[Invoice]]:
    groups: dict[tuple[str, str], list[Invoice]] = defaultdict(list)
    for item in chunk:
        groups[(item.nsrsbh, item.direction)].append(item.invoice)
    return groups


def _analyze(engine: Engine) -> None:
    with engine.begin() as conn:
        invoices.analyze(conn)

