"""TCP stream reassembly: in-order bytes per direction, with bounded buffers.

Each direction of a connection, keyed by (source, source port, destination, destination port),
is a `Stream` with the next expected sequence number (RFC 9293 §3.4). A segment is

- delivered when it starts at the expected number (with any held segments that now follow),
- trimmed when it overlaps data already delivered, and counted as a retransmission when all of
  its data was delivered before,
- held when it starts beyond the expected number (out of order), up to `max_held` bytes per
  stream; past that the held data is dropped (`tcp-overflow`) and the stream resynchronises.

A SYN sets the initial sequence number; without one (capture started mid-connection) the first
segment seen does. FIN and RST end the stream. At most `max_streams` streams are kept: the least
recently used one is dropped beyond that. Sequence numbers compare modulo 2**32.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pushinject.capture.packets import TCPSegment

__all__ = ["Stream", "TCPStreams", "SYN", "FIN", "RST"]

FIN, SYN, RST = 0x01, 0x02, 0x04

StreamKey = tuple[str, int, str, int]


def _delta(a: int, b: int) -> int:
    """a - b modulo 2**32, as a signed number."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d & 0x80000000 else d


class Stream:
    """One direction of a TCP connection.

    `app` is free for the consumer of the bytes (the decoder keeps its framing state there);
    `pending_frames` counts frames whose bytes are held here or in `app` and not yet accounted.
    """

    __slots__ = ("key", "next_seq", "held", "held_bytes", "app", "pending_frames", "held_frames")

    def __init__(self, key: StreamKey) -> None:
        self.key = key
        self.next_seq: int | None = None
        self.held: dict[int, bytes] = {}
        self.held_bytes = 0
        self.held_frames = 0
        self.app: Any = None
        self.pending_frames = 0


class TCPStreams:
    """All TCP streams of a capture.

    `segment()` returns `(stream, data, status)`: the bytes that became deliverable in order,
    and one of "data", "held", "retransmission", "no-payload".

    >>> streams = TCPStreams(lambda reason, frames: None)
    >>> key = ("10.0.0.1", 5060, "10.0.0.2", 5060)
    >>> _, data, status = streams.segment(key, TCPSegment(5060, 5060, 100, SYN, b""))
    >>> streams.segment(key, TCPSegment(5060, 5060, 105, 0, b"world"))[1:]
    (b'', 'held')
    >>> streams.segment(key, TCPSegment(5060, 5060, 101, 0, b"hell"))[1:]
    (b'hellworld', 'data')
    >>> streams.segment(key, TCPSegment(5060, 5060, 101, 0, b"hell"))[1:]
    (b'', 'retransmission')
    """

    def __init__(
        self,
        drop: Callable[[str, int], None],
        *,
        max_streams: int = 4096,
        max_held: int = 1 << 20,
        on_close: Callable[[Stream], None] | None = None,
    ) -> None:
        self._drop = drop
        self._on_close = on_close
        self.max_streams = max_streams
        self.max_held = max_held
        self._streams: OrderedDict[StreamKey, Stream] = OrderedDict()

    def __len__(self) -> int:
        return len(self._streams)

    def _stream(self, key: StreamKey) -> Stream:
        stream = self._streams.get(key)
        if stream is None:
            if len(self._streams) >= self.max_streams:
                _, old = self._streams.popitem(last=False)
                self._close(old)
            stream = self._streams[key] = Stream(key)
        else:
            self._streams.move_to_end(key)
        return stream

    def _close(self, stream: Stream) -> None:
        if stream.held_frames:
            self._drop("tcp-gap", stream.held_frames)
            stream.held_frames = 0
        if self._on_close is not None:
            self._on_close(stream)

    def segment(
        self, key: StreamKey, seg: TCPSegment, frames: int = 1
    ) -> tuple[Stream, bytes, str]:
        """Feed one segment of the stream `key` (carried by `frames` frames).

        The caller consumes the returned data, then calls `end(key)` when the segment has FIN
        or RST set.
        """
        stream = self._stream(key)
        seq, data = seg.seq, seg.payload
        if seg.flags & SYN:
            if stream.next_seq is not None and stream.next_seq != (seq + 1) & 0xFFFFFFFF:
                self._close(stream)
                stream = self._streams[key] = Stream(key)
            stream.next_seq = (seq + 1) & 0xFFFFFFFF
            seq = stream.next_seq
        if not data:
            return stream, b"", "no-payload"
        if stream.next_seq is None:
            stream.next_seq = seq
        delta = _delta(seq, stream.next_seq)
        if delta + len(data) <= 0:
            return stream, b"", "retransmission"
        if delta > 0:
            if stream.held_bytes + len(data) > self.max_held:
                self._drop("tcp-overflow", stream.held_frames + frames)
                stream.held.clear()
                stream.held_bytes = stream.held_frames = 0
                return stream, b"", "held"
            if seq not in stream.held:
                stream.held_bytes += len(data)
            stream.held[seq] = data
            stream.held_frames += frames
            return stream, b"", "held"
        if delta < 0:
            data = data[-delta:]
        out = [data]
        stream.next_seq = (stream.next_seq + len(data)) & 0xFFFFFFFF
        while stream.held:
            progressed = False
            for start in list(stream.held):
                piece = stream.held[start]
                d = _delta(start, stream.next_seq)
                if d > 0:
                    continue
                del stream.held[start]
                stream.held_bytes -= len(piece)
                progressed = True
                if d + len(piece) > 0:
                    piece = piece[-d:] if d < 0 else piece
                    out.append(piece)
                    stream.next_seq = (stream.next_seq + len(piece)) & 0xFFFFFFFF
            if not progressed:
                break
        if len(out) > 1:
            stream.pending_frames += stream.held_frames if not stream.held else 0
            if not stream.held:
                stream.held_frames = 0
        return stream, b"".join(out) if len(out) > 1 else data, "data"

    def end(self, key: StreamKey) -> None:
        """Close the stream `key` (FIN, RST) and report what it still held."""
        stream = self._streams.pop(key, None)
        if stream is not None:
            self._close(stream)

    def flush(self) -> None:
        """Close every stream (end of capture)."""
        while self._streams:
            _, stream = self._streams.popitem(last=False)
            self._close(stream)
