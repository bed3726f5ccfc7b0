"""Reassembly buffers on their own: IP fragments, TCP streams, WebSocket frames, SCTP chunks."""

from __future__ import annotations

from pushinject.capture.ip_reassembly import FragmentBuffer
from pushinject.capture.packets import IPPacket, SCTPChunk, TCPSegment
from pushinject.capture.sctp import SCTPMessages
from pushinject.capture.tcp_reassembly import SYN, TCPStreams
from pushinject.capture.websocket import WebSocketReader, unmask


class Drops:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def __call__(self, reason: str, frames: int) -> None:
        self.seen.append((reason, frames))


def frag(ident: int, offset: int, data: bytes, more: bool, version: int = 4) -> IPPacket:
    return IPPacket(version, "10.0.0.1", "10.0.0.2", 17, data, (ident, offset, more))


def test_overlapping_fragments_keep_the_later_bytes() -> None:
    """RFC 791 §3.2: pieces may overlap; the datagram is whole when every byte is covered."""
    buf = FragmentBuffer(Drops())
    assert buf.add(frag(1, 0, b"AAAAAAAA", True), 0.0) == (None, 0)
    assert buf.add(frag(1, 16, b"CC", False), 0.0) == (None, 0)
    whole, frames = buf.add(frag(1, 8, b"BBBBBBBBBB", True), 0.0)
    assert whole is not None and whole.payload == b"AAAAAAAABBBBBBBBCC" and frames == 3


def test_old_partial_datagrams_expire_and_the_oldest_is_evicted() -> None:
    """RFC 8200 §4.5: give up 60 s after the first fragment; memory bounded by max_datagrams."""
    drops = Drops()
    buf = FragmentBuffer(drops, max_datagrams=2)
    buf.add(frag(1, 0, b"x" * 8, True), 0.0)
    buf.add(frag(2, 0, b"x" * 8, True), 1.0)
    buf.add(frag(3, 0, b"x" * 8, True), 2.0)           # evicts datagram 1
    assert drops.seen == [("fragment-incomplete", 1)] and len(buf) == 2
    buf.add(frag(4, 0, b"x" * 8, True), 70.0)          # 2 and 3 are older than 60 s
    assert drops.seen[1:] == [("fragment-incomplete", 1), ("fragment-incomplete", 1)]
    buf.flush()
    assert drops.seen[-1] == ("fragment-incomplete", 1) and len(buf) == 0


def test_tcp_sequence_numbers_wrap_modulo_2_32() -> None:
    """RFC 9293 §3.4: sequence space arithmetic is modulo 2**32."""
    streams = TCPStreams(Drops())
    key = ("a", 1, "b", 2)
    streams.segment(key, TCPSegment(1, 2, 0xFFFFFFFE, SYN, b""))
    _, data, status = streams.segment(key, TCPSegment(1, 2, 0xFFFFFFFF, 0, b"ab"))
    assert (data, status) == (b"ab", "data")
    _, data, status = streams.segment(key, TCPSegment(1, 2, 1, 0, b"cd"))
    assert (data, status) == (b"cd", "data")
    _, data, status = streams.segment(key, TCPSegment(1, 2, 0, 0, b"Xcde"))  # overlap trimmed
    assert (data, status) == (b"e", "data")


def test_tcp_held_data_is_bounded() -> None:
    drops = Drops()
    streams = TCPStreams(drops, max_held=10)
    key = ("a", 1, "b", 2)
    streams.segment(key, TCPSegment(1, 2, 100, 0, b"start"))
    assert streams.segment(key, TCPSegment(1, 2, 200, 0, b"123456"))[2] == "held"
    assert streams.segment(key, TCPSegment(1, 2, 300, 0, b"123456"))[2] == "held"
    assert drops.seen == [("tcp-overflow", 2)]


def test_websocket_continuation_frames_and_control_frames() -> None:
    """RFC 6455 §5.4: a message may be fragmented; control frames may come in between."""
    key = b"\x0a\x0b\x0c\x0d"
    first = bytes([0x01, 0x80 | 4]) + key + unmask(key, b"INVI")
    ping = bytes([0x89, 0x00])
    last = bytes([0x80, 0x02]) + b"TE"
    reader = WebSocketReader()
    assert reader.feed(first + ping) == ([], 1)
    assert reader.pending == 4
    assert reader.feed(last[:1]) == ([], 0)
    assert reader.feed(last[1:]) == ([b"INVITE"], 0)


def test_websocket_extended_lengths() -> None:
    """RFC 6455 §5.2: 126 means a 16-bit length follows, 127 a 64-bit one."""
    body = b"x" * 70000
    frame = bytes([0x82, 127]) + len(body).to_bytes(8, "big") + body
    reader = WebSocketReader()
    out = reader.feed(frame[:1000])[0] + reader.feed(frame[1000:])[0]
    assert out == [body]


def test_sctp_retransmitted_chunk_is_ignored_and_gaps_drop_the_message() -> None:
    """RFC 9260 §6.9: fragments of one message have consecutive TSNs."""
    msgs = SCTPMessages(Drops())
    key = ("a", 1, "b", 2)
    assert msgs.chunk(key, SCTPChunk(5, 0, 3, b"whole")) == [b"whole"]
    assert msgs.chunk(key, SCTPChunk(5, 0, 3, b"whole")) == []       # retransmission
    assert msgs.chunk(key, SCTPChunk(10, 0, 2, b"be")) == []
    assert msgs.chunk(key, SCTPChunk(12, 0, 1, b"end")) == []        # TSN 11 missing
    assert msgs.dropped == 1
