"""Derived messages keep what was parsed from their parent's unchanged headers (the index and
typed values of `with_*` / `without_*` copies): every value read from a derived message must
equal what a fresh parse of its wire form gives (RFC 3261 §7.3, §16.6, §16.7 step 3)."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_sip_properties import messages

from pushinject.sip import Message, Request, SIPParseError, make_response, parse_message
from pushinject.sip.headers import header_key

_OPERATIONS = st.lists(st.sampled_from([
    ("prepend", "Via", "SIP/2.0/UDP p.example:5060;branch=z9hG4bKp1"),
    ("prepend", "Record-Route", "<sip:p.example;lr>"),
    ("prepend", "Route", "<sip:edge.example;lr>"),
    ("append", "Contact", "<sip:x@192.0.2.7>"),
    ("append", "Route", "<sip:late.example;lr>"),
    ("set", "Max-Forwards", "9"),
    ("set", "From", "<sip:new@example.com>;tag=n"),
    ("set", "Call-ID", "moved@example.com"),
    ("drop", "Route", ""),
    ("drop", "Contact", ""),
    ("drop", "t", ""),
    ("pop-via", "", ""),
    ("top-via", "", "SIP/2.0/UDP a.example:5062;branch=z9hG4bKt1;received=192.0.2.4"),
    ("uri", "sip:moved@192.0.2.9:5070", ""),
]), max_size=5)


def _read(msg: Message) -> tuple[object, ...]:
    """Every typed value a message offers; an accessor that fails reads as its error text."""
    out: list[object] = []
    for name in ("call_id", "cseq", "vias", "top_via", "from_", "to", "contacts", "routes",
                 "record_routes", "max_forwards"):
        try:
            out.append(getattr(msg, name))
        except SIPParseError as exc:
            out.append(str(exc))
    out.append([msg.get_all(n) for n in ("Via", "To", "Route", "Contact", "CSeq")])
    return tuple(out)


def _derive(msg: Message, operation: tuple[str, str, str]) -> Message:
    kind, name, value = operation
    if kind == "prepend":
        return msg.with_header_prepended(name, value)
    if kind == "append":
        return msg.with_header_appended(name, value)
    if kind == "set":
        return msg.with_header(name, value)
    if kind == "drop":
        return msg.without_header(name)
    if kind == "pop-via":
        return msg.without_top_via() if msg.has("Via") else msg
    if kind == "top-via":
        return msg.with_top_via(value) if msg.has("Via") else msg
    return msg.with_uri(name) if isinstance(msg, Request) else msg


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages(), _OPERATIONS, st.booleans())
def test_derived_message_reads_as_its_fresh_parse(data: bytes, operations: list[tuple[str, str,
                                                  str]], read_first: bool) -> None:
    """RFC 3261 §7.3: a derived copy's header index and cached typed values (carried over from
    the message it came from) equal those of parsing its bytes again."""
    try:
        msg = parse_message(data)
    except SIPParseError:
        return
    for operation in operations:
        if read_first:  # fill the caches before deriving, so they are carried over
            _read(msg)
        msg = _derive(msg, operation)
    try:
        fresh = parse_message(bytes(msg))
    except SIPParseError:  # e.g. the To header was dropped: nothing to compare with
        assume(False)
    assert _read(msg) == _read(fresh)


def test_with_uri_shares_the_parsed_headers() -> None:
    """RFC 3261 §16.6 step 2: a new Request-URI changes no header, so what was parsed from
    the headers is not parsed again."""
    msg = parse_message(b"INVITE sip:bob@example.com SIP/2.0\r\n"
                        b"Via: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\n"
                        b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
                        b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    to = msg.to
    moved = msg.with_uri("sip:bob@192.0.2.5")
    assert moved.to is to
    assert str(moved.uri) == "sip:bob@192.0.2.5"
    assert moved.to == parse_message(bytes(moved)).to


def test_prepending_a_via_drops_only_the_via_values() -> None:
    """RFC 3261 §16.6 step 8: the new top Via is read from the new header, the rest is kept."""
    msg = parse_message(b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
                        b"Via: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\n"
                        b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
                        b"Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    assert msg.top_via.branch == "z9hG4bK1"
    from_ = msg.from_
    out = msg.with_header_prepended("Via", "SIP/2.0/UDP p.example;branch=z9hG4bK2")
    assert out.from_ is from_
    assert [v.branch for v in out.vias] == ["z9hG4bK2", "z9hG4bK1"]
    assert out.top_via.branch == "z9hG4bK2"
    assert out.without_top_via().top_via.branch == "z9hG4bK1"


@given(messages())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_replacing_the_top_via_is_popping_it_then_prepending(data: bytes) -> None:
    """RFC 3261 §18.2.1: the top Via marked with `received` replaces the one received, on a
    line of its own on top, whether the Via values share a line or not."""
    try:
        msg = parse_message(data)
    except SIPParseError:
        return
    assume(msg.has("Via"))
    value = "SIP/2.0/UDP a.example;branch=z9hG4bK9;received=192.0.2.4"
    two_steps = msg.without_top_via().with_header_prepended("Via", value)
    out = msg.with_top_via(value)
    assert (type(out), out.headers, bytes(out)) == (type(two_steps), two_steps.headers,
                                                   bytes(two_steps))
    assert _read(out) == _read(two_steps)


def test_replacing_a_lone_top_via_keeps_what_was_parsed() -> None:
    """A Via alone on the first line is replaced where it stands: the other headers keep their
    places and what was parsed from them."""
    msg = parse_message(b"INVITE sip:bob@example.com SIP/2.0\r\n"
                        b"v: SIP/2.0/UDP a.example;branch=z9hG4bK1;rport\r\n"
                        b"Via: SIP/2.0/UDP b.example;branch=z9hG4bK0\r\n"
                        b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
                        b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    to = msg.to
    out = msg.with_top_via("SIP/2.0/UDP a.example;branch=z9hG4bK1;rport=5070")
    assert out.headers[0] == ("Via", "SIP/2.0/UDP a.example;branch=z9hG4bK1;rport=5070")
    assert out.headers[1:] == msg.headers[1:]
    assert out.to is to
    assert [v.branch for v in out.vias] == ["z9hG4bK1", "z9hG4bK0"]
    assert out.top_via.rport == "5070"


_EXTRA = st.lists(st.sampled_from([
    ("Contact", "<sip:x@192.0.2.7>"), ("Via", "SIP/2.0/UDP late.example"), ("Expires", "60"),
    ("m", "<sip:y@192.0.2.8>"), ("X-Note", "a"), ("From", "<sip:z@example.com>"),
]), max_size=4)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages(), st.sampled_from([100, 180, 200, 487]), _EXTRA, st.booleans())
def test_response_reads_as_its_fresh_parse(data: bytes, status: int,
                                           extra: list[tuple[str, str]], body: bool) -> None:
    """RFC 3261 §8.2.6: `make_response` copies the request's Via lines (all, in order, found
    through its header index) first; every value of the response reads as in a fresh parse."""
    try:
        msg = parse_message(data)
    except SIPParseError:
        return
    assume(isinstance(msg, Request))
    assert isinstance(msg, Request)
    try:
        resp = make_response(msg, status, to_tag="t9", extra=extra,
                             body=b"v=0\r\n" if body else b"",
                             content_type="application/sdp" if body else None)
    except SIPParseError:
        assume(False)
    vias = tuple(line for line in msg.headers if header_key(line[0]) == "via")
    assert resp.headers[:len(vias)] == vias
    try:
        fresh = parse_message(bytes(resp))
    except SIPParseError:
        assume(False)
    assert _read(resp) == _read(fresh)
