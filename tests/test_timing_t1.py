"""T1 other than RFC 3261's (TIMING-3): the `t1` knob read by every preset and by the
capture-driven replay, T1 read from a branch's INVITE retransmissions when not given, and the
places that count in it (the replay's reference, Timer B of a branch that never answered, the
collector's wait for that Timer B)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushinject.cli import main
from pushinject.conformance import CheckOptions, check_capture
from pushinject.conformance.capture import load_capture
from pushinject.conformance.collector import CallCollector
from pushinject.conformance.timing import (
    TimerEvidence, TimerValue, precedence, retransmission_t1,
)
from pushinject.core.ids import CountingIds
from pushinject.presets import PRESETS, get_preset
from pushinject.sim.run import run_scenario
from pushinject.sim.scenario import parse_scenario
from tests import pcap_edit as edit

ROOT = Path(__file__).resolve().parent.parent

#: a device behind a NAT whose private Contact nobody answers at (its branch INVITE is sent
#: again T1, 2*T1... apart), and one that answers 3 s after the INVITE
SILENT_BRANCH = """name = "a branch nobody answers, another answers after 3 s"
[caller]
invite_at = 1.0
[[device]]
name = "A"
register_at = 0.0
private_contact = true
[[device]]
name = "B"
register_at = 0.0
answer_after = 3.0
"""

#: the same with two devices behind a NAT
TWO_SILENT = SILENT_BRANCH.replace('[[device]]\nname = "B"', """[[device]]
name = "C"
register_at = 0.0
private_contact = true
[[device]]
name = "B\"""")

#: the line the report gives T1 read from the silent branch (frames 7 and 10)
INFERRED = "t1 = 0.25 s (inferred from frames 7 -> 10, observed 0.250 s)"

#: the replay's first divergence when the reference runs RFC 3261's T1: the proxy's second
#: retransmission (at 1.75 s) has no partner (the reference's copies: 1.5, 3.5 s)
DIVERGENCE = ("the proxy sent INVITE sip:bob@10.0.0.10:5060 to 10.0.0.10:5060 (frame 11); "
              "the {model} reference sent no such message within 0.5 s")

#: the same with B answering 12 s after the INVITE: the silent branch is retransmitted long
#: enough for its interval to reach T2 (4 s) before the 200
LATE_ANSWER = SILENT_BRANCH.replace("answer_after = 3.0", "answer_after = 12.0")

#: the silent branch's copies when B answers at 12 s: RFC 3261 §17.1.1.2 doubles the interval
#: and goes on after the 200 until Timer B (16 s); Kamailio's tm stops doubling it at T2, which
#: the capture-driven replay names at the copy at 11.75 s, OpenSIPS's goes from 4*T1 to T2,
#: which it names at the missing copy at 3.75 s (TXN-10, OSIPS-29); both send it nothing after
#: the 200 (KAM-11, OSIPS-26)
COPIES = {"rfc8599": [0.0, 0.25, 0.75, 1.75, 3.75, 7.75, 15.75],
          "kamailio-tsilo": [0.0, 0.25, 0.75, 1.75, 3.75, 7.75, 11.75],
          "opensips": [0.0, 0.25, 0.75, 1.75, 5.75, 9.75]}
UNDOUBLED = {
    "kamailio-tsilo": (15, "the proxy sent INVITE sip:bob@10.0.0.10:5060 to 10.0.0.10:5060 "
                       "(frame 15); the capture reference sent no such message within 0.5 s: "
                       "this copy left 4.000 s after the one before, which left 4.000 s after "
                       "its own: the interval stopped doubling at T2 (TXN-10), where RFC 3261 "
                       "§17.1.1.2 doubles it each time"),
    "opensips": (12, "the capture reference sends INVITE sip:bob@10.0.0.10:5060 to "
                 "10.0.0.10:5060 here; the proxy did not: the proxy's next copy (frame 13) left "
                 "4.000 s after the one before, which left 1.000 s after its own: the interval "
                 "went to T2 before doubling up to it (TXN-10), where RFC 3261 §17.1.1.2 doubles "
                 "it each time (after frame 12)")}


def simulated(tmp_path: Path, preset: str, text: str = SILENT_BRANCH, t1: float = 0.25, *,
              knob: str = "t1") -> Path:
    """The capture of `text` run by `preset` with its proxy's `knob` (a transaction timer's
    base value) at `t1` seconds."""
    run = run_scenario(parse_scenario(text + f"[proxy]\n{knob} = {t1:g}\n"), preset)
    path = tmp_path / f"{knob}-{preset}.pcap"
    path.write_bytes(run.pcap())
    return path


