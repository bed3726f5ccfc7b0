"""A message the capture recorded twice is judged once (CAP-11): a port mirror or a HEP mirror
that copies each message twice gives the verdicts of the capture that has each once, with the
copies counted as ``duplicate``; a retransmission, which comes T1 or more later, stays a
message of its own."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pushinject.capture import decode
from pushinject.capture.decoder import DecodedMessage
from pushinject.conformance import CheckOptions
from pushinject.conformance.capture import load_capture
from pushinject.conformance.check import check_capture, check_messages
from pushinject.conformance.duplicates import DUPLICATES_WITHIN, DUPLICATE, Duplicates
from tests.hep_samples import write_hep_capture

DATA = Path(__file__).resolve().parent.parent / "data"
CAPTURES = DATA / "captures"
S1 = DATA / "kamailio" / "S1.pcap"
S10 = DATA / "kamailio" / "S10.pcap"
LAB = CheckOptions(preset="kamailio-tsilo", knobs={"fr_timeout": 8, "fr_inv_timeout": 10})
A, B = ("10.0.0.1", 5060), ("10.0.0.2", 5060)


def _message(frame: int, time: float, raw: bytes = b"INVITE", source: tuple[str, int] = A,
             transport: str = "UDP") -> DecodedMessage:
    return DecodedMessage(frame, time, source, B, transport, raw)


def write_doubled(source: Path, target: Path, gap: float) -> Path:
    """`source` (a little- or big-endian libpcap file) with each record followed by a copy of
    itself `gap` seconds later, as a port mirror records a packet it sees twice."""
    data = source.read_bytes()
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out, at = [data[:24]], 24
    while at + 16 <= len(data):
        seconds, micros, captured, length = struct.unpack_from(order + "IIII", data, at)
        body = data[at + 16:at + 16 + captured]
        later = seconds * 1_000_000 + micros + round(gap * 1_000_000)
        out += [data[at:at + 16], body,
                struct.pack(order + "IIII", later // 1_000_000, later % 1_000_000, captured,
                            length), body]
        at += 16 + captured
    target.write_bytes(b"".join(out))
    return target


def _calls(path: Path, options: CheckOptions = LAB) -> list[dict[str, object]]:
    return [c.to_json() for c in check_capture(path, options).calls]


# ------------------------------------------------------------------ the window
def test_the_same_bytes_between_the_same_addresses_within_the_window_are_a_copy() -> None:
    seen = Duplicates()
    assert [seen.is_duplicate(m) for m in [
        _message(1, 10.0), _message(2, 10.0 + DUPLICATES_WITHIN), _message(3, 10.5),
        _message(4, 10.5 - 0.004),  # stamped before the message it copies: still a copy
        _message(5, 10.5, b"INVITE "), _message(6, 10.5, source=("10.0.0.3", 5060)),
        _message(7, 10.5, transport="TCP"), _message(8, 11.0 + DUPLICATES_WITHIN * 1.5),
    ]] == [False, True, False, True, False, False, False, False]


def test_a_copy_does_not_extend_the_window_and_zero_keeps_every_copy() -> None:
    seen = Duplicates(0.010)
    assert [seen.is_duplicate(_message(n, t)) for n, t in enumerate([0.0, 0.008, 0.016])] == [
        False, True, False]
    keep = Duplicates(0)
    assert [keep.is_duplicate(_message(n, 0.0)) for n in range(3)] == [False, False, False]


def test_memory_holds_about_a_second_of_messages() -> None:
    seen = Duplicates()
    for n in range(10_000):
        assert not seen.is_duplicate(_message(n, n * 0.01, b"OPTIONS %d" % n))
    assert 100 <= len(seen) <= 102
    assert not seen.is_duplicate(_message(10_000, 0.0, b"OPTIONS 0"))  # forgotten long ago


# ------------------------------------------------------------------ captures
@pytest.mark.parametrize("gap", [0.0, 0.0004, 0.0099])
def test_a_port_mirrored_capture_gives_the_verdicts_of_the_plain_one(tmp_path: Path,
                                                                     gap: float) -> None:
    doubled = write_doubled(S1, tmp_path / "S1-doubled.pcap", gap)
    plain = check_capture(S1, LAB)
    result = check_capture(doubled, LAB)
    assert [c.to_json() for c in result.calls] == [c.to_json() for c in plain.calls]
    assert (result.capture.frames, result.capture.sip_messages, result.capture.skipped) == (
        52, 26, {DUPLICATE: 26})
    assert result.violations == plain.violations == 0


def test_copies_kept_are_judged_as_messages_sent_twice(tmp_path: Path) -> None:
    """With the window at 0 each copy counts: the proxy's INVITE to the first device twice is a
    retransmission the reference never sends so soon (what the window is for)."""
    doubled = write_doubled(S1, tmp_path / "S1-doubled.pcap", 0.0004)
    options = CheckOptions(preset="kamailio-tsilo", knobs=LAB.knobs, duplicates_within=0)
    [call] = check_capture(doubled, options).calls
    assert [v.message for v in call.violations] == [
        "the proxy sent INVITE sip:dev1@127.0.0.1:5071 to 127.0.0.1:5071 (frame 12); the "
        "kamailio-tsilo reference sent no such message within 0.5 s"]


def test_the_port_mirrored_sample_keeps_its_retransmission_and_sets_its_copies_aside() -> None:
    """data/captures/mirrored.pcap: the phone's leg recorded twice, the INVITE to the phone
    retransmitted T1 later. Decoding lists every copy; the checker sets them aside and keeps
    the retransmission; with the window at 0 the INVITE's copy 0.3 ms after it passes for its
    first retransmission, and the real one at 500 ms is then too early."""
    facts = tomllib.loads((CAPTURES / "manifest.toml").read_text(encoding="utf-8"))["mirrored"]
    sample = CAPTURES / facts["file"]
    assert len(list(decode(sample))) == facts["frames"] == 15
    result = check_capture(sample)
    assert (result.capture.sip_messages, result.capture.skipped, result.violations) == (
        10, {DUPLICATE: facts["duplicates"]}, 0)
    [call] = result.calls
    [branch] = call.call.branches
    assert (call.call.final_status, len(branch.retransmissions)) == (200, 1)
    [kept] = check_capture(sample, CheckOptions(duplicates_within=0)).calls
    assert [(v.catalogue_id, v.frame, v.message) for v in kept.violations] == [
        ("FIELD-9", 5, "the proxy sent INVITE sip:bob@192.0.2.20 to 192.0.2.20:5060 (frame 5); "
                       "the capture reference sent no such message within 0.5 s")]


def test_a_retransmission_is_never_taken_for_a_copy() -> None:
    """S10: the caller's INVITE sent again after T1 stays two messages and one branch."""
    capture = load_capture(S10)
    assert capture.skipped.get(DUPLICATE) is None
    assert capture.sip_messages == len(list(decode(S10)))


