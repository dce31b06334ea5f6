"""What can be checked of the deployment files without a Docker engine or systemd: every command they run
is a command line `fapiaohub` accepts, and every FAPIAOHUB_* variable they set is a setting.
(The image build and `docker compose up` are not run here: this machine has no Docker engine.)"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fapiaohub.cli import app
from fapiaohub.config import CONFIG_ENV, ENV_PREFIX, Settings

ROOT = Path(__file__).parents[1]


def _accepted(argv: list[str], tmp_path: Path) -> None:
    """`fapiaohub ARGS --help` parses every option before printing help: an unknown one fails."""
    assert argv[0].endswith("fapiaohub"), argv
    args = [str(tmp_path / "settings.env") if previous == "--config" else arg
            for previous, arg in zip(argv[:-1], argv[1:], strict=True)]
    (tmp_path / "settings.env").write_text("")
    result = CliRunner().invoke(app, [*args, "--help"], env={"FAPIAOHUB_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.exit_code == 0, f"{shlex.join(argv)}: {result.output}"


def _settings_named(text: str) -> set[str]:
    return set(re.findall(rf"\b({ENV_PREFIX}[A-Z_]+)\b", text))


KNOWN = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | {CONFIG_ENV}


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_runs_fapiaohub_postgresql_and_a_worker(tmp_path: Path) -> None:
    services = _compose()["services"]
    assert services["db"]["image"].startswith("postgres:")
    commands = {name: service["command"] for name, service in services.items() if "command" in service}
    assert commands["api"][:2] == ["fapiaohub", "serve"]
    assert commands["worker"][:2] == ["fapiaohub", "worker"]
    for command in commands.values():
        _accepted(command, tmp_path)
    api_env = services["api"]["environment"]
    assert api_env["FAPIAOHUB_DATABASE_URL"].startswith("postgresql://")
    assert "@db:5432/" in api_env["FAPIAOHUB_DATABASE_URL"]
    # the worker reads the uploads the API received
    assert services["api"]["volumes"] == services["worker"]["volumes"]


def test_the_dockerfile_command_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "Dockerfile").read_text()
    command = json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    _accepted(command, tmp_path)


@pytest.mark.parametrize("name", ["Dockerfile", "compose.yaml", "docs/deploy.md", "README.md"])
def test_every_setting_named_exists(name: str) -> None:
    named = _settings_named((ROOT / name).read_text()) - {"FAPIAOHUB_TEST_POSTGRES_URL"}
    assert named - KNOWN == set()


def test_the_systemd_units_command_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    exec_start = re.search(r"^ExecStart=(.+)$", text, re.MULTILINE).group(1)  # type: ignore[union-attr]
    _accepted(shlex.split(exec_start), tmp_path)
