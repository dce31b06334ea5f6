"""JSON on the wire: Decimals leave as JSON numbers with exactly their stored digits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"non-finite Decimal {value!r} cannot be a JSON number")
        # Fragment is inserted verbatim: 896.00 stays 896.00, never 896.0 or 8.96E+2
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(obj: Any) -> bytes:
    """Serialize to compact UTF-8 JSON; ``orjson.Fragment`` values are embedded as is."""
    return orjson.dumps(obj, default=_default)


loads = orjson.loads
Fragment = orjson.Fragment
JSONDecodeError = orjson.JSONDecodeError
