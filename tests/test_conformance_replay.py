"""Replay (`pushinject.conformance.replay`): the proxy's inputs through the reference core.

Kept: every real Kamailio capture replays under kamailio-tsilo with the lab's timers, and a
simulated capture replays under the preset that made it. Broken: a capture edited so that the
proxy forgets a message, or a preset whose timers differ from the proxy's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import pcap_edit as edit
from pushinject.conformance import CheckOptions, check_capture
from pushinject.conformance.calls import find_calls
from pushinject.conformance.capture import load_capture
from pushinject.conformance.replay import Divergence, Output, compare, replay
from pushinject.presets import get_preset
from pushinject.sim.run import run_scenario

ROOT = Path(__file__).resolve().parent.parent
KAMAILIO = ROOT / "data" / "kamailio"
LAB = {"fr_timeout": 8.0, "fr_inv_timeout": 10.0}
PROXY = ("127.0.0.1", 5060)


def divergence(path: Path, preset: str, knobs: dict[str, float] | None = None) -> object:
    capture = load_capture(path)
    calls = find_calls(capture.messages, PROXY)
    result = replay(capture.messages, PROXY, {c.call_id: c.caller for c in calls},
                    get_preset(preset), knobs)
    [(_, found)] = result.divergences.items()
    return found


@pytest.mark.parametrize("name", ["S1", "S2", "S3", "S4", "S5", "S6"])
def test_real_kamailio_captures_replay_under_kamailio_tsilo(name: str) -> None:
    assert divergence(KAMAILIO / f"{name}.pcap", "kamailio-tsilo", LAB) is None


def test_replay_outputs_of_s1_match_what_kamailio_sent() -> None:
    """The core, fed S1's inputs, sends the same (direction, method/status, target) sequence
    as Kamailio for the call."""
    capture = load_capture(KAMAILIO / "S1.pcap")
    [call] = find_calls(capture.messages, PROXY)
    result = replay(capture.messages, PROXY, {call.call_id: call.caller},
                    get_preset("kamailio-tsilo"), LAB)
    mine = [o.key for o in result.reference if o.call_id == call.call_id]
    assert mine == [
        ("caller", "100", ""), ("onward", "INVITE", "sip:dev1@127.0.0.1:5071"),
        ("caller", "180", ""), ("onward", "INVITE", "sip:dev2@127.0.0.1:5072"),
        ("caller", "180", ""), ("caller", "200", ""),
        ("onward", "CANCEL", "sip:dev1@127.0.0.1:5071"),
        ("onward", "ACK", "sip:dev2@127.0.0.1:5072"), ("onward", "ACK", "sip:dev1@127.0.0.1:5071"),
        ("onward", "BYE", "sip:dev2@127.0.0.1:5072"), ("caller", "200", ""),
    ]
    assert sorted(o.key for o in result.actual if o.call_id == call.call_id) == sorted(mine)


def test_replay_broken_by_kamailios_timer_under_default_knobs() -> None:
    """S3's 408 comes from Kamailio's 8 s fr_timer; with the preset's 30 s default the
    reference has sent nothing then, and the divergence names the 408's frame."""
    found = divergence(KAMAILIO / "S3.pcap", "kamailio-tsilo")
    pkts = edit.read(KAMAILIO / "S3.pcap")
    timeout = edit.find(pkts, "SIP/2.0 408")
    assert found is not None and found.frame == timeout + 1
    assert found.message.startswith("the proxy sent 408 to 127.0.0.1:5070")


def test_replay_broken_when_the_proxy_does_not_cancel(tmp_path: Path) -> None:
    """S1 without the proxy's CANCEL to dev1: the reference CANCELs when dev2's 200 arrives,
    and the divergence is blamed on that frame, the cause."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    pkts = edit.drop(pkts, edit.find(pkts, "CANCEL", sport=5060))
    answer = edit.find(pkts, "SIP/2.0 200", sport=5072) + 1
    found = divergence(edit.write(pkts, tmp_path / "S1.pcap"), "kamailio-tsilo", LAB)
    assert found is not None
    # to the Contact's port, not the REGISTER's source port 5081 (ROUTE-1)
    assert found.message == ("the kamailio-tsilo reference sends CANCEL "
                             "sip:dev1@127.0.0.1:5071 to 127.0.0.1:5071 here; the proxy did "
                             f"not (after frame {answer})")
    assert found.frame == answer


def test_a_simulated_capture_replays_under_its_own_preset(tmp_path: Path) -> None:
    """The simulator's capture of the core under opensips replays without divergence; under
    kamailio-tsilo the placeholder's difference shows (busy device, OSIPS-6 vs PIT-10)."""
    path = tmp_path / "busy.pcap"
    path.write_bytes(run_scenario(ROOT / "data/scenarios/busy_then_pushed_answers.toml",
                                  "opensips").pcap())
    assert divergence(path, "opensips") is None
    assert divergence(path, "kamailio-tsilo") is not None


