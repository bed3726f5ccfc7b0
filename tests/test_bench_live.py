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
    # a benchmark on a shared machine: a rung may fail; the report must still be whole and sane
    rungs = [line.split() for line in lines[2:-4]]
    assert all(r[0] in ("serve", "kamailio") and r[1] in ("plain", "push")
               and r[2] in ("5", "10") for r in rungs), rungs
    best = {}
    for scenario, line in zip(("plain", "push"), lines[-4:-2], strict=True):
        m = re.fullmatch(scenario + r": serve (\d+) calls/s clean, Kamailio (\d+) calls/s clean "
                         r"\((x[0-9.]+|x-)\)", line)
        assert m is not None, line
        best[scenario] = (int(m[1]), int(m[2]), m[3])
    for mine, theirs, ratio in best.values():
        assert mine in (0, 5, 10) and theirs in (0, 5, 10)
        assert ratio == (f"x{mine / theirs:.2f}" if theirs else "x-")
    mine, theirs, ratio = best["push"]
    if mine:
        assert re.fullmatch(
            rf"soak: serve push\+injection at {mine // 2} calls/s for 6 s: {mine // 2 * 6} calls, "
            r"\d+ ok, \d+ failed, \d+ retransmissions \(.+\); resident memory "
            r"[1-9][0-9]*\.[0-9] MB after [0-9]+ s, [1-9][0-9]*\.[0-9] MB at the end, "
            r"[1-9][0-9]*\.[0-9] MB at most", lines[-2]), lines[-2]
    else:
        assert lines[-2] == "soak: skipped, serve had no clean push+injection rate"
    assert lines[-1] == (f"live: push+injection {mine} calls/s vs Kamailio {theirs} calls/s "
                         f"({ratio})")
