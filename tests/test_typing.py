"""The package is clean under its own mypy settings (`[tool.mypy]` in pyproject.toml: strict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_type_checks_under_strict_mypy(tmp_path: Path) -> None:
    # a cache of its own in a fresh folder: nothing outside the repository is read or written
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy-cache"), "--no-error-summary", "pushinject"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert errors == [], "mypy errors:\n" + "\n".join(errors)
    assert (done.returncode, done.stderr) == (0, "")
