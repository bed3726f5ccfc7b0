"""Message model, typed accessors and derivation (RFC 3261 §7, §8.2.6, §20)."""

from __future__ import annotations

import pytest

from pushinject.sip import (
    Request, Response, SIPParseError, make_request, make_response, parse_message, parse_uri,
)

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-inv-1;rport, SIP/2.0/TCP p.example.com\r\n"
    b"v: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-x;received=192.0.2.10\r\n"
    b"Max-Forwards: 70\r\n"
    b'f: "Alice" <sip:alice@example.com>;tag=a1\r\n'
    b"To: <sip:bob@example.com>\r\n"
    b"i: call-1@192.0.2.20\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"m: <sip:alice@192.0.2.20:5060>;expires=30\r\n"
    b"Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def test_request_line_and_typed_accessors_rfc3261_s7_1_s20() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.uri == parse_uri("sip:bob@example.com")
    assert msg.call_id == "call-1@192.0.2.20"
    assert (msg.cseq.number, msg.cseq.method) == (1, "INVITE")
    assert [v.branch for v in msg.vias] == ["z9hG4bK-inv-1", None, "z9hG4bK-x"]
    assert msg.top_via.rport == "" and msg.top_via.port == 5060
    assert msg.vias[1].transport == "TCP" and msg.vias[1].port is None
    assert msg.vias[2].received == "192.0.2.10"
    assert msg.from_.display_name == "Alice" and msg.from_.tag == "a1"
    assert msg.to.tag is None
    assert msg.contacts[0].expires == 30
    assert [str(r.uri) for r in msg.routes] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert msg.max_forwards == 70 and msg.content_length == 4 and msg.expires is None
    assert msg.body == b"v=0\n"
    assert msg.defects == []


def test_compact_forms_and_any_case_rfc3261_s7_3_3() -> None:
    msg = parse_message(INVITE)
    assert msg.get("v") == msg.get("Via") == msg.get("VIA")
    assert msg.get("call-id") == msg.get("i") == "call-1@192.0.2.20"
    assert msg.get("Contact") == msg.get("m")
    assert msg.get("Subject") is None
    assert msg.get_all("via") == [
        "SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-inv-1;rport",
        "SIP/2.0/TCP p.example.com",
        "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-x;received=192.0.2.10",
    ]


def test_comma_split_only_where_grammar_allows_rfc3261_s7_3_1() -> None:
    msg = parse_message(
        b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b'WWW-Authenticate: Digest realm="a", nonce="b"\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n'
        b"Supported: path, outbound\r\nl: 0\r\n\r\n"
    )
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (401, "Unauthorized")
    assert msg.get_all("WWW-Authenticate") == ['Digest realm="a", nonce="b"']
    assert msg.supported == ["path", "outbound"]


def test_message_is_immutable_and_derivation_returns_new_messages() -> None:
    msg = parse_message(INVITE)
    with pytest.raises(AttributeError):
        msg.body = b""  # type: ignore[misc]
    with pytest.raises(AttributeError):
        msg.extra = 1  # type: ignore[attr-defined]
    pre = msg.with_header_prepended("Via", "SIP/2.0/UDP px;branch=z9hG4bK-px-1")
    assert pre.top_via.host == "px" and msg.top_via.host == "192.0.2.20"
    assert msg.without_top_via().get_all("Via")[0] == "SIP/2.0/TCP p.example.com"
    assert msg.without_top_via().without_top_via().top_via.branch == "z9hG4bK-x"
    assert msg.with_header("Max-Forwards", "69").max_forwards == 69
    assert msg.with_header("X-New", "1").headers[-1] == ("X-New", "1")
    assert msg.without_header("Contact").contacts == []
    assert msg.with_uri("sip:bob@192.0.2.50:5070").uri.port == 5070
    new = msg.with_body(b"hello", "text/plain")
    assert (new.body, new.content_length, new.get("c")) == (b"hello", 5, "text/plain")


def test_wire_form_is_a_fixed_point_after_one_round_rfc3261_s7() -> None:
    msg = parse_message(INVITE)
    once = bytes(msg)
    again = parse_message(once)
    assert again == msg
    assert bytes(again) == once


