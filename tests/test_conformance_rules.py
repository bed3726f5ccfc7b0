"""Every rule of `pushinject.conformance.rules`: a capture that keeps it and one that breaks it.

Kept: the real Kamailio captures in data/kamailio/ (and simulator captures where a real one
does not show the situation). Broken: the same captures edited with Scapy (tests/pcap_edit.py):
a dropped CANCEL, a duplicated branch, a rewritten status, a re-used Via branch, a forwarded
100... Each broken capture must be reported under the rule, at the frame at fault. The replay
is left out here (preset None) so that each test sees the rules alone.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import pcap_edit as edit
from pushinject.conformance import RULES, CheckOptions, check_capture
from pushinject.conformance.calls import find_calls
from pushinject.conformance.capture import load_capture
from pushinject.conformance.rules import RULE_IDS, RuleSettings, best_final, run_rules
from pushinject.presets import get_preset
from pushinject.sim.run import run_scenario

ROOT = Path(__file__).resolve().parent.parent
KAMAILIO = ROOT / "data" / "kamailio"
SCENARIOS = ROOT / "data" / "scenarios"
RULES_ONLY = CheckOptions(preset=None)


def found(path: Path, options: CheckOptions = RULES_ONLY) -> list[tuple[str, int]]:
    """(rule, frame) of every violation in the capture's single call; each violation carries
    the catalogue id of its rule (of the preset's model for the replay)."""
    [call] = check_capture(path, options).calls
    cited = {r.id: r.catalogue_id for r in RULES}
    if options.preset is not None:
        cited["replay"] = get_preset(options.preset).catalogue_id
    assert [v.catalogue_id for v in call.violations] == [cited[v.rule] for v in call.violations]
    return [(v.rule, v.frame) for v in call.violations]


def branches(path: Path) -> list[str]:
    """The Via branches of the capture's call, in order."""
    capture = load_capture(path)
    [call] = find_calls(capture.messages, ("127.0.0.1", 5060))
    return [b.via_branch for b in call.branches]


def simulated(tmp_path: Path, scenario: str, preset: str = "opensips") -> Path:
    path = tmp_path / f"{scenario}.pcap"
    path.write_bytes(run_scenario(SCENARIOS / f"{scenario}.toml", preset).pcap())
    return path


KEPT = {
    "inject-registered": "S1", "no-duplicate-branch": "S1", "unique-via-branch": "S5",
    "no-branch-after-final": "S1", "no-branch-after-6xx": "sim:decline_then_register",
    "no-branch-after-cancel": "S4", "cancel-pending": "S1",
    "no-forwarded-100": "sim:late_registration", "forward-provisional": "S1",
    "forward-2xx": "S2", "best-final": "S6", "cancel-answered": "S4",
    "retransmission-not-branch": "S1", "copy-after-2xx-absorbed": "S1",
}


def test_every_rule_has_an_id_title_reference_and_a_keeping_capture() -> None:
    assert RULE_IDS == tuple(KEPT)
    assert {r.id: r.catalogue_id for r in RULES} == {
        "inject-registered": "INJ-1", "no-duplicate-branch": "INJ-2",
        "unique-via-branch": "CTX-2", "no-branch-after-final": "INJ-8",
        "no-branch-after-6xx": "CTX-5", "no-branch-after-cancel": "INJ-8",
        "cancel-pending": "CTX-6", "no-forwarded-100": "CTX-4", "forward-provisional": "CTX-4",
        "forward-2xx": "CTX-4", "best-final": "CTX-7", "cancel-answered": "CTX-9",
        "retransmission-not-branch": "TXN-5", "copy-after-2xx-absorbed": "TXN-7"}
    for rule in RULES:
        assert rule.title and rule.entry.id == rule.catalogue_id
        assert rule.reference == f"{rule.catalogue_id} ({rule.entry.where})"


@pytest.mark.parametrize("rule", RULE_IDS)
def test_rule_kept_by_a_real_capture(rule: str, tmp_path: Path) -> None:
    """The capture named in KEPT shows the situation the rule is about and keeps it."""
    source = KEPT[rule]
    path = (simulated(tmp_path, source[4:]) if source.startswith("sim:")
            else KAMAILIO / f"{source}.pcap")
    assert [r for r, _ in found(path)] == []


# ------------------------------------------------------------------ inject-registered (INJ-1)

def test_inject_registered_broken_when_the_registered_device_is_never_invited(
        tmp_path: Path) -> None:
    """RFC 3261 §16.5 (INJ-1): S6 with dev2's branch removed: its REGISTER is not followed by a
    branch while the call waits 1.5 s more for dev1's 486. With a 1 s limit that is a
    violation naming the REGISTER; with the default 2 s the call ended before the proxy was
    due, so it is kept."""
    pkts = edit.read(KAMAILIO / "S6.pcap")
    b1 = branches(KAMAILIO / "S6.pcap")[1]
    kept = [p for p in pkts if b1.encode() not in edit.sip(p)
            and b"tag=dev2-" not in edit.sip(p)]
    path = edit.write(kept, tmp_path / "S6-no-dev2.pcap")
    register = edit.find(kept, "REGISTER", sport=5082)
    assert found(path, CheckOptions(preset=None, inject_within=1.0)) == [
        ("inject-registered", register + 1)]
    assert found(path) == []


def test_inject_registered_broken_when_injected_too_late() -> None:
    """INJ-1 with a limit: S1 injects dev2 within a millisecond, so a 0.1 ms limit breaks it
    at the injected INVITE, and the default 2 s keeps it."""
    tight = CheckOptions(preset=None, inject_within=0.0001)
    pkts = edit.read(KAMAILIO / "S1.pcap")
    invite = edit.find(pkts, "INVITE sip:dev2", sport=5060)
    assert found(KAMAILIO / "S1.pcap", tight) == [("inject-registered", invite + 1)]
    assert found(KAMAILIO / "S1.pcap") == []


# ---------------------------------------------------------------- no-duplicate-branch (INJ-2)

def test_no_duplicate_branch_broken_by_a_second_branch_to_dev1(tmp_path: Path) -> None:
    """RFC 3261 §16.5 (INJ-2): S1 plus a second INVITE to dev1 under a new Via branch."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    i = edit.find(pkts, "INVITE sip:dev1", sport=5060)
    b0 = branches(KAMAILIO / "S1.pcap")[0]
    twin = edit.with_sip(pkts[i], edit.sip(pkts[i]).replace(b0.encode(), b"z9hG4bKtwin"),
                         time=pkts[i].time + 0.3)
    pkts.insert(i + 1, twin)
    path = edit.write(pkts, tmp_path / "S1-twin.pcap")
    assert ("no-duplicate-branch", i + 2) in found(path)


# ------------------------------------------------------------------ unique-via-branch (CTX-2)

def test_unique_via_branch_broken_when_dev2_reuses_dev1s_branch(tmp_path: Path) -> None:
    """RFC 3261 §16.6 step 8 (CTX-2): S5 with the second branch's Via branch rewritten to the
    first's; the violation names dev2's INVITE."""
    b0, b1 = branches(KAMAILIO / "S5.pcap")
    pkts = edit.replace(edit.read(KAMAILIO / "S5.pcap"), b1, b0)
    path = edit.write(pkts, tmp_path / "S5-reused.pcap")
    invite = edit.find(pkts, "INVITE sip:dev2", sport=5060)
    assert ("unique-via-branch", invite + 1) in found(path)


def test_unique_via_branch_broken_when_a_branch_reuses_the_callers(tmp_path: Path) -> None:
    """CTX-2: a branch must not carry the caller's own Via branch (dev1 answers what it was
    sent, so its responses carry that branch too: CAP-7 finds no gap in the capture)."""
    pkts = edit.read(KAMAILIO / "S2.pcap")
    b0 = branches(KAMAILIO / "S2.pcap")[0]
    pkts = edit.replace(pkts, b0, "z9hG4bK-s2-alice-invite")
    path = edit.write(pkts, tmp_path / "S2-callers.pcap")
    invite = edit.find(pkts, "INVITE sip:dev1", sport=5060)
    assert ("unique-via-branch", invite + 1) in found(path)


# ----------------------------------------------- no new branch after final / 6xx / CANCEL

def _late_branch(pkts: list, after: int, target: str, dport: int) -> list:
    """`pkts` with a new branch to `target` forwarded 10 ms after packet `after`."""
    caller = edit.find(pkts, "INVITE sip:bob", sport=5070)
    late = edit.forwarded_copy(pkts[caller], target, "z9hG4bKlate", dport=dport,
                               time=pkts[after].time + 0.01)
    return pkts[:after + 1] + [late] + pkts[after + 1:]


def test_no_branch_after_final_broken_by_a_branch_after_the_200(tmp_path: Path) -> None:
    """RFC 3261 §16.7 step 10, INJ-8: S1 plus a branch to dev3 after the 200 reached the
    caller."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    ok = edit.find(pkts, "SIP/2.0 200", sport=5060, dport=5070)
    pkts = _late_branch(pkts, ok, "sip:dev3@127.0.0.1:5073", 5073)
    path = edit.write(pkts, tmp_path / "S1-late.pcap")
    assert ("no-branch-after-final", ok + 2) in found(path)


