"""Field rules FIELD-1 to FIELD-8: each broken by an edited real Kamailio capture and kept by
the capture as it is (or by an edit that does it right), correlated by the callee's address of
record, never by Call-ID; and the capture's latency summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushinject.cli import main
from pushinject.conformance import CheckOptions, check_capture
from pushinject.conformance.field_rules import FIELD_RULES
from tests import pcap_edit as edit

KAMAILIO = Path(__file__).resolve().parent.parent / "data" / "kamailio"
DEV2 = "sip:dev2@127.0.0.1:5072"


def field(path: Path, **options: float) -> list[tuple[str, int]]:
    """The FIELD-n violations (rule, frame) of every call of the capture."""
    result = check_capture(path, CheckOptions(**options))  # type: ignore[arg-type]
    return [(v.rule, v.frame) for c in result.calls for v in c.violations
            if v.rule.startswith("FIELD-")]


def messages(path: Path, rule: str) -> list[str]:
    return [v.message for c in check_capture(path, CheckOptions()).calls
            for v in c.violations if v.rule == rule]


def written(pkts: list, tmp_path: Path, name: str) -> Path:
    return edit.write(pkts, tmp_path / f"{name}.pcap")


@pytest.mark.parametrize("name", sorted(p.stem for p in KAMAILIO.glob("*.pcap")))
def test_no_field_rule_is_broken_by_the_bundled_captures(name: str) -> None:
    assert field(KAMAILIO / f"{name}.pcap") == []


def test_every_field_rule_is_listed_once_in_order() -> None:
    assert [r for r, _, _ in FIELD_RULES] == [f"FIELD-{n}" for n in range(1, 9)]


@pytest.mark.parametrize("area, ids", [
    ("field", [f"FIELD-{n}" for n in range(1, 10)]), ("timing", ["TIMING-1", "TIMING-2"])])
def test_each_rule_has_its_catalogue_entry(area: str, ids: list[str]) -> None:
    """Each rule the checker cites is an entry of its area file; FIELD-9 is what the
    capture-driven replay's divergence breaks."""
    from pushinject.catalogue import lookup
    from pushinject.conformance.capture_script import capture_preset

    assert [(lookup(i).file, lookup(i).anchor) for i in ids] == [(f"{area}.md", i.lower())
                                                                for i in ids]
    assert capture_preset(()).catalogue_id == "FIELD-9"


def test_field_1_second_branch_to_one_device_under_a_new_contact(tmp_path: Path) -> None:
    """S1 with dev2 made dev1 on another port: dev1 rings on branch 0 when its REGISTER with a
    new Call-ID (frame 10) gets it injected again at port 5072 (frame 12)."""
    pkts = edit.replace(edit.read(KAMAILIO / "S1.pcap"), DEV2, "sip:dev1@127.0.0.1:5072")
    path = written(pkts, tmp_path, "S1-dev1-twice")
    assert field(path) == [("FIELD-1", 12)]
    assert messages(path, "FIELD-1") == [
        "branch 1 to sip:dev1@127.0.0.1:5072 after REGISTER frame 10 is a second branch to "
        "device dev1@127.0.0.1 (branch 0, frame 6, still pending)"]


def test_field_1_kept_by_two_devices_and_by_a_stale_contact() -> None:
    """S1 as it is: dev1 and dev2 are two devices. The seed's simulated capture relays to the
    sleeping device's old pn-* contact, which never answers, and injects its new one: no
    second ring."""
    assert field(KAMAILIO / "S1.pcap") == []
    simulated = KAMAILIO.parent / "simulated" / "opensips" / "push_wake_answer.pcap"
    assert field(simulated) == []


def test_field_2_injected_after_a_challenged_register(tmp_path: Path) -> None:
    """S1 with dev2's REGISTER answered 401: the proxy injects dev2 all the same."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    at = edit.find(pkts, "SIP/2.0 200", contains="S1-dev2-register")
    pkts[at] = edit.with_sip(pkts[at], edit.sip(pkts[at]).replace(
        b"SIP/2.0 200 OK", b"SIP/2.0 401 Unauthorized"))
    path = written(pkts, tmp_path, "S1-401")
    assert field(path) == [("FIELD-2", 12)]
    assert messages(path, "FIELD-2") == [
        f"branch 1 to {DEV2} was injected after a REGISTER answered 401 (frame 11)"]


def test_field_2_injected_before_the_registers_200(tmp_path: Path) -> None:
    """S1 with the injected INVITE (frame 12) sent before the REGISTER's 200 (frame 11)."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    ok, invite = pkts[10], pkts[11]
    pkts[10] = edit.with_sip(invite, edit.sip(invite), time=float(ok.time))
    pkts[11] = edit.with_sip(ok, edit.sip(ok), time=float(invite.time))
    path = written(pkts, tmp_path, "S1-early")
    assert field(path) == [("FIELD-2", 11)]
    assert messages(path, "FIELD-2") == [
        f"branch 1 to {DEV2} was injected after the REGISTER (frame 10) before its 200 "
        "(frame 12)"]