def test_missing_required_header_raises_parse_error() -> None:
    msg = parse_message(b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n")
    with pytest.raises(SIPParseError, match="Call-ID"):
        _ = msg.call_id
    with pytest.raises(SIPParseError, match="Via"):
        _ = msg.top_via


def test_make_response_copies_dialog_headers_rfc3261_s8_2_6() -> None:
    req = make_request(
        "INVITE", "sip:bob@example.com", via="SIP/2.0/UDP h;branch=z9hG4bK1",
        from_='"A" <sip:a@example.com>;tag=1', to="<sip:bob@example.com>", call_id="c1",
        cseq=7, contact="<sip:a@192.0.2.1>", body=b"v=0\r\n", content_type="application/sdp",
    )
    assert req.content_length == 5 and req.get("Content-Type") == "application/sdp"
    trying = make_response(req, 100, to_tag="t1")
    assert trying.to.tag is None  # no tag on 100 (§8.2.6.2)
    ok = make_response(req, 200, to_tag="t1")
    assert (ok.status, ok.reason, ok.to.tag, ok.call_id) == (200, "OK", "t1", "c1")
    assert ok.get_all("Via") == req.get_all("Via") and ok.get("From") == req.get("From")
    assert (ok.cseq.number, ok.cseq.method) == (7, "INVITE")
    tagged = make_response(req.with_header("To", "<sip:bob@example.com>;tag=x"), 486, to_tag="y")
    assert tagged.to.tag == "x" and tagged.reason == "Busy Here"


def test_reason_and_feature_caps_typed_rfc3326_rfc6809_rfc8599_s5_3() -> None:
    msg = parse_message(
        b"CANCEL sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP p;branch=z9hG4bK1\r\n"
        b'Reason: SIP ;cause=200 ;text="Call completed elsewhere", Q.850;cause=16\r\n'
        b'Feature-Caps: *;+sip.pns="apns";+sip.pnspurr="r-1"\r\n'
        b"Require: outbound\r\nCall-ID: c\r\nCSeq: 1 CANCEL\r\nl: 0\r\n\r\n"
    )
    assert [(r.protocol, r.cause, r.text) for r in msg.reasons] == [
        ("SIP", 200, "Call completed elsewhere"), ("Q.850", 16, None)]
    (caps,) = msg.feature_caps
    assert (caps.get("+sip.pns"), caps.get("+sip.pnspurr"), str(caps)) == (
        "apns", "r-1", '*;+sip.pns="apns";+sip.pnspurr="r-1"')
    assert msg.require == ["outbound"] and msg.supported == []


def test_pickle_and_copy_keep_the_message() -> None:
    import copy
    import pickle

    msg = parse_message(INVITE)
    assert pickle.loads(pickle.dumps(msg)) == msg
    assert copy.deepcopy(msg) is msg and copy.copy(msg) is msg
    lenient = parse_message(b"OPTIONS  sip:a@b SIP/2.0\r\nl: 0\r\n\r\n", strict=False)
    again = pickle.loads(pickle.dumps(lenient))
    assert again == lenient and not again.strict and again.defects == lenient.defects != []


def test_bare_lf_lines_are_a_defect_rfc3261_s7() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\n\nbody"
    with pytest.raises(SIPParseError, match="bare LF"):
        parse_message(data)
    msg = parse_message(data, strict=False)
    assert msg.defects == ["lines end with a bare LF instead of CRLF"]
    assert (msg.top_via.branch, msg.call_id, msg.body) == ("z9hG4bK1", "c", b"body")


def test_header_injection_is_refused_rfc3261_s7_3() -> None:
    from pushinject.errors import LocalProtocolError

    msg = parse_message(INVITE)
    for call in (lambda: msg.with_header("Subject", "hi\r\nVia: SIP/2.0/UDP evil"),
                 lambda: msg.with_header_prepended("Bad Name", "x"),
                 lambda: msg.with_header_appended("X-A", "line\nbreak"),
                 lambda: make_response(msg, 200, extra=[("X-B", "a\rb")])):
        with pytest.raises(LocalProtocolError):
            call()
    with pytest.raises(LocalProtocolError):
        make_request("OPTIONS", "sip:a@b", via="SIP/2.0/UDP h\r\n", from_="<sip:a@b>",
                     to="<sip:a@b>", call_id="c", cseq=1)


def test_header_index_keeps_lists_only_for_repeated_headers_rfc3261_s7_3() -> None:
    """RFC 3261 §7.3: a header may be written on several lines; the index keeps a list of
    positions only for those, a single position for the others (and both read the same)."""
    from pushinject.sip.message import _index_of, index_positions

    msg = parse_message(b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1"
                        b"\r\nv: SIP/2.0/UDP b;branch=z9hG4bK2\r\nTo: <sip:bob@example.com>\r\n"
                        b"From: <sip:a@example.com>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
                        b"VIA: SIP/2.0/UDP c;branch=z9hG4bK3\r\nl: 0\r\n\r\n")
    index = _index_of(msg.headers)
    assert index == msg._index
    assert index == {"via": [0, 1, 6], "to": 2, "from": 3, "call-id": 4, "cseq": 5,
                     "content-length": 7}
    assert index_positions(index, "via") == [0, 1, 6]
    assert index_positions(index, "to") == (2,)
    assert index_positions(index, "route") == ()
    assert [v.branch for v in msg.vias] == ["z9hG4bK1", "z9hG4bK2", "z9hG4bK3"]
    assert msg.get("v") == "SIP/2.0/UDP a;branch=z9hG4bK1" and msg.get("Route") is None
    assert msg.content_length == 0 and msg.cseq.number == 1


def test_make_response_writes_full_names_and_shares_lines_rfc3261_s8_2_6() -> None:
    """RFC 3261 §8.2.6: From, To, Call-ID and CSeq are copied under their full names (a
    compact `f:` becomes `From:`); lines already written so are shared with the request."""
    req = parse_message(b"INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1"
                        b"\r\nf: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
                        b"Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    ok = make_response(req, 200, to_tag="b")
    assert [n for n, _ in ok.headers] == ["v", "From", "To", "Call-ID", "CSeq", "Content-Length"]
    assert ok.headers[1] == ("From", "<sip:a@example.com>;tag=1")
    assert ok.headers[2] == ("To", "<sip:bob@example.com>;tag=b")
    assert ok.headers[0] is req.headers[0] and ok.headers[3] is req.headers[3]
    assert ok.headers[4] is req.headers[4]
    with pytest.raises(SIPParseError):
        make_response(req.without_header("Call-ID"), 200)
