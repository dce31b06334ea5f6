"""Console users: the back-off schedule, password rules, and the `fapiaohub user` commands."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from fapiaohub.cli import app
from fapiaohub.console import users


def test_lock_grows_after_five_failures_and_is_capped() -> None:
    assert [users.lock_for(n) for n in range(1, 5)] == [None] * 4
    assert users.lock_for(5) == timedelta(minutes=1)
    assert users.lock_for(6) == timedelta(minutes=2)
    assert users.lock_for(40) == timedelta(hours=1)


def test_passwords_are_argon2id_and_short_ones_are_refused() -> None:
    assert users.hash_password("correct horse battery").startswith("$argon2id$")
    assert users.check_password_rules("short") is not None
    assert users.check_password_rules("long enough password") is None
    assert len(users.new_password()) >= 16


def test_user_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'users.db'}"
    created = runner.invoke(app, ["tenant", "create", "--name", "杭州示例", "--json", "--db", db])
    assert created.exit_code == 0, created.output

    corp = json.loads(created.stdout)["corpId"]
    added = runner.invoke(app, ["user", "add", "--corp", corp, "--name", "li.na", "--role", "admin", "--db", db])
    assert added.exit_code == 0, added.output
    assert "one-time password: " in added.stdout
    again = runner.invoke(app, ["user", "add", "--corp", corp, "--name", "li.na", "--db", db])
    assert again.exit_code == 1
    assert "already exists" in again.output
    bad_role = runner.invoke(app, ["user", "add", "--corp", corp, "--name", "x", "--role", "root", "--db", db])
    assert bad_role.exit_code == 1
    assert "--role" in bad_role.output
    no_corp = runner.invoke(app, ["user", "add", "--corp", "nope", "--name", "x", "--db", db])
    assert no_corp.exit_code == 1
    assert "no corporation" in no_corp.output
    prompted = runner.invoke(app, ["user", "add", "--corp", corp, "--name", "wang", "--password", "--db", db],
                             input="a long password\na long password\n")
    assert prompted.exit_code == 0
    assert "one-time password" not in prompted.stdout
    listed = runner.invoke(app, ["user", "list", "--corp", corp, "--json", "--db", db])
    assert [(u["name"], u["role"]) for u in json.loads(listed.stdout)] == [("li.na", "admin"), ("wang", "viewer")]
    assert runner.invoke(app, ["user", "disable", "--corp", corp, "--name", "wang", "--db", db]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["user", "list", "--corp", corp, "--json", "--db", db]).stdout)
    assert listed[1]["disabled"] is True
    reset = runner.invoke(app, ["user", "password", "--corp", corp, "--name", "li.na", "--db", db])
    assert reset.exit_code == 0
    assert "one-time password: " in reset.stdout
    missing = runner.invoke(app, ["user", "password", "--corp", corp, "--name", "nobody", "--db", db])
    assert missing.exit_code == 1
