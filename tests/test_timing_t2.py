"""T2 other than RFC 3261's (TIMING-4): read from a branch's INVITE retransmissions when a
proxy holds their interval at T2 (TXN-10) and the `t2` knob is not given, and used where T2
matters: the replay's reference (the presets' TimerValues), a copy's due time and the
replay's explanation of an interval that stopped doubling. The real proxies' captures: S14
(Kamailio, retr_timer2 2000 ms, KAM-14) and O16 (OpenSIPS, T2_timer 2000 ms, OSIPS-30)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushinject.cli import main
from pushinject.conformance import CheckOptions, check_capture
from pushinject.conformance.capture import load_capture
from pushinject.conformance.timing import (
    TimerEvidence, TimerValue, precedence, retransmission_t2,
)
from pushinject.core.timers import TimerAGrowth, TimerValues
from pushinject.presets import PRESETS
from tests import pcap_edit as edit
from tests.conftest import DATA
from tests.test_conformance_one_result import _compared
from tests.test_timing_t1 import LATE_ANSWER, TWO_SILENT, copies
from tests.test_timing_t1 import simulated as with_t1
from tests.test_timing_t1 import violations as found

S14 = DATA / "kamailio" / "timers" / "S14.pcap"
O16 = DATA / "opensips" / "timers" / "O16.pcap"

#: the silent branch's copies with T2 = 2 s (T1 0.5 s) when B answers at 12 s: RFC 3261
#: §17.1.1.2 doubles the interval (T2 plays no part), Kamailio's tm caps it at T2, OpenSIPS's
#: goes T1, 2*T1, 4*T1 (2 s, equal to T2 here) then T2
SIMULATED = {"rfc8599": [0.0, 0.5, 1.5, 3.5, 7.5, 15.5],
             "kamailio-tsilo": [0.0, 0.5, 1.5, 3.5, 5.5, 7.5, 9.5, 11.5],
             "opensips": [0.0, 0.5, 1.5, 3.5, 5.5, 7.5, 9.5, 11.5]}

#: the replay's divergence at the first copy 2 s after one 2 s after its own, which RFC 3261
#: (and a proxy with T2 = 4 s) sends 4 s after it; the T2 in force is named when it is read
UNDOUBLED = ("the proxy sent INVITE {uri} to {dest} (frame {frame}); the {model} reference "
             "sent no such message within 0.5 s: this copy left {last} s after the one before, "
             "which left {before} s after its own: the interval stopped doubling{at} (TXN-10), "
             "where RFC 3261 §17.1.1.2 doubles it each time")


#: two devices behind a NAT nobody answers at, and one that answers 12 s after the INVITE
TWO_LATE = TWO_SILENT.replace("answer_after = 3.0", "answer_after = 12.0")


def simulated(tmp_path: Path, preset: str, text: str = LATE_ANSWER) -> Path:
    """The capture of `text` run by `preset` with T2 = 2 s."""
    return with_t1(tmp_path, preset, text, 2.0, knob="t2")


def timers(path: Path, options: CheckOptions) -> list[str]:
    return [v.describe() for v in check_capture(path, options).timing.values.values()]


def undoubled(model: str, frame: int, at: str, *, last: str = "2.000", before: str = "2.000",
              uri: str = "sip:bob@10.0.0.10:5060", dest: str = "10.0.0.10:5060") -> str:
    return UNDOUBLED.format(model=model, frame=frame, at=at, last=last, before=before, uri=uri,
                            dest=dest)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_proxy_with_t2_2_s_is_conformant_under_its_preset_without_a_knob(
        tmp_path: Path, preset: str) -> None:
    """Kamailio's and OpenSIPS's models with T2 = 2 s: t2 is read from the copies (frames 12
    to 16, 3.5 to 11.5 s after the first), the preset replays them with no knob, and with
    no option the first copy at 2 s is named, at T2 = 2 s; `--knob t2=4` wins over the
    reading and the copy is named as before. RFC 3261's doubling shows no T2."""
    path = simulated(tmp_path, preset)
    assert copies(path, "10.0.0.10") == SIMULATED[preset]
    if preset == "rfc8599":
        for options in (CheckOptions(), CheckOptions(preset=preset)):
            assert (found(path, options), timers(path, options)) == ([], [])
        return
    read = ["t2 = 2 s (inferred from the copies of frames 12 -> 16, observed 2.000 s apart on "
            "average)"]
    assert (found(path, CheckOptions()), timers(path, CheckOptions())) == (
        [("replay", 13, undoubled("capture", 13, " at T2 = 2 s"))], read)
    assert (found(path, CheckOptions(preset=preset)),
            timers(path, CheckOptions(preset=preset))) == ([], read)
    assert check_capture(path, CheckOptions(preset=preset)).timing.t2 == 2
    given = CheckOptions(preset=preset, knobs={"t2": 4})
    assert (found(path, given), timers(path, given)) == (
        [("replay", 13, undoubled(preset, 13, ""))], ["t2 = 4 s (given)"])
    assert found(path, CheckOptions(preset=preset, knobs={"t2": 2})) == []


