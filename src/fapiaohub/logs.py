"""Logging for the server and workers: one line per request and per task outcome, plain or JSON, no secrets.

``--log-format json`` (FAPIAOHUB_LOG_FORMAT=json) writes one JSON object per line with the request's
reqId (the same as its envelope's), route, status, durationMs and corpId. Tokens travel in query strings,
so lines never carry the query string and every message passes through RedactSecrets.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson

from fapiaohub.client.redact import RedactSecrets, redact
from fapiaohub.shapes import request_context

# attributes a record may carry (logger.info(..., extra={...})) that the JSON line shows as fields
FIELDS = ("reqId", "corpId", "method", "route", "status", "durationMs", "taskId", "source", "state", "code",
          "rows", "rowsPerSecond", "worker")


class JsonLines(logging.Formatter):
    """A record as one JSON object; the current request's reqId and corpId when the record has none."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        info = request_context.current()
        if info is not None:
            line["reqId"] = info.req_id
            if info.corp_id:
                line["corpId"] = info.corp_id
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None and value != "":  # an unknown corpId is left out, not ""
                line[name] = value
        if record.exc_info:
            line["exception"] = redact("".join(traceback.format_exception(*record.exc_info)))
        return orjson.dumps(line, default=str).decode()


class PlainLines(logging.Formatter):
    """A record as text; a line logged during a request names its reqId (and corpId once known)."""

    def format(self, record: logging.LogRecord) -> str:
        info = request_context.current()
        req_id = record.__dict__.get("reqId") or (info.req_id if info else "")
        corp_id = record.__dict__.get("corpId") or (info.corp_id if info else "")
        text = super().format(record)
        if req_id:
            tags = f"reqId={req_id}" + (f" corpId={corp_id}" if corp_id else "")
            text = text.replace(" - ", f" {tags} - ", 1)
        return redact(text)


def log_config(log_format: str = "plain") -> dict[str, Any]:
    """The logging.config.dictConfig dictionary (uvicorn applies it in every server process)."""
    formatter = ({"()": JsonLines} if log_format == "json" else
                 {"()": PlainLines, "format": "%(asctime)s %(levelname)s %(name)s - %(message)s"})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"line": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "line", "filters": ["redact"]},
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            # fapiaohub.access writes the request lines (with reqId, route and corpId) instead
            "uvicorn.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "fapiaohub": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


LOG_CONFIG: dict[str, Any] = log_config("plain")