def test_compare_tolerates_reordering_within_the_tolerance() -> None:
    """S4's Kamailio sends 487 then 200 (CANCEL) within a millisecond; the core 200 then 487:
    the same within the tolerance, a divergence beyond it."""
    def out(t: float, label: str) -> Output:
        return Output(t, 0, "c", ("127.0.0.1", 5070), "caller", label, "")

    actual = [out(1.0, "487"), out(1.0005, "200")]
    assert compare(actual, [out(1.0, "200"), out(1.0, "487")], 0.5, 2.0, "p") is None
    late = compare(actual, [out(1.0, "200"), out(1.9, "487")], 0.5, 2.0, "p")
    assert late is not None and late.time == 1.0


def test_compare_partners_each_message_with_the_first_free_reference_output() -> None:
    """Of two reference outputs that could stand for a message, the earlier in the reference's
    order is taken, and taken once: here the one whose cause (frame 5) comes after the
    proxy's final response, so the first 486 is a divergence and the second is not."""
    caller = ("127.0.0.1", 5070)

    def sent(t: float, frame: int) -> Output:
        return Output(t, frame, "c", caller, "caller", "486", "")

    first, other = (Output(1.1, 0, "c", caller, "caller", "486", "", cause=cause)
                    for cause in ((5, 0), (0, 0)))
    found = compare([sent(1.0, 3), sent(1.2, 4)], [first, other], 0.5, 2.0, "p")
    assert found == Divergence(1.0, 3, "the proxy sent 486 to 127.0.0.1:5070 (frame 3) before "
                               "frame 5, which the p reference waits for to send it")
    assert compare([sent(1.0, 3), sent(1.2, 4)], [other, first], 0.5, 2.0, "p") == Divergence(
        1.2, 4, "the proxy sent 486 to 127.0.0.1:5070 (frame 4) before frame 5, which the p "
        "reference waits for to send it")


def test_copies_of_an_unanswered_branch_after_the_final_response_are_not_required() -> None:
    """A branch that never answered, its INVITE sent at 0 s, 0.5 s and 1.5 s, while another
    branch's 200 reaches the caller at 2 s. The reference goes on retransmitting until Timer B
    (3.5 s, 7.5 s...); a proxy may instead give the branch up with the call (TXN-9): the copies
    after the 200 are not required, those before it are."""
    caller, device = ("127.0.0.1", 5070), ("127.0.0.1", 5071)

    def invite(t: float, frame: int = 0) -> Output:
        return Output(t, frame, "c", device, "onward", "INVITE", "sip:dev@127.0.0.1:5071")

    ok = Output(2.0, 0, "c", caller, "caller", "200", "")
    reference = [invite(0.0), invite(0.5), invite(1.5), ok, invite(3.5), invite(7.5)]
    actual = [invite(0.0, 1), invite(0.5, 2), invite(1.5, 3), replace(ok, frame=4)]
    assert compare(actual, reference, 0.5, 40.0, "p") is None
    assert compare(actual + [invite(3.5, 5)], reference, 0.5, 40.0, "p") is None
    assert compare(actual[:2] + actual[3:], reference, 0.5, 40.0, "p") == Divergence(
        1.5, 0, "the p reference sends INVITE sip:dev@127.0.0.1:5071 to 127.0.0.1:5071 here; "
        "the proxy did not")


def test_copies_after_the_final_response_the_reference_gives_up_are_accepted() -> None:
    """The other way round (TXN-9): the reference, as the tm presets do (KAM-11, OSIPS-26),
    sends the unanswered branch nothing after the 200 at 2 s, and a proxy that follows RFC 3261
    goes on retransmitting at 3.5 s and 7.5 s: its copies are accepted. Where the reference
    goes on retransmitting, a copy after the final is still judged: one at 5 s matches
    nothing."""
    caller, device = ("127.0.0.1", 5070), ("127.0.0.1", 5071)

    def invite(t: float, frame: int = 0) -> Output:
        return Output(t, frame, "c", device, "onward", "INVITE", "sip:dev@127.0.0.1:5071")

    ok = Output(2.0, 0, "c", caller, "caller", "200", "")
    reference = [invite(0.0), invite(0.5), invite(1.5), ok]
    actual = [invite(0.0, 1), invite(0.5, 2), invite(1.5, 3), replace(ok, frame=4)]
    assert compare(actual + [invite(3.5, 5), invite(7.5, 6)], reference, 0.5, 40.0, "p") is None
    assert compare(actual + [invite(5.0, 5)], reference + [invite(3.5), invite(7.5)], 0.5,
                   40.0, "p") == Divergence(
        5.0, 5, "the proxy sent INVITE sip:dev@127.0.0.1:5071 to 127.0.0.1:5071 (frame 5); the "
        "p reference sent no such message within 0.5 s")


