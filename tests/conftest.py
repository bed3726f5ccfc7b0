"""Shared test fixtures and the rule for missing tools.

Reference material lives beside the project in `../shared/` (RFC 4475 messages, third-party
captures). Tests read it from there and skip with a reason when it is absent. When the
environment sets `PUSHINJECT_REQUIRE_TOOLS=1` (CI does), a missing tool or folder fails the test
instead of skipping it, so a skip can never pass for a success there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATA = ROOT / "data"


def require(condition: bool, reason: str) -> None:
    """Skip the calling test when `condition` is false, or fail it under PUSHINJECT_REQUIRE_TOOLS."""
    if condition:
        return
    if os.environ.get("PUSHINJECT_REQUIRE_TOOLS") == "1":
        pytest.fail(f"required here but missing: {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    assert path is not None
    return path


@pytest.fixture
def shared_dir() -> Path:
    require(SHARED.is_dir(), f"reference folder {SHARED} is absent")
    return SHARED


@pytest.fixture
def rfc4475_dir() -> Path:
    """The RFC 4475 torture messages carried in `tests/rfc4475/`."""
    return ROOT / "tests" / "rfc4475"


@pytest.fixture
def pcaps_dir() -> Path:
    folder = SHARED / "pcaps"
    require(folder.is_dir(), f"third-party capture folder {folder} is absent")
    return folder
