"""The console's ledger figures: a counterparty prefix over a year of one taxpayer against the
unfiltered ledger, at page 1 and deep (page 500), by date and by 价税合计, as a signed-in console
user over real HTTP to a separate server process."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa

from bench.data import ensure_demo, prepared_engine
from bench.server import Server, bench_server
from bench.serving import Figure, paired_medians
from fapiaohub.console import ledger, repository
from fapiaohub.console.users import ensure_user
from fapiaohub.demo.generator import DEMO_CORP_ID, demo_taxpayers
from fapiaohub.store.tables import taxpayer

BENCH_USER = "bench-ledger"
BENCH_PASSWORD = "bench-ledger-password-not-for-production"
PARTY = "深圳"  # one city's counterparties: about 1 in 12 of the demo's partners
DEEP_PAGE = 500


def ledger_figures(db: str, invoices: int, repeat: int) -> list[Figure]:
    """Latency medians of the ledger page (50 rows, totals line, template), requests sent in turn."""
    engine = prepared_engine(db)
    ensure_demo(engine, invoices)
    with engine.begin() as conn:
        ensure_user(conn, DEMO_CORP_ID, BENCH_USER, BENCH_PASSWORD, "viewer")
        tp = conn.execute(sa.select(taxpayer.c.id).where(taxpayer.c.corp_id == DEMO_CORP_ID,
                                                         taxpayer.c.nsrsbh == demo_taxpayers()[0].nsrsbh)).scalar_one()
    party = {"taxpayer": str(tp), "from": "2025-01", "to": "2025-12", "party": PARTY}
    listings = {f"{scope} {sort}": (params, sort) for scope, params in (("all", {}), ("party", party))
                for sort in ("kprq_desc", "jshj_desc")}
    deep = DEEP_PAGE
    urls: dict[str, str] = {}
    with engine.connect() as conn:
        for params, sort in listings.values():
            query = ledger.parse({**params, "sort": sort}, {tp})
            count = repository.ledger_totals(conn, DEMO_CORP_ID, query.filter).count
            deep = min(deep, math.ceil(count / ledger.PAGE_SIZE))
        for label, (params, sort) in listings.items():
            query = ledger.parse({**params, "sort": sort}, {tp})
            urls[f"{label} p1"] = _url({**params, "sort": sort})
            if deep > 1:  # the cursor the console's "next" link carries into page `deep`
                before = repository.ledger_page(conn, DEMO_CORP_ID, query.filter, sort, None,
                                                ledger.PAGE_SIZE * (deep - 1))
                urls[f"{label} deep"] = _url({**params, "sort": sort, "after": ledger.cursor(before[-1], sort)})
    engine.dispose()
    first_views = iter(range(1, 10**6))
    with bench_server(db) as server:
        _sign_in(server)
        requests: dict[str, Callable[[], httpx.Response]] = {
            name: (lambda url=url: _checked_page(server, url)) for name, url in urls.items()}
        # a filter not seen before: its totals are summed (the unfiltered set, under a bound no
        # invoice reaches, different on every request)
        requests["all first view"] = lambda: _checked_page(
            server, _url({"max": f"{10**12 + next(first_views)}"}))
        # a filter of whole months not seen before (from a month before any invoice, different on
        # every request): its totals come from the months' own sums
        requests["months first view"] = lambda: _checked_page(server, _url({"from": _month_before(next(first_views))}))
        medians = paired_medians(server.client, requests, repeat)
    print(f"  deep page {deep}; medians, ms: " + ", ".join(f"{name} {value * 1000:.1f}"
                                                          for name, value in medians.items()), flush=True)
    figures: list[Figure] = []
    for sort, label in (("kprq_desc", "by date"), ("jshj_desc", "by 价税合计")):
        figures.append((f"ledger {label}, {PARTY}… over a year of a taxpayer / unfiltered, page 1",
                        medians[f"party {sort} p1"] / medians[f"all {sort} p1"], "≤ 1.5"))
        if deep > 1:
            figures.append((f"ledger {label}, {PARTY}… over a year of a taxpayer / unfiltered, page {deep}",
                            medians[f"party {sort} deep"] / medians[f"all {sort} deep"], "≤ 1.5"))
            figures.append((f"ledger {label}, unfiltered page {deep} / page 1",
                            medians[f"all {sort} deep"] / medians[f"all {sort} p1"], "≤ 1.5"))
    figures.append(("ledger first view of a filter (totals summed) / the same page again, unfiltered",
                    medians["all first view"] / medians["all kprq_desc p1"], "(reported)"))
    figures.append(("ledger first view of whole months (the months' sums) / the same page again, unfiltered",
                    medians["months first view"] / medians["all kprq_desc p1"], "(reported)"))
    return figures


def _month_before(n: int) -> str:
    """The n-th month counted back from 2019-12 (the demo's invoices are later), as yyyy-MM."""
    months = 2019 * 12 + 11 - n
    return f"{months // 12:04d}-{months % 12 + 1:02d}"


def _url(params: dict[str, str]) -> str:
    return f"/console/ledger?{urlencode(params)}"


def _sign_in(server: Server) -> None:
    """Through the sign-in form, as a person does: its CSRF token, then the session cookie."""
    form = server.client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError("the console's sign-in form has no CSRF field")
    answer = server.client.post("/console/login", data={
        "corp": DEMO_CORP_ID, "name": BENCH_USER, "password": BENCH_PASSWORD, "csrf": token.group(1),
        "next": "/console/ledger"})
    if answer.status_code != 303 or "fapiaohub_console" not in server.client.cookies:
        raise RuntimeError(f"signing in to the console failed: {answer.status_code} {answer.text[:200]}")


def _checked_page(server: Server, url: str) -> httpx.Response:
    response = server.client.get(url)
    rows = response.text.count('href="/console/invoices/')
    if response.status_code != 200 or not rows:
        raise RuntimeError(f"unexpected ledger page for {url}: {response.status_code} {response.text[:300]}")
    return response
