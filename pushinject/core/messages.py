"""Requests the proxy builds itself: ACK for a non-2xx (RFC 3261 §17.1.1.3), CANCEL (§9.1),
and the proxy's own Via (§16.6 step 8).

Pure functions over `pushinject.sip` messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from pushinject.sip import (
    Request, SIPParseError, Via, header_key, parse_cseq, parse_via, split_commas,
)
from pushinject.sip.headers import KEY_CACHE

_KEY = KEY_CACHE.get
_M = TypeVar("_M", bound="Message")

if TYPE_CHECKING:
    from pushinject.core.types import Address
    from pushinject.sip import Message, Response

__all__ = [
    "host_port", "record_route_value", "via_value", "build_ack", "build_cancel",
    "response_destination", "uri_address", "received_via", "with_top_via",
    "forwarded_request", "top_via", "top_via_text",
]


def top_via_text(message: Message) -> str:
    """The text of the topmost Via value, without parsing the others (RFC 3261 §20.42 allows
    several values on one line)."""
    raw = message.get("Via")
    if raw is None:
        raise SIPParseError("the message has no Via header")
    return split_commas(raw)[0].strip() if "," in raw else raw.strip()


def top_via(message: Message) -> Via:
    """The topmost Via, parsed alone (cheaper than `message.top_via`, which parses them all).

    >>> from pushinject.sip import make_request
    >>> m = make_request("OPTIONS", "sip:b@x", from_="<sip:a@x>;tag=1", to="<sip:b@x>",
    ...                  via="SIP/2.0/UDP a:5060;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
    ...                  call_id="c", cseq=1)
    >>> top_via(m).branch, top_via(m).port
    ('z9hG4bK1', 5060)
    """
    return parse_via(top_via_text(message))


def host_port(host: str, port: int) -> str:
    """`host:port` as SIP writes it: an IPv6 address as an IPv6reference in brackets (RFC 3261
    §25.1).

    >>> host_port("10.0.0.1", 5060), host_port("::1", 5062), host_port("[::1]", 5062)
    ('10.0.0.1:5060', '[::1]:5062', '[::1]:5062')
    """
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def record_route_value(host: str, port: int, transport: str = "UDP", *,
                       double: bool = False) -> str:
    """A Record-Route value naming the proxy's interface `host:port` of `transport` (RFC 3261
    §16.6 step 4): `transport=` unless UDP, `r2=on` on each of a double Record-Route as Kamailio
    and OpenSIPS write it, and `lr` (ROUTE-9).

    >>> record_route_value("10.0.0.1", 5060)
    '<sip:10.0.0.1:5060;lr>'
    >>> record_route_value("10.0.0.1", 5061, "TLS", double=True)
    '<sip:10.0.0.1:5061;transport=tls;r2=on;lr>'
    """
    proto = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
    return f"<sip:{host_port(host, port)}{proto}{';r2=on' if double else ''};lr>"


def via_value(host: str, port: int, branch: str, transport: str = "UDP") -> str:
    """The Via header value a proxy puts on a request it forwards (RFC 3261 §16.6 step 8).

    >>> via_value("10.0.0.1", 5060, "z9hG4bK-1")
    'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1'
    >>> via_value("2001:db8::1", 5062, "z9hG4bK-2")  # IPv6reference (RFC 3261 §25.1)
    'SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bK-2'
    """
    return f"SIP/2.0/{transport.upper()} {host_port(host, port)};branch={branch}"


def _same_transaction(
    method: str, request: Request, to: str | None, extra: list[tuple[str, str]]
) -> Request:
    """A request of `method` that shares the INVITE's top Via, Request-URI, From, Call-ID, CSeq
    number and Route set (RFC 3261 §9.1 for CANCEL, §17.1.1.3 for ACK), built in one pass over
    the INVITE's lines. `to` is the To value (None: the INVITE's own)."""
    via: str | None = None
    cseq: str | None = None
    kept: dict[str, list[tuple[str, str]]] = {"route": [], "from": [], "call-id": []}
    for line in request.headers:
        name = line[0]
        key = _KEY(name) or header_key(name)
        if key in kept:
            kept[key].append(line)
        elif key == "via":
            if via is None:
                via = line[1]
        elif key == "cseq":
            if cseq is None:
                cseq = line[1]
        elif key == "to":
            if to is None:
                to = line[1]
    if via is None:
        raise SIPParseError("the message has no Via header")
    if cseq is None:
        raise SIPParseError("the message has no CSeq header")
    top = split_commas(via)[0].strip() if "," in via else via.strip()
    headers = [("Via", top), *kept["route"], ("Max-Forwards", "70"),
               *kept["from"], ("To", to or ""), *kept["call-id"],
               ("CSeq", f"{parse_cseq(cseq).number} {method}"), *extra,
               ("Content-Length", "0")]
    return Request(method, request.uri, headers)


def build_ack(request: Request, response: Response) -> Request:
    """The ACK a client transaction sends for a 300–699 (RFC 3261 §17.1.1.3): To (with the
    tag) comes from the response, the rest from the INVITE."""
    return _same_transaction("ACK", request, response.get("To") or "", [])


def build_cancel(request: Request, reason: str | None = None) -> Request:
    """The CANCEL of a pending INVITE branch (RFC 3261 §9.1), with an optional `Reason`
    header (RFC 3326), e.g. `SIP ;cause=200 ;text="Call completed elsewhere"` (OSIPS-12)."""
    extra = [("Reason", reason)] if reason is not None else []
    return _same_transaction("CANCEL", request, None, extra)


def uri_address(host: str, port: int | None, default_port: int = 5060) -> Address:
    """A transport address from a URI's host and port (RFC 3263 reduced to literals)."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host, port if port is not None else default_port)


