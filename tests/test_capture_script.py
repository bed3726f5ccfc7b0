"""The capture-driven replay: the routing choices read from a capture (forks, injections, wait,
stop) and the reference core judging everything else, without the proxy's script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pushinject.conformance import CheckOptions, check_capture, find_calls, load_capture
from pushinject.conformance.capture_script import CallPlan, Target, capture_preset, plan_calls
from tests import pcap_edit as edit

ROOT = Path(__file__).resolve().parent.parent
KAMAILIO = ROOT / "data" / "kamailio"
PROXY = ("127.0.0.1", 5060)


def plan(name: str) -> CallPlan:
    capture = load_capture(KAMAILIO / f"{name}.pcap")
    [only] = plan_calls(find_calls(capture.messages, PROXY), capture.messages, 0.5)
    return only


def test_plan_of_a_ringing_device_and_an_injected_one() -> None:
    """S1: dev1 is forked to at the INVITE, dev2 injected after its REGISTER, and the call
    waits (it injected); it ends by a 200, so nothing says when waiting stopped."""
    reg = ("S1-dev2-register@127.0.0.1", 1, "z9hG4bK-reg-5082-1")
    assert plan("S1") == CallPlan(
        "S1-call@127.0.0.1", "z9hG4bK-s1-alice-invite",
        forks=(Target("sip:dev1@127.0.0.1:5071", ("127.0.0.1", 5071)),),
        injections={reg: (Target("sip:dev2@127.0.0.1:5072", ("127.0.0.1", 5072)),)},
        waits=True)


def test_plan_stops_waiting_when_the_final_follows_a_branch() -> None:
    """S6: both branches answer 486 and the caller gets 486 at once after the last: Kamailio
    stopped waiting once it had injected dev2."""
    p = plan("S6")
    assert (p.waits, p.stop_after) == (True, ("S6-dev2-register@127.0.0.1", 1,
                                              "z9hG4bK-reg-5082-1"))


@pytest.mark.parametrize("name", ["S3", "S4"])
def test_plan_of_a_call_with_nobody_to_fork_to_waits(name: str) -> None:
    p = plan(name)
    assert (p.forks, dict(p.injections), p.waits, p.stop_after, p.reply) == (
        (), {}, True, None, None)


def test_capture_model_knobs_are_unknown_until_read() -> None:
    assert dict(capture_preset(()).defaults) == {
        "fr_timeout": float("inf"), "fr_inv_timeout": float("inf"),
        "wait_timeout": float("inf")}


def test_capture_driven_replay_judges_what_the_script_does_not_decide(tmp_path: Path) -> None:
    """S1 without the proxy's CANCEL of dev1 after dev2's 200 (and dev1's answers to it): the
    script chose the branches, the core's §16.7 step 10 CANCELs the one still ringing, so the
    replay names the missing CANCEL besides the rule cancel-pending."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    cancel = edit.find(pkts, "CANCEL")
    ok = edit.find(pkts, "SIP/2.0 200", contains="CANCEL")
    terminated = edit.find(pkts, "SIP/2.0 487")
    pkts = edit.drop(pkts, cancel, ok, terminated, terminated + 1)
    path = edit.write(pkts, tmp_path / "S1-no-cancel.pcap")
    [call] = check_capture(path, CheckOptions()).calls
    assert [(v.rule, v.frame) for v in call.violations] == [("cancel-pending", 6),
                                                          ("replay", 15)]
    assert call.violations[1].message == (
        "the capture reference sends CANCEL sip:dev1@127.0.0.1:5071 to 127.0.0.1:5071 here; "
        "the proxy did not (after frame 15)")


def test_capture_driven_replay_reports_an_injection_the_core_refuses(tmp_path: Path) -> None:
    """S8 with dev3 injected after the caller got 603: the capture's choice is handed to the
    core, which refuses a branch after the final response (§16.7 step 10)."""
    pkts = edit.read(KAMAILIO / "S8.pcap")
    invite = pkts[edit.find(pkts, "INVITE", dport=5060)]
    late = edit.forwarded_copy(invite, "sip:dev3@127.0.0.1:5073", "z9hG4bKlate",
                               dport=5073, time=float(pkts[-1].time) + 0.001)
    path = edit.write(pkts + [late], tmp_path / "S8-late.pcap")
    [call] = check_capture(path, CheckOptions()).calls
    rules = [(v.rule, v.catalogue_id) for v in call.violations]
    assert rules == [("no-branch-after-final", "INJ-8"), ("no-branch-after-6xx", "CTX-5"),
                     ("FIELD-3", "FIELD-3"), ("replay", "FIELD-9")]
    assert re.match(r"the proxy sent INVITE sip:dev3@127\.0\.0\.1:5073 to 127\.0\.0\.1:5073 "
                    r"\(frame 25\); the capture reference sent no such message",
                    call.violations[-1].message)


def test_a_final_sent_before_the_branch_the_reference_waits_for_diverges() -> None:
    """Real OpenSIPS O8: dev1's 603 (frame 15) is relayed to the caller at once (frame 17),
    before dev2's 487 (frame 21) that the reference core waits for (RFC 3261 §16.7 step 5),
    however close in time; the opensips preset, which relays a 6xx at once, finds nothing."""
    path = ROOT / "data" / "opensips" / "O8.pcap"
    [call] = check_capture(path, CheckOptions()).calls
    assert [(v.rule, v.catalogue_id, v.frame, v.message) for v in call.violations] == [
        ("replay", "FIELD-9", 17, "the proxy sent 603 to 127.0.0.1:5070 (frame 17) before frame "
         "21, which the capture reference waits for to send it")]
    assert check_capture(path, CheckOptions(preset="opensips")).violations == 0
