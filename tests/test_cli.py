"""The command's failure handling, settings checks and the demo's guard, as a user runs them (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fapiaohub.demo.generator import demo_taxpayers
from tests.conftest import postgres_admin_url

FAPIAOHUB = [sys.executable, "-m", "fapiaohub.cli"]


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAOHUB_")}
    return subprocess.run([*FAPIAOHUB, *args], capture_output=True, text=True, cwd=cwd, env={**clean, **env},
                          timeout=120)


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_a_missing_postgresql_database_is_one_line(tmp_path: Path) -> None:
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("PostgreSQL is not reachable")
    url = admin.rsplit("/", 1)[0] + "/fapiaohub_no_such_database"
    result = run("db", "upgrade", "--db", url, cwd=tmp_path)
    assert_one_line_failure(result, "database", "does not exist")
    with_debug = run("--debug", "db", "upgrade", "--db", url, cwd=tmp_path)
    assert with_debug.returncode == 1
    assert "Traceback" in with_debug.stderr


def test_a_bad_setting_is_named_on_one_line(tmp_path: Path) -> None:
    result = run("db", "upgrade", cwd=tmp_path, FAPIAOHUB_TOKEN_TTL_SECONDS="two hours")
    assert_one_line_failure(result, "FAPIAOHUB_TOKEN_TTL_SECONDS")
    negative = run("db", "upgrade", cwd=tmp_path, FAPIAOHUB_MAX_UPLOAD_BYTES="-1")
    assert_one_line_failure(negative, "FAPIAOHUB_MAX_UPLOAD_BYTES")


def test_settings_from_a_config_file_and_from_dot_env(tmp_path: Path) -> None:
    config = tmp_path / "fapiaohub.conf"
    config.write_text(f"FAPIAOHUB_DATABASE_URL=sqlite:///{tmp_path / 'from-config.db'}\n")
    assert run("--config", str(config), "db", "upgrade", cwd=tmp_path).returncode == 0
    assert (tmp_path / "from-config.db").is_file()
    (tmp_path / ".env").write_text(f"FAPIAOHUB_DATABASE_URL=sqlite:///{tmp_path / 'from-env-file.db'}\n")
    assert run("db", "upgrade", cwd=tmp_path).returncode == 0
    assert (tmp_path / "from-env-file.db").is_file()
    # the environment wins over the file
    env_db = f"sqlite:///{tmp_path / 'from-environment.db'}"
    assert run("db", "upgrade", cwd=tmp_path, FAPIAOHUB_DATABASE_URL=env_db).returncode == 0
    assert (tmp_path / "from-environment.db").is_file()
    config.write_text("FAPIAOHUB_PAGE_CACHE_MB=lots\n")
    assert_one_line_failure(run("--config", str(config), "db", "upgrade", cwd=tmp_path), "FAPIAOHUB_PAGE_CACHE_MB")
    assert_one_line_failure(run("--config", str(tmp_path / "nope.conf"), "db", "upgrade", cwd=tmp_path),
                            "nope.conf")


def test_the_demo_refuses_a_database_that_holds_other_corporations(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'company.db'}"
    assert run("tenant", "create", "--name", "真实企业", "--db", db, cwd=tmp_path).returncode == 0
    refused = run("demo", "--load-only", "--db", db, cwd=tmp_path)
    assert_one_line_failure(refused, "1 other corporation", "--force")
    forced = run("demo", "--load-only", "--json", "--invoices", "20", "--force", "--db", db, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["corpId"] == "DEMOcorp0001a0"
    # a database of its own takes the demo, and again on a second run
    own = f"sqlite:///{tmp_path / 'demo.db'}"
    for _ in range(2):
        assert run("demo", "--load-only", "--invoices", "20", "--db", own, cwd=tmp_path).returncode == 0


def test_write_samples_writes_files_the_import_accepts(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    written = run("demo", "--write-samples", str(samples), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    files = sorted(samples.iterdir())
    assert [f.suffix for f in files].count(".xlsx") == 1
    assert [f.suffix for f in files].count(".xml") >= 3
    for f in files:
        assert f.name in written.stdout  # it says what it wrote
    assert not (tmp_path / "fapiaohub.db").exists()  # and touched no database
    db = f"sqlite:///{tmp_path / 'company.db'}"
    corp = json.loads(run("tenant", "create", "--name", "试用企业", "--json", "--db", db, cwd=tmp_path).stdout)["corpId"]
    taxpayer = demo_taxpayers()[0]
    assert run("taxpayer", "add", "--corp", corp, "--nsrsbh", taxpayer.nsrsbh, "--name", taxpayer.name,
               "--db", db, cwd=tmp_path).returncode == 0
    imported = run("import", *map(str, files), "--corp", corp, "--nsrsbh", taxpayer.nsrsbh, "--jxxbz", "jx",
                   "--json", "--db", db, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    result = json.loads(imported.stdout)
    assert result["state"] == "processed"
    assert result["counts"]["inserted"] == 40
    assert result["counts"]["rejected"] == 0
