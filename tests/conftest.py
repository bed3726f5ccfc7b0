"""Test fixtures used across modules and the rule for missing tools.

Everything the tests read is in the repository: `data/` (the project's captures, scenarios and
samples) and `tests/rfc4475/` (RFC 4475's torture messages). The one exception is the external
corpus of third-party captures, read only by `tests/test_corpus_vs_tshark.py` from the folder
named by `PUSHINJECT_CORPUS`; without it that module skips.

Tests that drive a tool (tshark, Kamailio, SIPp, tcpdump) call `require_tool`: a missing tool
skips the test with its reason, or fails it when the environment sets
`PUSHINJECT_REQUIRE_TOOLS=1` (CI does), so a skip can never pass for a success there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pushinject.paths import DATA

ROOT = Path(__file__).resolve().parent.parent
__all__ = ["DATA", "ROOT", "require", "require_tool"]


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
def rfc4475_dir() -> Path:
    """The RFC 4475 torture messages carried in `tests/rfc4475/`."""
    return ROOT / "tests" / "rfc4475"


@pytest.fixture(scope="session")
def slow_phones_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slow-phones traffic (data/traffic/slow_phones.toml) simulated once: 32 overlapping
    calls to 20 users, 601 messages."""
    from pushinject.cli import main

    path = tmp_path_factory.mktemp("traffic") / "slow.pcap"
    assert main(["simulate", str(DATA / "traffic" / "slow_phones.toml"), "--pcap",
                 str(path)]) == 0
    return path
