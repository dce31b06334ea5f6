"""The API documentation: /docs and /redoc work offline, and the OpenAPI schema matches docs/api.md."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

API_MD = Path(__file__).parents[2] / "docs" / "api.md"
TASK_BASE = "/api/openapi/v2/invoice/v2/collectionTask"
OPERATIONS = ("/healthz", "/readyz", "/metrics")


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def _page_urls(html: str) -> list[str]:
    parser = _Urls()
    parser.feed(html)
    # URLs inside the page's script (Swagger's `url: '/openapi.json'`, Redoc's spec-url attribute)
    parser.urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)
    parser.urls += re.findall(r"""spec-url=['"]([^'"]+)['"]""", html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_documentation_pages_load_everything_from_this_server(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    urls = _page_urls(response.text)
    assert len(urls) >= 2  # the viewer's script and the schema
    assert "/openapi.json" in urls
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        assert not url.startswith("//"), f"{page} loads {url} from another host"
        assert client.get(url).status_code == 200, url
    assert not re.search(r"https?://", response.text), "a URL to another host"


def test_the_vendored_assets_ship_with_their_licences() -> None:
    static = Path(__file__).parents[2] / "src" / "fapiaohub" / "api" / "static"
    for folder in ("swagger-ui", "redoc"):
        assert (static / folder / "LICENSE").is_file(), folder


def _documented_paths() -> set[str]:
    text = API_MD.read_text()
    paths = set(re.findall(r"(/api/openapi/[\w./]+?)(?=[?`\s…]|$)", text))
    # the task endpoints are the rows of the table headed "path (`…/collectionTask/…`)"
    table = text.split(f"| path (`{TASK_BASE}/…`)", 1)[1].split("\n\n", 1)[0]
    paths |= {f"{TASK_BASE}/{action}" for action in re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)}
    paths |= {path for path in OPERATIONS if f"`GET {path}`" in text}
    return {path.rstrip("/") for path in paths} - {TASK_BASE}


def _schema(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_docs_api_md_and_the_openapi_schema_list_the_same_paths(client: TestClient) -> None:
    served = set(_schema(client)["paths"])
    documented = _documented_paths()
    assert documented - served == set(), "documented in docs/api.md but not served"
    assert served - documented == set(), "served but not documented in docs/api.md"


def test_every_operation_is_documented_with_tags_body_token_and_errors(client: TestClient) -> None:
    schema = _schema(client)
    components = schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation.get("tags"), where
            responses = operation["responses"]
            assert "422" not in responses, f"{where}: fapiaohub answers 400, never 422"
            assert "content" in responses["200"], f"{where}: no response schema"
            if path in OPERATIONS:
                continue
            assert "403" in responses, where
            assert responses["403"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"}, where
            parameters = {p["name"]: p for p in operation.get("parameters", [])}
            if not path.endswith("getAccessToken"):
                assert parameters["accessToken"]["required"] is True, where
            if method == "post" and "/auth/refreshToken" not in path:
                assert operation.get("requestBody", {}).get("required") is True, f"{where}: no request body"
    assert set(components["ErrorBody"]["required"]) == {"errorCode", "errorMessage", "errorDetails", "code", "data"}


def test_the_upload_is_documented_as_multipart(client: TestClient) -> None:
    upload = _schema(client)["paths"][f"{TASK_BASE}/upload"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["files"]["items"]["format"] == "binary"
    assert {"corpId", "nsrsbh", "jxxbz", "files"} <= set(form["required"])


def test_the_documented_error_body_is_the_one_served(client: TestClient) -> None:
    answer = client.post("/api/openapi/v2/auth/refreshToken")  # no tokens: 403
    assert answer.status_code == 403
    documented = _schema(client)["components"]["schemas"]["ErrorBody"]
    assert set(answer.json()) == set(documented["properties"])
