"""Copies stamped out of order, as Kamailio's HEP mirror stamps them under load (seen at 50
calls/s): a message's HEP time is when the process that handled it traced it, which may be a
little after the message it caused. Judged from such a stream, a call gets the verdict and the
branches it gets from the wire (HEP-2, CAP-7)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pushinject.conformance import CheckOptions
from pushinject.conformance.capture import Capture, WireMessage, load_capture
from pushinject.conformance.check import CallResult, check_messages

L1 = Path(__file__).resolve().parent.parent / "data" / "kamailio" / "load" / "L1.pcap"
PRESET = CheckOptions(preset="kamailio-tsilo")


@pytest.fixture(scope="module")
def l1() -> Capture:
    return load_capture(L1)


def _restamped(capture: Capture, anchor: int, delays: dict[int, float]) -> Capture:
    """`capture` with each frame of `delays` stamped that long after frame `anchor`, and
    every message recorded in order of its stamp (HEP: as the copies reached the collector)."""
    at = next(m.time for m in capture.messages if m.frame == anchor)
    moved: list[WireMessage] = [replace(m, time=at + delays[m.frame]) if m.frame in delays
                                else m for m in capture.messages]
    return Capture(capture.file, capture.frames, tuple(sorted(moved, key=lambda m: m.time)))


def _judged(capture: Capture, call_id: str) -> CallResult:
    return next(c for c in check_messages(capture, PRESET).calls if c.call.call_id == call_id)


def test_an_injected_invite_stamped_after_the_answers_to_it(l1: Capture) -> None:
    """Call 2 of L1: Kamailio injects the INVITE (frame 28) from the process that handled
    the REGISTER; its copy is stamped 1.2 ms after the device's 200 (frame 31), then come the
    relayed 180 (30), both ACKs (33, 34) and the relayed 200 (32), as the mirror stamped them
    in a run at 50 calls/s. The branch still has its 180 and 200."""
    call = "2-15605@127.0.0.1"
    wire = _judged(l1, call)
    stamps = {28: 0.00117, 30: 0.00144, 33: 0.00147, 34: 0.00157, 32: 0.00167}
    mirrored = _judged(_restamped(l1, 31, stamps), call)
    assert mirrored.to_json() == wire.to_json()
    [branch] = mirrored.call.branches
    assert ([r.status for r in branch.responses], branch.final_status, mirrored.violations,
            mirrored.loss) == ([180, 200], 200, (), None)


def test_an_ack_stamped_before_the_408_it_acknowledges(l1: Capture) -> None:
    """Call 10 of L1 ends with the proxy's 408 (frame 1295, sent by tm's timer process) and
    the caller's ACK (1296); the ACK's copy is stamped first. The 408 answers the INVITE, not
    the ACK, so it is what brought the caller the To tag: nothing is lacking."""
    call = "10-15605@127.0.0.1"
    wire = _judged(l1, call)
    mirrored = _judged(_restamped(l1, 1296, {1295: 0.00016}), call)
    assert mirrored.loss is None
    assert mirrored.to_json() == wire.to_json()
    assert (mirrored.call.final_status, mirrored.violations) == (408, ())


def test_answers_arriving_out_of_the_order_of_their_stamps(l1: Capture) -> None:
    """Call 2 of L1 as the TCP mirror delivered a call at 150 calls/s: the device's 200 (frame
    31) arrives before its 180 (29), though stamped after it. The reference takes the proxy's
    inputs in the order of their stamps, as the proxy received them, and relays the 180 as the
    proxy did (else: "the proxy sent 180 ...; the reference sent no such message")."""
    call = "2-15605@127.0.0.1"
    by_frame = {m.frame: m for m in l1.messages}
    order = [m.frame for m in l1.messages]
    at = order.index(28) + 1
    moved = order[:at] + [31] + [f for f in order[at:] if f != 31]
    delivered = Capture(l1.file, l1.frames, tuple(by_frame[f] for f in moved))
    mirrored = _judged(delivered, call)
    assert (mirrored.violations, mirrored.loss) == ((), None)
    assert mirrored.to_json() == _judged(l1, call).to_json()