def violations(path: Path, options: CheckOptions) -> list[tuple[str, int, str]]:
    return [(v.rule, v.frame, v.message) for c in check_capture(path, options).calls
            for v in c.violations]


def copies(path: Path, to: str) -> list[float]:
    """When the proxy sent the INVITE to `to` (an IP address), from its first copy."""
    sent = [m.time for m in load_capture(path).messages
            if m.is_request and m.label == "INVITE" and m.destination[0] == to]
    return [round(t - sent[0], 3) for t in sent]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_proxy_with_t1_250_ms_is_conformant_without_a_knob(tmp_path: Path, preset: str
                                                             ) -> None:
    path = simulated(tmp_path, preset, LATE_ANSWER)
    assert copies(path, "10.0.0.10") == COPIES[preset]
    undoubled = UNDOUBLED.get(preset)
    for model in (None, preset):
        options = CheckOptions() if model is None else CheckOptions(preset=model)
        result = check_capture(path, options)
        assert [(v.rule, v.frame, v.message) for c in result.calls for v in c.violations] == (
            [("replay", *undoubled)]
            if model is None and undoubled is not None else [])
        assert [v.describe() for v in result.timing.values.values()] == [INFERRED]
        assert result.timing.t1 == 0.25
    assert violations(path, CheckOptions(knobs={"t1": 0.5})) == [
        ("replay", 11, DIVERGENCE.format(model="capture"))]
    assert violations(path, CheckOptions(preset=preset, knobs={"t1": 0.5})) == [
        ("replay", 11, DIVERGENCE.format(model=preset))]


