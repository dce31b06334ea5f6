"""Logging for the server: access lines without secrets (tokens travel in query strings)."""

from __future__ import annotations

import logging
import re
from typing import Any

_SECRET_PARAM = re.compile(r"((?:accessToken|refreshToken|appSecurity)=)[^&\s\"]+", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    """Replace token values in a record's message arguments with ***."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = _SECRET_PARAM.sub(r"\1***", record.msg)
        return True


def _redacted(arg: object) -> object:
    """The argument, or its text with secrets masked (httpx logs URL objects, not strings)."""
    if isinstance(arg, (int, float)):
        return arg
    text = str(arg)
    return _SECRET_PARAM.sub(r"\1***", text) if _SECRET_PARAM.search(text) else arg


# uvicorn applies this in every worker process it starts (logging.config.dictConfig format)
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": RedactSecrets}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "fapiaohub": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
