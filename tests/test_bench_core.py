"""`pushinject bench core`: every call is answered by its injected branch; the last line."""

from __future__ import annotations

import re

from pushinject.bench.core import measure_calls, measure_waiting
from pushinject.cli import main


def test_every_benchmark_call_is_answered_by_the_injected_branch_R34():
    cpu_rate, wall_rate, answered = measure_calls(30)
    assert answered == 30 and cpu_rate > 0 and wall_rate > 0


def test_waiting_calls_hold_memory_each():
    assert measure_waiting(20) > 1000     # bytes per call: a context, its timers, a subscription


def test_last_line_reads_core_n_calls_per_second(capsys):
    assert main(["bench", "core", "--calls", "20", "--waiting", "20", "--repeat", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"core: \d+ calls/s", lines[-1])
    # the figure is the best of the runs listed before it
    [runs] = [line for line in lines if line.startswith("runs: ")]
    rates = [int(r) for r in re.fullmatch(r"runs: 3, calls/s: (\d+) (\d+) (\d+) \(median \d+\)",
                                          runs).groups()]
    assert int(lines[-1].split()[1]) == max(rates)


def test_bad_counts_are_a_usage_error(capsys):
    assert main(["bench", "core", "--calls", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
    assert main(["bench", "core", "--repeat", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
