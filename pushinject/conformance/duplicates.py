"""A message the capture recorded twice is one message (CAP-11).

A port mirror that copies both a switch port's ingress and another's egress, a capture on two
interfaces a packet crosses, two HEP agents mirroring one proxy, or a proxy whose tracer is
asked twice to trace one transaction: each gives two copies of one message, the same bytes
between the same addresses, microseconds or a millisecond or two apart. Judged as two, the
copy of a request is a retransmission the proxy answered nothing to, and the copy of a response
one it relayed twice.

A message sent twice looks the same, but not as soon: a UDP retransmission comes T1 or more
after the message it repeats (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1; T1 is an estimate of the
round-trip time, 500 ms by default), and a message over TCP is never sent again by SIP. So a
message is a copy when the same bytes went between the same addresses over the same transport
`within` seconds (default `DUPLICATES_WITHIN`, 10 ms) of the message it copies, either side of it
in time (a mirror's copies may be stamped out of order). Copies are set aside before calls
are assembled and counted as ``duplicate``; `within` 0 keeps every copy.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pushinject.capture.decoder import DecodedMessage

__all__ = ["DUPLICATES_WITHIN", "DUPLICATE", "Duplicates"]

#: how close in time the same message must be seen twice to be one message recorded twice
#: (CAP-11): far below any T1 a proxy runs with, far above the gap between a mirror's copies
DUPLICATES_WITHIN = 0.010

#: how a copy set aside is counted among the skipped messages
DUPLICATE = "duplicate"

_Key = tuple[tuple[str, int], tuple[str, int], str, bytes]


class Duplicates:
    """Which decoded messages are copies of one seen just before or after (CAP-11), with
    memory for the last second or so of messages only.

    >>> from pushinject.capture.decoder import DecodedMessage
    >>> a, b = ("10.0.0.1", 5060), ("10.0.0.2", 5060)
    >>> seen = Duplicates()
    >>> [seen.is_duplicate(DecodedMessage(n, t, a, b, "UDP", raw)) for n, t, raw in [
    ...     (1, 0.0000, b"INVITE"), (2, 0.0004, b"INVITE"), (3, 0.5, b"INVITE")]]
    [False, True, False]
    """

    __slots__ = ("within", "_memory", "_last", "_seen")

    def __init__(self, within: float = DUPLICATES_WITHIN) -> None:
        from pushinject.conformance.capture import REORDERED_WITHIN

        self.within = within
        #: how long an original is remembered: its window, and a mirror's reordering
        self._memory = within + REORDERED_WITHIN
        #: the time each message (its key) was last seen as an original
        self._last: dict[_Key, float] = {}
        #: (time, key) of the originals, in the order they came, to forget the old ones
        self._seen: deque[tuple[float, _Key]] = deque()

    def is_duplicate(self, message: DecodedMessage) -> bool:
        """Whether `message` copies one seen within `within` seconds of it (then it is not
        remembered itself: a copy never makes another message a copy)."""
        if self.within <= 0:
            return False
        time = message.time
        self._forget(time - self._memory)
        key = (message.source, message.destination, message.transport, message.raw)
        last = self._last.get(key)
        if last is not None and abs(time - last) <= self.within:
            return True
        self._last[key] = time
        self._seen.append((time, key))
        return False

    def _forget(self, before: float) -> None:
        """Forget the originals seen before `before` (a later one of the same key stays)."""
        seen, last = self._seen, self._last
        while seen and seen[0][0] < before:
            time, key = seen.popleft()
            if last.get(key) == time:
                del last[key]

    def __len__(self) -> int:
        """How many originals are remembered."""
        return len(self._last)
