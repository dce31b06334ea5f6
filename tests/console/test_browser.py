"""The console in a real browser: Debian's Chromium driven by Playwright against a real `fapiaohub serve`.

Set FAPIAOHUB_CONSOLE_SCREENSHOTS=docs/console to (re)write the screenshots of the docs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from fapiaohub.demo.generator import demo_taxpayers, iter_demo_invoices
from fapiaohub.demo.load import DEMO_APP_KEY, DEMO_APP_SECURITY, DEMO_CONSOLE_PASSWORD, DEMO_CONSOLE_USER
from fapiaohub.domain.codes import kinds_for
from fapiaohub.shapes.bureau_layout import write_bureau_export
from tests.acceptance.test_cli import FAPIAOHUB, free_port, wait_until_up

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk "
                              "(.ci/run does) to run the console's browser tests"),
]
SHOTS = os.environ.get("FAPIAOHUB_CONSOLE_SCREENSHOTS")
NEW_TAXPAYER = ("91330106MA27XL0C12", "杭州示例科技有限公司")


@dataclasses.dataclass
class Server:
    base: str
    db: str
    corp_id: str


def cli(db: str, *args: str) -> str:
    done = subprocess.run([*FAPIAOHUB, *args, "--db", db], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def one_time_password(output: str) -> str:
    match = re.search(r"one-time password: (\S+)", output)
    assert match, output
    return match.group(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo database served by `fapiaohub serve` (with its embedded worker) on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("console")
    db = f"sqlite:///{folder / 'console.db'}"
    info = json.loads(cli(db, "demo", "--load-only", "--json"))
    assert info["console"] == {"user": DEMO_CONSOLE_USER, "password": DEMO_CONSOLE_PASSWORD}
    port = free_port()
    env = {**os.environ, "FAPIAOHUB_DATA_DIR": str(folder / "data")}
    proc = subprocess.Popen([*FAPIAOHUB, "serve", "--db", db, "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc)
        yield Server(base, db, info["corpId"])
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def sign_in(page: Any, server: Server, corp: str, name: str, password: str) -> None:
    page.goto(f"{server.base}/console/")
    page.fill("input[name=corp]", corp)
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/overview.*"))


def api_month_count(server: Server, nsrsbh: str, direction: str, kpyf: int) -> int:
    """What getInvoiceCollectionData reports for the month, summed over the direction's kinds."""
    token = httpx.post(f"{server.base}/api/openapi/v1/auth/getAccessToken",
                       json={"appKey": DEMO_APP_KEY, "appSecurity": DEMO_APP_SECURITY}).json()
    token = token["value"]["accessToken"]
    total = 0
    for fplx in kinds_for(direction):
        answer = httpx.post(f"{server.base}/api/openapi/v2/invoice/v2/getInvoiceCollectionData",
                            params={"accessToken": token},
                            json={"corpId": server.corp_id, "nsrsbh": nsrsbh, "fplx": fplx, "kpyf": str(kpyf),
                                  "jxxbz": direction, "page": {"pageSize": 1, "currentPage": 1}}).json()["value"]
        if answer["success"]:
            total += answer["data"]["page"]["totalCount"]
    return total


def bureau_export(path: Path) -> tuple[int, int]:
    """An export for NEW_TAXPAYER: demo 进项 invoices re-addressed to it, plus demo 销项 ones of another
    taxpayer, which the import must reject. Returns (acceptable, rejectable)."""
    source = demo_taxpayers()[0].nsrsbh
    items = [i for i in iter_demo_invoices(300) if i.nsrsbh == source and i.invoice.fplx != "17"]
    good = [dataclasses.replace(i.invoice, gfsbh=NEW_TAXPAYER[0], gfmc=NEW_TAXPAYER[1])
            for i in items if i.direction == "jx"][:40]
    bad = [i.invoice for i in items if i.direction == "xx"][:5]
    write_bureau_export(path, good + bad)
    return len(good), len(bad)


