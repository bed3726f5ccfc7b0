"""What the checker reads of a message outside its call, kept once the parsed message is let go.

A `Digest` holds the few facts of one SIP message that the proxy's detection
(`pushinject.conformance.proxy_detect`), the field rules' registrations and the latencies
(`pushinject.conformance.field_rules`) and the collector's bookkeeping of registrations
(`pushinject.conformance.collector`) read: its frame, time, addresses and transport, its kind,
Call-ID, CSeq and To tag, its top two Vias as the proxy's detection reads them, and for a
REGISTER its address of record, the first contact it adds with the device that contact stands
for, its Path and how long its bindings last. Those readers work on digests only, so a
registration the collector keeps for them needs a few hundred bytes rather than its parsed
message (several kilobytes).

A *device* is what one contact stands for: its ``+sip.instance`` (RFC 5626 §4.1), else its
``pn-prid`` (RFC 8599 §4.1.1), else the user and host of its URI (a device that reconnects
from a new port is the same device).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from pushinject.conformance.calls import added_contacts, user_of
from pushinject.conformance.capture import Address, Ordered, WireMessage

__all__ = ["Digest", "digests", "with_values_of", "lifetime", "device_of_contact", "device_of_uri"]

_intern = sys.intern


@dataclass(slots=True)
class Digest(Ordered):
    """The facts of one message that are read outside its call (see the module docstring);
    never changed once made (not frozen: a frozen dataclass is several times slower to make,
    and every message of a judged call is digested).

    `second_branch` is the branch of its second Via ("" with fewer than two Vias or none
    there), `via_address` the host and port of its top Via (None without a port) when it has a
    second branch; `user`, `contact`, `device` and `paths` are a REGISTER's address of record,
    first added contact (none: "") and its device, and Path values; `lifetime` how long its
    bindings last (`lifetime`, 0 for any other message); `within` its place among the
    messages of its frame (CAP-9)."""

    frame: int
    time: float
    source: Address
    destination: Address
    transport: str
    within: int
    is_request: bool
    label: str
    status: int
    branch: str
    call_id: str
    cseq_number: int
    cseq_method: str
    to_tag: str | None
    vias: int
    second_branch: str = ""
    via_address: Address | None = None
    user: str = ""
    contact: str = ""
    device: str = ""
    paths: tuple[str, ...] = ()
    lifetime: float = 0.0

    @classmethod
    def of(cls, m: WireMessage) -> Digest:
        """The digest of a parsed message (its headers were read when it was made,
        `pushinject.conformance.capture.to_wire`); what comes from the message is worked out
        once for all its copies (`pushinject.conformance.capture.Parsed.facts`)."""
        parsed = m.parsed
        facts = parsed.facts
        if facts is None:
            facts = parsed.facts = _facts(m)
        return cls(m.frame, m.time, m.source, m.destination, m.transport, m.within, *facts)


def _facts(m: WireMessage) -> tuple[Any, ...]:
    """The fields of a digest after its transport, which come from the message alone."""
    msg = m.message
    vias = msg.vias
    cseq = msg.cseq
    second = ""
    via_address = None
    if m.is_request and len(vias) > 1 and vias[1].branch:
        second = str(vias[1].branch)
        if vias[0].port is not None:
            via_address = (str(vias[0].host).strip("[]"), int(vias[0].port))
    user = contact = device = ""
    paths: tuple[str, ...] = ()
    life = 0.0
    if m.is_request and m.label == "REGISTER":
        user = _intern(user_of(msg.to.uri))
        added = added_contacts(msg)
        if added:
            contact = str(added[0].uri)
            device = device_of_contact(added[0])
        paths = tuple(str(p) for p in msg.paths)
        life = lifetime(msg)
    return (m.is_request, _intern(m.label), m.status, m.branch, msg.call_id, cseq.number,
            _intern(cseq.method), msg.to.tag, len(vias), second, via_address, user, contact,
            device, paths, life)


def digests(messages: Sequence[WireMessage | Digest]) -> list[Digest]:
    """The digest of each message, in order (a digest stands for itself)."""
    return [m if type(m) is Digest else Digest.of(m) for m in messages]  # type: ignore[arg-type]


#: the fields of a digest whose values recur among the messages of one registration (its
#: Call-ID, transaction, addresses, contact and device), so that `with_values_of` can share them
_RECURRING = ("source", "destination", "call_id", "branch", "to_tag", "user", "contact",
              "device")
_FIELDS = tuple(f.name for f in fields(Digest))
_all_of = attrgetter(*_FIELDS)
_recurring_of = attrgetter(*_RECURRING)
_AT = tuple(_FIELDS.index(name) for name in _RECURRING)


def with_values_of(digest: Digest, others: Iterable[Digest]) -> Digest:
    """`digest`, each value of which that equals one of `others` (the digests kept before it
    of the same callee) taken from there: the digests kept for long hold one copy of what
    their messages repeat.

    >>> a = Digest(1, 0.0, ("10.0.0.1", 5060), ("10.0.0.9", 5060), "UDP", 0, True, "REGISTER",
    ...            0, "z9hG4bK1", "c1", 1, "REGISTER", None, 1)
    >>> b = Digest(2, 0.1, ("10.0.0.9", 5060), ("10.0.0.1", 5060), "UDP", 0, False, "200",
    ...            200, "z9hG4bK1", "c" + str(1), 1, "REGISTER", "t", 1)
    >>> kept = with_values_of(b, [a])
    >>> b.call_id is a.call_id, kept.call_id is a.call_id, kept == b
    (False, True, True)
    """
    known: dict[Any, Any] = {}
    for other in reversed(list(others)):  # the first digest, and its first field, win
        recurring = _recurring_of(other)[::-1]
        known.update(zip(recurring, recurring))
    values: list[Any] | None = None
    for at, value in zip(_AT, _recurring_of(digest)):
        same = known.get(value)
        if same is not None and same is not value:
            if values is None:
                values = list(_all_of(digest))
            values[at] = same
    return digest if values is None else Digest(*values)


def lifetime(register: Any) -> float:
    """How long the bindings of a REGISTER last: the longest expires of its contacts, else its
    Expires header, else 3600 s (RFC 3261 §10.2.1.1)."""
    default = getattr(register, "expires", None)
    default = 3600 if default is None else default
    lives = [c.expires if c.expires is not None else default
             for c in getattr(register, "contacts", ()) if not c.star]
    return float(max(lives, default=default))


def device_of_contact(contact: Any) -> str:
    """The device a Contact stands for (see the module docstring).

    >>> from pushinject.sip.values import parse_contact
    >>> device_of_contact(parse_contact('<sip:b@192.0.2.1:5070;pn-prid=ab12>'))
    'pn-prid ab12'
    >>> device_of_contact(parse_contact('<sip:b@192.0.2.1:5070>;+sip.instance="<urn:uuid:1>"'))
    'instance urn:uuid:1'
    """
    if contact.instance:
        return f"instance {contact.instance}"
    prid = getattr(contact, "pn_prid", None)
    if prid:
        return f"pn-prid {prid}"
    return device_of_uri(contact.uri)


def device_of_uri(uri: Any) -> str:
    """The device a URI stands for: its user and host, else its host.

    >>> from pushinject.sip import parse_uri
    >>> device_of_uri(parse_uri("sip:b@192.0.2.1:5070")), device_of_uri(parse_uri("sip:h.example"))
    ('b@192.0.2.1', 'h.example')
    """
    user = getattr(uri, "user", None)
    host = str(getattr(uri, "host", "") or "")
    return f"{user}@{host}" if user else host