def test_a_hep_mirror_sending_each_message_twice(tmp_path: Path) -> None:
    """A HEP stream where each message comes twice (two agents, or a tracer asked twice): the
    copies carry the same HEP stamp and are set aside; the call is the wire's."""
    hep = write_hep_capture(S1, tmp_path / "S1-hep.pcap")
    doubled = write_doubled(hep, tmp_path / "S1-hep-doubled.pcap", 0.00002)
    result = check_messages(load_capture(doubled), LAB)
    assert [c.to_json() for c in result.calls] == _calls(S1)
    assert result.capture.skipped == {DUPLICATE: 26}


def test_the_command_line_sets_the_window(tmp_path: Path) -> None:
    doubled = write_doubled(S1, tmp_path / "S1-doubled.pcap", 0.0004)
    argv = [sys.executable, "-m", "pushinject", "check", "--json", "--preset", "kamailio-tsilo",
            "--knob", "fr_timeout=8", "--knob", "fr_inv_timeout=10"]
    runs = {window: subprocess.run([*argv, *extra, str(doubled)], capture_output=True,
                                   text=True, timeout=120)
            for window, extra in [("default", []), ("0", ["--duplicates-within", "0"]),
                                  ("jobs", ["--jobs", "2"])]}
    reports = {k: json.loads(done.stdout) for k, done in runs.items()}
    assert [runs[k].returncode for k in reports] == [0, 1, 0]
    assert reports["default"]["captures"][0]["skipped"] == {DUPLICATE: 26}
    assert reports["jobs"] == reports["default"]
    assert reports["0"]["captures"][0]["skipped"] == {}
    negative = subprocess.run([*argv, "--duplicates-within", "-1", str(doubled)],
                              capture_output=True, text=True, timeout=60)
    assert (negative.returncode, negative.stderr) == (2, (
        "pushinject check: error: --tolerance, --inject-within, --timer-slack, --lost-within "
        "and --duplicates-within must not be negative\n"))
