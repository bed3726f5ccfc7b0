"""`pushinject check --scheduler ADDRESS`: the streaming check's partitions as tasks on a Dask
distributed cluster (a local one on loopback here) give the report of one local job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pushinject.cli import main
from tests.conftest import DATA


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(host="127.0.0.1", processes=True, n_workers=2, threads_per_worker=1,
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def traffic(slow_phones_pcap: Path) -> Path:
    return slow_phones_pcap


@pytest.mark.parametrize("extra", [["--json"], [], ["--jobs", "3", "--jsonl"]])
def test_dask_report_is_one_local_jobs(scheduler: str, traffic: Path, extra: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(traffic), str(DATA / "kamailio" / "S1.pcap")]
    assert main(["check", "--preset", "opensips", *extra, *files]) == 1
    local = capsys.readouterr().out
    assert main(["check", "--preset", "opensips", "--scheduler", scheduler, *extra,
                 *files]) == 1
    assert capsys.readouterr().out == local
    assert "S1.pcap" in local and "slow.pcap" in local


def test_unreachable_scheduler_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--scheduler", "tcp://127.0.0.1:9", str(DATA / "kamailio" /
                                                                   "S1.pcap")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err[0]
