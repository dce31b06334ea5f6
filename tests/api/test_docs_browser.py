"""/docs and /redoc render in a real browser that may reach nothing but this server (an intranet)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from tests.acceptance.test_cli import FAPIAOHUB, free_port, wait_until_up

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("docs")
    port = free_port()
    proc = subprocess.Popen([*FAPIAOHUB, "serve", "--db", f"sqlite:///{folder / 'docs.db'}", "--port", str(port),
                             "--no-worker"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture
def offline_page(base: str) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page whose requests to any other host are refused (and recorded), with its script errors."""
    elsewhere: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.set_default_timeout(20_000)
        own = urlsplit(base).netloc

        def route(request_route: Any) -> None:
            url = request_route.request.url
            if urlsplit(url).netloc == own or url.startswith(("data:", "blob:")):
                request_route.continue_()
            else:
                elsewhere.append(url)
                request_route.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page, elsewhere, errors
        browser.close()


def test_swagger_ui_renders_every_operation_offline(base: str, offline_page: tuple[Any, list[str], list[str]]) -> None:
    page, elsewhere, errors = offline_page
    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("getInvoiceCollectionData" in path for path in paths)
    assert any("refreshToken/expireDate" in path.replace("\u200b", "") for path in paths)
    assert len(paths) >= 17  # 14 API operations and the 3 of operations
    page.wait_for_load_state("networkidle")
    assert elsewhere == []
    assert errors == []


def test_redoc_renders_offline(base: str, offline_page: tuple[Any, list[str], list[str]]) -> None:
    page, elsewhere, errors = offline_page
    page.goto(f"{base}/redoc")
    # an operation's section and a tag's heading (the menu holds hidden copies of both)
    page.locator("text=Exchange appKey/appSecurity for a token pair >> visible=true").first.wait_for()
    page.locator("h2:has-text('collection tasks') >> visible=true").first.wait_for()
    page.wait_for_load_state("networkidle")
    assert elsewhere == []
    assert errors == []
