"""A call whose capture provably lacks messages is not judged (CAP-7,
`pushinject.conformance.capture_loss`)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from pushinject.cli import main
from pushinject.conformance import CheckOptions
from pushinject.conformance.capture import Capture, WireMessage, load_capture
from pushinject.conformance.check import CallResult, CaptureResult, check_messages

ROOT = Path(__file__).resolve().parent.parent
LOSS = ROOT / "data" / "kamailio" / "load" / "loss"
OPENSIPS_LOSS = ROOT / "data" / "opensips" / "load" / "loss"
EXCERPT = LOSS / "K150-loss.pcap"
L1 = ROOT / "data" / "kamailio" / "load" / "L1.pcap"
#: the call of L1 to load1x1: its INVITE forwarded (frame 28), the device's 180 (29) and 200
#: (31), both relayed (30, 32), the caller's ACK (33) and the proxy's (34)
CALL = "2-15605@127.0.0.1"
PRESET = CheckOptions(preset="kamailio-tsilo")


@pytest.fixture(scope="module")
def l1() -> Capture:
    return load_capture(L1)


def _without(capture: Capture, frames: set[int], until: float | None = None) -> Capture:
    kept = tuple(m for m in capture.messages
                 if m.frame not in frames and (until is None or m.time <= until))
    return Capture(capture.file, capture.frames, kept)


def _call(result: CaptureResult, call_id: str = CALL) -> CallResult:
    return next(c for c in result.calls if c.call.call_id == call_id)


@pytest.mark.parametrize(("folder", "name", "preset"), [
    (LOSS, "K150-loss", "kamailio-tsilo"), (OPENSIPS_LOSS, "O150-loss", "opensips")])
def test_the_excerpts_of_captures_that_dropped_packets_are_judged_as_their_manifests_say(
        folder: Path, name: str, preset: str, capsys: pytest.CaptureFixture[str]) -> None:
    table = tomllib.loads((folder / "manifest.toml").read_text(encoding="utf-8"))[name]
    path = str(folder / table["file"])
    for options in ([], ["--preset", preset], ["--preset", preset, "--jobs", "2"]):
        assert main(["check", *options, path]) == 0
        out = capsys.readouterr().out
        assert out.count("CAPTURE LOSS") == table["lacking"]
        assert "VIOLATION" not in out
        assert out.splitlines()[-1].startswith(
            f"verdict: {table['expected_verdict']} (1 capture(s), {table['calls']} call(s), 0 "
            f"violation(s), {table['lacking']} call(s) not judged: the capture lacks messages; "
            "replayed ")
        assert f"{path.rsplit('/', 1)[1]}: {table['frames']} frames, " in out


def test_each_proof_is_named_with_what_it_set_aside(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--preset", "kamailio-tsilo", str(EXCERPT)]) == 0
    out = capsys.readouterr().out
    assert ("  call 1455-1234@127.0.0.1: final -, 1 branch(es), not judged: the capture lacks "
            "messages (2 finding(s) set aside)\n") in out
    assert ("    CAPTURE LOSS CAP-7 (pushinject/catalogue/cap.md) at frame 34: the BYE of frame "
            "34 carries To tag 1431-device, which no earlier message to 127.0.0.1:5070 carries: "
            "its sender read it in a message the capture lacks (RFC 3261 §12.2.1.1)\n"
            "    set aside: forward-provisional CTX-4 (pushinject/catalogue/ctx.md) at frame "
            "17: the 180 of branch 0 was not forwarded to the caller\n"
            "    set aside: replay KAM-10 (pushinject/catalogue/kam.md) at frame 17: the "
            "kamailio-tsilo reference sends 180 to 127.0.0.1:5070 here; the proxy did not "
            "(after frame 17)\n") in out
    assert ("    CAPTURE LOSS CAP-7 (pushinject/catalogue/cap.md) at frame 16: the 200 of frame "
            "16 was never sent again although the capture goes on 17.6 s after it, and the ACK "
            "the proxy received (frame 20) is not seen going on: a UAS repeats its 2xx until "
            "the ACK comes (RFC 3261 §13.3.1.4), so the ACK reached it\n") in out


def test_json_and_jsonl_carry_the_proof_and_the_count(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json", str(EXCERPT)]) == 0
    report = json.loads(capsys.readouterr().out)
    calls = {c["call_id"]: c for c in report["captures"][0]["calls"]}
    assert calls["1455-1234@127.0.0.1"]["violations"] == []
    assert calls["1455-1234@127.0.0.1"]["capture_loss"]["frame"] == 34
    assert [v["catalogue_id"] for v in calls["1455-1234@127.0.0.1"]["set_aside"]] == [
        "CTX-4", "FIELD-9"]
    assert main(["check", "--jsonl", str(EXCERPT)]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["captures"][0]["lacking"] == 3 and summary["verdict"] == "conformant"


def test_a_whole_capture_of_a_real_proxy_lacks_nothing(l1: Capture) -> None:
    result = check_messages(l1, PRESET)
    assert (len(result.calls), result.lacking, result.violations) == (300, 0, 0)


def test_a_missing_ack_to_a_device_that_never_repeated_its_200_is_the_capture_s(
        l1: Capture) -> None:
    call = _call(check_messages(_without(l1, {34}), PRESET))
    assert call.violations == ()
    assert call.loss is not None and call.loss.frame == 31
    assert [v.catalogue_id for v in call.set_aside] == ["KAM-10"]


def test_a_missing_ack_stands_when_the_capture_ends_before_a_copy_was_due(
        l1: Capture) -> None:
    """Less than 4 s (T2) of capture after the device's 200: its copies may still come."""
    capture = _without(l1, {34})
    end = next(m.time for m in capture.messages if m.frame == 31) + 3.0
    call = _call(check_messages(_without(capture, set(), until=end), PRESET))
    assert call.loss is None
    assert [v.catalogue_id for v in call.violations] == ["KAM-10"]


