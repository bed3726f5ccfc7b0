"""Proxy detection, calls and branches, capture loading (`pushinject.conformance.proxy_detect`,
`calls`, `capture`)."""

from __future__ import annotations

from pathlib import Path

import pytest

import pcap_edit as edit
from pushinject.conformance.calls import find_calls
from pushinject.conformance.capture import load_capture
from pushinject.conformance.proxy_detect import find_proxy, parse_proxy
from pushinject.errors import UsageError
from pushinject.lab.manifest import read_manifest
from pushinject.sim.run import run_scenario

ROOT = Path(__file__).resolve().parent.parent
KAMAILIO = ROOT / "data" / "kamailio"


def test_proxy_found_by_forwarding() -> None:
    """RFC 3261 §16.6 step 8: Kamailio pushes its Via above the caller's."""
    assert find_proxy(load_capture(KAMAILIO / "S1.pcap").messages) == ("127.0.0.1", 5060)


def test_proxy_found_by_its_100_when_nothing_was_forwarded() -> None:
    """S3 forwards nothing: the 100 Trying the proxy sends (RFC 3261 §16.2) names it."""
    assert find_proxy(load_capture(KAMAILIO / "S3.pcap").messages) == ("127.0.0.1", 5060)


def test_no_proxy_in_a_capture_without_invite(tmp_path: Path) -> None:
    pkts = edit.read(KAMAILIO / "S1.pcap")
    registers = [p for p in pkts if b"REGISTER" in edit.sip(p)]
    capture = load_capture(edit.write(registers, tmp_path / "reg.pcap"))
    assert (capture.sip_messages, find_proxy(capture.messages)) == (4, None)


def test_parse_proxy_rejects_bad_addresses() -> None:
    assert parse_proxy("10.0.0.1:5080") == ("10.0.0.1", 5080)
    for bad in ("10.0.0.1", "10.0.0.1:x", ":5060", "10.0.0.1:70000"):
        with pytest.raises(UsageError):
            parse_proxy(bad)


def test_calls_of_s5_two_injected_branches() -> None:
    """S5: nobody registered at the INVITE; dev1 and dev2 register later and are injected
    (INJ-1); dev1 rang, was CANCELled and answered 487; dev2 answered 200."""
    capture = load_capture(KAMAILIO / "S5.pcap")
    [call] = find_calls(capture.messages, ("127.0.0.1", 5060))
    assert (call.call_id, call.final_status, call.cancel) == ("S5-call@127.0.0.1", 200, None)
    assert [(b.target, b.injected, b.cancelled, b.final_status,
             [r.status for r in b.responses]) for b in call.branches] == [
        ("sip:dev1@127.0.0.1:5071", True, True, 487, [180, 487]),
        ("sip:dev2@127.0.0.1:5072", True, False, 200, [180, 200]),
    ]
    assert [r.contacts for r in call.registrations] == [
        ("sip:dev1@127.0.0.1:5071",), ("sip:dev2@127.0.0.1:5072",)]
    summary = call.summary()
    assert (summary.final_status, [b.injected for b in summary.branches]) == (200, [True, True])


def test_calls_of_s4_cancelled_by_the_caller() -> None:
    capture = load_capture(KAMAILIO / "S4.pcap")
    [call] = find_calls(capture.messages, ("127.0.0.1", 5060))
    assert call.cancel is not None and call.final_status == 487
    assert [a.status for a in call.cancel_answers] == [200]
    assert call.branches == () and call.summary().cancelled_by_caller


def test_a_branch_registered_before_the_call_is_not_injected(tmp_path: Path) -> None:
    """The simulator's late_registration: A registered before the INVITE (not injected),
    C after it (injected)."""
    path = tmp_path / "late.pcap"
    path.write_bytes(run_scenario(ROOT / "data/scenarios/late_registration.toml",
                                  "opensips").pcap())
    capture = load_capture(path)
    [call] = find_calls(capture.messages, find_proxy(capture.messages))
    assert [(b.target, b.injected) for b in call.branches] == [
        ("sip:bob@127.0.0.10:5060", False), ("sip:bob@127.0.0.11:5060", True)]


def test_load_capture_counts_frames_and_refuses_non_captures(tmp_path: Path) -> None:
    capture = load_capture(KAMAILIO / "S2.pcap")
    facts = read_manifest(KAMAILIO / "manifest.toml")["S2"]
    assert (capture.file, capture.frames, capture.sip_messages, capture.skipped) == (
        "S2.pcap", facts["frames"], facts["sip_messages"], {})
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    with pytest.raises(UsageError):
        load_capture(junk)
    with pytest.raises(UsageError):
        load_capture(tmp_path / "missing.pcap")


@pytest.mark.parametrize(("name", "pushes", "provisional"), [
    ("S1", 1, [(180,), (180,)]), ("S2", 1, [(180,)]), ("S5", 1, [(180,), (180,)]),
    ("S6", 1, [(180,), (180,)])])
def test_the_capture_view_is_the_checkers_call(name: str, pushes: int,
                                               provisional: list[tuple[int, ...]]) -> None:
    """`pushinject.capture.calls` is a view of the checker's `CallRecord`: the same branches,
    each provisional response once however often it was retransmitted, and the push MESSAGEs
    the proxy sent while the call waited."""
    from pushinject.capture import decode
    from pushinject.capture.calls import calls

    path = KAMAILIO / f"{name}.pcap"
    [view] = calls(decode(path))
    [call] = find_calls(load_capture(path).messages, ("127.0.0.1", 5060))
    assert view == call.summary()
    assert len(view.pushes) == len(call.pushes) == pushes
    assert [b.provisional for b in view.branches] == provisional


def test_summary_times_from_an_origin() -> None:
    capture = load_capture(KAMAILIO / "S1.pcap")
    [call] = find_calls(capture.messages, ("127.0.0.1", 5060))
    summary = call.summary(origin=call.invite_at, ndigits=0)
    assert (summary.invite_at, summary.final_at,
            [(b.opened_at, b.final_at) for b in summary.branches]) == (
        0.0, 2.0, [(0.0, 2.0), (1.0, 2.0)])


def test_damaged_captures_never_stop_the_checker() -> None:
    """Property: whatever messages of S1 are lost or repeated, the checker returns a result
    (rules and replay) and every violation names a rule and a frame of the capture."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from pushinject.conformance import CheckOptions
    from pushinject.conformance.capture import Capture
    from pushinject.conformance.check import check_messages
    from pushinject.conformance.field_rules import FIELD_RULES
    from pushinject.conformance.rules import RULE_IDS

    known = RULE_IDS + tuple(rid for rid, _, _ in FIELD_RULES) + ("TIMING-1", "replay")

    whole = load_capture(KAMAILIO / "S1.pcap")
    frames = {m.frame for m in whole.messages}
    options = CheckOptions(preset="kamailio-tsilo", knobs={"fr_timeout": 8.0})

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.sampled_from(whole.messages), max_size=len(whole.messages) + 4))
    def check(picked: list) -> None:
        kept = tuple(sorted(picked, key=lambda m: (m.time, m.frame)))
        result = check_messages(Capture("damaged.pcap", len(kept), kept), options)
        for call in result.calls:
            for v in call.violations:
                assert v.rule in known
                assert v.frame in frames or v.frame == 0

    check()