def test_field_2_kept_when_the_200_goes_first() -> None:
    assert field(KAMAILIO / "S1.pcap") == []


def _injected_after_end(tmp_path: Path) -> Path:
    """S8 (the caller got 603 at frame 21) with dev3, which registers at frame 23, injected
    after its 200 (frame 25)."""
    pkts = edit.read(KAMAILIO / "S8.pcap")
    invite = pkts[edit.find(pkts, "INVITE", dport=5060)]
    late = edit.forwarded_copy(invite, "sip:dev3@127.0.0.1:5073", "z9hG4bKlate",
                               dport=5073, time=float(pkts[-1].time) + 0.001)
    return written(pkts + [late], tmp_path, "S8-late")


def test_field_3_injection_after_the_final_response(tmp_path: Path) -> None:
    path = _injected_after_end(tmp_path)
    assert field(path) == [("FIELD-3", 25)]
    [message] = messages(path, "FIELD-3")
    assert message.startswith("sip:dev3@127.0.0.1:5073 registered (frame 23) and was injected ")
    assert message.endswith(" s after the final 603 (frame 21)")


def test_field_3_kept_when_the_late_device_is_not_injected() -> None:
    """S8 as it is: dev3 registers after the 603 and gets no INVITE."""
    assert field(KAMAILIO / "S8.pcap") == []


def _held_487(tmp_path: Path, by: float) -> Path:
    """S4 with the 487 (and all after it) `by` seconds later than the CANCEL."""
    pkts = edit.read(KAMAILIO / "S4.pcap")
    return written(edit.later(pkts, edit.find(pkts, "SIP/2.0 487"), by), tmp_path, f"S4-{by}")


def test_field_4_487_held_back_after_cancel(tmp_path: Path) -> None:
    path = _held_487(tmp_path, 3.0)
    assert field(path) == [("FIELD-4", 6)]
    assert messages(path, "FIELD-4") == [
        "the 487 reached the caller 3.000 s after its CANCEL (frame 5), 3.000 s after the last "
        "pending branch answered"]


def test_field_4_kept_by_a_prompt_487_and_by_a_487_after_the_branch(tmp_path: Path) -> None:
    assert field(KAMAILIO / "S4.pcap") == []
    assert field(_held_487(tmp_path, 0.3)) == []
    assert field(KAMAILIO / "S9.pcap") == []


def _registers_after_408(tmp_path: Path, after: float) -> Path:
    """S3 (408 at frame 5) with S1's dev2 REGISTER and its 200 `after` seconds later."""
    pkts = edit.read(KAMAILIO / "S3.pcap")
    s1 = edit.read(KAMAILIO / "S1.pcap")
    reg = s1[edit.find(s1, "REGISTER", contains="S1-dev2")]
    ok = s1[edit.find(s1, "SIP/2.0 200", contains="S1-dev2")]
    t = float(pkts[4].time) + after
    return written(pkts + [edit.with_sip(reg, edit.sip(reg), time=t),
                           edit.with_sip(ok, edit.sip(ok), time=t + 0.0002)],
                   tmp_path, f"S3-{after}")


def test_field_5_device_registers_just_after_the_408(tmp_path: Path) -> None:
    path = _registers_after_408(tmp_path, 2.0)
    assert field(path) == [("FIELD-5", 7)]
    assert messages(path, "FIELD-5") == [
        f"lost call: {DEV2} registered (frame 7) 2.000 s after the caller got 408"]


def test_field_5_kept_beyond_the_window(tmp_path: Path) -> None:
    assert field(_registers_after_408(tmp_path, 12.0)) == []
    assert field(_registers_after_408(tmp_path, 12.0), lost_within=15.0) == [("FIELD-5", 7)]


