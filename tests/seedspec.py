"""The seed pages as data: their JSON examples parsed (comments and all) and compared by shape."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from fapiaohub.domain.codes import Family

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "seeds"
_VENDORED = Path(__file__).resolve().parent / "fixtures" / "seeds"
FAMILY_ORDER = [Family.VAT, Family.MOTOR_VEHICLE, Family.TOLL, Family.CUSTOMS, Family.FULL_DIGITAL,
                Family.AVIATION, Family.RAILWAY]


def seed_path(name: str) -> Path:
    """The authority (../shared/seeds) when present, else the copy vendored with the tests."""
    shared = _SHARED / name
    return shared if shared.exists() else _VENDORED / name


def _strip_comment(line: str) -> str:
    """The line without a // comment, leaving // inside JSON strings alone."""
    in_string = escaped = False
    for i, char in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif line.startswith("//", i):
            return line[:i]
    return line


@cache
def json_blocks(name: str) -> list[Any]:
    """Every JSON example of a seed page, in page order. Examples are indented code blocks that
    start with a line holding only "{" and end at the matching "}"."""
    blocks, current, depth = [], [], 0
    for raw in seed_path(name).read_text(encoding="utf-8").splitlines():
        line = _strip_comment(raw).rstrip()
        if not current and line.strip() != "{":
            continue
        current.append(line)
        depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
        if depth == 0:
            blocks.append(json.loads("\n".join(current)))
            current = []
    return blocks


def _envelopes() -> list[dict[str, Any]]:
    return [b for b in json_blocks("getInvoiceCollectionData.md") if isinstance(b, dict) and "value" in b]


def collection_examples() -> dict[Family, dict[str, Any]]:
    """The first list item of each success example, by family, in the page's order."""
    successes = [b for b in _envelopes() if b["value"]["success"]]
    assert len(successes) == len(FAMILY_ORDER), f"expected 7 success examples, found {len(successes)}"
    return {family: example["value"]["data"]["list"][0] for family, example in zip(FAMILY_ORDER, successes, strict=True)}


def collection_success_examples() -> list[dict[str, Any]]:
    return [b for b in _envelopes() if b["value"]["success"]]


def collection_failure_example() -> dict[str, Any]:
    (failure,) = [b for b in _envelopes() if not b["value"]["success"]]
    return failure


def shape(value: Any) -> Any:
    """A comparable type skeleton of a JSON value."""
    if isinstance(value, dict):
        return {key: shape(sub) for key, sub in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    raise TypeError(f"not a JSON value: {value!r}")


def assert_same_shape(actual: Any, expected: Any, path: str = "$") -> None:
    """Equal key sets at every level and equal JSON types; list elements each against the
    expected list's first element. ``expected`` may be a value or a skeleton from ``shape``."""
    expected_shape = expected if _is_skeleton(expected) else shape(expected)
    _compare(actual, expected_shape, path)


def _is_skeleton(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_skeleton(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_skeleton(v) for v in value)
    return value in ("bool", "number", "string", "null")


def _compare(actual: Any, expected: Any, path: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        missing, extra = set(expected) - set(actual), set(actual) - set(expected)
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        assert not extra, f"{path}: extra keys {sorted(extra)}"
        for key, sub in expected.items():
            _compare(actual[key], sub, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        if expected:
            for i, element in enumerate(actual):
                _compare(element, expected[0], f"{path}[{i}]")
    else:
        assert shape(actual) == expected, f"{path}: expected {expected}, got {shape(actual)} ({actual!r})"
