"""Find the proxy in a capture: the party that receives a request and sends it on with its own
Via on top (RFC 3261 §16.6 step 8: a proxy pushes its Via above the one it received).

Evidence, strongest first:

1. forwarding: a request R arrives at address P, and a request with the same Call-ID leaves
   P's host whose *second* Via carries R's top Via branch; P is the proxy (one point per
   forwarded request; the address with most points wins, the earliest on a tie);
2. when nothing was forwarded (a call that never reached a device), the first address that
   answers an initial INVITE with a 100 Trying without To tag, as a stateful proxy does at once
   (RFC 3261 §16.2), and never answers one with a 2xx itself (only a UAS can: a proxy
   forwards the 2xx of a device).

`parse_proxy("IP:PORT")` reads the `--proxy` option that overrides the guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pushinject.conformance.capture import Address, WireMessage
from pushinject.errors import UsageError

__all__ = ["find_proxy", "parse_proxy"]


def parse_proxy(text: str) -> Address:
    """``IP:PORT`` (IPv6 as ``[addr]:port``) as an address; `UsageError` otherwise.

    >>> parse_proxy("127.0.0.1:5060"), parse_proxy("[::1]:5062")
    (('127.0.0.1', 5060), ('::1', 5062))
    """
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--proxy wants IP:PORT, got {text!r}")
    return host, int(port)


def _forwarding(messages: Sequence[WireMessage]) -> Counter[Address]:
    arrived: dict[tuple[str, str], list[WireMessage]] = {}
    for m in messages:
        if m.is_request and m.branch:
            arrived.setdefault((m.message.call_id, m.branch), []).append(m)
    points: Counter[Address] = Counter()
    for m in messages:
        vias = m.message.vias if m.is_request else []
        if len(vias) < 2 or not vias[1].branch:
            continue
        for incoming in arrived.get((m.message.call_id, str(vias[1].branch)), []):
            if incoming.destination[0] == m.source[0] and incoming.time <= m.time:
                points[incoming.destination] += 1
                break
    return points


def _trying(messages: Sequence[WireMessage]) -> list[Address]:
    invited = {(m.message.call_id, m.branch): m.destination for m in messages
               if m.is_request and m.label == "INVITE" and m.message.to.tag is None}
    answered = {m.source for m in messages if 200 <= m.status < 300
                and m.message.cseq.method == "INVITE"
                and invited.get((m.message.call_id, m.branch)) == m.source}
    found: list[Address] = []
    for m in messages:
        if (m.status == 100 and m.message.to.tag is None
                and invited.get((m.message.call_id, m.branch)) == m.source
                and m.source not in answered and m.source not in found):
            found.append(m.source)
    return found


def find_proxy(messages: Sequence[WireMessage]) -> Address | None:
    """The proxy's address by the evidence above, or None when the capture shows none."""
    points = _forwarding(messages)
    if points:
        order = {}
        for m in messages:
            order.setdefault(m.destination, m.frame)
        return min(points, key=lambda a: (-points[a], order.get(a, 0)))
    trying = _trying(messages)
    return trying[0] if trying else None
