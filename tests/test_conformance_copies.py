"""A message whose bytes were seen lately (a UDP retransmission) shares what they decide: the
same messages, the same counts and the same reports as when every copy is parsed anew."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pushinject.capture.decoder import Decoder, DecodedMessage
from pushinject.cli import main
from pushinject.conformance import capture as capture_module
from pushinject.conformance.calls import find_calls
from pushinject.conformance.capture import RECENT, WireMessage, load_capture, to_wire
from pushinject.conformance.digest import Digest
from pushinject.conformance.replay import Output, _Vias, sent_by
from pushinject.sip import parse_message
from pushinject.sip.memo import Recent
from tests import pcap_edit as edit
from tests.conftest import DATA

#: a bundled capture whose phones answer late: 4 of its 32 messages are copies of another
COPIES = DATA / "simulated" / "opensips" / "two_pushed_first_answers.pcap"


class _Forgetful(Recent[Any]):
    """A table that remembers nothing: every copy is parsed anew."""

    def get(self, key: Any, default: Any = None) -> Any:
        return default


def _fresh(decoded: DecodedMessage) -> WireMessage:
    """The message parsed anew from its bytes, as `to_wire` did before sharing."""
    message = parse_message(decoded.raw, strict=False)
    message.prime()
    return WireMessage(decoded.frame, decoded.time, decoded.source, decoded.destination,
                       message, decoded.transport)


def test_copies_share_what_their_bytes_decide() -> None:
    decoded = list(Decoder(anomalies=False).decode_file(COPIES))
    wires = [to_wire(d) for d in decoded]
    assert None not in wires
    first: dict[bytes, WireMessage] = {}
    copies = 0
    for d, wire in zip(decoded, wires):
        assert wire is not None
        fresh = _fresh(d)
        assert wire == fresh  # frame, time, addresses, transport and the message's text
        assert ((wire.is_request, wire.label, wire.status, wire.branch)
                == (fresh.is_request, fresh.label, fresh.status, fresh.branch))
        assert wire.message.defects == fresh.message.defects
        assert Digest.of(wire) == Digest.of(fresh)
        seen = first.setdefault(d.raw, wire)
        if seen is not wire:
            copies += 1
            assert wire.parsed is seen.parsed and wire.message is seen.message
            assert (wire.frame, wire.time) != (seen.frame, seen.time)
    assert copies == 4
    assert len({id(w.parsed) for w in wires}) == len(decoded) - 4


#: the proxy of `COPIES`
PROXY = ("127.0.0.1", 5060)


def _shared_and_fresh() -> tuple[list[WireMessage], list[WireMessage]]:
    """`COPIES` as `to_wire` reads it (copies share their parse) and parsed anew."""
    decoded = list(Decoder(anomalies=False).decode_file(COPIES))
    shared = [to_wire(d) for d in decoded]
    assert None not in shared
    return shared, [_fresh(d) for d in decoded]  # type: ignore[return-value]


def test_the_branches_of_copies_are_read_as_of_copies_parsed_anew() -> None:
    """The proxy retransmits the INVITEs of its first two branches twice each (Timer A, 0.5 s
    and 1.5 s; none after the 200, as OpenSIPS gives a branch that never answered up with the
    call, OSIPS-26): one branch each, with the copies' frames, whether the copies share their
    parse or not (each copy where it is in capture order, CAP-9)."""
    shared, fresh = _shared_and_fresh()
    calls = find_calls(shared, PROXY)
    assert calls == find_calls(fresh, PROXY)
    assert [(b.index, b.frame, b.via_branch, b.retransmissions) for b in calls[0].branches] == [
        (0, 7, "z9hG4bK-px-1", ((9, 0), (15, 0))),
        (1, 8, "z9hG4bK-px-2", ((10, 0), (16, 0))),
        (2, 13, "z9hG4bK-px-3", ()), (3, 21, "z9hG4bK-px-4", ())]
    assert _Vias(shared, PROXY).real == _Vias(fresh, PROXY).real


def test_what_the_proxy_sent_is_read_once_for_all_copies() -> None:
    """`sent_by` gives `Output.of` of each message the proxy sent; a copy takes its Call-ID,
    label and target from its first, its time, frame, destination and direction are its own."""
    shared, fresh = _shared_and_fresh()
    callers = {c.call_id: c.caller for c in find_calls(shared, PROXY)}
    sent = [m for m in shared if m.source == PROXY]
    expected = [Output.of(m.time, m.frame, m.message, m.destination, callers) for m in sent]
    assert sent_by(shared, PROXY, callers) == expected == sent_by(fresh, PROXY, callers)
    assert len(expected) == 19
    outputs = sent_by(shared, PROXY, callers)
    first: dict[int, Output] = {}
    copies = 0
    for m, out in zip(sent, outputs):
        seen = first.setdefault(id(m.parsed), out)
        if seen is not out:
            copies += 1
            assert (out.call_id, out.label, out.target) == (seen.call_id, seen.label,
                                                           seen.target)
            assert out.target is seen.target and out.call_id is seen.call_id
    assert copies == 4
    # the same bytes sent to the caller: its own direction
    invite = next(m for m in sent if m.label == "INVITE")
    caller = callers[invite.message.call_id]
    back = WireMessage.of(invite.parsed, 99, invite.time + 1, PROXY, caller)
    [_, out] = sent_by([invite, back], PROXY, callers)
    assert (out.frame, out.direction, out.destination) == (99, "caller", caller)
    assert out == Output.of(back.time, 99, back.message, caller, callers)


@pytest.mark.parametrize("options", [[], ["--ladder"], ["--json"], ["--preset", "opensips"]])
def test_the_report_is_the_one_of_copies_parsed_anew(
        options: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], slow_phones_pcap: Path) -> None:
    files = [str(COPIES), str(slow_phones_pcap)]
    shared_code = main(["check", *options, *files])
    shared = capsys.readouterr()
    monkeypatch.setattr(capture_module, "_SEEN", _Forgetful(RECENT))
    anew_code = main(["check", *options, *files])
    anew = capsys.readouterr()
    assert (shared_code, shared.out, shared.err) == (anew_code, anew.out, anew.err)


def test_a_malformed_copy_is_counted_each_time(tmp_path: Path) -> None:
    """S1 with dev2's REGISTER malformed (an Expires that is no number) and sent three times:
    three unparsable messages, the rest as before."""
    pkts = edit.read(DATA / "kamailio" / "S1.pcap")
    at = edit.find(pkts, "REGISTER", contains="S1-dev2")
    bad = edit.with_sip(pkts[at], edit.sip(pkts[at]).replace(
        b"\r\nContact:", b"\r\nExpires: abc\r\nContact:", 1))
    copies = [edit.with_sip(bad, edit.sip(bad), time=float(bad.time) + d) for d in (0.5, 1.5)]
    path = edit.write(pkts[:at] + [bad, *copies] + pkts[at + 1 :], tmp_path / "S1-bad.pcap")
    whole = load_capture(path)
    assert whole.skipped == {"unparsable-sip": 3}
    assert len(whole.messages) == len(pkts) - 1
    assert main(["check", str(path)]) == 1
    # and as often when the bytes are parsed anew
    counted: Counter[str] = Counter()
    for decoded in Decoder(anomalies=False).decode_file(path):
        try:
            _fresh(decoded)
        except ValueError:
            counted["unparsable-sip"] += 1
    assert counted == {"unparsable-sip": 3}


def test_the_table_of_bytes_seen_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many distinct messages pass, at most twice `RECENT` are held; the last
    `RECENT` are always found."""
    seen: Recent[Any] = Recent(RECENT)
    monkeypatch.setattr(capture_module, "_SEEN", seen)
    template = edit.sip(edit.read(DATA / "kamailio" / "S1.pcap")[0])
    sizes = []
    raws = []
    for n in range(5 * RECENT):
        raw = template.replace(b"Call-ID: ", f"Call-ID: n{n}-".encode(), 1)
        raws.append(raw)
        wire = to_wire(DecodedMessage(n + 1, float(n), ("10.0.0.1", 5060), ("10.0.0.2", 5060),
                                      "UDP", raw))
        assert wire is not None and wire.message.call_id.startswith(f"n{n}-")
        sizes.append(len(seen))
    assert max(sizes) == 2 * RECENT
    assert all(seen.get(raw) is not None for raw in raws[-RECENT:])
    assert seen.get(raws[0]) is None


def test_recent_remembers_the_last_keys_put() -> None:
    table: Recent[int] = Recent(3)
    for n in range(10):
        table.put(n, n * 10)
        assert len(table) <= 6
        assert [table.get(k) for k in range(max(0, n - 2), n + 1)] == [
            k * 10 for k in range(max(0, n - 2), n + 1)]
    assert table.get(0) is None
    assert table.get(99, "absent") == "absent"