def test_no_branch_after_6xx_broken_by_a_branch_after_a_603(tmp_path: Path) -> None:
    """RFC 3261 §16.7 step 5, CTX-5: S6 with dev2's 486 rewritten to 603, then a new branch."""
    pkts = edit.read(KAMAILIO / "S6.pcap")
    busy = edit.find(pkts, "SIP/2.0 486", sport=5072)
    pkts[busy] = edit.with_sip(pkts[busy], edit.sip(pkts[busy]).replace(
        b"SIP/2.0 486 Busy Here", b"SIP/2.0 603 Decline"))
    pkts = _late_branch(pkts, busy, "sip:dev3@127.0.0.1:5073", 5073)
    path = edit.write(pkts, tmp_path / "S6-603.pcap")
    assert ("no-branch-after-6xx", busy + 2) in found(path)


def test_no_branch_after_cancel_broken_by_a_branch_after_the_callers_cancel(
        tmp_path: Path) -> None:
    """RFC 3261 §16.10, CTX-9, OSIPS-10: S4 plus a branch to dev1 after the caller's CANCEL."""
    pkts = edit.read(KAMAILIO / "S4.pcap")
    cancel = edit.find(pkts, "CANCEL", sport=5070)
    pkts = _late_branch(pkts, cancel, "sip:dev1@127.0.0.1:5071", 5071)
    path = edit.write(pkts, tmp_path / "S4-late.pcap")
    assert ("no-branch-after-cancel", cancel + 2) in found(path)


