"""The other dialogs a stream interleaves (a proxy's OPTIONS keep-alives, its pushes) are kept
once and judged with a call only where they can concern it (`pushinject.conformance.collector`,
HEP-3): the verdicts, the frames a missing message is blamed on and the counts are those of the
whole capture judged at once."""

from __future__ import annotations

from pathlib import Path

import pytest

import pcap_edit as edit
from pushinject.conformance import CheckOptions
from pushinject.conformance.capture import Capture, load_capture
from pushinject.conformance.check import judge_calls
from pushinject.conformance.collector import CallCollector

ROOT = Path(__file__).resolve().parent.parent
S1 = ROOT / "data" / "kamailio" / "S1.pcap"
LAB = CheckOptions(preset="kamailio-tsilo", knobs={"fr_timeout": 8, "fr_inv_timeout": 10})


def _keepalive(template: object, n: int, time: float, answer: bool) -> object:
    """The proxy's OPTIONS to a phone (or the phone's 200 to it), a dialog of its own."""
    via = f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ka{n}\r\n"
    start = "SIP/2.0 200 OK" if answer else "OPTIONS sip:phone@127.0.0.1:5099 SIP/2.0"
    text = (f"{start}\r\n{via}From: <sip:ping@127.0.0.1>;tag=p{n}\r\n"
            f"To: <sip:phone@127.0.0.1>{';tag=q' if answer else ''}\r\nCall-ID: ka-{n}\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    ports = (5099, 5060) if answer else (5060, 5099)
    return edit.with_sip(template, text.encode(), time=time, sport=ports[0], dport=ports[1])


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    """S1 without the 200 the proxy relayed to the caller, with a keep-alive exchange every
    20 ms: the replay blames the missing 200 on the last frame before it was due, a
    keep-alive."""
    pkts = edit.read(S1)
    relayed = edit.find(pkts, "SIP/2.0 200 OK", contains="INVITE", sport=5060)
    pkts = edit.drop(pkts, relayed)
    start, end = float(pkts[0].time), float(pkts[-1].time) + 1.0
    alive = [_keepalive(pkts[0], n, start + 0.02 * n + 0.001 * answer, bool(answer))
             for n in range(int((end - start) / 0.02)) for answer in (0, 1)]
    merged = sorted(pkts + alive, key=lambda p: float(p.time))
    path = edit.write(merged, tmp_path_factory.mktemp("busy") / "busy.pcap")
    return load_capture(path)


def test_a_call_among_keepalives_is_judged_as_in_the_whole_capture(busy: Capture) -> None:
    (result,) = CallCollector(LAB, quiet=5.0).run((m, m.time) for m in busy.messages)
    whole = judge_calls(busy, LAB, horizon=busy.messages[-1].time)
    assert [c.to_json() for c in result.calls] == [c.to_json() for c in whole.calls]
    (call,) = result.calls
    assert [v.catalogue_id for v in call.violations] == ["CTX-4", "KAM-10"]


def test_a_missing_message_is_blamed_on_any_frame_of_the_stream(busy: Capture) -> None:
    """Given the stream's frames, the replay blames a missing message on the last of them
    before it was due, though the messages it replays leave that frame out."""
    from pushinject.conformance.calls import find_calls
    from pushinject.conformance.replay import replay
    from pushinject.presets import get_preset

    proxy = ("127.0.0.1", 5060)
    own = [m for m in busy.messages if not m.message.call_id.startswith("ka-")]
    [call] = find_calls(own, proxy)
    args = (own, proxy, {call.call_id: call.caller}, get_preset("kamailio-tsilo"), LAB.knobs)
    alone = replay(*args, calls_only=True).divergences[call.call_id]
    assert alone is not None
    last = max(i for i, m in enumerate(own) if m.time <= alone.time)
    assert alone.message.endswith(f"(after frame {own[last].frame})")
    frames = [(m.time, m.frame) for m in own]
    stream = frames[:last + 1] + [(own[last].time, 9999)] + frames[last + 1:]
    among = replay(*args, calls_only=True, frames=stream).divergences[call.call_id]
    assert among is not None
    assert among.message == alone.message.replace(f"frame {own[last].frame})", "frame 9999)")


def test_the_judged_capture_holds_what_concerns_the_call_and_counts_the_rest(
        busy: Capture) -> None:
    (result,) = CallCollector(LAB, quiet=5.0).run((m, m.time) for m in busy.messages)
    held = result.capture.messages
    assert not any(m.message.call_id.startswith("ka-") for m in held)
    assert {m.label for m in held} >= {"INVITE", "REGISTER", "MESSAGE"}  # the push kept
    whole = [m for m in busy.messages if m.time <= held[-1].time + 5.0]
    assert result.capture.sip_messages == result.capture.frames > len(held)
    assert result.capture.frames <= len(whole)
