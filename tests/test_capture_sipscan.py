"""SIP recognised by content (RFC 3261 §7.1, §7.2), and the fast listing fields agreeing with the
full parser (`pushinject.sip.parse_message`) on every message of the project's captures (and of
the external corpus, tests/test_corpus_vs_tshark.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushinject.capture import Decoder
from pushinject.capture.sipscan import fields_of, find_start, scan
from pushinject.paths import DATA


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


def test_fast_fields_agree_with_the_parser_on_every_project_capture() -> None:
    count = 0
    for path in sorted(DATA.rglob("*.pcap")):
        for msg in Decoder().decode_file(path):
            count += 1
            assert scan(msg.raw) == fields_of(msg.message), (path.name, msg.frame)
    assert count >= 400