#: per capture: its preset, the intervals before the copy named (frame 16), the mean interval
#: at T2 (from that copy's interval on, frames 15 -> 21) and the rule of the preset's replay
REAL = {S14: ("kamailio-tsilo", "2.000", "2.000", "2.000", "KAM-10"),
        O16: ("opensips", "1.964", "2.005", "1.997", "OSIPS-25")}


@pytest.mark.parametrize("path", [S14, O16], ids=lambda p: p.stem)
def test_real_proxy_with_t2_2_s(path: Path) -> None:
    """S14 and O16: before TIMING-4 both presets named the copy 2 s after one 2 s after its
    own (frame 16, 5.5 s after the INVITE), expecting it 4 s after; now t2 = 2 s is read from
    the intervals at T2 (OpenSIPS's wander by a timer tick) and the preset finds
    nothing with no knob, the report naming the reading;
    with no option RFC 3261's doubling names that copy, at T2 = 2 s; `--knob t2=4` gives the
    old divergence."""
    model, last, before, observed, rule = REAL[path]
    dev1 = {"uri": "sip:dev1@127.0.0.1:5071", "dest": "127.0.0.1:5071"}
    read = [f"t2 = 2 s (inferred from the copies of frames 15 -> 21, observed {observed} s apart "
            "on average)"]
    assert (found(path, CheckOptions()), timers(path, CheckOptions())) == (
        [("replay", 16, undoubled("capture", 16, " at T2 = 2 s", last=last, before=before,
                                  **dev1))], read)
    assert (found(path, CheckOptions(preset=model)),
            timers(path, CheckOptions(preset=model))) == ([], read)
    given = CheckOptions(preset=model, knobs={"t2": 4})
    assert found(path, given) == [
        ("replay", 16, undoubled(model, 16, "", last=last, before=before, **dev1))]
    assert [v.catalogue_id for c in check_capture(path, given).calls for v in c.violations] == [
        rule]


