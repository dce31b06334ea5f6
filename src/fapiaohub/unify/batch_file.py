"""The `fapiaohub unify import` file: {"corpId": "...", "batches": [<batch as the push API takes it>]}."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine

from fapiaohub import wire
from fapiaohub.errors import HttpError
from fapiaohub.unify import service
from fapiaohub.unify.schemas import BatchIn


class BatchFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corpId: str | None = None  # noqa: N815 - the wire's name; --corp overrides it
    batches: list[BatchIn] = Field(min_length=1)


class BatchFileError(Exception):
    """The file cannot be imported; nothing of it was written."""


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors()[:10]:
        where = ".".join(str(part) for part in error["loc"])
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def import_batch_file(engine: Engine, path: Path, corp_id: str | None = None) -> list[dict[str, object]]:
    """Validate the whole file, then push every batch in one transaction (all or nothing)."""
    try:
        parsed = BatchFile.model_validate(wire.loads(path.read_bytes()))
    except OSError as exc:
        raise BatchFileError(f"{path}: cannot read: {exc.strerror}") from None
    except wire.JSONDecodeError as exc:
        raise BatchFileError(f"{path}: not valid JSON: {exc}") from None
    except ValidationError as exc:
        raise BatchFileError(f"{path}: {_describe(exc)}") from None
    corp = corp_id or parsed.corpId
    if not corp:
        raise BatchFileError(f"{path}: no corporation: give --corp or a top-level corpId")
    results = []
    with engine.begin() as conn:
        for position, batch in enumerate(parsed.batches):
            try:
                results.append(service.push_batch(conn, corp, batch.to_push()))
            except HttpError as exc:
                raise BatchFileError(f"{path}: batches.{position}: {exc.message}") from None
    return results
