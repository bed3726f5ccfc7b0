"""The lab's load captures (`pushinject.lab.load`, `pushinject lab --load`): the real Kamailio
and the real OpenSIPS doing push with injection for hundreds of calls, many at once, in
`data/kamailio/load/` and `data/opensips/load/`.

The committed captures are judged as their manifests say, every way `make run` and users judge
them, with exact counts. The ``lab``-marked tests record them afresh (the proxy, SIPp, tcpdump in
a private network namespace) and record `pushinject serve` under the same load: all must be
conformant (OpenSIPS but for its timer race, OSIPS-32)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
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
    entry,
    expected_facts,
    load_facts,
    load_header,
    opensips_config,
    struck_by_race,
)
from pushinject.lab.manifest import read_manifest
from pushinject.lab.proxies import OPENSIPS
from pushinject.lab.runner import namespaces_available, render_config
from tests.conftest import DATA, ROOT, require, require_tool

FOLDER = DATA / "kamailio" / "load"
MANIFEST = read_manifest(FOLDER / "manifest.toml")
LAB_KNOBS = ["--knob", "fr_timeout=8", "--knob", "fr_inv_timeout=10"]
OPENSIPS_FOLDER = DATA / "opensips" / "load"
OPENSIPS_MANIFEST = read_manifest(OPENSIPS_FOLDER / "manifest.toml")
OPENSIPS_LOAD = replace(LAB_LOAD, proxy="opensips")


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
    assert facts.late_copies == 0


@pytest.mark.parametrize(("capture", "options"), [
    ("kamailio/load/L1.pcap", []),
    ("kamailio/load/L1.pcap", ["--preset", "kamailio-tsilo", *LAB_KNOBS]),
    ("opensips/load/L2.pcap", []),
    ("opensips/load/L2.pcap", ["--preset", "opensips"])],
    ids=["L1 no option", "L1 preset and knobs", "L2 no option", "L2 preset"])
def test_check_with_two_jobs_says_what_it_says_whole(
        capture: str, options: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`pushinject check --jobs 2` (partitions of callees on two processes) gives the same
    verdict and counts as the whole capture."""
    path = str(DATA / capture)
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
    assert "--load runs the lab's Kamailio, OpenSIPS or serve alone" in capsys.readouterr().err
    assert main(["lab", "--rate", "150"]) == 2
    assert "--rate, --seconds and --hold-ms size a load run: add --load" in capsys.readouterr().err
    assert main(["lab", "--load", "--rate", "150"]) == 2
    assert ("a load of another size needs --out DIR (the bundled load folders hold the lab's "
            "own: 10 calls/s for 30 s, held 2000 ms)") in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["lab", "--load", "--rate", "0", "--out", "x"])
    assert "not a positive whole number: '0'" in capsys.readouterr().err