# ----------------------------------------------------------------------- cancel-pending (CTX-6)

def test_cancel_pending_broken_when_the_ringing_branch_is_never_cancelled(
        tmp_path: Path) -> None:
    """RFC 3261 §16.7 step 10 (CTX-6): S1 without the CANCEL to dev1 and what followed it;
    dev1 rang and is left pending. The violation names dev1's INVITE."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    b0 = branches(KAMAILIO / "S1.pcap")[0]
    ok = edit.find(pkts, "SIP/2.0 200", sport=5060, dport=5070)
    kept = [p for i, p in enumerate(pkts) if i <= ok or b0.encode() not in edit.sip(p)]
    path = edit.write(kept, tmp_path / "S1-no-cancel.pcap")
    invite = edit.find(kept, "INVITE sip:dev1", sport=5060)
    assert found(path) == [("cancel-pending", invite + 1)]


# --------------------------------------------------------------------- no-forwarded-100 (CTX-4)

def test_no_forwarded_100_broken_by_relaying_a_devices_100(tmp_path: Path) -> None:
    """RFC 3261 §16.7 step 5 (CTX-4): a simulated call whose device answers 100; a copy of that
    100 sent on to the caller is reported. The simulator's device answers at the instant the
    proxy answered the caller, with the same headers, so the relayed copy is byte for byte the
    proxy's own 100 at the same time: what a mirror's duplicate looks like (CAP-11), set aside
    unless every copy is kept."""
    path = simulated(tmp_path, "late_registration")
    pkts = edit.read(path)
    trying = edit.find(pkts, "SIP/2.0 100", contains="z9hG4bK-px-1")
    text = edit.sip(pkts[trying])
    relayed = text.split(b"\r\n", 1)[0] + b"\r\n" + text.split(b"\r\n", 2)[2]  # top Via off
    caller = edit.find(pkts, "SIP/2.0 100", contains="z9hG4bK-alice-1")
    assert (edit.sip(pkts[caller]), pkts[caller].time) == (relayed, pkts[trying].time)
    copy = edit.with_sip(pkts[caller], relayed, time=pkts[trying].time)
    pkts.insert(trying + 1, copy)
    broken = edit.write(pkts, tmp_path / "forwarded-100.pcap")
    assert found(broken, replace(RULES_ONLY, duplicates_within=0)) == [
        ("no-forwarded-100", trying + 2)]
    assert found(broken) == []


# -------------------------------------------------------- forward-provisional, forward-2xx

def test_forward_provisional_broken_when_the_180_is_not_relayed(tmp_path: Path) -> None:
    """RFC 3261 §16.7 step 5 (CTX-4): S1 without the 180 the proxy relayed for dev1; the
    violation names dev1's own 180."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    relayed = edit.find(pkts, "SIP/2.0 180", sport=5060, contains="dev1-")
    pkts = edit.drop(pkts, relayed)
    path = edit.write(pkts, tmp_path / "S1-no-180.pcap")
    ringing = edit.find(pkts, "SIP/2.0 180", sport=5071)
    assert found(path) == [("forward-provisional", ringing + 1)]