def test_the_report_lists_t1_read_or_given(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = simulated(tmp_path, "rfc8599")  # RFC 3261's copies: conformant without a preset
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[out.index("  timers (a timer may fire 1 s late, 0.1 s early):") + 1] == (
        "    " + INFERRED)
    assert main(["check", "--knob", "t1=0.5", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "    t1 = 0.5 s (given)" in out
    assert main(["check", "--knob", "t1=0.25", str(path)]) == 0
    assert "    t1 = 0.25 s (given)" in capsys.readouterr().out.splitlines()
    assert main(["check", "--knob", "t1=0", str(path)]) == 2
    assert "--knob t1 must be above 0 seconds, got '0'" in capsys.readouterr().err


def test_simulate_takes_the_knob(tmp_path: Path) -> None:
    """`simulate --knob t1=0.25` runs the proxy with it, as a scenario's [proxy] table does."""
    scenario = tmp_path / "silent.toml"
    scenario.write_text(SILENT_BRANCH)
    out = tmp_path / "cli.pcap"
    assert main(["simulate", str(scenario), "--knob", "t1=0.25", "--pcap", str(out)]) == 0
    assert out.read_bytes() == simulated(tmp_path, "opensips").read_bytes()
    assert copies(out, "10.0.0.10")[:3] == [0.0, 0.25, 0.75]
    assert main(["simulate", str(scenario), "--pcap", str(out)]) == 0
    assert copies(out, "10.0.0.10")[:3] == [0.0, 0.5, 1.5]


def test_rfc_default_intervals_add_no_line(tmp_path: Path) -> None:
    """T1 shown as RFC 3261's 0.5 s is not listed: the report stays as it was."""
    path = simulated(tmp_path, "rfc8599", t1=0.5)
    result = check_capture(path, CheckOptions())
    assert (dict(result.timing.values), result.timing.t1) == ({}, 0.5)
    assert [c.violations for c in result.calls] == [()]


def test_retransmission_t1_rule() -> None:
    """Half the second interval, when the first is at most 50 ms shorter or a tick and 50 ms
    (and half of it) longer; a first interval of 3*T1 (the first retransmission missing from
    the capture) shows nothing."""
    assert retransmission_t1([1.0, 1.25, 1.75, 2.75]) == 0.25
    assert retransmission_t1([1.0, 1.219, 1.719]) == 0.25  # the first copy left 31 ms early
    assert retransmission_t1([1.0, 1.344, 1.844]) == 0.25  # a timer tick late (OpenSIPS, O15)
    assert retransmission_t1([1.0, 1.19, 1.75]) is None  # 90 ms shorter than 0.28
    assert retransmission_t1([1.0, 1.38, 1.88]) is None  # 130 ms longer than 0.25
    assert retransmission_t1([1.0, 2.2, 4.2]) is None  # 200 ms longer than 1.0
    assert retransmission_t1([1.0, 1.75, 2.75]) is None
    assert retransmission_t1([1.0, 1.246, 1.846, 2.846]) == 0.25  # the 2nd a tick late: 4*T1
    assert retransmission_t1([1.0, 1.246, 1.996, 2.996]) is None  # 2nd 250 ms late: a loss
    assert retransmission_t1([1.0, 1.25]) == 0.25
    assert retransmission_t1([1.0]) is None


def test_a_missing_copy_does_not_make_t1(tmp_path: Path) -> None:
    """The capture lost the silent branch's first retransmission (frame 10): its intervals
    (0.75, 1 s) show no T1, so RFC 3261's stands, and the replay reports the proxy's copies."""
    path = simulated(tmp_path, "opensips")
    pkts = edit.read(path)
    lossy = edit.write(edit.drop(pkts, edit.find(pkts, "INVITE sip:bob@10.0.0.10", nth=1)),
                       tmp_path / "lossy.pcap")
    result = check_capture(lossy, CheckOptions())
    assert result.timing.t1 == 0.5 and "t1" not in result.timing.values


def test_t1_read_when_the_second_interval_left_a_tick_late(tmp_path: Path) -> None:
    """OpenSIPS's copies at T1 = 250 ms once left 0.246, 0.601 and 1.002 s apart (its timer
    fired the second retransmission a tick late, and counted the next from there): half the
    second interval is no T1 the first shows, a quarter of the third is, and the preset's
    replay then finds the proxy's copies where it sends its own."""
    path = simulated(tmp_path, "opensips", LATE_ANSWER)
    pkts = edit.read(path)
    silent = [i for i, p in enumerate(pkts)
              if edit.sip(p).startswith(b"INVITE sip:bob@10.0.0.10")]
    pkts = sorted(edit.later(pkts[:silent[2]] + [pkts[i] for i in silent[2:]], silent[2], 0.1)
                  + [p for i, p in enumerate(pkts) if i >= silent[2] and i not in silent],
                  key=lambda p: float(p.time))
    late = edit.write(pkts, tmp_path / "late.pcap")
    assert copies(late, "10.0.0.10")[:4] == [0.0, 0.25, 0.85, 1.85]
    result = check_capture(late, CheckOptions(preset="opensips"))
    assert [v.describe() for v in result.timing.values.values()] == [INFERRED]
    assert [c.violations for c in result.calls] == [()]


def test_the_shortest_t1_stands_over_a_branch_whose_first_copy_was_lost(tmp_path: Path
                                                                       ) -> None:
    """Two silent branches; the capture lost the first copy of the first (to 10.0.0.10), whose
    copies then lie 0.5, 1 s... apart, as with RFC 3261's T1. The other branch shows 0.25 s,
    the shorter, which stands (a lost copy only lengthens an interval)."""
    path = simulated(tmp_path, "opensips", TWO_SILENT)
    pkts = edit.read(path)
    lossy = edit.write(edit.drop(pkts, edit.find(pkts, "INVITE sip:bob@10.0.0.10")),
                       tmp_path / "lossy.pcap")
    assert copies(lossy, "10.0.0.10")[:3] == [0.0, 0.5, 1.5]
    result = check_capture(lossy, CheckOptions())
    assert [v.describe() for v in result.timing.values.values()] == [
        "t1 = 0.25 s (inferred from frames 9 -> 13, observed 0.250 s)"]
    alone = edit.write(edit.drop(pkts, *[i for i, p in enumerate(pkts)
                                         if b"10.0.0.11" in edit.sip(p)
                                         or i == edit.find(pkts, "INVITE sip:bob@10.0.0.10")]),
                       tmp_path / "alone.pcap")
    assert check_capture(alone, CheckOptions()).timing.t1 == 0.5


def test_of_two_t1_read_apart_the_shorter_stands() -> None:
    """Merging calls judged apart (`--jobs`, the stream) keeps the shorter T1 (TIMING-3)."""
    def read(value: float, at: float) -> TimerValue:
        return TimerValue("t1", value, TimerEvidence("t1", "c", 1, 2, at, value))
    assert precedence(read(0.25, 9.0)) < precedence(read(0.5, 1.0))
    assert precedence(read(0.25, 1.0)) < precedence(read(0.25, 9.0))


def test_every_preset_reads_t1_and_t2_given_only() -> None:
    for preset in PRESETS.values():
        assert "t1" not in preset.knobs() and "t2" not in preset.knobs()
        assert preset.knobs({"t1": 0.25, "t2": 2})["t1"] == 0.25
        timers = preset.build(CountingIds("px"), {"t1": 0.25, "t2": 2}).proxy.config.timers
        assert (timers.t1, timers.t2, timers.b) == (0.25, 2.0, 16.0)
    assert get_preset("opensips").build(CountingIds("px")).proxy.config.timers.b == 32.0


def test_the_collector_waits_for_timer_b_of_64_t1(tmp_path: Path) -> None:
    """The silent branch opened at frame 7 stays Calling until its Timer B: 16 s with
    T1 = 0.25 s given, so the call is complete then (its last copy came at 15.75 s), not at
    the 32 s of RFC 3261's T1. Not given, T1 is RFC 3261's until a call judged shows another:
    then Timer B is 16 s."""
    capture = load_capture(simulated(tmp_path, "opensips"))
    opened = next(m for m in capture.messages if m.frame == 7).time
    for knobs, timer_b in (({"t1": 0.25}, 16.0), ({}, 32.0)):
        collector = CallCollector(CheckOptions(preset="opensips", knobs=knobs), quiet=0.1)
        for m in capture.messages:
            assert collector.due(m.time) == []
            collector.add(m, m.time)
        assert collector.timer_b == timer_b
        assert collector.completed(opened + timer_b - 0.001) == []
        [(done_at, judged)] = collector.completed(opened + timer_b)
        assert done_at == opened + timer_b
        assert [c.violations for c in judged.calls] == [()]
        assert collector.timer_b == 16.0


@pytest.mark.parametrize("jobs", [1, 2])
def test_t1_read_from_traffic_is_the_whole_captures_streamed_and_merged(
        tmp_path: Path, jobs: int) -> None:
    """The slow-phones traffic run with T1 = 0.25 s: the whole capture, the stream judging
    call by call and two processes merging what they read give the same result, T1 included
    (`precedence`). Under the opensips preset no call diverges from the replay; with no preset
    only INVITE copies do, as OpenSIPS's tm grows their interval to T2 its own way where RFC
    3261 doubles it (TXN-10, OSIPS-29)."""
    from tests.test_conformance_one_result import _compared

    path = tmp_path / "slow.pcap"
    assert main(["simulate", str(ROOT / "data" / "traffic" / "slow_phones.toml"), "--knob",
                 "t1=0.25", "--pcap", str(path)]) == 0
    result = check_capture(path, CheckOptions())
    assert [v.describe() for k, v in result.timing.values.items() if k == "t1"] == [
        "t1 = 0.25 s (inferred from frames 5 -> 6, observed 0.250 s)"]
    assert {v.message.split(" sip:")[0] for c in result.calls for v in c.violations
            if v.rule == "replay"} == {"the capture reference sends INVITE"}
    preset = CheckOptions(preset="opensips")
    assert [v.message for c in check_capture(path, preset).calls for v in c.violations
            if v.rule == "replay"] == []
    assert _compared(path, CheckOptions(), jobs=jobs) == []
    assert _compared(path, preset, jobs=jobs) == []


def test_timer_l_counts_in_t1(tmp_path: Path) -> None:
    """TXN-7 holds a copy of the caller's INVITE to the server transaction's rule until Timer
    L (64*T1): a copy 20 s after the 200, answered 100 Trying as a new request, breaks it
    with RFC 3261's T1 (Timer L 32 s), not with T1 = 0.25 s (Timer L 16 s: the transaction
    has ended)."""
    from pushinject.conformance.calls import find_calls
    from pushinject.conformance.rules import RuleSettings, run_rules
    from tests.test_conformance_rules import KAMAILIO, _copy_after_200

    pkts, at = _copy_after_200(edit.read(KAMAILIO / "S1.pcap"), answer="100", branch=False)
    path = edit.write(edit.later(pkts, at, 20.0), tmp_path / "S1-copy-late.pcap")
    capture = load_capture(path)
    [call] = find_calls(capture.messages, ("127.0.0.1", 5060))
    assert [(v.rule, v.frame) for v in run_rules(call, RuleSettings())] == [
        ("copy-after-2xx-absorbed", at + 2)]
    assert run_rules(call, RuleSettings(t1=0.25)) == []