def test_check_reports_the_divergence_as_rule_replay() -> None:
    """S3's 408 comes after Kamailio's 8 s fr_timer: a knob of 5 s makes it 3 s late, which
    the timer rule and the replay both report."""
    options = CheckOptions(preset="kamailio-tsilo", knobs={"fr_timeout": 5.0})
    [call] = check_capture(KAMAILIO / "S3.pcap", options).calls
    assert [(v.rule, v.frame) for v in call.violations] == [("TIMING-1", 5), ("replay", 4)]


def test_unknown_timer_is_read_from_the_capture() -> None:
    """Without the knob, S3's 408 after 7.977 s gives kamailio-tsilo's fr_timeout 8 s (the
    preset's default, 30 s, used to make this a replay violation)."""
    result = check_capture(KAMAILIO / "S3.pcap", CheckOptions(preset="kamailio-tsilo"))
    assert [c.violations for c in result.calls] == [()]
    value = result.timing.values["fr_timeout"]
    assert (value.value, value.source, value.evidence.start, value.evidence.end) == (
        8, "capture", 1, 5)


def test_a_failed_push_is_read_from_the_proxys_answer(tmp_path: Path) -> None:
    """The rfc8599 preset's capture of a rejected push: the proxy answers 404 as it asks for
    the push, and nothing on the wire says the push failed. The replay reads it from that 404
    (PUSH-14), so the capture replays under its own preset. Moved 6 s later, past
    `PUSH_ANSWER_WITHIN`, the 404 no longer shows a failed push, and the reference, still
    waiting for the device, did not send it."""
    path = tmp_path / "push_fails.pcap"
    path.write_bytes(run_scenario(ROOT / "data/scenarios/push_fails.toml", "rfc8599").pcap())
    assert divergence(path, "rfc8599") is None
    pkts = edit.read(path)
    rejected = edit.find(pkts, "SIP/2.0 404")
    late = edit.write(edit.later(pkts, rejected, 6.0), tmp_path / "late.pcap")
    found = divergence(late, "rfc8599")
    assert found == Divergence(
        float(pkts[rejected].time) + 6.0, rejected + 1,
        f"the proxy sent 404 to 127.0.0.2:5060 (frame {rejected + 1}); the rfc8599 reference "
        "sent no such message within 0.5 s")


def test_a_push_answer_is_read_only_for_a_model_that_acts_on_it(tmp_path: Path) -> None:
    """Under opensips, which keeps waiting whatever the push service says, the same 404 is
    not read as a failed push: the placeholder waits, and the 404 diverges."""
    path = tmp_path / "push_fails.pcap"
    path.write_bytes(run_scenario(ROOT / "data/scenarios/push_fails.toml", "rfc8599").pcap())
    found = divergence(path, "opensips")
    assert found is not None and found.message.startswith("the proxy sent 404 to 127.0.0.2:5060")


def _rfc_copies(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `run_scenario`'s preset `name` one that goes on retransmitting a branch that never
    answered after the 200, as RFC 3261 §17.1.1.2 does."""
    from pushinject.core.proxy import Proxy
    from pushinject.presets.base import Driver
    from pushinject.sim import run as sim_run

    tm = get_preset(name)

    def factory(knobs: object, ids: object) -> Driver:
        proxy = tm.factory(knobs, ids).proxy  # type: ignore[arg-type]
        config = replace(proxy.config, final_stops_unanswered_branches=False)
        return Driver(Proxy(config, proxy.ids, proxy.script))

    monkeypatch.setattr(sim_run, "get_preset", lambda _: replace(tm, factory=factory))


@pytest.mark.parametrize("name", ["opensips", "kamailio-tsilo"])
def test_a_proxy_that_goes_on_retransmitting_after_the_200_conforms_to_a_tm_preset(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A's contact is private and nobody answers there (no 100 either): its INVITE left at 0,
    0.5 and 1.5 s before B's 200, 3 s after the INVITE. The tm presets send A nothing after
    the 200 (KAM-11, OSIPS-26); a proxy that goes on (3.5, 7.5, 11.5 s... every 4 s at T2
    until A's 30 s fr_timeout, TXN-10), as RFC 3261 lets it, still conforms to them (TXN-9),
    and so does one that stops."""
    from pushinject.sim.scenario import parse_scenario
    from tests.test_timing_t1 import SILENT_BRANCH

    scenario = parse_scenario(SILENT_BRANCH)
    stopped = tmp_path / "stopped.pcap"
    stopped.write_bytes(run_scenario(scenario, name).pcap())
    _rfc_copies(name, monkeypatch)
    going_on = tmp_path / "going_on.pcap"
    going_on.write_bytes(run_scenario(scenario, name).pcap())
    a = "10.0.0.10"

    def copies(path: Path) -> list[float]:
        sent = [m.time for m in load_capture(path).messages
                if m.is_request and m.label == "INVITE" and m.destination[0] == a]
        return [round(t - sent[0], 3) for t in sent]

    assert copies(stopped) == [0.0, 0.5, 1.5]
    assert copies(going_on) == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5]
    for path in (stopped, going_on):
        result = check_capture(path, CheckOptions(preset=name))
        assert [(c.call.final_status, c.violations) for c in result.calls] == [(200, ())]