def test_admin_walks_through_the_console(page: Any, server: Server, tmp_path: Path) -> None:
    page.goto(f"{server.base}/console/login")
    shot(page, "login")
    sign_in(page, server, server.corp_id, DEMO_CONSOLE_USER, DEMO_CONSOLE_PASSWORD)

    # overview: the month's 进项 count is what the API serves
    page.wait_for_function("document.querySelector('#chart') && document.querySelector('#chart').width > 0")
    cell = page.locator("td[data-cell^='jx-'][data-cell$='-count']").first  # newest month first
    kpyf = int((cell.get_attribute("data-cell") or "").split("-")[1])
    shown = int(cell.inner_text())
    nsrsbh = demo_taxpayers()[0].nsrsbh
    assert shown > 0
    assert shown == api_month_count(server, nsrsbh, "jx", kpyf)
    shot(page, "overview")

    # ledger: filtered by direction and a counterparty prefix; totals agree with the rows
    page.click("nav >> text=发票台账")
    page.select_option("select[name=direction]", "jx")
    page.select_option("select[name=sort]", "jshj_desc")
    page.fill("input[name=from]", f"{kpyf // 100}-{kpyf % 100:02d}")
    page.fill("input[name=to]", f"{kpyf // 100}-{kpyf % 100:02d}")
    page.click("#ledger-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*direction=jx.*"))
    count = int(page.inner_text("[data-total=count]"))
    assert count >= shown  # both taxpayers' 进项 of the month
    amounts = [Decimal(t.replace(",", "")) for t in page.locator("#ledger tbody tr td:nth-child(9)").all_inner_texts()]
    assert amounts == sorted(amounts, reverse=True)
    assert len(amounts) == min(count, 50)
    shot(page, "ledger")
    with page.expect_download() as download:
        page.click("#export-xlsx")
    saved = tmp_path / "ledger.xlsx"
    download.value.save_as(saved)
    assert saved.read_bytes()[:2] == b"PK"

    # one invoice
    page.click("#ledger .invoice-link >> nth=0")
    page.wait_for_url(re.compile(r".*/console/invoices/\d+"))
    assert page.locator("#fields").inner_text().count("价税合计") == 1
    assert page.locator("#lines tbody tr").count() >= 1
    shot(page, "invoice")

    # 统一开票: the demo's platforms and one's batches, newest first, each invoice a link
    page.click("#nav-unify")
    page.wait_for_url(re.compile(r".*/console/unify$"))
    assert page.locator("#unify-corporations tbody tr").count() >= 1
    shot(page, "unify")
    page.click("#unify-corporations tbody a >> nth=0")
    page.wait_for_url(re.compile(r".*/console/unify/\w+$"))
    times = page.locator("#batches tbody tr td:nth-child(3)").all_inner_texts()
    assert times
    assert times == sorted(times, reverse=True)
    shot(page, "unify_batches")

    # English and back: the header link, remembered by the lang cookie
    page.click("#lang-toggle")
    page.wait_for_selector("nav >> text=Unified invoicing")
    assert "Batch no." in page.inner_text("#batches thead")
    page.click("#lang-toggle")
    page.wait_for_selector("nav >> text=统一开票")

    # taxpayers: add one, for the upload below
    page.click("nav >> text=纳税人")
    page.fill("input[name=nsrsbh]", NEW_TAXPAYER[0])
    page.fill("input[name=name]", NEW_TAXPAYER[1])
    page.click("form[action='/console/taxpayers'] button")
    page.wait_for_selector(f"#taxpayers >> text={NEW_TAXPAYER[0]}")
    shot(page, "taxpayers")

    # tasks: drop a real-layout bureau export, watch it finish, see the rejections
    export = tmp_path / "全量发票查询导出结果.xlsx"
    good, bad = bureau_export(export)
    page.click("nav >> text=归集任务")
    page.select_option("select[name=taxpayer]", label=f"{NEW_TAXPAYER[1]}（{NEW_TAXPAYER[0]}）")
    page.select_option("select[name=direction]", "jx")
    drop_file(page, export)
    page.click("#upload-button")
    page.wait_for_selector("#upload-state[data-state=processed]", timeout=120_000)
    assert f"新增{good}" in page.inner_text("#upload-state")
    assert f"拒绝{bad}" in page.inner_text("#upload-state")
    page.reload()
    shot(page, "tasks")
    page.click("#task-list tbody a >> nth=0")  # the newest task
    page.wait_for_url(re.compile(r".*/console/tasks/\w+$"))
    assert page.locator("#rejections tbody tr").count() == bad
    assert "不属于进项" in page.inner_text("#rejections")
    with page.expect_download() as rejected:
        page.click("#rejections-xlsx")
    assert rejected.value.suggested_filename.endswith(".xlsx")
    shot(page, "task")

    # sign out: the pages are gone
    page.click("#logout")
    page.wait_for_url(re.compile(r".*/console/login.*"))
    page.goto(f"{server.base}/console/ledger")
    assert "/console/login" in page.url


def drop_file(page: Any, path: Path) -> None:
    """Drag and drop, as a user does: a DataTransfer holding the file is dropped on the drop zone."""
    data = list(path.read_bytes())
    page.evaluate(
        """([bytes, name]) => {
            const file = new File([new Uint8Array(bytes)], name,
                {type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'});
            const transfer = new DataTransfer();
            transfer.items.add(file);
            document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true}));
        }""",
        [data, path.name],
    )
    assert path.name in page.inner_text("#chosen")


def test_a_viewer_cannot_upload(page: Any, server: Server) -> None:
    password = one_time_password(cli(server.db, "user", "add", "--corp", server.corp_id, "--name", "viewer-b",
                                     "--role", "viewer"))
    sign_in(page, server, server.corp_id, "viewer-b", password)
    page.goto(f"{server.base}/console/tasks")
    assert page.locator("#upload").count() == 0
    assert "只读用户不能上传文件" in page.inner_text("main")
    # nor by posting the form by hand, with a valid CSRF token: the server refuses
    status = page.evaluate("""async () => {
        const csrf = document.querySelector('meta[name=csrf-token]').content;
        const body = new FormData();
        body.append('taxpayer', '1'); body.append('direction', 'jx');
        body.append('files', new File(['x'], 'a.xlsx'));
        const r = await fetch('/console/tasks/upload', {method: 'POST', body, headers: {'X-CSRF-Token': csrf}});
        return r.status;
    }""")
    assert status == 403


def test_another_corporation_reaches_nothing_by_url(page: Any, server: Server) -> None:
    other = json.loads(cli(server.db, "tenant", "create", "--name", "其他企业", "--json"))["corpId"]
    password = one_time_password(cli(server.db, "user", "add", "--corp", other, "--name", "boss", "--role", "admin"))
    sign_in(page, server, other, "boss", password)
    response = page.goto(f"{server.base}/console/invoices/1")
    assert response is not None
    assert response.status == 404
    assert "不存在" in page.inner_text("main")
    page.goto(f"{server.base}/console/ledger")
    assert page.inner_text("[data-total=count]") == "0"
