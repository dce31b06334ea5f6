"""A logging filter that masks tokens and secrets (they travel in query strings and bodies), for SDK and server."""

from __future__ import annotations

import logging
import re

_SECRET_PARAM = re.compile(r"((?:accessToken|refreshToken|appSecurity)=)[^&\s\"]+", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the values of accessToken, refreshToken and appSecurity parameters replaced by ***."""
    return _SECRET_PARAM.sub(r"\1***", text)


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
