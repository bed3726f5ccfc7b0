"""The live shell's connections: TCP and TLS streams in a table keyed by an opaque id.

Theory of operation: every accepted or opened connection is a `StreamConnection` with a fresh
integer id (the `connection` of the core's `Received`, `Send` and `ConnectionClosed`). Its bytes
are cut into messages by the message layer's `StreamFramer` (RFC 3261 §18.3) and handed to the
table's sink with the connection they came on. Rules, with their catalogue ids:

- a message goes out on the connection the core names while that connection lives (CONN-1,
  CONN-2); otherwise on a live connection of the same transport to the destination, else on a
  new connection the table opens to it (RFC 3261 §18.1.1, §18.2.2; CONN-3);
- a connection that closes, for whatever reason, is reported once to the sink (CONN-4); a
  connection that could not be opened hands back the messages queued on it (CONN-5);
- a stream that cannot be framed (a bad Content-Length) is closed: the stream cannot be
  resynchronised (CONN-6); so is one whose next message does not begin with a start line
  (CONN-11); both are counted by reason (`ConnectionTable.broken`) and reported to the sink;
  a double-CRLF keep-alive ping is answered with one CRLF (RFC 5626 §3.5.1; CONN-7);
- a connection without traffic for `idle_timeout` seconds is closed (CONN-8).
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import Callable
from typing import Protocol

from pushinject.sip import SIPParseError, StreamFramer
from pushinject.sip.framer import starts_message

__all__ = ["BROKEN_REASONS", "ConnectionSink", "StreamConnection", "ConnectionTable"]

Address = tuple[str, int]

_PING, _PONG = b"\r\n\r\n", b"\r\n"

#: why a stream is closed as broken (CONN-6, CONN-11): the keys of `ConnectionTable.broken`
BROKEN_REASONS = ("bad Content-Length", "message too large", "no start line")


class ConnectionSink(Protocol):
    """What the table reports to (the proxy shell)."""

    def stream_message(self, conn: StreamConnection, data: bytes) -> None:
        """A whole message arrived on `conn`."""

    def stream_sending(self, conn: StreamConnection, data: bytes) -> None:
        """`data` is about to be written on `conn`."""

    def stream_closed(self, conn: StreamConnection) -> None:
        """`conn`, once established, is gone."""

    def stream_unsent(self, conn: StreamConnection, tags: list[object]) -> None:
        """`conn` could not be opened: the messages queued on it (their tags) were not sent."""

    def stream_broken(self, conn: StreamConnection, reason: str, detail: str) -> None:
        """`conn` lost its framing (`reason`, one of `BROKEN_REASONS`) and is being closed."""


def _first_line(data: bytes) -> str:
    """The first line of `data`, for a log line (at most 60 characters, repr-quoted)."""
    return repr(data.split(b"\n", 1)[0][:60])


def _address(info: object) -> Address | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None


class StreamConnection(asyncio.Protocol):
    """One TCP or TLS connection (asyncio does the TLS; this sees the plain stream)."""

    def __init__(self, table: ConnectionTable, transport: str, remote: Address | None = None
                 ) -> None:
        self.table = table
        self.id = next(table.ids)
        #: "TCP" or "TLS"
        self.transport = transport
        #: the peer's address, and ours
        self.remote = remote
        self.local: Address | None = None
        #: opened by the shell (else accepted)
        self.outbound = remote is not None
        self.framer = StreamFramer()
        self.last_active = table.loop.time()
        self.established = False
        self.closed = False
        self._writer: asyncio.Transport | None = None
        self._queue: list[tuple[bytes, object]] = []

    def __repr__(self) -> str:
        side = "to" if self.outbound else "from"
        remote = f"{self.remote[0]}:{self.remote[1]}" if self.remote else "?"
        return f"<{self.transport} connection {self.id} {side} {remote}>"

    # -- asyncio -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._writer = transport  # type: ignore[assignment]
        self.remote = _address(transport.get_extra_info("peername")) or self.remote
        self.local = _address(transport.get_extra_info("sockname"))
        self.established = True
        self.last_active = self.table.loop.time()
        self.table.opened(self)
        queued, self._queue = self._queue, []
        for data, tag in queued:
            self.write(data, tag)

    def data_received(self, data: bytes) -> None:
        self.last_active = self.table.loop.time()
        if data == _PING and not self.framer.pending:
            self._raw_write(_PONG)
            return
        broken: tuple[str, str] | None
        try:
            frames = self.framer.feed(data)
        except SIPParseError as exc:
            reason = "bad Content-Length" if "Content-Length" in exc.reason else \
                "message too large"
            frames, broken = [], (reason, exc.reason)
        else:
            broken = self._unsynchronised(frames)
        for frame in frames:
            if self.closed:
                return
            self.table.sink.stream_message(self, frame)
        if broken is not None:
            self.table.broken[broken[0]] += 1
            self.table.sink.stream_broken(self, *broken)
            self.close()

    def _unsynchronised(self, frames: list[bytes]) -> tuple[str, str] | None:
        """Where the first message that does not begin with a start line stands (CONN-11):
        `frames` keeps the messages before it; the bytes after it cannot be framed. Bytes
        still waiting for their blank line are judged as soon as their first line is whole."""
        for index, frame in enumerate(frames):
            if not starts_message(frame):
                del frames[index:]
                return "no start line", _first_line(frame)
        pending = self.framer.pending
        if b"\n" in pending and not starts_message(pending):
            return "no start line", _first_line(pending)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.table.lost(self)

    # -- output --------------------------------------------------------------------------------
    def write(self, data: bytes, tag: object = None) -> bool:
        """Send `data` (queued while the connection is being opened); False if it cannot go."""
        if self.closed:
            return False
        if not self.established:
            self._queue.append((data, tag))
            return True
        if self._writer is None or self._writer.is_closing():
            return False
        self.table.sink.stream_sending(self, data)
        return self._raw_write(data)

    def _raw_write(self, data: bytes) -> bool:
        if self._writer is None or self._writer.is_closing():
            return False
        self._writer.write(data)
        self.last_active = self.table.loop.time()
        return True

    def failed(self) -> None:
        """Opening the connection failed: hand the queued messages back."""
        self.closed = True
        queued, self._queue = self._queue, []
        self.table.lost(self)
        self.table.sink.stream_unsent(self, [tag for _, tag in queued])

    def close(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()


class ConnectionTable:
    """Every live connection by id, and by (transport, remote address) for reuse."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sink: ConnectionSink, *,
                 idle_timeout: float = 120.0, client_ssl: ssl.SSLContext | None = None,
                 connect_timeout: float = 5.0) -> None:
        from collections import Counter

        self.loop = loop
        self.sink = sink
        self.idle_timeout = idle_timeout
        self.client_ssl = client_ssl
        self.connect_timeout = connect_timeout
        self.ids = itertools.count(1)
        self.counts: Counter[str] = Counter()
        #: streams closed because they lost their framing, by reason (CONN-6, CONN-11)
        self.broken: Counter[str] = Counter()
        self._by_id: dict[int, StreamConnection] = {}
        self._by_remote: dict[tuple[str, Address], StreamConnection] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._by_id)

    def summary(self) -> str:
        """One line: connections made, and those closed as broken by reason (CONN-11)."""
        broken = ", ".join(f"{reason} {n}" for reason, n in sorted(self.broken.items()))
        return (f"connections: {self.counts['connections']} established, "
                f"{sum(self.broken.values())} closed as broken"
                + (f" ({broken})" if broken else ""))

    def factory(self, transport: str) -> Callable[[], StreamConnection]:
        """The protocol factory of a listener of `transport` ("TCP" or "TLS")."""
        return lambda: StreamConnection(self, transport)

    def get(self, connection: int) -> StreamConnection | None:
        """The live connection with this id (None once it closed)."""
        return self._by_id.get(connection)

    def opened(self, conn: StreamConnection) -> None:
        self._by_id[conn.id] = conn
        if conn.remote is not None:
            self._by_remote[(conn.transport, conn.remote)] = conn
        self.counts["connections"] += 1
        self._arm_sweeper()

    def lost(self, conn: StreamConnection) -> None:
        known = self._by_id.pop(conn.id, None) is not None
        if conn.remote is not None and self._by_remote.get((conn.transport, conn.remote)) is conn:
            del self._by_remote[(conn.transport, conn.remote)]
        if known and conn.established:
            self.sink.stream_closed(conn)

    def send(self, data: bytes, tag: object, *, transport: str, connection: int | None,
             destination: Address) -> StreamConnection:
        """Write `data` on connection `connection` if it lives, else on one to `destination`
        (reused or opened). Returns the connection used; a failure to open it comes back later
        through `ConnectionSink.stream_unsent`."""
        conn = self._by_id.get(connection) if connection is not None else None
        if conn is None or conn.closed:
            conn = self._by_remote.get((transport, destination))
        if conn is None or conn.closed:
            conn = self._open(transport, destination)
        if not conn.write(data, tag):
            self.counts["unsent"] += 1
            self.sink.stream_unsent(conn, [tag])
        return conn

    def _open(self, transport: str, destination: Address) -> StreamConnection:
        conn = StreamConnection(self, transport, destination)
        self._by_remote[(transport, destination)] = conn
        task = self.loop.create_task(self._connect(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return conn

    async def _connect(self, conn: StreamConnection) -> None:
        assert conn.remote is not None
        host, port = conn.remote
        context = None
        if conn.transport == "TLS":
            context = self.client_ssl
            if context is None:
                from pushinject.live.tls import client_context
                context = self.client_ssl = client_context()
        try:
            await asyncio.wait_for(self.loop.create_connection(
                lambda: conn, host, port, ssl=context,
                server_hostname=host if context is not None else None), self.connect_timeout)
        except (OSError, ssl.SSLError, asyncio.TimeoutError):
            self.counts["connect-failures"] += 1
            conn.failed()

    # -- idle connections ----------------------------------------------------------------------
    def _arm_sweeper(self) -> None:
        if self._sweeper is None and self._by_id:
            self._sweeper = self.loop.call_later(max(self.idle_timeout / 4, 0.05), self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        limit = self.loop.time() - self.idle_timeout
        for conn in list(self._by_id.values()):
            if conn.last_active <= limit:
                self.counts["idle-closed"] += 1
                conn.close()
        self._arm_sweeper()

    def close_all(self) -> None:
        """Close every connection and stop opening new ones."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._by_id.values()):
            conn.close()