def test_forward_2xx_broken_when_the_200_is_not_relayed(tmp_path: Path) -> None:
    """CTX-4: S2 without the 200 relayed to the caller; the violation names dev1's 200."""
    pkts = edit.read(KAMAILIO / "S2.pcap")
    pkts = edit.drop(pkts, edit.find(pkts, "SIP/2.0 200", sport=5060, dport=5070,
                                     contains="INVITE"))
    path = edit.write(pkts, tmp_path / "S2-no-200.pcap")
    answer = edit.find(pkts, "SIP/2.0 200", sport=5071, contains="INVITE")
    assert ("forward-2xx", answer + 1) in found(path)


# ---------------------------------------------------------------------- best-final (CTX-7)

def _rewrite_status(pkts: list, index: int, old: bytes, new: bytes) -> None:
    pkts[index] = edit.with_sip(pkts[index], edit.sip(pkts[index]).replace(old, new, 1))


def test_best_final_broken_by_a_500_instead_of_486(tmp_path: Path) -> None:
    """RFC 3261 §16.7 step 6 (CTX-7): both branches said 486, the caller gets 500."""
    pkts = edit.read(KAMAILIO / "S6.pcap")
    final = edit.find(pkts, "SIP/2.0 486", sport=5060, dport=5070)
    _rewrite_status(pkts, final, b"SIP/2.0 486 Busy Here", b"SIP/2.0 500 Server Error")
    path = edit.write(pkts, tmp_path / "S6-500.pcap")
    assert found(path) == [("best-final", final + 1)]


def test_best_final_broken_when_a_6xx_loses_to_a_486(tmp_path: Path) -> None:
    """CTX-7: a 6xx wins over everything; S6 with dev2's 486 rewritten to 603 still gives the
    caller 486."""
    pkts = edit.read(KAMAILIO / "S6.pcap")
    busy = edit.find(pkts, "SIP/2.0 486", sport=5072)
    _rewrite_status(pkts, busy, b"SIP/2.0 486 Busy Here", b"SIP/2.0 603 Decline")
    path = edit.write(pkts, tmp_path / "S6-603.pcap")
    final = edit.find(pkts, "SIP/2.0 486", sport=5060, dport=5070)
    assert ("best-final", final + 1) in found(path)


# ------------------------------------------------------------------- cancel-answered (CTX-9)

def test_cancel_answered_broken_without_the_200_to_cancel(tmp_path: Path) -> None:
    """RFC 3261 §9.2, §16.10 (CTX-9): S4 without the proxy's 200 to the CANCEL."""
    pkts = edit.read(KAMAILIO / "S4.pcap")
    pkts = edit.drop(pkts, edit.find(pkts, "SIP/2.0 200", sport=5060, contains="CANCEL"))
    path = edit.write(pkts, tmp_path / "S4-no-200.pcap")
    cancel = edit.find(pkts, "CANCEL", sport=5070)
    assert found(path) == [("cancel-answered", cancel + 1)]


