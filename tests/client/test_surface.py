"""The SDK's shape without a server: Client and AsyncClient stay twins, every documented endpoint has a method,
the default retry policy outlasts a 15-second restart, and the SDK loads without the server's libraries."""

from __future__ import annotations

import inspect
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fapiaohub.client import AsyncClient, Client, RetryPolicy, _core, sync

DOCS = Path(__file__).resolve().parents[2] / "docs"
RENAMED = {"close": "aclose", "__enter__": "__aenter__", "__exit__": "__aexit__"}  # sync name -> async name
# documented paths the SDK deliberately leaves out: the SDK refreshes its own tokens with refreshToken;
# refreshToken/expireDate is for Ekuaibao clients that ask for a fixed expiry
NOT_FOR_THE_SDK: set[str] = {"/api/openapi/v2/auth/refreshToken/expireDate"}


def _public(cls: type) -> dict[str, object]:
    return {name: member for name, member in vars(cls).items()
            if callable(member) and (not name.startswith("_") or name in (*RENAMED, *RENAMED.values(), "__init__"))}


def _shape(function: object, *, from_async: bool) -> tuple[list[tuple[str, str, object, str]], str]:
    def plain(annotation: object) -> str:
        text = str(annotation)
        if from_async:
            text = (text.replace("AsyncIterator[", "Iterator[").replace("AsyncBaseTransport", "BaseTransport")
                    .replace("AsyncClient", "Client"))
        return text

    signature = inspect.signature(function)  # type: ignore[arg-type]
    params = [(p.name, str(p.kind), p.default, plain(p.annotation)) for p in signature.parameters.values()]
    return params, plain(signature.return_annotation)


def test_the_async_client_has_exactly_the_sync_clients_methods() -> None:
    sync, asynchronous = _public(Client), _public(AsyncClient)
    assert sorted(RENAMED.get(name, name) for name in sync) == sorted(asynchronous)
    for name, function in sync.items():
        twin = asynchronous[RENAMED.get(name, name)]
        assert _shape(twin, from_async=True) == _shape(function, from_async=False), name
        if name == "__init__":
            continue
        if inspect.isgeneratorfunction(function):
            assert inspect.isasyncgenfunction(twin), f"{name} must be an async iterator"
        else:
            assert inspect.iscoroutinefunction(twin), f"{name} must be awaited"


def test_no_parameter_is_a_bare_corporation_id() -> None:
    """corpId (the caller) and a unify corporation's id are different things: the names say which."""
    for cls in (Client, AsyncClient):
        for name, function in _public(cls).items():
            assert "corporation_id" not in inspect.signature(function).parameters, f"{cls.__name__}.{name}"  # type: ignore[arg-type]


def test_every_documented_endpoint_has_a_method() -> None:
    documented = set(re.findall(r"(/api/openapi/[\w./]+?)(?=[?`\s…]|$)", (DOCS / "api.md").read_text()))
    documented |= {f"{_core.TASK_PATH}/{action}" for action in
                   re.findall(r"^\| `(\w+)` \|", (DOCS / "api.md").read_text(), re.MULTILINE)
                   if action in ("create", "status", "list", "cancel", "upload")}
    documented -= {_core.TASK_PATH + "/"} | NOT_FOR_THE_SDK
    sources = "".join(Path(module.__file__).read_text() for module in (_core, sync))  # type: ignore[arg-type]
    called = {value for name, value in vars(_core).items() if name.endswith("_PATH") and isinstance(value, str)}
    called |= set(_core.UNIFY_PATHS.values())
    called |= {f"{_core.TASK_PATH}/{action}" for action in ("create", "status", "list", "cancel", "upload")
               if f'"{action}"' in sources or f"/{action}" in sources}
    assert {path.rstrip("/") for path in documented} - called == set()
    assert len(documented) >= 13


def test_the_default_retries_ride_out_a_15_second_restart() -> None:
    """Simulated on a clock: the server refuses connections (at once) for 15 s, then answers."""
    policy = RetryPolicy()
    for seed in range(200):
        random.seed(seed)
        clock, attempt = 0.0, 0
        while clock < 15.0:
            wait = policy.delay(attempt, clock, None)
            assert wait is not None, f"gave up after {clock:.1f} s"
            assert wait <= policy.max_backoff  # the client notices the server back within 2 s
            clock, attempt = clock + wait, attempt + 1
        while (wait := policy.delay(attempt, clock, None)) is not None:  # a server that never comes back
            clock, attempt = clock + wait, attempt + 1
        assert 15.0 < clock < policy.deadline


def test_retry_after_wins_over_backoff_but_not_over_the_deadline() -> None:
    policy = RetryPolicy(deadline=10)
    assert policy.delay(0, 0.0, 7.0) == 7.0
    assert policy.delay(0, 5.0, 7.0) is None
    assert RetryPolicy(retries=2).delay(2, 0.0, None) is None


def test_kpyf_is_a_string_or_an_int() -> None:
    assert _core.month(202503) == _core.month("202503") == "202503"
    with pytest.raises(TypeError, match="kpyf"):
        _core.month(2025.03)  # type: ignore[arg-type]


def test_the_sdk_imports_none_of_the_servers_libraries() -> None:
    # (rich is left out: httpx loads it for its command line when it happens to be installed)
    code = ("import sys, fapiaohub.client; heavy = {'fastapi', 'sqlalchemy', 'lxml', 'pdfplumber', 'pypdfium2', "
            "'openpyxl', 'alembic', 'uvicorn', 'starlette', 'pydantic', 'zxingcpp', 'PIL', 'typer', 'calamine'}; "
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_requests_are_described_without_their_token() -> None:
    """The text that retry logs and FapiaohubError messages carry."""
    text = _core.describe("POST", _core.COLLECTION_PATH, {"accessToken": "SECRET-TOKEN", "index": 3})
    assert "SECRET-TOKEN" not in text
    assert "accessToken=***" in text
    assert "index=3" in text
