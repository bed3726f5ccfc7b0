"""`pushinject bench live` (pushinject/bench/live.py): a quick ladder runs both proxies and ends
with the line the benchmark promises. It is a benchmark: the figures themselves are not tested,
only that the report is whole, its numbers come from the ladder and its ratio from them."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from pushinject.bench.live import Step, best_rate
from pushinject.cli import main
from tests.conftest import require, require_tool


def test_best_rate_is_the_highest_rate_with_a_clean_step() -> None:
    steps = [Step("serve", "push", 100, 100, 100, 0, 0),
             Step("serve", "push", 200, 200, 199, 1, 0),  # lost a call, then clean again
             Step("serve", "push", 200, 200, 200, 0, 0),
             Step("serve", "push", 300, 300, 290, 10, 0),
             Step("serve", "push", 300, 300, 300, 0, 4)]
    assert best_rate(steps) == 200
    assert best_rate([Step("k", "plain", 50, 50, 50, 0, 3)]) == 0  # a retransmission is unclean
    assert not Step("k", "plain", 50, 50, 50, 0, 0, problem="caller did not finish").clean


def test_bench_live_refuses_an_empty_ladder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "live", "--start", "20", "--max", "10"]) == 2
    assert "need 1 <= --start <= --max, --step >= 1, --duration > 0 and --soak >= 0" \
        in capsys.readouterr().err


def test_bench_live_runs_a_tiny_ladder_on_both_proxies() -> None:
    require(os.geteuid() == 0, "a private network namespace needs root")
    for tool in ("unshare", "ip", "sipp", "kamailio"):
        require_tool(tool)
    done = subprocess.run(
        [sys.executable, "-m", "pushinject", "bench", "live", "--start", "5", "--step", "5",
         "--max", "10", "--duration", "2", "--soak", "6"],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    soaked = 3 if any(line.startswith("soak: serve") for line in lines) else 1
    # a benchmark on a shared machine: a rung may fail; the report must still be whole and sane
    ladder = lines[2:-(3 + soaked)]
    rungs = [line.split() for line in ladder]
    assert all(r[0] in ("serve", "kamailio") and r[1] in ("plain", "push")
               and r[2] in ("5", "10") for r in rungs), rungs
    best = {}
    summary = lines[-(3 + soaked):-(1 + soaked)]
    for scenario, line in zip(("plain", "push"), summary, strict=True):
        m = re.fullmatch(scenario + r": serve (\d+) calls/s clean, Kamailio (\d+) calls/s clean "
                         r"\((x[0-9.]+|x-)\)", line)
        assert m is not None, line
        best[scenario] = (int(m[1]), int(m[2]), m[3])
    for mine, theirs, ratio in best.values():
        assert mine in (0, 5, 10) and theirs in (0, 5, 10)
        assert ratio == (f"x{mine / theirs:.2f}" if theirs else "x-")
    mine, theirs, ratio = best["push"]
    if mine:
        soak = lines[-4:-1]
        assert re.fullmatch(
            rf"soak: serve push\+injection at {mine // 2} calls/s for 6 s: {mine // 2 * 6} calls, "
            r"\d+ ok, \d+ failed, \d+ retransmissions \(.+\)", soak[0]), soak[0]
        assert re.fullmatch(r"soak memory \(MB, every 5 s\): [0-9]+\.[0-9]( [0-9]+\.[0-9])*",
                            soak[1]), soak[1]
        assert soak[2] == "soak memory: too few samples (" + str(len(soak[1].split()) - 6) + ")"
    else:
        assert lines[-2] == "soak: skipped, serve had no clean push+injection rate"
    assert lines[-1] == (f"live: push+injection {mine} calls/s vs Kamailio {theirs} calls/s "
                         f"({ratio})")


def test_bench_live_soak_rate_needs_a_soak(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "live", "--soak-rate", "50"]) == 2
    assert "--soak-rate needs --soak SECONDS and a rate of at least 1" in capsys.readouterr().err


def test_bench_live_soak_alone_prints_calls_and_memory_series() -> None:
    """--soak-rate runs only the soak: three lines, no ladder."""
    require(os.geteuid() == 0, "a private network namespace needs root")
    for tool in ("unshare", "ip", "sipp"):
        require_tool(tool)
    done = subprocess.run(
        [sys.executable, "-m", "pushinject", "bench", "live", "--soak", "12",
         "--soak-rate", "5"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3, lines
    assert re.fullmatch(r"soak: serve push\+injection at 5 calls/s for 12 s: 60 calls, \d+ ok, "
                        r"\d+ failed, \d+ retransmissions \(.+\)", lines[0]), lines[0]
    samples = lines[1].removeprefix("soak memory (MB, every 5 s): ").split()
    assert samples and all(re.fullmatch(r"[1-9][0-9]*\.[0-9]", m) for m in samples), lines[1]
    third = len(samples) // 3
    if third:
        mb = [float(m) for m in samples]
        first, last = sum(mb[:third]) / third, sum(mb[-third:]) / third
        m = re.fullmatch(r"soak memory: first third (\d+\.\d) MB, last third (\d+\.\d) MB "
                         r"\(x(\d+\.\d\d)\)", lines[2])
        assert m is not None, lines[2]
        # the series is printed rounded to 0.1 MB; the means are of the values as read
        assert abs(float(m[1]) - first) <= 0.06 and abs(float(m[2]) - last) <= 0.06, lines
        assert abs(float(m[3]) - last / first) <= 0.01, lines
    else:
        assert lines[2] == f"soak memory: too few samples ({len(samples)})"