def test_cancel_answered_broken_by_a_480_instead_of_487(tmp_path: Path) -> None:
    """CTX-9: the cancelled INVITE of S4 answered 480 instead of 487."""
    pkts = edit.read(KAMAILIO / "S4.pcap")
    final = edit.find(pkts, "SIP/2.0 487", sport=5060)
    _rewrite_status(pkts, final, b"SIP/2.0 487 Request canceled",
                    b"SIP/2.0 480 Temporarily Unavailable")
    path = edit.write(pkts, tmp_path / "S4-480.pcap")
    assert found(path) == [("cancel-answered", final + 1)]


def _cut_after_cancel(path: Path, seconds: float) -> Path:
    """`path` without what came more than `seconds` after the caller's CANCEL, as a capture
    stopped then."""
    pkts = edit.read(path)
    cancel = edit.find(pkts, "CANCEL sip:", dport=5060)
    kept = [p for p in pkts if p.time <= pkts[cancel].time + seconds]
    return edit.write(kept, path.with_name(f"{path.stem}-cut.pcap"))


def test_cancel_answered_kept_while_an_uncancellable_branch_holds_the_487(
        tmp_path: Path) -> None:
    """RFC 3261 §9.1 (CTX-9): a branch that never answered cannot be CANCELled, and the proxy
    waits for its timer before the 487; a capture that stops 1 s after the CANCEL shows no
    final response, and that is no fault."""
    path = _cut_after_cancel(simulated(tmp_path, "cancel_sleeping_branch"), 1.0)
    [result] = check_capture(path, RULES_ONLY).calls
    call = result.call
    assert call.final is None and call.cancel is not None
    assert [(b.provisional, b.final) for b in call.branches] == [((), None)]
    assert found(path) == []


def test_cancel_answered_broken_when_a_ringing_branch_leaves_no_final(tmp_path: Path) -> None:
    """CTX-9: the ringing branch could be CANCELled, so the INVITE owes its 487; a capture of
    a proxy that sent nothing after its 200 to the CANCEL names the CANCEL."""
    pkts = edit.read(simulated(tmp_path, "cancel_while_ringing"))
    ok = edit.find(pkts, "SIP/2.0 200", sport=5060, contains="CANCEL")
    path = edit.write(pkts[:ok + 1], tmp_path / "ringing-no-487.pcap")
    cancel = edit.find(pkts, "CANCEL sip:", dport=5060)
    assert ("cancel-answered", cancel + 1) in found(path)


# --------------------------------------------------------- retransmission-not-branch (TXN-4)

def _retransmitted(pkts: list) -> tuple[list, int]:
    """S1 with the caller's INVITE and the proxy's INVITE to dev1 each sent twice."""
    caller = edit.find(pkts, "INVITE sip:bob", sport=5070)
    dev1 = edit.find(pkts, "INVITE sip:dev1", sport=5060)
    again = edit.with_sip(pkts[caller], edit.sip(pkts[caller]), time=pkts[dev1].time + 0.5)
    resent = edit.with_sip(pkts[dev1], edit.sip(pkts[dev1]), time=pkts[dev1].time + 0.5)
    ring = edit.find(pkts, "SIP/2.0 180", sport=5060, contains="dev1-")
    out = pkts[:ring + 1] + [again, resent] + pkts[ring + 1:]
    return out, ring + 1


def test_retransmissions_are_not_branches(tmp_path: Path) -> None:
    """RFC 3261 §17.1.1.2, §17.2.1: copies of the caller's INVITE and of a forwarded INVITE
    are retransmissions: still two branches, nothing reported."""
    pkts, at = _retransmitted(edit.read(KAMAILIO / "S1.pcap"))
    path = edit.write(pkts, tmp_path / "S1-retransmitted.pcap")
    [call] = check_capture(path, RULES_ONLY).calls
    assert [len(b.retransmissions) for b in call.call.branches] == [1, 0]
    assert len(call.call.retransmissions) == 1
    assert call.violations == ()


