"""The console over HTTP: sign-in, cookies, CSRF, roles, tenant isolation, and the numbers it shows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from fapiaohub.console import i18n, repository
from fapiaohub.domain.invoice import Invoice
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks import repository as task_repository
from fapiaohub.unify import service as unify_service
from tests.conftest import Seeded, Tenant
from tests.console.conftest import PASSWORD, Browser, add_user, form_token, sign_in


def _fresh(client: TestClient, base_url: str = "http://testserver") -> TestClient:
    return TestClient(client.app, base_url=base_url, raise_server_exceptions=False)


def _first_invoice_id(browser: Browser) -> int:
    match = re.search(r"/console/invoices/(\d+)", browser.http.get("/console/ledger").text)
    assert match, "the ledger shows no invoice"
    return int(match.group(1))


def test_pages_redirect_to_sign_in_and_back(client: TestClient, seeded: Seeded, engine: Engine) -> None:
    http = _fresh(client)
    response = http.get("/console/ledger?direction=jx", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=%2Fconsole%2Fledger")
    name = add_user(engine, seeded.tenant.corp_id, "viewer")
    page = http.get(response.headers["location"])
    done = http.post("/console/login", follow_redirects=False, data={
        "corp": seeded.tenant.corp_id, "name": name, "password": PASSWORD, "csrf": form_token(page.text),
        "next": "/console/ledger?direction=jx"})
    assert done.status_code == 303
    assert done.headers["location"] == "/console/ledger?direction=jx"
    assert http.get("/console/ledger?direction=jx").status_code == 200


def test_sign_in_never_redirects_off_site(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    http = _fresh(client)
    name = add_user(engine, tenant.corp_id, "viewer")
    page = http.get("/console/login")
    done = http.post("/console/login", follow_redirects=False, data={
        "corp": tenant.corp_id, "name": name, "password": PASSWORD, "csrf": form_token(page.text),
        "next": "https://evil.example/"})
    assert done.headers["location"] == "/console/overview"


def test_session_cookie_is_httponly_lax_and_secure_over_https(client: TestClient, tenant: Tenant,
                                                              engine: Engine) -> None:
    name = add_user(engine, tenant.corp_id, "viewer")
    plain = sign_in(_fresh(client), tenant.corp_id, name)
    cookie = plain.headers["set-cookie"].lower()
    assert "fapiaohub_console=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie
    https = sign_in(_fresh(client, "https://testserver"), tenant.corp_id, name)
    assert "; secure" in https.headers["set-cookie"].lower()


def test_sign_in_form_needs_its_csrf_token(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    http = _fresh(client)
    name = add_user(engine, tenant.corp_id, "admin")
    http.get("/console/login")
    forged = http.post("/console/login", data={"corp": tenant.corp_id, "name": name, "password": PASSWORD,
                                               "csrf": "guessed"}, follow_redirects=False)
    assert forged.status_code == 403
    assert "fapiaohub_console=" not in forged.headers.get("set-cookie", "")


def test_wrong_passwords_lock_the_account(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    http = _fresh(client)
    name = add_user(engine, tenant.corp_id, "admin")
    for _ in range(4):
        wrong = sign_in(http, tenant.corp_id, name, "not the password")
        assert wrong.status_code == 401
        assert "用户名或密码错误" in wrong.text
    fifth = sign_in(http, tenant.corp_id, name, "not the password")
    assert fifth.status_code == 401
    assert "锁定" in fifth.text
    # locked: even the right password is refused until the lock ends
    right = sign_in(http, tenant.corp_id, name)
    assert right.status_code == 401
    assert "锁定" in right.text


def test_unknown_user_and_other_corporation_get_the_same_answer(client: TestClient, tenant_factory:
                                                                Callable[[], Tenant], engine: Engine) -> None:
    a, b = tenant_factory(), tenant_factory()
    name = add_user(engine, a.corp_id, "admin")
    http = _fresh(client)
    assert "用户名或密码错误" in sign_in(http, b.corp_id, name).text  # A's user cannot sign in as B
    assert "用户名或密码错误" in sign_in(http, a.corp_id, "nobody").text


def test_sign_out_needs_csrf_and_ends_the_session(browser_for: Callable[[str, str], Browser],
                                                  tenant: Tenant) -> None:
    browser = browser_for(tenant.corp_id, "viewer")
    assert browser.http.post("/console/logout", data={"csrf": "x"}, follow_redirects=False).status_code == 403
    token = browser.http.cookies.get("fapiaohub_console")
    out = browser.http.post("/console/logout", data={"csrf": browser.csrf}, follow_redirects=False)
    assert out.status_code == 303
    # the server forgot the session: replaying the old cookie does not work
    replay = _fresh(browser.http)
    replay.cookies.set("fapiaohub_console", token or "")
    assert replay.get("/console/overview", follow_redirects=False).status_code == 303


def test_disabling_a_user_ends_their_session(browser_for: Callable[[str, str], Browser], tenant: Tenant,
                                             engine: Engine) -> None:

    browser = browser_for(tenant.corp_id, "admin")
    assert browser.http.get("/console/tasks", follow_redirects=False).status_code == 200
    with engine.begin() as conn:
        repository.set_disabled(conn, tenant.corp_id, browser.name, True)
    assert browser.http.get("/console/tasks", follow_redirects=False).status_code == 303


def test_a_viewer_reads_but_cannot_change_anything(browser_for: Callable[[str, str], Browser],
                                                   seeded: Seeded) -> None:
    viewer = browser_for(seeded.tenant.corp_id, "viewer")
    tasks = viewer.http.get("/console/tasks")
    assert tasks.status_code == 200
    assert 'id="upload"' not in tasks.text
    tp = next(iter(seeded.taxpayers.values()))
    upload = viewer.http.post("/console/tasks/upload", headers={"X-CSRF-Token": viewer.csrf},
                              data={"taxpayer": str(tp.id), "direction": "jx"},
                              files={"files": ("a.xlsx", b"x")})
    assert upload.status_code == 403
    add = viewer.http.post("/console/taxpayers", data={"csrf": viewer.csrf, "nsrsbh": "91330106MA27XL0C12",
                                                       "name": "x"})
    assert add.status_code == 403
    switch = viewer.http.post(f"/console/taxpayers/{tp.id}/collection", data={"csrf": viewer.csrf, "enabled": "0"})
    assert switch.status_code == 403


def test_one_corporation_reaches_nothing_of_another(browser_for: Callable[[str, str], Browser], seeded: Seeded,
                                                    tenant: Tenant) -> None:
    owner = browser_for(seeded.tenant.corp_id, "admin")
    stranger = browser_for(tenant.corp_id, "admin")
    invoice_id = _first_invoice_id(owner)
    assert owner.http.get(f"/console/invoices/{invoice_id}").status_code == 200
    assert stranger.http.get(f"/console/invoices/{invoice_id}").status_code == 404
    tp = next(iter(seeded.taxpayers.values()))
    assert stranger.http.get(f"/console/overview?taxpayer={tp.id}").status_code == 404
    switch = stranger.http.post(f"/console/taxpayers/{tp.id}/collection",
                                data={"csrf": stranger.csrf, "enabled": "0"})
    assert switch.status_code == 404
    ledger = stranger.http.get(f"/console/ledger?taxpayer={tp.id}")
    assert "没有符合条件的发票" in ledger.text
    assert 'data-total="count">0<' in ledger.text
    export = stranger.http.get(f"/console/ledger/export?format=csv&taxpayer={tp.id}")
    assert len(list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))) == 1  # the header only


def test_overview_counts_are_the_stored_invoices(browser_for: Callable[[str, str], Browser],
                                                 seeded: Seeded) -> None:
    browser = browser_for(seeded.tenant.corp_id, "viewer")
    nsrsbh, tp = next(iter(seeded.taxpayers.items()))
    invoices = seeded.invoices[(nsrsbh, "jx")]
    month = max(inv.kpyf for inv in invoices)
    page = browser.http.get(f"/console/overview?taxpayer={tp.id}&month={month // 100}-{month % 100:02d}").text
    expected = [inv for inv in invoices if inv.kpyf == month]
    count = re.search(rf'data-cell="jx-{month}-count"><a [^>]*>(\d+)<', page)
    jshj = re.search(rf'data-cell="jx-{month}-jshj">([\d,.-]+)<', page)
    assert count
    assert int(count.group(1)) == len(expected)
    assert jshj
    assert Decimal(jshj.group(1).replace(",", "")) == sum(inv.jshj for inv in expected)


def test_ledger_pages_cover_the_filtered_set_exactly_once(browser_for: Callable[[str, str], Browser],
                                                          seeded: Seeded) -> None:
    browser = browser_for(seeded.tenant.corp_id, "viewer")
    nsrsbh, tp = next(iter(seeded.taxpayers.items()))
    expected = seeded.invoices[(nsrsbh, "xx")]
    for sort in ("kprq_desc", "jshj_asc"):
        url: str | None = f"/console/ledger?taxpayer={tp.id}&direction=xx&sort={sort}"
        seen: list[int] = []
        while url:
            assert len(seen) <= len(expected), "the pages repeat rows: the walk would never end"
            page = browser.http.get(url).text
            seen += [int(n) for n in re.findall(r"/console/invoices/(\d+)", page)]
            total = re.search(r'data-total="count">(\d+)<', page)
            assert total
            assert int(total.group(1)) == len(expected)
            nxt = re.search(r'href="([^"]+)" id="next-page"', page)
            url = nxt.group(1).replace("&amp;", "&") if nxt else None
        assert len(seen) == len(set(seen)) == len(expected)


def test_ledger_filters_and_export_agree(browser_for: Callable[[str, str], Browser], seeded: Seeded) -> None:
    browser = browser_for(seeded.tenant.corp_id, "viewer")
    nsrsbh, tp = next(iter(seeded.taxpayers.items()))
    invoices = seeded.invoices[(nsrsbh, "jx")]
    seller = invoices[0].xfmc[:2]
    expected = [inv for inv in invoices if inv.xfmc.startswith(seller) and inv.jshj >= Decimal("1000")]
    query = f"taxpayer={tp.id}&direction=jx&party={seller}&min=1000"
    page = browser.http.get(f"/console/ledger?{query}").text
    total = re.search(r'data-total="count">(\d+)<', page)
    assert total
    assert int(total.group(1)) == len(expected)
    export = browser.http.get(f"/console/ledger/export?{query}&format=csv")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert len(rows) - 1 == len(expected)


def test_bad_filters_are_named_not_fatal(browser_for: Callable[[str, str], Browser], tenant: Tenant) -> None:
    browser = browser_for(tenant.corp_id, "viewer")
    page = browser.http.get("/console/ledger?from=2025-13&min=abc&sort=nope&after=zzz")
    assert page.status_code == 200
    for field in ("from", "min", "sort", "after"):
        assert f"（{field}）" in page.text
    assert browser.http.get("/console/ledger/export?format=pdf").status_code == 400


def test_invoice_page_shows_fields_and_lines(browser_for: Callable[[str, str], Browser], seeded: Seeded) -> None:
    browser = browser_for(seeded.tenant.corp_id, "viewer")
    page = browser.http.get(f"/console/invoices/{_first_invoice_id(browser)}").text
    for label in ("发票号码", "价税合计", "销方名称", "明细", "状态历史"):
        assert label in page


def test_admin_adds_a_taxpayer_and_switches_collection(browser_for: Callable[[str, str], Browser],
                                                       tenant: Tenant) -> None:
    admin = browser_for(tenant.corp_id, "admin")
    no_csrf = admin.http.post("/console/taxpayers", data={"nsrsbh": "91330106MA27XL0C12", "name": "杭州示例"})
    assert no_csrf.status_code == 403
    added = admin.http.post("/console/taxpayers", data={"csrf": admin.csrf, "nsrsbh": "91330106MA27XL0C12",
                                                        "name": "杭州示例科技有限公司"})
    assert added.status_code == 200
    assert "杭州示例科技有限公司" in added.text
    assert "已开通" in added.text
    bad = admin.http.post("/console/taxpayers", data={"csrf": admin.csrf, "nsrsbh": "123", "name": "x"})
    assert "纳税人识别号无效" in bad.text
    tp_id = re.search(r"/console/taxpayers/(\d+)/collection", added.text)
    assert tp_id
    off = admin.http.post(f"/console/taxpayers/{tp_id.group(1)}/collection",
                          data={"csrf": admin.csrf, "enabled": "0"})
    assert "未开通" in off.text


def test_upload_creates_a_file_task_and_checks_csrf(browser_for: Callable[[str, str], Browser], tenant: Tenant,
                                                    engine: Engine) -> None:

    with engine.begin() as conn:
        tp = add_taxpayer(conn, tenant.corp_id, "91330106MA27XL0C12", "杭州示例科技有限公司")
    admin = browser_for(tenant.corp_id, "admin")
    files = {"files": ("export.xlsx", b"not really an xlsx")}
    forged = admin.http.post("/console/tasks/upload", headers={"X-CSRF-Token": "nope"},
                             data={"taxpayer": str(tp.id), "direction": "jx"}, files=files)
    assert forged.status_code == 403
    bad = admin.http.post("/console/tasks/upload", headers={"X-CSRF-Token": admin.csrf},
                          data={"taxpayer": str(tp.id), "direction": "up"}, files=files)
    assert bad.status_code == 400
    assert "direction" in bad.json()["error"]
    done = admin.http.post("/console/tasks/upload", headers={"X-CSRF-Token": admin.csrf},
                           data={"taxpayer": str(tp.id), "direction": "jx"}, files=files)
    assert done.status_code == 200, done.text
    task_id = done.json()["taskId"]
    status = admin.http.get(f"/console/tasks/{task_id}/status").json()
    assert status["taskId"] == task_id
    assert status["state"] == "toProcess"
    assert task_id in admin.http.get("/console/tasks").text


def test_another_corporations_task_is_not_found(browser_for: Callable[[str, str], Browser],
                                                tenant_factory: Callable[[], Tenant], engine: Engine) -> None:

    a, b = tenant_factory(), tenant_factory()
    with engine.begin() as conn:
        tp = add_taxpayer(conn, a.corp_id, "91330106MA27XL0C12", "杭州示例科技有限公司")
    owner, stranger = browser_for(a.corp_id, "admin"), browser_for(b.corp_id, "admin")
    task_id = owner.http.post("/console/tasks/upload", headers={"X-CSRF-Token": owner.csrf},
                              data={"taxpayer": str(tp.id), "direction": "jx"},
                              files={"files": ("a.xml", b"<x/>")}).json()["taskId"]
    for path in (f"/console/tasks/{task_id}", f"/console/tasks/{task_id}/status",
                 f"/console/tasks/{task_id}/rejections.xlsx"):
        assert stranger.http.get(path).status_code == 404
    # nor can B upload into A's taxpayer
    into = stranger.http.post("/console/tasks/upload", headers={"X-CSRF-Token": stranger.csrf},
                              data={"taxpayer": str(tp.id), "direction": "jx"}, files={"files": ("a.xml", b"<x/>")})
    assert into.status_code == 400


def test_an_upload_over_the_limit_is_refused(browser_for: Callable[[str, str], Browser], tenant: Tenant) -> None:
    admin = browser_for(tenant.corp_id, "admin")
    big = b"x" * (2 * 1024 * 1024 + 1)  # the test app's limit is 2 MiB
    response = admin.http.post("/console/tasks/upload", headers={"X-CSRF-Token": admin.csrf},
                               data={"taxpayer": "1", "direction": "jx"}, files={"files": ("big.xlsx", big)})
    assert response.status_code == 413
    assert "上传过大" in response.json()["error"]


# ---- 统一开票 pages ---------------------------------------------------------------------------------


def test_unify_pages_list_corporations_and_batches_newest_first(
        browser_for: Callable[[str, str], Browser], writable_seeded: Seeded, tenant_factory: Callable[[], Tenant],
        engine: Engine) -> None:
    corp_id = writable_seeded.tenant.corp_id
    nsrsbh = next(iter(writable_seeded.taxpayers))
    invoices = writable_seeded.invoices[(nsrsbh, "jx")][:3]
    with engine.begin() as conn:
        unify_corp = unify_service.upsert_corporation(conn, corp_id, code="91110000UNIFY0001X", name="示例差旅平台",
                                                      channel="HOSE")
        unify_service.upsert_corporation(conn, corp_id, code="EMPTY", name="没有批次的平台")
        refs = [unify_service.InvoiceRef(nsrsbh, key=inv.key) for inv in invoices]
    for batch_no, members in (("B-OLD", refs[:1]), ("B-NEW", refs[1:])):
        with engine.begin() as conn:
            unify_service.push_batch(conn, corp_id, unify_service.BatchPush(
                unify_corp["id"], batch_no, "2025-03", members, []))
    for role in ("viewer", "admin"):  # read-only for both roles: no forms on either page
        browser = browser_for(corp_id, role)
        listing = browser.http.get("/console/unify")
        assert listing.status_code == 200
        assert 'id="nav-unify"' in listing.text
        assert "示例差旅平台" in listing.text
        assert "HOSE" in listing.text
        assert f'data-batches="{unify_corp["id"]}">2<' in listing.text
        assert "<form" not in listing.text.split("</header>")[1]
        page = browser.http.get(f"/console/unify/{unify_corp['id']}")
        assert page.status_code == 200
        assert page.text.index('data-batch="B-NEW"') < page.text.index('data-batch="B-OLD"')
        assert "2025-03" in page.text
        linked = re.findall(r"/console/invoices/(\d+)", page.text)
        assert len(linked) == 3
        assert browser.http.get(f"/console/invoices/{linked[0]}").status_code == 200
    stranger = browser_for(tenant_factory().corp_id, "admin")
    assert stranger.http.get(f"/console/unify/{unify_corp['id']}").status_code == 404
    assert "示例差旅平台" not in stranger.http.get("/console/unify").text


# ---- where an invoice came from ---------------------------------------------------------------------


def test_invoice_page_names_its_task_files_origin_and_later_changes(
        browser_for: Callable[[str, str], Browser], seeded: Seeded, tenant: Tenant, engine: Engine) -> None:
    nsrsbh = next(iter(seeded.taxpayers))
    source = seeded.invoices[(nsrsbh, "jx")][0]
    with engine.begin() as conn:
        tp = add_taxpayer(conn, tenant.corp_id, nsrsbh, "来源测试", collection_enabled=False)
        first = task_repository.create_task(conn, task_repository.NewTask(
            tenant.corp_id, nsrsbh, "jx", None, None, "files", {}))["taskId"]
        task_repository.add_task_file(conn, first, 1, "全量发票查询导出结果.xlsx", "/nowhere", 12345)
        inv = Invoice.from_doc(source.to_doc())
        inv.origin = "xlsx"
        store_invoices(conn, tp, "jx", [inv], task_id=first)
        later = task_repository.create_task(conn, task_repository.NewTask(
            tenant.corp_id, nsrsbh, "jx", None, None, "files", {}))["taskId"]
        changed = Invoice.from_doc(inv.to_doc())
        changed.fpzt_dm = "02" if inv.fpzt_dm != "02" else "01"
        store_invoices(conn, tp, "jx", [changed], task_id=later)
        old = Invoice.from_doc(source.to_doc())
        old.fphm = old.fphm[:-4] + "7777"
        store_invoices(conn, tp, "jx", [old])  # a bulk load: no task
    browser = browser_for(tenant.corp_id, "viewer")
    ids = re.findall(r"/console/invoices/(\d+)", browser.http.get("/console/ledger").text)
    pages = [browser.http.get(f"/console/invoices/{i}").text for i in ids]
    page = next(p for p in pages if first in p)
    assert f'<a href="/console/tasks/{first}">{first}</a>' in page
    assert "全量发票查询导出结果.xlsx（12345" in page
    assert re.search(r'id="origin-format">xlsx', page)
    history = page.split('id="history"')[1]
    assert f"/console/tasks/{later}" in history
    assert f"{inv.fpzt_dm} " in history  # the earlier status
    bulk = next(p for p in pages if first not in p)
    assert "无来源任务" in bulk


# ---- English toggle ---------------------------------------------------------------------------------


def test_every_template_word_has_an_english_entry() -> None:
    used: set[str] = set()
    for template in (Path(i18n.__file__).parent / "templates").glob("*.html"):
        used |= set(re.findall(r"t\('([^']+)'\)", template.read_text(encoding="utf-8")))
    assert used  # the templates do call t()
    assert sorted(used - set(i18n.EN)) == []


def test_the_header_link_switches_to_english_and_back(browser_for: Callable[[str, str], Browser],
                                                      seeded: Seeded) -> None:
    browser = browser_for(seeded.tenant.corp_id, "viewer")
    chinese = browser.http.get("/console/ledger?direction=jx")
    assert ">发票台账</a>" in chinese.text
    toggle = re.search(r'href="([^"]+)" id="lang-toggle">English<', chinese.text)
    assert toggle
    switched = browser.http.get(toggle.group(1).replace("&amp;", "&"), follow_redirects=False)
    assert switched.status_code == 303
    assert switched.headers["location"] == "/console/ledger?direction=jx"
    assert "lang=en" in switched.headers["set-cookie"]
    english = browser.http.get(switched.headers["location"])
    assert '<html lang="en">' in english.text
    for word in (">Ledger</a>", ">Unified invoicing</a>", "<th>Total incl. tax</th>", ">Filter</button>"):
        assert word in english.text
    assert "<th>价税合计</th>" not in english.text
    # data stays as stored: the invoices' own Chinese names are untouched
    nsrsbh = next(iter(seeded.taxpayers))
    assert seeded.taxpayers[nsrsbh].name in english.text
    # an unknown language is Chinese, and the link never leaves the console
    back = browser.http.get("/console/lang?to=fr&next=https://evil.example/", follow_redirects=False)
    assert back.headers["location"] == "/console/overview"
    assert ">发票台账</a>" in browser.http.get("/console/ledger").text