def test_a_response_to_a_request_the_capture_lacks(l1: Capture) -> None:
    call = _call(check_messages(_without(l1, {28}), PRESET))
    assert call.loss is not None and call.loss.frame == 29
    assert call.loss.message.startswith("the 180 of frame 29 answers a INVITE with Via branch ")
    assert call.loss.message.endswith(", which the capture lacks (RFC 3261 §17.2.1)")


def test_an_ack_whose_tag_never_reached_the_caller(l1: Capture) -> None:
    call = _call(check_messages(_without(l1, {30, 32}), PRESET))
    assert call.loss is not None and call.loss.frame == 33
    assert call.loss.message.startswith("the ACK of frame 33 carries To tag ")


def test_a_tag_the_proxy_passed_on_before_it_arrived(l1: Capture) -> None:
    """The device's 180 and 200 to the proxy are gone: the 180 the proxy relays carries the
    tag the device shows as its own (its 200 to the BYE)."""
    call = _call(check_messages(_without(l1, {29, 31}), PRESET))
    assert call.loss is not None and call.loss.frame == 30
    assert call.loss.message.startswith("the 180 of frame 30 carries tag ")
    assert call.loss.message.endswith(
        ", which no earlier message to the proxy's host carries: the proxy passed on a message "
        "the capture lacks (RFC 3261 §16.7)")


def test_the_opensips_excerpt_names_the_tag_passed_on(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--preset", "opensips", str(OPENSIPS_LOSS / "O150-loss.pcap")]) == 0
    assert ("    CAPTURE LOSS CAP-7 (pushinject/catalogue/cap.md) at frame 20: the 180 of frame "
            "20 carries tag 2966-device, the tag of 127.0.0.1:5071 (frame 30), which no earlier "
            "message to the proxy's host carries: the proxy passed on a message the capture "
            "lacks (RFC 3261 §16.7)\n"
            "    set aside: replay OSIPS-25 (pushinject/catalogue/osips.md) at frame 20: the "
            "proxy sent 180 to 127.0.0.1:5070 (frame 20); the opensips reference sent no such "
            "message within 0.5 s\n") in capsys.readouterr().out


def test_a_relayed_200_missing_alone_stays_a_violation(l1: Capture) -> None:
    """The 180 to the caller carried the device's tag: the caller's ACK proves nothing, and
    the 200 the proxy did not relay is a violation."""
    call = _call(check_messages(_without(l1, {32}), PRESET))
    assert call.loss is None and call.violations


def test_a_caller_sending_from_another_port_than_its_via_lacks_nothing(l1: Capture) -> None:
    """Without rport, responses go to the top Via's sent-by (RFC 3261 §18.2.2): a caller
    whose ACK leaves from another port received the 200 there."""
    def moved(m: WireMessage) -> WireMessage:
        if m.frame != 33:
            return m
        return replace(m, source=("127.0.0.1", 40000))

    capture = Capture(l1.file, l1.frames, tuple(moved(m) for m in l1.messages))
    assert _call(check_messages(capture, PRESET)).loss is None


def test_load_facts_count_a_call_without_final_response() -> None:
    from pushinject.lab.load import load_facts

    facts = load_facts(EXCERPT, "kamailio")
    assert (facts.calls, facts.finals) == (3, {0: 1, 200: 2})
    assert set(facts.verdicts.values()) == {"conformant"}


def test_a_2xx_over_a_connection_proves_nothing_by_its_missing_copies(l1: Capture) -> None:
    """Over TCP some UAs leave the copies of a 2xx to the transport: the missing ACK stands."""
    def over_tcp(m: WireMessage) -> WireMessage:
        return replace(m, transport="TCP") if m.frame == 31 else m

    capture = _without(Capture(l1.file, l1.frames, tuple(over_tcp(m) for m in l1.messages)),
                       {34})
    call = _call(check_messages(capture, PRESET))
    assert call.loss is None and call.violations


def test_copies_recorded_out_of_order_lack_nothing(l1: Capture) -> None:
    """A HEP mirror's processes send their copies on their own: the forwarded INVITE (frame
    28) may be recorded after the device's 180 (29) and 200 (31), and the proxy's 180 (30)
    before the device's; none of it is a loss."""
    by_frame = {m.frame: m for m in l1.messages}
    order = [28, 29, 30, 31]
    shuffled = [29, 30, 31, 28]  # the INVITE last
    swapped = [by_frame[shuffled[order.index(m.frame)]] if m.frame in order else m
               for m in l1.messages]
    capture = Capture(l1.file, l1.frames, tuple(swapped))
    assert _call(check_messages(capture, PRESET)).loss is None
    relayed_first = [by_frame[{29: 30, 30: 29}.get(m.frame, m.frame)] for m in l1.messages]
    capture = Capture(l1.file, l1.frames, tuple(relayed_first))
    assert _call(check_messages(capture, PRESET)).loss is None