def test_retransmission_not_branch_broken_by_a_new_branch_after_a_copy(tmp_path: Path) -> None:
    """TXN-4: after the caller's INVITE retransmission the proxy forks dev1 again under a new
    Via branch (and so also duplicates it, INJ-2)."""
    pkts, at = _retransmitted(edit.read(KAMAILIO / "S1.pcap"))
    b0 = branches(KAMAILIO / "S1.pcap")[0]
    pkts[at + 1] = edit.with_sip(pkts[at + 1],
                                 edit.sip(pkts[at + 1]).replace(b0.encode(), b"z9hG4bKagain"))
    path = edit.write(pkts, tmp_path / "S1-refork.pcap")
    assert found(path) == [("no-duplicate-branch", at + 2),
                           ("retransmission-not-branch", at + 2)]


# ---------------------------------------------------------- copy-after-2xx-absorbed (TXN-7)

def _copy_after_200(pkts: list, *, answer: str | None, branch: bool) -> tuple[list, int]:
    """S1 followed by a copy of the caller's INVITE 0.1 s after its last packet (0.4 s after
    the 200 reached the caller), then (each 10 ms later) the proxy's `answer` to the caller
    ("100": its 100 Trying again, "200": the 200 again, None: nothing) and, with `branch`, a
    new branch to dev1. Returns the packets and the index of the copy."""
    ok = edit.find(pkts, "SIP/2.0 200", sport=5060, dport=5070)
    caller = edit.find(pkts, "INVITE sip:bob", sport=5070)
    at = float(pkts[-1].time) + 0.1
    assert 0.3 < at - float(pkts[ok].time) < 0.5
    added = [edit.with_sip(pkts[caller], edit.sip(pkts[caller]), time=at)]
    if answer is not None:
        sent = edit.find(pkts, f"SIP/2.0 {answer}", sport=5060, dport=5070)
        added.append(edit.with_sip(pkts[sent], edit.sip(pkts[sent]), time=at + 0.01))
    if branch:
        added.append(edit.forwarded_copy(pkts[caller], "sip:dev1@127.0.0.1:5071", "z9hG4bKnew",
                                         dport=5071, time=at + 0.02))
    return pkts + added, len(pkts)


def test_copy_after_2xx_kept_when_absorbed_or_answered_with_the_2xx_again(
        tmp_path: Path) -> None:
    """RFC 6026 §7.1 (TXN-7): the copy is a retransmission of the call, absorbed in silence
    (as the reference core does) or answered with the 200 again (as Kamailio's tm does)."""
    for answer in (None, "200"):
        pkts, at = _copy_after_200(edit.read(KAMAILIO / "S1.pcap"), answer=answer, branch=False)
        path = edit.write(pkts, tmp_path / f"S1-copy-{answer}.pcap")
        [call] = check_capture(path, RULES_ONLY).calls
        assert [c.frame for c in call.call.retransmissions] == [at + 1]
        assert call.violations == ()


def test_copy_after_2xx_broken_when_answered_100_as_a_new_request(tmp_path: Path) -> None:
    """TXN-7: the proxy took the copy for a new INVITE and sent 100 Trying after the 200."""
    pkts, at = _copy_after_200(edit.read(KAMAILIO / "S1.pcap"), answer="100", branch=False)
    path = edit.write(pkts, tmp_path / "S1-copy-100.pcap")
    assert found(path) == [("copy-after-2xx-absorbed", at + 2)]


def test_copy_after_2xx_broken_when_routed_again(tmp_path: Path) -> None:
    """TXN-7 (the gap RFC 6026 closes): 100 Trying and dev1 invited again under a new Via
    branch, as RFC 3261's proxy did once its transaction had ended with the 200."""
    pkts, at = _copy_after_200(edit.read(KAMAILIO / "S1.pcap"), answer="100", branch=True)
    path = edit.write(pkts, tmp_path / "S1-copy-routed.pcap")
    assert found(path) == [("copy-after-2xx-absorbed", at + 2),
                           ("no-duplicate-branch", at + 3), ("no-branch-after-final", at + 3),
                           ("retransmission-not-branch", at + 3),
                           ("copy-after-2xx-absorbed", at + 3)]
    [call] = check_capture(path, RULES_ONLY).calls
    assert [v.message for v in call.violations if v.rule == "copy-after-2xx-absorbed"] == [
        f"the INVITE copy (frame {at + 1}) that came after the 200 was answered 100 as a new "
        "request",
        f"the INVITE copy (frame {at + 1}) that came after the 200 was routed again: branch 2 "
        "to sip:dev1@127.0.0.1:5071"]


