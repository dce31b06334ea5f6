"""Logging for the server: access lines without secrets (tokens travel in query strings)."""

from __future__ import annotations

from typing import Any

from fapiaohub.client.redact import RedactSecrets

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
