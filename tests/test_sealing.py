"""Sealed secrets: Fernet with the configured key, old keys still open, `fapiaohub secrets` rotates."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from fapiaohub import wire
from fapiaohub.cli import app
from fapiaohub.errors import BusinessError
from fapiaohub.sealing import NO_KEY, Sealer, SealError, new_key, sealer_for
from fapiaohub.store.engine import make_engine
from fapiaohub.store.tables import collection_task
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks import repository
from fapiaohub.tasks.routes import upstream_options
from tests.conftest import server_settings

SECRET = "upstream-app-security-value"


def test_a_sealed_secret_opens_only_with_its_key() -> None:
    key = new_key()
    sealed = Sealer(key).seal(SECRET)
    assert SECRET not in sealed
    assert Sealer(key).open(sealed) == SECRET
    with pytest.raises(SealError):
        Sealer(new_key()).open(sealed)
    with pytest.raises(ValueError, match="FAPIAOHUB_SECRET_KEY"):
        Sealer("not a key")
    with pytest.raises(BusinessError) as refused:
        sealer_for(None)
    assert refused.value.message == NO_KEY


def test_old_keys_open_what_they_sealed_and_rotation_moves_to_the_new_key() -> None:
    old, new = new_key(), new_key()
    sealed = Sealer(old).seal(SECRET)
    rotating = Sealer(new, (old,))
    assert rotating.open(sealed) == SECRET
    assert Sealer(new).open(rotating.rotate(sealed)) == SECRET
    assert rotating.fingerprint(SECRET) == Sealer(new).fingerprint(SECRET) != Sealer(old).fingerprint(SECRET)


def test_a_clear_secret_is_never_stored(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'clear.db'}")
    with pytest.raises(ValueError, match="sealed"):
        with engine.begin() as conn:
            repository.create_task(conn, repository.NewTask("c", "n", "jx", 202503, None, "upstream",
                                                            {"baseUrl": "https://x", "appSecurity": SECRET}))


def test_secrets_rotate_reseals_stored_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'rotate.db'}"
    corp = wire.loads(runner.invoke(app, ["tenant", "create", "--name", "轮换", "--json", "--db", db]).stdout)["corpId"]
    old, new = new_key(), new_key()
    engine = make_engine(db)
    with engine.begin() as conn:
        add_taxpayer(conn, corp, "91440300MA5DEM0019", "x")
        options = upstream_options({"baseUrl": "http://127.0.0.1:9", "appKey": "k", "appSecurity": SECRET},
                                   server_settings(db, secret_key=old))
        task = repository.create_task(conn, repository.NewTask(corp, "91440300MA5DEM0019", "jx", 202503, None,
                                                               "upstream", options))
    monkeypatch.setenv("FAPIAOHUB_SECRET_KEY", new)
    monkeypatch.setenv("FAPIAOHUB_OLD_SECRET_KEYS", old)
    rotated = runner.invoke(app, ["secrets", "rotate", "--db", db])
    assert rotated.exit_code == 0, rotated.output
    assert "re-sealed 1" in rotated.output
    with engine.connect() as conn:
        stored = conn.execute(sa.select(collection_task.c.options)
                              .where(collection_task.c.id == task["taskId"])).scalar_one()
    assert SECRET not in stored
    assert Sealer(new).open(wire.loads(stored)["appSecuritySealed"]) == SECRET  # the old key is no longer needed
    monkeypatch.delenv("FAPIAOHUB_OLD_SECRET_KEYS")
    monkeypatch.setenv("FAPIAOHUB_SECRET_KEY", new_key())
    lost = runner.invoke(app, ["secrets", "rotate", "--db", db])
    assert lost.exit_code == 1
    assert "FAPIAOHUB_OLD_SECRET_KEYS" in lost.output
    assert len(runner.invoke(app, ["secrets", "new-key"]).stdout.strip()) == 44
    engine.dispose()