def response_destination(vias: Sequence[object]) -> Address | None:
    """Where a response goes: the top Via's `received`/`rport`, else its sent-by
    (RFC 3261 §18.2.2, RFC 3581 §4). None when there is no Via left."""
    if not vias:
        return None
    via = vias[0]
    host = getattr(via, "received", None) or getattr(via, "host")
    rport = getattr(via, "rport", None)
    port = int(rport) if rport and rport.isascii() and rport.isdigit() else getattr(
        via, "port", None)
    return uri_address(host, port)


def forwarded_request(
    request: Request, uri: object, via: str, routes: Sequence[str] = (),
    record_route: tuple[str, Sequence[str]] | None = None,
) -> Request:
    """The copy of `request` a proxy sends on (RFC 3261 §16.6): Request-URI `uri` (step 2),
    Max-Forwards minus one, or 70 when absent (step 3), `routes` (a contact's Path, OSIPS-9) before
    its Route headers (step 6), and the proxy's `via` on top (step 8). Built in one go.
    `record_route` (own, values): the first Record-Route line `own` becomes the lines `values`
    (the double Record-Route of a branch on another interface, step 4; ROUTE-9).

    >>> from pushinject.sip import make_request
    >>> inv = make_request("INVITE", "sip:bob@example.com",
    ...                    via="SIP/2.0/UDP a:5060;branch=z9hG4bK1", from_="<sip:a@x>;tag=1",
    ...                    to="<sip:bob@example.com>", call_id="c", cseq=1)
    >>> out = forwarded_request(inv, "sip:bob@10.0.0.2", "SIP/2.0/UDP p:5060;branch=z9hG4bK2",
    ...                         ["<sip:edge;lr>"])
    >>> str(out.uri), out.max_forwards, [v.branch for v in out.vias], out.get("Route")
    ('sip:bob@10.0.0.2', 69, ['z9hG4bK2', 'z9hG4bK1'], '<sip:edge;lr>')
    """
    mf = request.max_forwards
    headers: list[tuple[str, str]] = [("Via", via)]
    routes_done = not routes
    mf_done = False
    for line in request.headers:  # unchanged lines are shared with the request, not copied
        name = line[0]
        key = _KEY(name) or header_key(name)
        if key == "max-forwards":
            if mf_done:
                continue
            line, mf_done = (name, str(70 if mf is None else mf - 1)), True
        elif key == "route" and not routes_done:
            headers += [("Route", r) for r in routes]
            routes_done = True
        elif key == "record-route" and record_route is not None and line[1] == record_route[0]:
            headers += [(name, value) for value in record_route[1]]
            record_route = None
            continue
        headers.append(line)
    if not routes_done:
        headers += [("Route", r) for r in routes]
    if not mf_done:
        headers.append(("Max-Forwards", "70"))
    return Request(request.method, uri, headers, request.body)  # type: ignore[arg-type]


def received_via(via: Via, source: Address) -> Via:
    """`via` marked with where its request really came from: `received` when the host
    differs (RFC 3261 §18.2.1), `rport` filled in when the client asked (RFC 3581 §4);
    `via` itself when nothing needs marking.

    >>> v = parse_via("SIP/2.0/UDP a.example;rport;branch=z9hG4bK1")
    >>> str(received_via(v, ("192.0.2.1", 5070)))
    'SIP/2.0/UDP a.example;rport=5070;branch=z9hG4bK1;received=192.0.2.1'
    """
    params = via.params
    host_differs = via.host.strip("[]") != source[0]
    wants_rport = "rport" in params and not params["rport"]
    if not host_differs and not wants_rport:
        return via
    marked = dict(params)
    if host_differs:
        marked["received"] = source[0]
    if wants_rport:
        marked["rport"] = str(source[1])
    if marked == params:
        return via
    # `dataclasses.replace(via, params=marked)`, without its field-by-field introspection
    return Via(via.transport, via.host, via.port, marked, via.protocol)


def with_top_via(request: _M, via: str) -> _M:
    """The message with its topmost Via value replaced by `via` (one `received_via` marked,
    or the Via a replay matches a response to), on a line of its own on top."""
    return request.with_top_via(via)
