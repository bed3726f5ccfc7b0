"""IPv4 and IPv6 fragment reassembly with bounded memory.

Fragments of one datagram share a key: (source, destination, protocol, identification) for IPv4
(RFC 791 §3.2) and (source, destination, identification) for IPv6 (RFC 8200 §4.5). A datagram is
complete when the last fragment (more-fragments clear) has arrived and the pieces cover every
byte from offset 0. Memory stays bounded: at most `max_datagrams` partial datagrams are held,
each at most 65,535 bytes (RFC 791 total length), and a partial datagram older than `timeout`
seconds of capture time is dropped (RFC 791 and RFC 8200 both give up after 60 s). Dropped
fragments are reported through the `drop(reason, frames)` callback so the decoder counts them.
"""

from __future__ import annotations

from collections.abc import Callable

from pushinject.capture.packets import IPPacket

__all__ = ["FragmentBuffer", "MAX_DATAGRAM"]

#: the largest datagram reassembled (IPv4 total length limit; jumbograms are not fragmented)
MAX_DATAGRAM = 65535

_Key = tuple[int, str, str, int, int]


class _Partial:
    __slots__ = ("first", "frames", "pieces", "size", "end", "proto")

    def __init__(self, first: float) -> None:
        self.first = first
        self.frames = 0
        self.pieces: dict[int, bytes] = {}
        self.size = 0
        self.end: int | None = None
        self.proto = -1


class FragmentBuffer:
    """Collect fragments until their datagram is whole.

    >>> buf = FragmentBuffer(lambda reason, frames: None)
    >>> a = IPPacket(4, "10.0.0.1", "10.0.0.2", 17, b"abcdefgh", (7, 0, True))
    >>> b = IPPacket(4, "10.0.0.1", "10.0.0.2", 17, b"ij", (7, 8, False))
    >>> buf.add(a, 0.0)
    (None, 0)
    >>> whole, frames = buf.add(b, 0.1)
    >>> whole.payload, whole.fragment, frames
    (b'abcdefghij', None, 2)
    """

    def __init__(
        self,
        drop: Callable[[str, int], None],
        *,
        max_datagrams: int = 1024,
        timeout: float = 60.0,
    ) -> None:
        self._drop = drop
        self.max_datagrams = max_datagrams
        self.timeout = timeout
        self._partial: dict[_Key, _Partial] = {}

    def __len__(self) -> int:
        return len(self._partial)

    def add(self, packet: IPPacket, now: float) -> tuple[IPPacket | None, int]:
        """Add one fragment; returns the whole datagram and how many frames made it, or
        (None, 0) while it is incomplete."""
        assert packet.fragment is not None
        ident, offset, more = packet.fragment
        proto = packet.proto if packet.version == 4 else 0
        key = (packet.version, packet.src, packet.dst, proto, ident)
        self._expire(now)
        partial = self._partial.get(key)
        if partial is None:
            if len(self._partial) >= self.max_datagrams:
                oldest = next(iter(self._partial))
                self._drop("fragment-incomplete", self._partial.pop(oldest).frames)
            partial = self._partial[key] = _Partial(now)
        partial.frames += 1
        data = packet.payload
        if offset + len(data) > MAX_DATAGRAM:
            del self._partial[key]
            self._drop("malformed", partial.frames)
            return None, 0
        if offset not in partial.pieces:
            partial.size += len(data)
        partial.pieces[offset] = data
        if offset == 0:
            partial.proto = packet.proto
        if not more:
            partial.end = offset + len(data)
        if partial.end is None or partial.proto < 0:
            return None, 0
        whole = bytearray(partial.end)
        covered = 0
        for start in sorted(partial.pieces):
            piece = partial.pieces[start]
            if start > covered:
                return None, 0
            whole[start : start + len(piece)] = piece
            covered = max(covered, start + len(piece))
        if covered < partial.end:
            return None, 0
        del self._partial[key]
        joined = IPPacket(packet.version, packet.src, packet.dst, partial.proto,
                          bytes(whole[: partial.end]))
        return joined, partial.frames

    def _expire(self, now: float) -> None:
        while self._partial:
            key = next(iter(self._partial))
            partial = self._partial[key]
            if now - partial.first <= self.timeout:
                return
            del self._partial[key]
            self._drop("fragment-incomplete", partial.frames)

    def flush(self) -> None:
        """Drop every partial datagram (end of capture)."""
        for partial in self._partial.values():
            self._drop("fragment-incomplete", partial.frames)
        self._partial.clear()
