"""`pushinject bench scale` (pushinject/bench/scale.py): a tiny run, its figures and last line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pushinject.bench.scale import first_half, traffic_text
from pushinject.cli import main
from tests.conftest import DATA, require_tool


def test_bench_scale_prints_its_ratios(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("tshark")
    capture = tmp_path / "scale.pcap"
    assert main(["bench", "scale", "--calls", "30", "--rate", "2", "--capture",
                 str(capture)]) == 0
    lines = capsys.readouterr().out.splitlines()
    calls = int(re.fullmatch(rf"capture {re.escape(str(capture))}: (\d+) calls simulated",
                             lines[0])[1])
    assert calls >= 30
    assert [line.split("  ")[0] for line in lines[3:7]] == [
        "tshark fields", "check", "check, first half", "check --jobs 2"]
    found = re.fullmatch(r"scale: check x(\d+\.\d\d) tshark throughput, memory x(\d+\.\d\d), "
                         r"jobs2 x(\d+\.\d\d)", lines[-1])
    assert found is not None
    assert all(0.01 < float(x) < 100 for x in found.groups())
    growth = re.fullmatch(r"memory whole/half x(\d+\.\d\d) \(flat in length: about 1\)",
                          lines[-2])
    assert growth is not None and 0.5 < float(growth[1]) < 2
    both = re.fullmatch(r"check --jobs 2: x(\d+\.\d\d) tshark throughput, memory x(\d+\.\d\d) "
                        r"\(all its processes\)", lines[-3])
    assert both is not None and all(0.01 < float(x) < 100 for x in both.groups())
    # a second run reuses the capture
    assert main(["bench", "scale", "--calls", "30", "--capture", str(capture)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"capture {capture}, reused"


def test_first_half_cuts_at_a_record(tmp_path: Path) -> None:
    source = DATA / "kamailio" / "S1.pcap"
    half = tmp_path / "half.pcap"
    kept = first_half(source, half)
    from pushinject.capture.records import read_records

    whole = list(read_records(source))
    assert kept == len(whole) // 2
    assert [r.data for r in read_records(half)] == [r.data for r in whole[:kept]]


def test_traffic_for_enough_calls() -> None:
    from pushinject.sim.traffic import parse_traffic

    traffic = parse_traffic(traffic_text(20_000, 10.0))
    assert (traffic.users, traffic.call_rate, traffic.duration) == (2000, 10.0, 2210.0)


def test_bench_scale_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "scale", "--calls", "0"]) == 2
    assert "--calls must be at least 1" in capsys.readouterr().err
