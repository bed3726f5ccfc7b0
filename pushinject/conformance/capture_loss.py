"""Capture loss: proof, in a call's own messages, that the capture lacks some of them (CAP-7).

A capture of a busy proxy loses packets (tcpdump's "packets dropped by kernel" when its buffer
fills), and a capture of one interface of several lacks the others' messages. A message the
capture lacks looks like a message the proxy never sent, and a call judged on such a capture
is blamed for the capture's gap. SIP itself shows when a message was on the wire although the
capture lacks it; the first such proof in a call is its `CaptureLoss`:

- **a tag its sender never received**: a request with a To tag (an ACK, a BYE, any request
  in a dialog) carries the tag of the remote party, which its sender can only have read in a
  message it received (RFC 3261 §12.1, §12.2.1.1, §17.1.1.3). When no earlier message of the
  call carrying that tag went to the sender (to the address it sends from, to its top Via, or
  over a connection to its host), the capture lacks the message that brought it.
- **a tag passed on before it arrived**: the proxy sends a message carrying the tag another
  party shows as its own (the To tag of the responses it sends, the From tag of its
  requests), although no earlier message to the proxy's host carried it (a connection has a
  port of its own): a proxy passes tags on, it does not make them up for others (RFC 3261
  §16.7), so the capture lacks the message that brought it.
- **an answer to no request**: a response copies the top Via branch and the CSeq method of
  the request it answers (RFC 3261 §8.2.6.2, §17.2.1). When no earlier request of the call
  has that branch and method, the capture lacks the request.
- **a 2xx never repeated**: a UAS sends its 2xx again, from T1 on, until the ACK comes (RFC
  3261 §13.3.1.4). When the caller's ACK of a 2xx reached the proxy, the capture shows no ACK
  going on to the callee, and the callee never sent its 2xx again although the capture goes on
  `REPEAT_WITHIN` after it, the ACK reached the callee: the capture lacks it. Only a 2xx sent
  over UDP is read so: over a connection some UAs leave the copies to the transport.

"Earlier" allows for messages recorded out of order: a HEP mirror's processes each send their
own copies, so the copy of a forwarded INVITE may reach the collector after the device's 180
to it. A message recorded up to `REORDERED_WITHIN` after the one it explains still explains it
(but for an answer to that message itself, and, for a tag the proxy passed on, only from the
party the tag belongs to), and a 2xx's copies and ACK count wherever they were recorded.

The checker does not judge a call whose capture lacks messages: its findings are set aside,
shown with the proof, and counted apart from the violations (`pushinject.conformance.check`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from pushinject.conformance.capture import REORDERED_WITHIN, Address, address_text
from pushinject.sip.errors import SIPParseError

if TYPE_CHECKING:
    from pushinject.conformance.calls import CallRecord
    from pushinject.conformance.capture import WireMessage

__all__ = ["CaptureLoss", "REORDERED_WITHIN", "REPEAT_WITHIN", "capture_loss"]

#: how long after a 2xx the capture must go on for its missing copies to prove its ACK came:
#: the first copy is due T1 after it, and T1 is at most T2, 4 s (RFC 3261 §17.1.2.2)
REPEAT_WITHIN = 4.0


@dataclass(frozen=True)
class CaptureLoss:
    """The proof that the capture lacks messages of a call: the frame that shows it, and why."""

    frame: int
    message: str

    def to_json(self) -> dict[str, object]:
        return {"frame": self.frame, "message": self.message}


def capture_loss(call: CallRecord, messages: Iterable[WireMessage],
                 until: float | None = None) -> CaptureLoss | None:
    """The first proof (in frame order, see the module docstring) that the capture lacks
    messages of `call`, among `messages` (the call's and others, in capture order); `until`:
    how far the capture was seen to go on, when beyond its last message. None when its
    messages explain one another."""
    own: list[WireMessage] = []
    fields: list[Fields] = []
    for m in messages:
        if _call_id(m) == call.call_id and (tags := _tags(m)) is not None:
            own.append(m)
            fields.append(tags)
    if not own:
        return None
    return (_unexplained(own, fields, call.proxy)
            or _unrepeated_2xx(call, own, max(own[-1].time, until or own[-1].time)))


def _call_id(m: WireMessage) -> str | None:
    try:
        return m.message.call_id
    except SIPParseError:
        return None


#: A message's To tag, From tag and CSeq method
Fields = tuple[str | None, str | None, str]


def _tags(m: WireMessage) -> Fields | None:
    """The To tag, the From tag and the CSeq method of `m` (None if one does not parse)."""
    msg = m.message
    try:
        return msg.to.tag, msg.from_.tag, msg.cseq.method
    except SIPParseError:
        return None


def _unexplained(own: Sequence[WireMessage], fields: Sequence[Fields],
                 proxy: Address) -> CaptureLoss | None:
    """A tag its sender never received, a tag the proxy passed on before it arrived, or an
    answer to no request (see the module docstring); `fields`: each message's `_tags`."""
    first_request: dict[tuple[str, str], float] = {}  # (branch, method) -> first recorded
    carried: dict[str, list[int]] = {}  # tag -> indexes of the messages carrying it
    for i, (m, (to_tag, from_tag, method)) in enumerate(zip(own, fields, strict=True)):
        if m.is_request and m.branch and m.label != "ACK":
            first_request.setdefault((m.branch, method), m.time)
        for tag in {to_tag, from_tag} - {None, ""}:
            carried.setdefault(cast(str, tag), []).append(i)
    owners = _owners(own, fields, proxy)
    for i, (m, (to_tag, from_tag, method)) in enumerate(zip(own, fields, strict=True)):
        if m.is_request:
            if to_tag and not any(_brought(own, j, i) for j in carried[to_tag]):
                return CaptureLoss(m.frame, (
                    f"the {m.label} of frame {m.frame} carries To tag {to_tag}, which no "
                    f"earlier message to {address_text(m.source)} carries: its sender read it "
                    "in a message the capture lacks (RFC 3261 §12.2.1.1)"))
        elif m.branch and (first_request.get((m.branch, method), float("inf"))
                           > m.time + REORDERED_WITHIN):
            return CaptureLoss(m.frame, (
                f"the {m.label} of frame {m.frame} answers a {method} with Via branch "
                f"{m.branch}, which the capture lacks (RFC 3261 §17.2.1)"))
        if m.source != proxy:
            continue
        for tag in (to_tag, from_tag):
            owner = owners.get(tag) if tag else None
            if owner is not None and not any(
                    _reached_proxy(own, j, i, owner[0]) for j in carried[cast(str, tag)]):
                return CaptureLoss(m.frame, (
                    f"the {m.label} of frame {m.frame} carries tag {tag}, the tag of "
                    f"{address_text(owner[0])} (frame {owner[1]}), which no earlier "
                    "message to the proxy's host carries: the proxy passed on a message "
                    "the capture lacks (RFC 3261 §16.7)"))
    return None


def _owners(own: Sequence[WireMessage], fields: Sequence[Fields],
            proxy: Address) -> dict[str, tuple[Address, int]]:
    """Each tag a party other than the proxy shows as its own (the To tag of a response it
    sends, the From tag of a request it sends: RFC 3261 §8.2.6.2, §8.1.1.3), with the first
    frame that shows it."""
    owners: dict[str, tuple[Address, int]] = {}
    for m, (to_tag, from_tag, _method) in zip(own, fields, strict=True):
        tag = from_tag if m.is_request else to_tag
        if tag and m.source != proxy and tag not in owners:
            owners[tag] = (m.source, m.frame)
    return owners


def _soon_after(own: Sequence[WireMessage], j: int, i: int) -> bool:
    """Message `j` was recorded before message `i`, or out of order just after it."""
    return j < i or (j > i and own[j].time <= own[i].time + REORDERED_WITHIN)


def _brought(own: Sequence[WireMessage], j: int, i: int) -> bool:
    """Message `j` could have brought request `i`'s sender the tag both carry: it went to that
    sender (`_to_sender`), before `i` or just after, and is not an answer to `i` itself (a
    response with its branch and CSeq method; an ACK has no answer, so the 408 that an ACK
    acknowledges, whose branch it shares, is not one: RFC 3261 §17.1.1.3)."""
    carrier, request = own[j], own[i]
    if j == i or not _soon_after(own, j, i) or not _to_sender(request, carrier.destination):
        return False
    return (j < i or carrier.is_request or carrier.branch != request.branch
            or request.label == "ACK"
            or carrier.message.cseq.method != request.message.cseq.method)


def _reached_proxy(own: Sequence[WireMessage], j: int, i: int, owner: Address) -> bool:
    """Message `j`, carrying the tag that the proxy's message `i` carries, went to the proxy's
    host before `i` (a connection has a port of its own), or came from the tag's owner just
    after."""
    carrier, host = own[j], own[i].source[0]
    if carrier.destination[0] != host:
        return False
    return j < i or (carrier.source == owner and _soon_after(own, j, i))


def _to_sender(request: WireMessage, destination: Address) -> bool:
    """`destination` is where the sender of `request` receives: the address it sent from, its
    top Via (where responses go without rport, RFC 3261 §18.2.2), or, over a connection, its
    host (a new connection has a new port)."""
    if destination == request.source:
        return True
    vias = request.message.vias
    if vias:
        via = vias[0]
        port = via.port or (5061 if via.transport.upper() in ("TLS", "WSS") else 5060)
        if (via.host.strip("[]"), port) == destination:
            return True
    return request.transport != "UDP" and destination[0] == request.source[0]


def _unrepeated_2xx(call: CallRecord, own: Sequence[WireMessage],
                    end: float) -> CaptureLoss | None:
    """A 2xx never repeated although the ACK that would stop it is not in the capture."""
    proxy = call.proxy
    for m in own:
        if m.is_request or not 200 <= m.status < 300 or m.source == proxy:
            continue
        if (m.destination != proxy or m.transport != "UDP"
                or m.message.cseq.method != "INVITE"):
            continue
        tag = m.message.to.tag
        if not tag or end - m.time < REPEAT_WITHIN:
            continue
        acked = next((a for a in own if a.label == "ACK" and a.destination == proxy
                      and a.source != m.source and a.message.to.tag == tag), None)
        if acked is None or any(_stops(a, m, proxy) for a in own if a is not m):
            continue
        return CaptureLoss(m.frame, (
            f"the {m.status} of frame {m.frame} was never sent again although the capture "
            f"goes on {end - m.time:.1f} s after it, and the ACK the proxy received (frame "
            f"{acked.frame}) is not seen going on: a UAS repeats its 2xx until the ACK comes "
            "(RFC 3261 §13.3.1.4), so the ACK reached it"))
    return None


def _stops(other: WireMessage, answer: WireMessage, proxy: Address) -> bool:
    """`other` is the ACK of `answer` sent on by the proxy, or a copy of `answer`."""
    msg = other.message
    if msg.to.tag != answer.message.to.tag:
        return False
    if other.label == "ACK":
        return other.source == proxy and other.destination == answer.source
    return (not other.is_request and other.source == answer.source
            and other.status == answer.status and msg.cseq == answer.message.cseq)
