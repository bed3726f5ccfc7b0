"""One UDP socket in front of one sans-I/O object, on asyncio's clock.

Theory of operation: a `LiveClock` maps the event loop's monotonic time to the core's `now`
(seconds since the clock started). A `DatagramEndpoint` parses every datagram it receives
(leniently: a live element must not die on a bad packet; unparsable ones go to
`on_unparsable`, which counts them), passes the message to `on_message(message, source, now)`,
sends what comes back (a destination the socket refuses is counted, not raised), and re-arms a
single `loop.call_at` at the object's earliest deadline (`next_deadline()`), firing it with
`now = max(deadline, clock.now())` so that the core never sees time run backwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable

from pushinject.sip import Request, Response, SIPParseError, parse_message

__all__ = ["Address", "LiveClock", "DatagramEndpoint"]

Address = tuple[str, int]


class LiveClock:
    """Seconds since `start`, read from the running event loop's monotonic clock; `epoch` is
    the wall-clock time (seconds since 1970) of core time 0.0, for captures."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.start = loop.time()
        self.epoch = time.time()

    def now(self) -> float:
        return self.loop.time() - self.start

    def loop_time(self, at: float) -> float:
        """The event-loop time of core time `at`."""
        return self.start + at


class DatagramEndpoint(asyncio.DatagramProtocol):
    """Bridge between a UDP socket and a sans-I/O object; subclasses supply three hooks."""

    def __init__(self, name: str, clock: LiveClock) -> None:
        self.name = name
        self.clock = clock
        self.transport: asyncio.DatagramTransport | None = None
        self.counts: Counter[str] = Counter()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None
        #: timers run from `connection_made` (or `start`) until `close`
        self.running = False

    # -- hooks ---------------------------------------------------------------------------------
    def on_message(self, message: Request | Response, source: Address, now: float
                   ) -> Iterable[tuple[Request | Response, Address]]:
        """A message arrived; returns what to send."""
        return ()

    def on_unparsable(self, data: bytes, source: Address, error: str, now: float
                      ) -> Iterable[tuple[Request | Response, Address]]:
        """A datagram the parser rejected (`error` says why); returns what to send."""
        self.counts["unparsable"] += 1
        return ()

    def on_timer(self, now: float) -> Iterable[tuple[Request | Response, Address]]:
        """The deadline passed; returns what to send."""
        return ()

    def next_deadline(self) -> float | None:
        """The earliest core time at which `on_timer` must run (None: none)."""
        return None

    # -- asyncio -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.start()

    def start(self) -> None:
        """Run the timers (without a socket of its own, for an object that has other inputs)."""
        self.running = True
        self.rearm()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.receive(data, addr)
        self.rearm()

    def receive(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """Parse one datagram and send what the hooks answer, without re-arming the timer: a
        caller handing over several datagrams in a row re-arms once after the last."""
        source = (str(addr[0]), int(addr[1]))
        try:
            message = parse_message(data, strict=False)
        except SIPParseError as exc:
            self.send_all(self.on_unparsable(data, source, exc.reason, self.clock.now()))
            return
        self.counts["received"] += 1
        self.send_all(self.on_message(message, source, self.clock.now()))

    def error_received(self, exc: Exception) -> None:
        self.counts["socket-errors"] += 1

    def send_all(self, outputs: Iterable[tuple[Request | Response, Address]]) -> None:
        for message, destination in outputs:
            if self.transport is None or self.transport.is_closing():
                self.counts["unsent"] += 1
                continue
            try:
                self.transport.sendto(bytes(message), destination)
            except (OSError, OverflowError, ValueError, TypeError):  # e.g. a port above 65535
                self.counts["unsent"] += 1
                continue
            self.counts["sent"] += 1

    def rearm(self) -> None:
        """Arm one timer at the earliest deadline (moving it when the deadline moved)."""
        at = self.next_deadline()
        if at == self._armed_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_at = at
        if at is not None and self.running:
            self._timer = self.clock.loop.call_at(self.clock.loop_time(at), self._fire, at)

    def _fire(self, at: float) -> None:
        self._timer = None
        self._armed_at = None
        self.send_all(self.on_timer(max(at, self.clock.now())))
        self.rearm()

    def close(self) -> None:
        self.running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()
