"""Stream framing by Content-Length with keep-alive CRLFs (RFC 3261 §18.3, RFC 5626 §3.5.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushinject.sip import SIPParseError, StreamFramer, parse_message

ONE = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 5\r\n\r\nhello"
TWO = b"SIP/2.0 200 OK\r\nCall-ID: 1\r\nl: 0\r\n\r\n"
THREE = b"MESSAGE sip:a@b SIP/2.0\r\ncontent-length  :  3\r\n\r\n\r\n\r"
STREAM = b"\r\n\r\n" + ONE + b"\r\n" + TWO + b"\r\n\r\n" + THREE + b"\r\n"


def test_whole_stream_gives_each_message_rfc3261_s18_3() -> None:
    framer = StreamFramer()
    assert framer.feed(STREAM) == [ONE, TWO, THREE]
    assert framer.pending == b""
    assert [parse_message(m).body for m in [ONE, TWO, THREE]] == [b"hello", b"", b"\r\n\r"]


def test_incomplete_message_stays_pending() -> None:
    framer = StreamFramer()
    assert framer.feed(ONE[:-2]) == []
    assert framer.pending == ONE[:-2]
    assert framer.feed(ONE[-2:]) == [ONE]


def test_bad_content_length_cannot_frame_a_stream() -> None:
    with pytest.raises(SIPParseError, match="cannot frame"):
        StreamFramer().feed(b"OPTIONS sip:a@b SIP/2.0\r\nl: -4\r\n\r\n")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_messages(cuts: list[int]) -> None:
    framer = StreamFramer()
    bounds = [0, *sorted(cuts), len(STREAM)]
    out: list[bytes] = []
    for a, b in zip(bounds, bounds[1:]):
        out += framer.feed(STREAM[a:b])
    assert out == [ONE, TWO, THREE] and framer.pending == b""


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=8))
def test_arbitrary_chunks_raise_only_parse_errors(chunks: list[bytes]) -> None:
    framer = StreamFramer()
    try:
        for chunk in chunks:
            for message in framer.feed(chunk):
                assert b"\r\n\r\n" in message and not message.startswith((b"\r", b"\n"))
    except SIPParseError:
        pass