def test_copy_after_2xx_replayed_against_kamailio_expects_the_200_again(tmp_path: Path) -> None:
    """The kamailio-tsilo preset models tm (`resend_2xx`, TXN-7): the replay finds the 200
    resent to the copy as Kamailio does, and reports a copy absorbed in silence."""
    kam = CheckOptions(preset="kamailio-tsilo")
    pkts, at = _copy_after_200(edit.read(KAMAILIO / "S1.pcap"), answer="200", branch=False)
    assert found(edit.write(pkts, tmp_path / "S1-copy-200.pcap"), kam) == []
    pkts, at = _copy_after_200(edit.read(KAMAILIO / "S1.pcap"), answer=None, branch=False)
    path = edit.write(pkts, tmp_path / "S1-copy-absorbed.pcap")
    [call] = check_capture(path, kam).calls
    assert [(v.rule, v.frame, v.message) for v in call.violations] == [
        ("replay", at + 1, "the kamailio-tsilo reference sends 200 to 127.0.0.1:5070 here; "
                           f"the proxy did not (after frame {at + 1})")]


def test_run_rules_orders_by_frame() -> None:
    """`run_rules` on a real call returns nothing, and is what `check_capture` reports."""
    capture = load_capture(KAMAILIO / "S5.pcap")
    [call] = find_calls(capture.messages, ("127.0.0.1", 5060))
    assert run_rules(call, RuleSettings()) == []


def test_best_final_follows_the_presets_ranking(tmp_path: Path) -> None:
    """CTX-7 vs OSIPS-7: S6 edited so that dev2 answers 500 and dev1 408, and the caller gets 500.
    RFC 3261 §16.7 picks the lowest class (408), so kamailio-tsilo's ranking reports it;
    OpenSIPS ranks 408 below every 5xx but 503 (OSIPS-7), so the opensips preset keeps it."""
    pkts = edit.read(KAMAILIO / "S6.pcap")
    _rewrite_status(pkts, edit.find(pkts, "SIP/2.0 486", sport=5072),
                    b"SIP/2.0 486 Busy Here", b"SIP/2.0 500 Server Error")
    _rewrite_status(pkts, edit.find(pkts, "SIP/2.0 486", sport=5071),
                    b"SIP/2.0 486 Busy Here", b"SIP/2.0 408 Request Timeout")
    final = edit.find(pkts, "SIP/2.0 486", sport=5060, dport=5070)
    _rewrite_status(pkts, final, b"SIP/2.0 486 Busy Here", b"SIP/2.0 500 Server Error")
    path = edit.write(pkts, tmp_path / "S6-500.pcap")
    assert found(path) == [("best-final", final + 1)]
    [call] = check_capture(path, RULES_ONLY).calls
    kamailio = CheckOptions(preset="kamailio-tsilo").settings()
    opensips = CheckOptions(preset="opensips").settings()
    assert [v.frame for v in best_final(call.call, kamailio)] == [final + 1]
    assert best_final(call.call, opensips) == []


def test_inject_registered_catches_the_seeds_expired_subscription(tmp_path: Path) -> None:
    """PIT-7, unedited: the simulator's capture of the seed's script (opensips
    preset) whose phone wakes after the 20 s subscription: its REGISTER is never injected
    although the placeholder keeps the INVITE waiting (INJ-1). The kamailio-tsilo preset, which
    appends on every REGISTER, reaches the phone and keeps the rule."""
    seed = simulated(tmp_path, "wake_after_subscription_expired", "opensips")
    pkts = edit.read(seed)
    wake = edit.find(pkts, "REGISTER", contains="pn-prid", nth=1)
    assert found(seed) == [("inject-registered", wake + 1)]
    tsilo = tmp_path / "tsilo.pcap"
    tsilo.write_bytes(run_scenario(SCENARIOS / "wake_after_subscription_expired.toml",
                                   "kamailio-tsilo").pcap())
    assert found(tsilo) == []
