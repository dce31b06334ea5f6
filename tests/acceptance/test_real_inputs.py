"""The study set of real invoice files (../shared/real-inputs): every file imports exactly as truth.json says.

The files are third parties' invoices published in public repositories: they are not copied into
this project, so the test runs where the shared folder sits beside the checkout (a developer's
machine, CI) and says it skipped elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parents[2].parent / "shared" / "real-inputs" / "check.py"


@pytest.mark.slow
def test_every_real_file_imports_as_its_truth_says() -> None:
    if not CHECK.is_file():
        pytest.skip(f"the real-file study set is not here ({CHECK}): nothing real was checked")
    # check.py runs the `fapiaohub` on PATH: this environment's
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, env=env, timeout=1800)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL") or line.startswith("     ")]
    assert done.returncode == 0, "\n".join([last, *failures[:40]])
    assert last.endswith(" 0 failed"), last