def test_the_report_and_json_list_t2_read_or_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--preset", "kamailio-tsilo", str(S14)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[out.index("  timers (a timer may fire 1 s late, 0.1 s early):") + 1] == (
        "    t2 = 2 s (inferred from the copies of frames 15 -> 21, observed 2.000 s apart on "
        "average)")
    assert main(["check", "--json", "--preset", "opensips", str(O16)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["captures"][0]["timers"]["timers"] == [
        {"knob": "t2", "value": 2, "source": "capture", "bounds": None,
         "evidence": {"call_id": "O16-call@127.0.0.1", "frames": [15, 21],
                      "observed": 1.997155}}]
    assert main(["check", "--preset", "opensips", "--knob", "t2=4", str(O16)]) == 1
    assert "    t2 = 4 s (given)" in capsys.readouterr().out.splitlines()


def test_t2_of_rfc_3261_is_not_listed() -> None:
    """S13 and O15 hold their copies at T2 = 4 s: read, it is RFC 3261's, and not listed."""
    for path, preset in ((DATA / "kamailio" / "timers" / "S13.pcap", "kamailio-tsilo"),
                         (DATA / "opensips" / "timers" / "O15.pcap", "opensips")):
        timing = check_capture(path, CheckOptions(preset=preset)).timing
        assert ("t2" in timing.values, timing.t2) == (False, 4.0)


def test_retransmission_t2_rule() -> None:
    """Two equal intervals in a row (within a tick and 50 ms, and a quarter of the shorter),
    the first interval aside: from the later on, the mean of those near it (a copy lost makes
    one longer) is T2, a whole second within 50 ms of one."""
    assert retransmission_t2([0.0, 0.5, 1.5, 3.5, 5.5]) == (3, 3, 2, 2.0)
    assert retransmission_t2([0.0, 0.5, 1.5, 3.5, 5.454])[:3] == (3, 3, 2)  # 1.954 s
    assert retransmission_t2([0.0, 0.5, 1.5, 3.5, 5.44])[:3] == (3, 3, 1.94)  # a tick below 2 s
    assert retransmission_t2([0.0, 0.5, 1.5, 3.5, 5.6, 7.7])[:3] == (3, 4, 2.1)
    assert retransmission_t2([0.0, 0.5, 1.5, 3.5, 5.6, 7.65, 9.59]) == (3, 5, 2, 2.03)
    assert retransmission_t2([0.0, 0.5, 1.5, 3.5, 5.5, 9.5, 11.5])[:3] == (3, 5, 2)  # 7.5 lost
    assert retransmission_t2([0.0, 0.5, 1.5, 3.5, 5.7]) is None  # 0.2 s apart: not equal
    assert retransmission_t2([0.0, 0.5, 1.5, 3.0, 4.5])[:3] == (3, 3, 1.5)  # T2 below 4*T1
    assert retransmission_t2([0.0, 0.1, 0.3, 0.45]) is None  # 0.2, 0.15: not within a quarter
    assert retransmission_t2([0.0, 0.5, 1.0, 2.0]) is None  # only the first two are equal
    assert retransmission_t2([0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]) is None


def test_each_growth_holds_the_interval_at_a_t2_below_4_t1() -> None:
    """OpenSIPS's tm takes T2 for its 2*T1 and 4*T1 steps when they are longer (RT_T1_TO_2,
    RT_T1_TO_3 in tm's timer.c); Kamailio's caps the doubling: with T2 = 1.5 s both send
    copies 0.5, 1, 1.5, 1.5 s apart. RFC 3261's Timer A doubles."""
    def schedule(growth: TimerAGrowth) -> list[float]:
        values, gaps = TimerValues(t2=1.5, timer_a=growth), [0.5]
        for n in range(1, 4):
            gaps.append(values.next_a(gaps[-1], n))
        return gaps
    assert [schedule(g) for g in TimerAGrowth] == [
        [0.5, 1.0, 2.0, 4.0], [0.5, 1.0, 1.5, 1.5], [0.5, 1.0, 1.5, 1.5]]


def test_a_lost_copy_leaves_t2_read_from_the_next_pair(tmp_path: Path) -> None:
    """S14 without its copy at 5.5 s (frame 16): the intervals 0.48, 1, 2, 4, 2, 2 s still
    show T2 = 2 s, from the next two equal ones on (frames 17 -> 20 once 16 is gone); the
    preset then names the copy the capture lost."""
    pkts = edit.read(S14)
    lossy = edit.write(edit.drop(pkts, 15), tmp_path / "S14-lossy.pcap")
    options = CheckOptions(preset="kamailio-tsilo")
    assert timers(lossy, options) == [
        "t2 = 2 s (inferred from the copies of frames 17 -> 20, observed 2.000 s apart on "
        "average)"]
    assert found(lossy, options) == [(
        "replay", 15, "the kamailio-tsilo reference sends INVITE sip:dev1@127.0.0.1:5071 to "
        "127.0.0.1:5071 here; the proxy did not (after frame 15)")]


def test_copies_lost_every_other_one_show_no_other_t2(tmp_path: Path) -> None:
    """O16 with its copies at 5.5, 9.5 and 13.5 s lost: 4 s apart from 3.55 s, as with the
    default T2, which is all they show; the preset, at T2 = 4 s, then expects nothing more."""
    pkts = edit.read(O16)
    lossy = edit.write(edit.drop(pkts, 15, 17, 19), tmp_path / "O16-lossy.pcap")
    result = check_capture(lossy, CheckOptions(preset="opensips"))
    assert (dict(result.timing.values), result.timing.t2) == ({}, 4.0)
    assert [c.violations for c in result.calls] == [()]


def test_the_shortest_t2_stands_over_a_branch_whose_copies_were_lost(tmp_path: Path) -> None:
    """Two silent branches with T2 = 2 s; the capture lost every other copy of the first (to
    10.0.0.10) from 5.5 s on, so that it shows 4 s; the other shows 2 s, the shorter, which
    stands (a lost copy only lengthens an interval)."""
    path = simulated(tmp_path, "kamailio-tsilo", TWO_LATE)
    pkts = edit.read(path)
    to_a = [i for i, p in enumerate(pkts) if edit.sip(p).startswith(b"INVITE sip:bob@10.0.0.10")]
    lossy = edit.write(edit.drop(pkts, *to_a[4::2]), tmp_path / "lossy.pcap")
    assert copies(lossy, "10.0.0.10") == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]
    result = check_capture(lossy, CheckOptions())
    other = [m.frame for m in load_capture(lossy).messages
             if m.is_request and m.label == "INVITE" and m.destination[0] == "10.0.0.11"]
    assert [v.describe() for v in result.timing.values.values()] == [
        f"t2 = 2 s (inferred from the copies of frames {other[3]} -> {other[-1]}, observed "
        "2.000 s apart on average)"]


def test_of_two_t2_read_apart_the_shorter_stands() -> None:
    """Merging calls judged apart (`--jobs`, the stream) keeps the shorter T2 (TIMING-4)."""
    def read(value: float, at: float) -> TimerValue:
        return TimerValue("t2", value, TimerEvidence("t2", "c", 1, 2, at, value))
    assert precedence(read(2.0, 9.0)) < precedence(read(3.0, 1.0))
    assert precedence(read(2.0, 1.0)) < precedence(read(2.0, 9.0))


@pytest.mark.parametrize("jobs", [1, 2])
def test_t2_read_is_the_whole_captures_streamed_and_merged(tmp_path: Path, jobs: int) -> None:
    """The whole capture, the stream judging call by call and two processes merging what they
    read give the same result, T2 included, with and without the preset."""
    path = simulated(tmp_path, "opensips", TWO_LATE)
    for options in (CheckOptions(), CheckOptions(preset="opensips")):
        assert _compared(path, options, jobs=jobs) == []
    for capture in (S14, O16):
        for options in (CheckOptions(), CheckOptions(preset="opensips"),
                        CheckOptions(preset="kamailio-tsilo")):
            assert _compared(capture, options, jobs=jobs) == []


def test_whole_streamed_and_jobs_reports_are_the_same(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    files = [str(S14), str(O16), str(simulated(tmp_path, "kamailio-tsilo", TWO_LATE))]
    outs = []
    for how in ([], ["--jobs", "2"]):
        assert main(["check", *how, *files]) == 1
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    assert outs[0].count("    t2 = 2 s (inferred from the copies of frames") == 3


def test_a_copy_is_due_at_the_t2_in_force(tmp_path: Path) -> None:
    """Two silent branches with T2 = 2 s, the capture cut short for the first (to 10.0.0.10)
    after its copy at 3.5 s, as if its FR timer had fired: its next copy was due T2 after it
    (Kamailio's tm, TXN-10), so fr_timeout is read between 3.5 and 5.5 s with the T2 the other
    branch shows, between 3.5 and 7.5 s with `--knob t2=4` (TIMING-2)."""
    path = simulated(tmp_path, "kamailio-tsilo", TWO_LATE)
    pkts = edit.read(path)
    to_a = [i for i, p in enumerate(pkts) if edit.sip(p).startswith(b"INVITE sip:bob@10.0.0.10")]
    cut = edit.write(edit.drop(pkts, *to_a[4:]), tmp_path / "cut.pcap")
    assert copies(cut, "10.0.0.10") == [0.0, 0.5, 1.5, 3.5]
    first = next(m.frame for m in load_capture(cut).messages
                 if m.is_request and m.destination[0] == "10.0.0.10")
    fr = {t2: check_capture(cut, CheckOptions(preset="kamailio-tsilo", knobs=knobs)
                            ).timing.values["fr_timeout"].describe()
          for t2, knobs in ((2, {}), (4, {"t2": 4}))}
    assert fr == {t2: f"fr_timeout = {t2 + 3} s (inferred: the retransmissions of frame {first} "
                      f"stopped after frame {to_a[3] + 1}, so it fired between 3.500 and "
                      f"{t2 + 3.5:.3f} s)" for t2 in (2, 4)}
