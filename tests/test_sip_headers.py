"""Header names and comma splitting (RFC 3261 §7.3, §7.3.1, §7.3.3)."""

from __future__ import annotations

from pushinject.sip import COMPACT_FORMS, display_name, header_key, parse_message, split_commas

RFC3261_COMPACT = {"c": "content-type", "e": "content-encoding", "f": "from", "i": "call-id",
                   "k": "supported", "l": "content-length", "m": "contact", "s": "subject",
                   "t": "to", "v": "via"}


def test_every_rfc3261_compact_form_rfc3261_s7_3_3() -> None:
    assert {k: COMPACT_FORMS[k] for k in RFC3261_COMPACT} == RFC3261_COMPACT
    assert {k: header_key(k.upper()) for k in RFC3261_COMPACT} == RFC3261_COMPACT
    assert header_key("o") == "event" and header_key("u") == "allow-events"
    assert header_key("X-Custom") == "x-custom"


def test_display_names() -> None:
    assert [display_name(n) for n in ("i", "cseq", "www-authenticate", "x-foo-bar", "v")] == [
        "Call-ID", "CSeq", "WWW-Authenticate", "X-Foo-Bar", "Via"]


def test_split_commas_keeps_quoted_and_bracketed_commas() -> None:
    assert split_commas('<sip:a@b;x=1,2>, "c, d" <sip:e@f> ,<sip:g@h>') == [
        "<sip:a@b;x=1,2>", '"c, d" <sip:e@f>', "<sip:g@h>"]
    assert split_commas('"a\\", b" <sip:x@y>') == ['"a\\", b" <sip:x@y>']
    assert split_commas("single") == ["single"]


def test_get_all_splits_only_list_headers_rfc3261_s7_3_1() -> None:
    msg = parse_message(
        b"SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b'Proxy-Authenticate: Digest realm="r", nonce="n, m"\r\nAllow: INVITE, ACK,BYE\r\n'
        b"Subject: lunch, maybe\r\nRoute: <sip:p1;lr>, <sip:p2;lr>\r\nRoute: <sip:p3;lr>\r\n"
        b"Call-ID: c\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n"
    )
    assert msg.get_all("proxy-authenticate") == ['Digest realm="r", nonce="n, m"']
    assert msg.get_all("Allow") == ["INVITE", "ACK", "BYE"]
    assert msg.get_all("s") == ["lunch, maybe"]
    assert [str(r.uri) for r in msg.routes] == ["sip:p1;lr", "sip:p2;lr", "sip:p3;lr"]
    assert msg.get("Route") == "<sip:p1;lr>, <sip:p2;lr>"