def _with_path(tmp_path: Path, route: bool) -> Path:
    """S1 with dev2 registering through an edge proxy (Path); with `route`, the injected INVITE
    carries the Route the Path asks for."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    at = edit.find(pkts, "REGISTER", contains="S1-dev2")
    hop = b"<sip:edge@127.0.0.1:5099;lr>"
    pkts[at] = edit.with_sip(pkts[at], edit.sip(pkts[at]).replace(
        b"\r\nContact:", b"\r\nPath: " + hop + b"\r\nContact:", 1))
    if route:
        inv = edit.find(pkts, "INVITE " + DEV2)
        pkts[inv] = edit.with_sip(pkts[inv], edit.sip(pkts[inv]).replace(
            b"\r\nVia:", b"\r\nRoute: " + hop + b"\r\nVia:", 1))
    return written(pkts, tmp_path, f"S1-path-{route}")


def test_field_6_injected_invite_ignores_path(tmp_path: Path) -> None:
    path = _with_path(tmp_path, route=False)
    assert field(path) == [("FIELD-6", 12)]
    assert messages(path, "FIELD-6") == [
        "injected branch 1 ignores the Path <sip:edge@127.0.0.1:5099;lr> of REGISTER frame 10: "
        "Route none"]


def test_field_6_kept_when_the_route_follows_the_path(tmp_path: Path) -> None:
    assert field(_with_path(tmp_path, route=True)) == []


def _reregistered(tmp_path: Path, target_port: int) -> Path:
    """S2 with dev1 registering again from port 5075 (new Call-ID) just before the injected
    INVITE, which goes to port `target_port`."""
    pkts = edit.read(KAMAILIO / "S2.pcap")
    reg, ok = pkts[4], pkts[5]
    t = float(pkts[5].time) + 0.00005

    def moved(p: object, sport: int | None = None, dport: int | None = None) -> object:
        data = edit.sip(p).replace(b"127.0.0.1:5071", b"127.0.0.1:5075").replace(
            b"S2-dev1-register", b"S2-dev1-again").replace(b"z9hG4bK", b"z9hG4bKagain")
        return edit.with_sip(p, data, time=t, sport=sport, dport=dport)

    again = [moved(reg, sport=5075), moved(ok, dport=5075)]
    pkts = pkts[:6] + again + pkts[6:]
    if target_port != 5071:
        pkts = edit.replace(pkts, "INVITE sip:dev1@127.0.0.1:5071",
                            f"INVITE sip:dev1@127.0.0.1:{target_port}")
    return written(pkts, tmp_path, f"S2-again-{target_port}")


def test_field_7_injection_to_a_superseded_binding(tmp_path: Path) -> None:
    path = _reregistered(tmp_path, 5071)
    assert field(path) == [("FIELD-7", 9)]
    assert messages(path, "FIELD-7") == [
        "branch 0 went to sip:dev1@127.0.0.1:5071, superseded by sip:dev1@127.0.0.1:5075 "
        "(REGISTER frame 7)"]


def test_field_7_kept_by_the_newest_binding(tmp_path: Path) -> None:
    assert field(_reregistered(tmp_path, 5075)) == []
    assert field(KAMAILIO / "S2.pcap") == []


def _no_final(tmp_path: Path, then: float | None) -> Path:
    """S3 without its 408 and ACK; with `then`, the capture goes on with a REGISTER of
    another user `then` seconds after the INVITE."""
    pkts = edit.read(KAMAILIO / "S3.pcap")[:4]
    if then is not None:
        s1 = edit.read(KAMAILIO / "S1.pcap")
        reg = s1[0]
        data = edit.sip(reg).replace(b"sip:bob@", b"sip:carol@")
        pkts.append(edit.with_sip(reg, data, time=float(pkts[0].time) + then))
    return written(pkts, tmp_path, f"S3-open-{then}")


def test_field_8_call_without_final_response(tmp_path: Path) -> None:
    path = _no_final(tmp_path, 200.0)
    assert field(path) == [("FIELD-8", 1)]
    assert messages(path, "FIELD-8") == [
        "no final response: the call went silent at 0.000 s and the capture goes on 200.000 s "
        "more (limit 180 s)"]


def test_field_8_kept_when_the_capture_ends_early(tmp_path: Path) -> None:
    assert field(_no_final(tmp_path, None)) == []
    assert field(_no_final(tmp_path, 100.0)) == []


def test_latency_summary_in_text_and_json(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """S1: the push (frame 4) reaches dev2's REGISTER (frame 10) 1.135 s later, which is
    injected 0.2 ms later; S4: its CANCEL is answered 487 within a millisecond."""
    assert main(["check", "--json", str(KAMAILIO / "S1.pcap"), str(KAMAILIO / "S4.pcap")]) == 0
    s1, s4 = (c["latency"] for c in json.loads(capsys.readouterr().out)["captures"])
    assert s1["push_to_register"] == {"count": 1, "min": 1.134762, "median": 1.134762,
                                      "max": 1.134762}
    assert s1["register_to_invite"]["count"] == 1
    assert s4["cancel_to_final"]["count"] == 1 and s4["push_to_register"]["count"] == 0
    assert main(["check", str(KAMAILIO / "S1.pcap")]) == 0
    assert "  latency push-to-register: 1, min 1.135 s, median 1.135 s, max 1.135 s" in (
        capsys.readouterr().out.splitlines())


def _lookup_then_injected(tmp_path: Path, port: int) -> Path:
    """S1 (dev1 reached by lookup, frame 6), then S2 10 s later (dev1 injected after its
    REGISTER, frame 33), its injected INVITE sent to `port`."""
    s1 = edit.read(KAMAILIO / "S1.pcap")
    s2 = edit.read(KAMAILIO / "S2.pcap")
    later = edit.later(s2, 0, float(s1[-1].time) + 10 - float(s2[0].time))
    at = edit.find(later, "INVITE sip:dev1")
    later[at] = edit.with_sip(later[at], edit.sip(later[at]), dport=port)
    return written(s1 + later, tmp_path, f"S1-S2-{port}")


def test_field_6_injected_invite_goes_elsewhere_than_lookup(tmp_path: Path) -> None:
    path = _lookup_then_injected(tmp_path, 5099)
    assert field(path) == [("FIELD-6", 33)]
    assert messages(path, "FIELD-6") == [
        "injected branch 0 went to 127.0.0.1:5099, a branch by lookup to the same contact "
        "(frame 6) to 127.0.0.1:5071"]


def test_field_6_kept_when_injection_and_lookup_agree(tmp_path: Path) -> None:
    assert field(_lookup_then_injected(tmp_path, 5071)) == []


def test_challenged_register_sent_again_rings_the_device_twice(tmp_path: Path) -> None:
    """S1 with dev2's REGISTER first challenged (401) and sent again (CSeq 2, 200); the proxy
    injects dev2 after each: the first injection breaks FIELD-2, the second duplicates it.
    The capture-driven replay takes both injections as the script's choices; it names the
    retransmission of the first injected INVITE that this edit leaves out (Timer A, RFC 3261
    §17.1.1.2: dev2 never answered that branch)."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    reg, ok, inv = pkts[9], pkts[10], pkts[11]
    t = float(reg.time) - 0.2
    challenge = edit.sip(ok).replace(b"SIP/2.0 200 OK", b"SIP/2.0 401 Unauthorized")
    first = edit.sip(inv).replace(b"branch=z9hG4bK", b"branch=z9hG4bKfirst", 1)
    again = edit.sip(reg).replace(b"CSeq: 1 REGISTER", b"CSeq: 2 REGISTER").replace(
        b"z9hG4bK-reg-5082-1", b"z9hG4bK-reg-5082-2")
    answer = edit.sip(ok).replace(b"CSeq: 1 REGISTER", b"CSeq: 2 REGISTER").replace(
        b"z9hG4bK-reg-5082-1", b"z9hG4bK-reg-5082-2")
    extra = [edit.with_sip(reg, edit.sip(reg), time=t),
             edit.with_sip(ok, challenge, time=t + 0.0002),
             edit.with_sip(inv, first, time=t + 0.0004)]
    pkts = pkts[:9] + extra + [edit.with_sip(reg, again), edit.with_sip(ok, answer)] + pkts[11:]
    path = written(pkts, tmp_path, "S1-challenged")
    [call] = check_capture(path, CheckOptions()).calls
    assert [(v.rule, v.frame) for v in call.violations] == [
        ("no-duplicate-branch", 15), ("FIELD-2", 12), ("replay", 17)]
    assert call.violations[-1].message.startswith(
        f"the capture reference sends INVITE {DEV2} to 127.0.0.1:5072 here")
    assert [b.target for b in call.call.branches] == ["sip:dev1@127.0.0.1:5071", DEV2, DEV2]


@pytest.mark.parametrize("header", [b"Expires: abc", b"Path: <<<x", b"Route: ,<"])
def test_a_malformed_header_the_field_rules_read_is_a_counted_skip(
        tmp_path: Path, header: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    """dev2's REGISTER in S1 with a malformed Expires, Path or Route: the message is skipped
    and counted, and the check goes on without it (no traceback)."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    at = edit.find(pkts, "REGISTER", contains="S1-dev2")
    pkts[at] = edit.with_sip(pkts[at], edit.sip(pkts[at]).replace(
        b"\r\nContact:", b"\r\n" + header + b"\r\nContact:", 1))
    path = written(pkts, tmp_path, "S1-bad-header")
    assert check_capture(path, CheckOptions()).capture.skipped == {"unparsable-sip": 1}
    assert main(["check", str(path)]) == 1  # dev2's branch now has no REGISTER to explain it
    out = capsys.readouterr().out
    assert "25 SIP messages (skipped: unparsable-sip 1); proxy 127.0.0.1:5060" in out
    assert "VIOLATION replay FIELD-9 (pushinject/catalogue/field.md) at frame 3" in out
