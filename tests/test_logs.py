"""Log lines: JSON or plain, the request's reqId on every line of a request, never a token."""

from __future__ import annotations

import contextvars
import json
import logging

from fapiaohub.logs import JsonLines, PlainLines, log_config
from fapiaohub.shapes import request_context


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("fapiaohub.test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_the_request_and_hide_tokens() -> None:
    contextvars.copy_context().run(_json_lines)  # a request's context, not the test session's


def _json_lines() -> None:
    context = request_context.begin()
    request_context.note_corp("CORP0001")
    line = json.loads(JsonLines().format(_record("GET %s", "/x?accessToken=s3cr3t&a=1", status=200)))
    assert line["reqId"] == context.req_id
    assert line["corpId"] == "CORP0001"
    assert line["status"] == 200
    assert line["level"] == "INFO"
    assert "s3cr3t" not in json.dumps(line)


def test_plain_lines_name_the_request() -> None:
    contextvars.copy_context().run(_plain_lines)


def _plain_lines() -> None:
    context = request_context.begin()
    formatter = PlainLines("%(levelname)s %(name)s - %(message)s")
    text = formatter.format(_record("refreshToken=abc done"))
    assert f"reqId={context.req_id}" in text
    assert "abc" not in text


def test_uvicorns_access_line_gives_way_to_ours() -> None:
    for fmt in ("plain", "json"):
        loggers = log_config(fmt)["loggers"]
        assert loggers["uvicorn.access"]["level"] == "WARNING"
        assert loggers["fapiaohub"]["level"] == "INFO"
