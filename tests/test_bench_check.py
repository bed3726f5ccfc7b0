"""`pushinject bench check` (pushinject/bench/check.py): its figures and its last line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pushinject.cli import main
from pushinject.lab.manifest import read_manifest

KAMAILIO = Path(__file__).resolve().parent.parent / "data" / "kamailio"


def test_bench_check_prints_its_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "check", "--rounds", "1", str(KAMAILIO / "S1.pcap")]) == 0
    lines = capsys.readouterr().out.splitlines()
    count = read_manifest(KAMAILIO / "manifest.toml")["S1"]["sip_messages"]
    assert lines[0].startswith(f"1 captures, {count} SIP messages, read in ")
    assert [line.split()[0] for line in lines[2:4]] == ["rules", "rules"]
    assert re.fullmatch(r"check: [1-9][0-9]* messages/s", lines[-1])


def test_bench_check_refuses_zero_rounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "check", "--rounds", "0"]) == 2
    assert "--rounds must be at least 1" in capsys.readouterr().err
