"""SIP recognised by content (RFC 3261 §7.1, §7.2), and the fast listing fields agreeing with the
full parser (`pushinject.sip.parse_message`) on every message of the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushinject.capture import Decoder
from pushinject.capture.sipscan import fields_of, find_start, scan


@pytest.mark.parametrize(("data", "start"), [
    (b"INVITE sip:b@x SIP/2.0\r\n", 0),
    (b"SIP/2.0 180 Ringing\r\n", 0),
    (b"\r\n\r\nBYE sip:b@x SIP/2.0\r\n", 4),          # leading CRLFs, RFC 3261 §7.5
    (b"FOO sip:b@x SIP/2.0\r\n", 0),                  # unknown methods are still requests
    (b"DBREGISTER sip:b@x SIP/2.0\r\n", 2),           # junk glued to a known method
    (b"\x00\x00junk\r\nOPTIONS sip:b@x SIP/2.0\r\n", 8),
    (b"GET / HTTP/1.1\r\n", -1),
    (b"\x80\x00\x12\x34rtp", -1),
    (b"", -1),
])
def test_find_start(data: bytes, start: int) -> None:
    assert find_start(data) == start


def test_scan_reads_folded_and_compact_headers() -> None:
    """RFC 3261 §7.3.1 folding, §7.3.3 compact forms; the first occurrence wins."""
    data = (b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP a;branch=z9hG4bKone,\r\n SIP/2.0/UDP b;branch=two"
            b"\r\nVia: SIP/2.0/UDP c;branch=three\r\nTO: \"Bob\" <sip:b@x;tag=uri>\r\n ;tag=hdr\r\n"
            b"f: sip:a@x;tag=ft\r\ni: abc\r\nCSeq:  9   INVITE\r\nl: 5\r\n\r\nhi")
    f = scan(data)
    assert (f.status, f.method, f.branch, f.to_tag, f.from_tag) == (
        200, None, "z9hG4bKone", "hdr", "ft")
    assert (f.call_id, f.cseq_number, f.cseq_method, f.length_ok) == ("abc", 9, "INVITE", False)


def test_fast_fields_agree_with_the_parser_on_the_whole_corpus(pcaps_dir: Path) -> None:
    """Every message of the corpus but those of sip_ipv6_udp.pcap must agree exactly.

    sip_ipv6_udp.pcap writes bare IPv6 addresses in its URIs and Via sent-by
    (`sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c:5060`); RFC 3261 §19.1.1/§25.1 require brackets
    (IPv6reference). The message layer refuses the Request-URI even leniently (3 requests) and
    records From/To/Via as malformed defects (all 6 messages), so its typed From/To/Via cannot
    be read there; `scan` still reads the tags and branch as tshark does. For that file only
    Call-ID and CSeq are compared, and the refusals and defects are checked to be those.
    """
    count = 0
    refused = []
    for path in sorted(p for p in pcaps_dir.rglob("*") if p.suffix in (".pcap", ".pcapng")):
        for msg in Decoder().decode_file(path):
            count += 1
            try:
                parsed = msg.message
            except ValueError as exc:
                assert "Request-URI" in str(exc)
                refused.append((path.name, msg.frame, msg.label))
                continue
            fast, full = scan(msg.raw), fields_of(parsed)
            if path.name == "sip_ipv6_udp.pcap":
                assert any(d.startswith("From: malformed") for d in parsed.defects)
                assert fast[:5] == full[:5]
                continue
            assert fast == full, (path.name, msg.frame)
    assert count == 744
    assert refused == [("sip_ipv6_udp.pcap", 1, "INVITE"), ("sip_ipv6_udp.pcap", 4, "ACK"),
                       ("sip_ipv6_udp.pcap", 5, "BYE")]
