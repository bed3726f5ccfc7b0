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

A proxy may listen on several addresses (UDP and TCP on 5060, TLS on 5061, two IPs):
`find_proxies` adds to the address found every other one the same evidence shows it forwards
from on the same host, and every address the top Via of a request it forwarded names as its
own (RFC 3261 §18.1.1: the Via names the address the proxy listens on for that transport),
and every address on its host that answered a device's own REGISTER (one Via) with a 2xx: the
proxy's registrar, as `serve`'s TCP listener is in a call that was never forwarded (a 430 to
a closed flow). `as_one_proxy` then writes each of them as the first, so that the calls
through any of them are judged as one proxy's (CONN-12).

The evidence is read from the messages' digests (`pushinject.conformance.digest`), so the
registrations the collector keeps only as digests count as well.

`parse_proxy("IP:PORT")` reads one `--proxy` value, `parse_proxies` every `--proxy` given
(repeated, or comma-separated): they override the guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from pushinject.conformance.capture import Address, WireMessage
from pushinject.conformance.digest import Digest, digests
from pushinject.errors import UsageError

__all__ = ["find_proxy", "find_proxies", "as_one_proxy", "parse_proxy", "parse_proxies"]

M = TypeVar("M", WireMessage, Digest)


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


def parse_proxies(texts: Sequence[str]) -> tuple[Address, ...]:
    """Every address of the `--proxy` values, each one or a comma list, in order, once each.

    >>> parse_proxies(["127.0.0.1:5060,127.0.0.1:5061", "127.0.0.1:5060"])
    (('127.0.0.1', 5060), ('127.0.0.1', 5061))
    """
    out: list[Address] = []
    for text in texts:
        for part in text.split(","):
            address = parse_proxy(part.strip())
            if address not in out:
                out.append(address)
    return tuple(out)


def _forwarded(messages: Sequence[Digest]) -> list[tuple[Address, Digest]]:
    """(where the request arrived, the copy sent on) for every forwarded request."""
    arrived: dict[tuple[str, str], list[Digest]] = {}
    for m in messages:
        if m.is_request and m.branch:
            arrived.setdefault((m.call_id, m.branch), []).append(m)
    out: list[tuple[Address, Digest]] = []
    for m in messages:
        if not m.second_branch:
            continue
        for incoming in arrived.get((m.call_id, m.second_branch), []):
            if incoming.destination[0] == m.source[0] and incoming.time <= m.time:
                out.append((incoming.destination, m))
                break
    return out


def _trying(messages: Sequence[Digest]) -> list[Address]:
    invited = {(m.call_id, m.branch): m.destination for m in messages
               if m.is_request and m.label == "INVITE" and m.to_tag is None}
    answered = {m.source for m in messages if 200 <= m.status < 300
                and m.cseq_method == "INVITE" and invited.get((m.call_id, m.branch)) == m.source}
    found: list[Address] = []
    for m in messages:
        if (m.status == 100 and m.to_tag is None
                and invited.get((m.call_id, m.branch)) == m.source
                and m.source not in answered and m.source not in found):
            found.append(m.source)
    return found


def _first(facts: Sequence[Digest], forwarded: list[tuple[Address, Digest]]
           ) -> Address | None:
    points = Counter(address for address, _ in forwarded)
    if len(points) == 1:
        return next(iter(points))
    if points:
        order: dict[Address, int] = {}
        for m in facts:
            order.setdefault(m.destination, m.frame)
        return min(points, key=lambda a: (-points[a], order.get(a, 0)))
    trying = _trying(facts)
    return trying[0] if trying else None


def find_proxy(messages: Sequence[WireMessage | Digest]) -> Address | None:
    """The proxy's address by the evidence above, or None when the capture shows none."""
    facts = digests(messages)
    return _first(facts, _forwarded(facts))


def find_proxies(messages: Sequence[WireMessage | Digest]) -> tuple[Address, ...]:
    """The proxy's addresses, the one `find_proxy` gives first (empty when it gives none), then
    the other addresses on its host that requests were forwarded from, those the top Via
    of a request forwarded from one of them names, and the source of a request it forwarded
    under such a Via (a connection it opened, from a port of its own), in order of first
    appearance."""
    facts = digests(messages)
    forwarded = _forwarded(facts)
    first = _first(facts, forwarded)
    if first is None:
        return ()
    found = {first}
    for address, _ in forwarded:
        if address[0] == first[0]:
            found.add(address)
    for address, sent in forwarded:
        if address in found and sent.via_address is not None:
            found.add(sent.via_address)
    for address, sent in forwarded:  # a connection it opened, from a port of its own (CONN-15)
        if address in found and sent.is_request and sent.via_address in found:
            found.add(sent.source)
    for m in facts:  # its registrar: a REGISTER straight from a device answered on its host
        if (200 <= m.status < 300 and m.cseq_method == "REGISTER" and m.source[0] == first[0]
                and not m.second_branch):
            found.add(m.source)
    if len(found) == 1:
        return (first,)
    seen = {a for m in facts for a in (m.source, m.destination)}
    order: dict[Address, int] = {}
    for m in facts:
        for a in (m.destination, m.source):
            order.setdefault(a, m.frame)
    rest = sorted((a for a in found - {first} if a in seen), key=lambda a: (order[a], a))
    return (first, *rest)


def as_one_proxy(messages: Sequence[M], proxies: Sequence[Address]) -> list[M]:
    """`messages` (parsed, or digests) with every address in `proxies` written as the first
    one, and every other address on one of their hosts moved to the first one's host (the
    ports a proxy opens connections from), so that the rest of the checker sees one proxy.

    >>> from pushinject.sip import make_request
    >>> r = make_request("OPTIONS", "sip:a@b", via="SIP/2.0/TCP 10.0.0.2:5061;branch=z9hG4bK1",
    ...                  from_="<sip:x@y>;tag=1", to="<sip:a@b>", call_id="c", cseq=1)
    >>> m = WireMessage(1, 0.0, ("10.0.0.2", 40000), ("10.0.0.9", 5060), r, "TCP")
    >>> [(w.source, w.destination) for w in as_one_proxy([m], [("10.0.0.1", 5060),
    ...                                                         ("10.0.0.2", 5061)])]
    [(('10.0.0.1', 40000), ('10.0.0.9', 5060))]
    """
    if len(proxies) < 2:
        return list(messages)
    first = proxies[0]
    exact = set(proxies[1:])
    hosts = {host for host, _ in proxies[1:]} - {first[0]}

    def one(address: Address) -> Address:
        if address in exact:
            return first
        return (first[0], address[1]) if address[0] in hosts else address

    out: list[M] = []
    for m in messages:
        source, destination = one(m.source), one(m.destination)
        same = source == m.source and destination == m.destination
        out.append(m if same else replace(m, source=source, destination=destination))
    return out

