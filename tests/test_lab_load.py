"""The lab's load capture (`pushinject.lab.load`, `pushinject lab --load`): the real Kamailio
doing push with injection for hundreds of calls, many at once, in `data/kamailio/load/`.

The committed capture is judged as its manifest says, every way `make run` and users judge it,
with exact counts. The ``lab``-marked tests record it afresh (Kamailio, SIPp, tcpdump in a private
network namespace) and record `pushinject serve` under the same load: both must be
conformant."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pushinject.cli import main
from pushinject.lab.load import (
    LAB_LOAD,
    LAB_LOAD_NAME,
    LATE_MS,
    WAKE_MS,
    Load,
    Step,
    expected_facts,
    load_facts,
)
from pushinject.lab.manifest import read_manifest
from pushinject.lab.runner import namespaces_available
from tests.conftest import DATA, ROOT, require, require_tool

FOLDER = DATA / "kamailio" / "load"
MANIFEST = read_manifest(FOLDER / "manifest.toml")
LAB_KNOBS = ["--knob", "fr_timeout=8", "--knob", "fr_inv_timeout=10"]


def test_callees_are_named_for_how_they_wake() -> None:
    load = Load("kamailio", "push", 10, 2.0, late_every=5, nap_every=10)
    users = load.users(3)
    assert len(users) == 20
    assert [u for u in users if not u.startswith("load")] == [
        "late3x4", "nap3x9", "late3x14", "nap3x19"]
    assert load.asleep() == 2
    assert Load("serve", "push", 10, 2.0, nap_every=10).asleep(pool=5) == 0
    assert Load("serve", "push", 10, 2.0).users(1) == [f"load1x{k}" for k in range(20)]


def test_a_step_is_clean_when_exactly_the_calls_to_sleepers_failed() -> None:
    assert Step("kamailio", "push", 10, 300, 270, 30, 0, asleep=30).clean
    assert not Step("kamailio", "push", 10, 300, 271, 29, 0, asleep=30).clean
    assert not Step("kamailio", "push", 10, 300, 270, 30, 1, asleep=30).clean
    assert not Step("kamailio", "push", 10, 300, 270, 30, 0).clean


def test_manifest_states_the_recipe_and_what_every_regeneration_shows() -> None:
    assert list(MANIFEST) == [LAB_LOAD_NAME]
    table = MANIFEST[LAB_LOAD_NAME]
    assert table["file"] == "L1.pcap" and (FOLDER / table["file"]).is_file()
    assert (FOLDER / table["file"]).stat().st_size < 3_000_000
    assert table["expected_verdict"] == "conformant"
    assert (table["proxy_run"], table["rate"], table["seconds"], table["hold_ms"],
            table["wake_ms"], table["late_ms"], table["late_every"], table["nap_every"],
            table["workers"]) == (
        LAB_LOAD.proxy, LAB_LOAD.rate, LAB_LOAD.seconds, LAB_LOAD.hold_ms, WAKE_MS, LATE_MS,
        LAB_LOAD.late_every, LAB_LOAD.nap_every, LAB_LOAD.workers)
    want = expected_facts(LAB_LOAD)
    assert (table["calls"], table["pushes"], table["registrations"], table["injected"]) == (
        300, 300, 270, 270) == (want["calls"], want["pushes"], want["registrations"],
                                want["injected"])
    assert table["finals"] == {"200": 270, "408": 30}
    assert want["finals"] == {200: 270, 408: 30}


def test_committed_capture_is_judged_as_its_manifest_says() -> None:
    """No option, `--preset kamailio-tsilo`, and that with the lab's tm timers: conformant,
    300 calls, 270 answered after their injection, 30 ended by Kamailio's fr_timer."""
    table = MANIFEST[LAB_LOAD_NAME]
    facts = load_facts(FOLDER / table["file"])
    assert facts.verdicts == {"no option": "conformant", "preset": "conformant",
                              "preset and knobs": "conformant"}
    assert (facts.frames, facts.sip_messages, facts.most_concurrent) == (
        table["frames"], table["sip_messages"], table["most_concurrent"]) == (4770, 4770, 31)
    assert (facts.calls, facts.finals, facts.pushes, facts.registrations, facts.injected) == (
        300, {200: 270, 408: 30}, 300, 270, 270)