def test_a_load_of_another_size_is_run_as_asked(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """`--rate 150 --seconds 30 --hold-ms 20000`: about 3,000 calls at once; the namespace
    is given the same sizes, and time for calls held 20 s."""
    import pushinject.commands.lab as lab_command
    import pushinject.commands.live as live

    asked: list[tuple[list[str], float]] = []
    monkeypatch.delenv(live.IN_NETNS, raising=False)
    monkeypatch.setattr(lab_command.os, "geteuid", lambda: 0)
    monkeypatch.setattr(lab_command, "missing_packages", lambda *_: [])
    monkeypatch.setattr(live, "reexec_in_namespace",
                        lambda argv, timeout: asked.append((argv, timeout)) or 0)
    assert main(["lab", "--load", "--rate", "150", "--seconds", "30", "--hold-ms", "20000",
                 "--out", str(tmp_path)]) == 0
    assert asked == [(["lab", "--load", "--proxy", "kamailio", "--out", str(tmp_path.resolve()),
                       "--rate", "150", "--seconds", "30", "--hold-ms", "20000"],
                      30 * 3 + 20 + 40 + 300)]


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


# ------------------------------------------------------------------ OpenSIPS under load
def test_opensips_manifest_states_the_recipe_and_what_every_regeneration_shows() -> None:
    """L2: the same recipe through the lab's OpenSIPS, with four UDP workers; the 30 callees
    that never wake end when the caller CANCELs after 12 s (487), long before OpenSIPS's
    placeholder would (120 s)."""
    assert list(OPENSIPS_MANIFEST) == ["L2"]
    table = OPENSIPS_MANIFEST["L2"]
    assert table["file"] == "L2.pcap" and (OPENSIPS_FOLDER / "L2.pcap").is_file()
    assert (OPENSIPS_FOLDER / "L2.pcap").stat().st_size < 3_000_000
    assert (table["proxy_run"], table["expected_verdict"], table["workers"]) == (
        "opensips", "conformant", 4)
    assert (table["calls"], table["finals"], table["pushes"], table["registrations"],
            table["injected"]) == (300, {"200": 270, "487": 30}, 300, 270, 270)
    want = expected_facts(OPENSIPS_LOAD)
    assert (want["finals"], want["registrations"], want["verdicts"]) == (
        {200: 270, 487: 30}, 270, {"no option": "conformant", "preset": "conformant"})
    facts = load_facts(OPENSIPS_FOLDER / "L2.pcap", "opensips")
    assert entry(OPENSIPS_LOAD, facts) == table
    text = (OPENSIPS_FOLDER / "manifest.toml").read_text(encoding="utf-8")
    assert text.startswith(load_header("opensips"))
    assert "under `--preset opensips` (OpenSIPS's default tm timers, no\n# knob)" in text


def test_committed_opensips_capture_is_judged_as_its_manifest_says() -> None:
    """OSIPS-31: no option and `--preset opensips` (no knob): conformant, 300 calls, 270
    answered after their injection, 30 cancelled by the caller; 35 at once."""
    facts = load_facts(OPENSIPS_FOLDER / "L2.pcap", "opensips")
    assert facts.verdicts == {"no option": "conformant", "preset": "conformant"}
    assert facts.violations == {"no option": 0, "preset": 0} and facts.late_copies == 0
    table = OPENSIPS_MANIFEST["L2"]
    assert (facts.frames, facts.sip_messages, facts.most_concurrent) == (
        table["frames"], table["sip_messages"], table["most_concurrent"]) == (4830, 4830, 35)
    assert (facts.calls, facts.finals, facts.pushes, facts.registrations, facts.injected) == (
        300, {200: 270, 487: 30}, 300, 270, 270)


def test_make_run_judges_the_opensips_load_folder_under_its_preset() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert ("\t$(BIN)/pushinject check --preset opensips data/opensips/load/*.pcap "
            "data/opensips/load/loss/*.pcap\n") in makefile
    assert sorted(p.name for p in OPENSIPS_FOLDER.glob("*.pcap")) == ["L2.pcap"]


def test_opensips_push_to_register_latency_has_one_value_per_woken_call() -> None:
    from pushinject.conformance import CheckOptions, check_capture

    result = check_capture(OPENSIPS_FOLDER / "L2.pcap", CheckOptions(preset="opensips"))
    latencies = result.latency.push_to_register
    assert len(latencies) == 270 and sum(t > 1.0 for t in latencies) == 30
    assert WAKE_MS / 1000 <= min(latencies) and max(latencies) < (WAKE_MS + LATE_MS) / 1000 + 0.1
    assert len(result.latency.cancel_to_final) == 30


RACE = OPENSIPS_FOLDER / "race" / "L2-late-bye.pcap"


@pytest.mark.parametrize(("options", "rule", "reference"), [
    ([], "FIELD-9 (pushinject/catalogue/field.md)", "capture"),
    (["--preset", "opensips"], "OSIPS-25 (pushinject/catalogue/osips.md)", "opensips")],
    ids=["no option", "preset"])
def test_a_bye_sent_again_after_its_200_is_named_every_way(
        options: list[str], rule: str, reference: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """OSIPS-32: the call of another run where OpenSIPS sent the BYE on again 0.5 s after
    relaying the device's 200 to it (tm's timer race): the first copy is a departure under
    every option, RFC 3261 §17.1.2.2."""
    assert main(["check", *options, str(RACE)]) == 1
    out = capsys.readouterr().out
    assert (f"    VIOLATION replay {rule} at frame 17: the proxy sent BYE "
            "sip:device@127.0.0.1:5071;transport=UDP to 127.0.0.1:5071 (frame 17); the "
            f"{reference} reference sent no such message within 0.5 s") in out
    assert out.count("VIOLATION") == 1


def test_a_run_struck_by_the_race_alone_is_told_apart() -> None:
    """`late_copies` counts the calls where the proxy sent a request on again after relaying
    its final response; a run whose only departure is one violation each way per such call is
    the race (not recorded, `run_lab`), any other is not."""
    assert load_facts(RACE, "opensips").late_copies == 1
    facts = load_facts(OPENSIPS_FOLDER / "L2.pcap", "opensips")
    assert not struck_by_race(OPENSIPS_LOAD, facts)
    raced = replace(facts, verdicts=dict.fromkeys(facts.verdicts, "violations"),
                    violations=dict.fromkeys(facts.verdicts, 1), late_copies=1)
    assert struck_by_race(OPENSIPS_LOAD, raced)
    assert not struck_by_race(OPENSIPS_LOAD, replace(raced, violations={
        "no option": 2, "preset": 1}))
    assert not struck_by_race(OPENSIPS_LOAD, replace(raced, injected=269))


def test_opensips_load_config_differs_from_the_lab_s_by_its_workers_only() -> None:
    plain = render_config(log_prefix="load", proxy=OPENSIPS)
    assert opensips_config(4) == plain.replace("\nudp_workers=2\n", "\nudp_workers=4\n")
    assert opensips_config(4) != plain


def test_opensips_accepts_the_load_config(tmp_path: Path) -> None:
    opensips = shutil.which("opensips")
    if opensips is None:
        from pushinject.commands.lab import BUILD_HINT

        pytest.skip(BUILD_HINT)
    cfg = tmp_path / "opensips.cfg"
    cfg.write_text(opensips_config(4))
    done = subprocess.run([opensips, "-c", "-f", str(cfg)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.lab
def test_lab_records_opensips_under_load_as_the_manifest_says(tmp_path: Path) -> None:
    """``pushinject lab --load --proxy opensips --out TMP`` (about 45 s): 300 calls through a
    fresh OpenSIPS with the committed table's facts, conformant both ways; or, when tm's
    timer race struck (OSIPS-32), a run that says so, is not recorded and shows nothing else
    amiss."""
    _require_lab()
    if shutil.which("opensips") is None:
        from pushinject.commands.lab import BUILD_HINT

        pytest.skip(BUILD_HINT)
    done = subprocess.run([sys.executable, "-m", "pushinject", "lab", "--load", "--proxy",
                           "opensips", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout + done.stderr
    assert "L2: SIPp: 300 calls, 270 successful, 30 failed (30 to callees that never wake), " \
        "0 retransmissions" in out
    assert "(finals 200: 270, 487: 30), 300 pushes, 270 REGISTERs, 270 injected" in out
    if done.returncode == 1 and "L2: OSIPS-32: in " in out:
        assert "DIFFERS" not in out and not (tmp_path / "manifest.toml").exists()
        return
    assert done.returncode == 0, out
    fresh = read_manifest(tmp_path / "manifest.toml")["L2"]
    measured = ("frames", "sip_messages", "most_concurrent")
    assert {k: v for k, v in fresh.items() if k not in measured} == {
        k: v for k, v in OPENSIPS_MANIFEST["L2"].items() if k not in measured}
    assert fresh["most_concurrent"] > 20
