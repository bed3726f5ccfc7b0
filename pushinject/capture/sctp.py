"""SCTP user messages from DATA chunks (RFC 9260 §3.3.1, §6.9).

A user message travels in one DATA chunk with both B (beginning) and E (end) flags, or in
several chunks of consecutive TSNs on the same stream, the first with B and the last with E.
SIP over SCTP (RFC 4168 §5) puts one SIP message in each user message. Partial messages are
held per (association direction, stream) up to `max_held` bytes; `dropped` counts the partial
messages given up, and at the end `flush()` reports the frames still held (`pending_frames`, kept
by the decoder) as `sctp-incomplete`. Retransmitted chunks (a TSN already delivered) are ignored.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from pushinject.capture.packets import SCTPChunk

__all__ = ["SCTPMessages"]

_B, _E = 2, 1


class SCTPMessages:
    """Reassemble SCTP user messages.

    >>> msgs = SCTPMessages(lambda reason, frames: None)
    >>> key = ("10.0.0.1", 5060, "10.0.0.2", 5060)
    >>> msgs.chunk(key, SCTPChunk(1, 0, 2, b"INV"))
    []
    >>> msgs.chunk(key, SCTPChunk(2, 0, 1, b"ITE"))
    [b'INVITE']
    """

    def __init__(
        self,
        drop: Callable[[str, int], None],
        *,
        max_partial: int = 1024,
        max_held: int = 1 << 20,
        max_seen: int = 4096,
    ) -> None:
        self._drop = drop
        self.max_partial = max_partial
        self.max_held = max_held
        self._partial: OrderedDict[tuple[object, ...], list[SCTPChunk]] = OrderedDict()
        self._seen: OrderedDict[tuple[object, int], None] = OrderedDict()
        self._max_seen = max_seen
        #: frames whose chunks sit in partial messages (kept up to date by the decoder)
        self.pending_frames = 0
        #: partial messages given up (restarted, overflowing, or with a missing chunk)
        self.dropped = 0

    def chunk(self, key: tuple[str, int, str, int], chunk: SCTPChunk) -> list[bytes]:
        """Add one DATA chunk; returns the user messages it completes (zero or one)."""
        seen = (key, chunk.tsn)
        if seen in self._seen:
            return []
        self._seen[seen] = None
        if len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)
        if chunk.flags & _B and chunk.flags & _E:
            return [chunk.data]
        skey = (key, chunk.stream)
        parts = self._partial.get(skey)
        if chunk.flags & _B or parts is None:
            if parts:
                self.dropped += 1
            if len(self._partial) >= self.max_partial:
                self._partial.popitem(last=False)
                self.dropped += 1
            parts = self._partial[skey] = []
        parts.append(chunk)
        if sum(len(p.data) for p in parts) > self.max_held:
            del self._partial[skey]
            self.dropped += 1
            return []
        if not chunk.flags & _E:
            return []
        del self._partial[skey]
        parts.sort(key=lambda c: c.tsn)
        if not parts[0].flags & _B or any(
            (b.tsn - a.tsn) & 0xFFFFFFFF != 1 for a, b in zip(parts, parts[1:])
        ):
            self.dropped += 1
            return []
        return [b"".join(p.data for p in parts)]

    def flush(self) -> None:
        """Report every partial message (end of capture)."""
        self.dropped += len(self._partial)
        self._partial.clear()
        if self.pending_frames:
            self._drop("sctp-incomplete", self.pending_frames)
            self.pending_frames = 0