def test_a_final_a_tick_early_stays_conformant_when_other_traffic_follows(
        tmp_path: Path) -> None:
    """S3's 408 and the caller's ACK 70 ms before the 8 s fr_timer (a timer tick early, as
    Kamailio's tm fires under load): the ACK reaches the proxy before the reference's timer,
    so the reference's 408 is never acknowledged and it would retransmit it. Such copies are
    not judged past the call's own last message, whatever else the capture holds later: here
    another call's push and its answer two seconds on (a capture of many calls)."""
    pkts = edit.read(KAMAILIO / "S3.pcap")
    timeout = edit.find(pkts, "SIP/2.0 408")
    early = edit.later(pkts, timeout, 7.907 - float(pkts[timeout].time - pkts[0].time))
    alone = divergence(edit.write(early, tmp_path / "alone.pcap"), "kamailio-tsilo", LAB)
    push, answer = edit.find(pkts, "MESSAGE"), edit.find(pkts, "SIP/2.0 200", sport=5090)
    at = float(pkts[0].time) + 10.0
    other = [edit.with_sip(pkts[i], edit.sip(pkts[i]).replace(b"27bdc7163cf82b0e",
                                                             b"37bdc7163cf82b0f"),
                           time=at + 0.001 * n) for n, i in enumerate((push, answer))]
    busy = divergence(edit.write(early + other, tmp_path / "busy.pcap"), "kamailio-tsilo", LAB)
    assert (alone, busy) == (None, None)


def test_a_180_overtaken_by_the_200_a_millisecond_later_need_not_be_forwarded(
        tmp_path: Path) -> None:
    """S2 with dev1's 200 a millisecond after its 180 and only the 200 relayed to the caller:
    a proxy that reads its datagrams on several processes may handle the 200 first (KAM-16),
    after which RFC 3261 §16.7 step 5 forwards no provisional. A second later, the 180 that
    was not forwarded breaks CTX-4 and the replay."""
    pkts = edit.read(KAMAILIO / "S2.pcap")
    ringing = edit.find(pkts, "SIP/2.0 180", sport=5071)
    pkts = edit.drop(pkts, edit.find(pkts, "SIP/2.0 180", sport=5060))
    answer = edit.find(pkts, "SIP/2.0 200", sport=5071)
    soon = edit.later(pkts, answer, float(pkts[ringing].time - pkts[answer].time) + 0.0011)

    def rules(pkts: list[object], name: str, options: CheckOptions) -> list[str]:
        result = check_capture(edit.write(pkts, tmp_path / name), options)
        return [v.rule for c in result.calls for v in c.violations]

    for options in (CheckOptions(), CheckOptions(preset="kamailio-tsilo", knobs=LAB)):
        assert rules(soon, "soon.pcap", options) == []
        assert rules(pkts, "late.pcap", options) == ["forward-provisional", "replay"]


@pytest.mark.parametrize("path", sorted(KAMAILIO.glob("S*.pcap")) + [
    KAMAILIO / "load" / "L1.pcap"], ids=lambda p: p.stem)
def test_a_calls_replay_takes_nothing_from_other_dialogs(path: Path) -> None:
    """The pushes, their answers and every other dialog a capture interleaves are of no call's
    transaction: fed only the calls' messages and the registrations (`calls_only`, as the
    stream's judgement feeds it), the reference sends the same to every call and the calls
    diverge the same, each blamed on the same frame."""
    capture = load_capture(path)
    calls = find_calls(capture.messages, PROXY)
    callers = {c.call_id: c.caller for c in calls}
    whole = replay(capture.messages, PROXY, callers, get_preset("kamailio-tsilo"), LAB)
    own = replay(capture.messages, PROXY, callers, get_preset("kamailio-tsilo"), LAB,
                 calls_only=True)
    assert own.divergences == whole.divergences
    for side in ("reference", "actual"):
        assert [o for o in getattr(own, side) if o.call_id in callers] == [
            o for o in getattr(whole, side) if o.call_id in callers]
    registers = {m.message.call_id for m in capture.messages
                 if m.message.cseq.method == "REGISTER"}
    others = {m.message.call_id for m in capture.messages} - set(callers) - registers
    assert {o.call_id for o in own.actual} <= set(callers) | registers
    assert others & {o.call_id for o in whole.actual}  # the pushes, at least