@pytest.mark.parametrize("options", [[], ["--preset", "kamailio-tsilo", *LAB_KNOBS]],
                         ids=["no option", "preset and knobs"])
def test_check_with_two_jobs_says_what_it_says_whole(
        options: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`pushinject check --jobs 2` (partitions of callees on two processes) gives the same
    verdict and counts as the whole capture."""
    path = str(FOLDER / "L1.pcap")
    lines = []
    for jobs in ([], ["--jobs", "2"]):
        assert main(["check", *options, *jobs, path]) == 0
        lines.append(capsys.readouterr().out.splitlines()[-1])
    assert lines[0] == lines[1]
    assert lines[0].startswith("verdict: conformant (1 capture(s), 300 call(s), 0 violation(s)")


def test_make_run_judges_the_load_folder_with_the_lab_knobs() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert ("$(BIN)/pushinject check --preset kamailio-tsilo --knob fr_timeout=8 "
            "--knob fr_inv_timeout=10 \\\n\t\tdata/kamailio/load/*.pcap") in makefile


def test_lab_load_refuses_what_it_cannot_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "--proxy", "serve"]) == 2
    assert "--proxy serve records a load capture: add --load" in capsys.readouterr().err
    assert main(["lab", "--load", "--proxy", "serve"]) == 2
    assert "--proxy serve needs --out DIR" in capsys.readouterr().err
    assert main(["lab", "--load", "S1"]) == 2
    assert "--load runs the lab's Kamailio or serve alone" in capsys.readouterr().err


def _require_lab() -> None:
    for tool in ("kamailio", "sipp", "tcpdump", "unshare", "ip"):
        require_tool(tool)
    require(os.geteuid() == 0, "the lab needs root (unshare -n, tcpdump)")
    require(namespaces_available(), "this machine refuses network namespaces (unshare -n)")


def _lab(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pushinject", "lab", "--load", *argv],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.lab
def test_lab_records_kamailio_under_load_as_the_manifest_says(tmp_path: Path) -> None:
    """``pushinject lab --load --out TMP`` (about 45 s): 300 calls through a fresh Kamailio,
    judged conformant each way, with the committed table's facts."""
    _require_lab()
    out = _lab("--out", str(tmp_path))
    assert "L1: SIPp: 300 calls, 270 successful, 30 failed (30 to callees that never wake), " \
        "0 retransmissions" in out
    fresh = read_manifest(tmp_path / "manifest.toml")[LAB_LOAD_NAME]
    measured = ("frames", "sip_messages", "most_concurrent")
    assert {k: v for k, v in fresh.items() if k not in measured} == {
        k: v for k, v in MANIFEST[LAB_LOAD_NAME].items() if k not in measured}
    assert fresh["most_concurrent"] > 20


@pytest.mark.lab
def test_lab_records_serve_under_the_same_load_conformant(tmp_path: Path) -> None:
    """``pushinject lab --load --proxy serve --out TMP`` (about 60 s): `pushinject serve
    --preset kamailio-tsilo --workers 2` under the same load; tcpdump's capture and serve's
    own (`serve --pcap`) are conformant with no option and under its preset. Its callees that
    never wake end when the caller gives up (CANCEL, 487): serve's timer is longer."""
    _require_lab()
    out = _lab("--proxy", "serve", "--out", str(tmp_path))
    for name in ("L1.pcap", "L1-serve.pcap"):
        assert (f"{name}: 5430 frames, 300 calls (finals 200: 270, 487: 30), 300 pushes, "
                "570 REGISTERs, 270 injected") in out
    assert out.count("verdict no option: conformant, preset: conformant") == 2


def test_each_woken_call_has_one_push_to_register_latency() -> None:
    """Each call is judged with the pushes that came while it was in progress, other calls'
    too: only its first push before its callee's REGISTER counts for that REGISTER, so the 270
    woken calls give 270 latencies, none shorter than the gateway's 200 ms wake."""
    from pushinject.conformance import CheckOptions, check_capture

    result = check_capture(FOLDER / "L1.pcap", CheckOptions(preset="kamailio-tsilo"))
    latencies = result.latency.push_to_register
    assert len(latencies) == 270
    assert WAKE_MS / 1000 <= min(latencies) and max(latencies) < (WAKE_MS + LATE_MS) / 1000 + 0.1
    assert sum(t > 1.0 for t in latencies) == 30  # every 5th callee but a sleeper: 1 s late
