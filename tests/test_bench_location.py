"""`pushinject bench location`: runs end to end on a small table and ends with its figure."""

from __future__ import annotations

import argparse
import re

import pytest

from pushinject.bench import location
from pushinject.commands.bench import BENCHMARKS
from pushinject.errors import UsageError


def test_bench_location_prints_its_figure_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert BENCHMARKS["location"] == "pushinject.bench.location"
    assert location.run(argparse.Namespace(users=40)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "users: 40, one subscription each (40 live)"
    assert "40 notifications" in lines[2]  # every woken device reached its waiting call (EVT-9)
    assert re.fullmatch(r"location: [\d,]+ registers/s", lines[-1])


def test_bench_location_refuses_an_empty_table() -> None:
    with pytest.raises(UsageError):
        location.run(argparse.Namespace(users=0))
