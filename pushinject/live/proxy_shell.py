"""A preset's proxy as a live element over UDP, TCP and TLS; pushes go out as SIP MESSAGE to a
push gateway.

The shell adds nothing to the proxy's behaviour: every datagram becomes
`Received(message, source)`, every message framed on a connection becomes
`Received(message, source, transport, connection)` with the connection's id, the end of a
connection becomes `ConnectionClosed(connection)`, and timers fire at `get_timer()`. A `Send`
goes out as a datagram when it names UDP and no connection, else through the connection table
(`pushinject.live.connections`, rules CONN-1 to CONN-8); a request that could not be sent
there comes back to the core as `TransportFailed` (RFC 3261 §16.9, CONN-5).

The core speaks from one address (`ProxyConfig.host`/`port`). On a connection, the shell
presents the Via the core put on a request as that of the listener of the connection's
transport (`SIP/2.0/TLS host:5061`, RFC 3261 §18.1.1: the Via names the transport used), and
turns it back into the core's own text in the responses that come back (CONN-9).
A `Push` action (RFC 8599 §5.6.2, "the proxy requests a push") becomes a MESSAGE to the push
gateway whose body names the pn-provider, pn-prid and pn-param of the binding and the waiting
request's Call-ID. Over UDP the MESSAGE is retransmitted as a non-INVITE client transaction
does (Timer E: after T1, doubling up to T2, until a response; RFC 3261 §17.1.2.2, CONN-13);
the gateway's final answer, or its silence for `push_timeout` seconds, is the push result
handed back to the driver (a failed push request ends an RFC 8599 bucket request with 404 or
480). Without a gateway, pushes are logged and reported as failed.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pushinject.core.actions import Log, Push, Send
from pushinject.core.admission import InputCounts
from pushinject.core.events import ConnectionClosed, Received, TransportFailed, Unparsed
from pushinject.core.ids import IdSource
from pushinject.core.messages import top_via, top_via_text
from pushinject.live.connections import ConnectionTable, StreamConnection
from pushinject.live.endpoint import Address, DatagramEndpoint, LiveClock
from pushinject.live.listen import Listen
from pushinject.presets.base import Driver
from pushinject.push.service import PushResult
from pushinject.sim.pcap import PcapStream
from pushinject.sip import Request, Response, SIPParseError, make_request, parse_message

__all__ = ["KEPT_PUSHES", "PUSH_CONTENT_TYPE", "push_body", "parse_push_body", "ProxyShell",
           "input_summary"]

#: the body type of the push MESSAGE (one `key=value` per line)
PUSH_CONTENT_TYPE = "text/plain"

#: how many of the last pushes a long-running shell remembers (`keep_pushes` of `serve`)
KEPT_PUSHES = 1000

#: RFC 3261 §17.1.1.1 T1 and T2, the retransmission intervals of the push MESSAGE (CONN-13)
_T1, _T2 = 0.5, 4.0


def push_body(push: Push) -> bytes:
    """The MESSAGE body asking the gateway to push the device behind `push.binding`.

    Lines `pn-provider=`, `pn-prid=`, `pn-param=` (RFC 8599 §4.1.1), then `aor=` and `call-id=`.
    """
    pn = push.binding.pn
    fields = [
        ("pn-provider", (pn.provider if pn else None) or ""),
        ("pn-prid", (pn.prid if pn else None) or ""),
        ("pn-param", (pn.param if pn else None) or ""),
        ("aor", push.aor),
        ("call-id", push.call_id),
        ("reason", push.reason),
    ]
    return "".join(f"{key}={value}\r\n" for key, value in fields).encode()


def parse_push_body(body: bytes) -> dict[str, str]:
    """The fields of a push MESSAGE body (see `push_body`).

    >>> parse_push_body(b"pn-prid=tok-B\\r\\ncall-id=c1\\r\\n")
    {'pn-prid': 'tok-B', 'call-id': 'c1'}
    """
    out: dict[str, str] = {}
    for line in body.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


@dataclass
class _PendingPush:
    push: Push
    deadline: float
    #: the MESSAGE, and when it goes again (None once a provisional came: Timer E stops)
    message: Request | None = None
    again: float | None = None
    interval: float = 0.5


_Outputs = Iterable[tuple[Request | Response, Address]]


class ProxyShell(DatagramEndpoint):
    """Run `driver` (a preset's proxy) at `address`: on the UDP socket this endpoint is
    attached to, and on the connections of `listeners` of transport TCP or TLS.

    `listeners` name every listening address (the UDP one included) so that Vias on
    connections name the right port; `recorder` receives every message sent and received.
    """

    def __init__(self, driver: Driver, clock: LiveClock, ids: IdSource, *, address: Address,
                 push_gateway: Address | None = None, push_timeout: float = 5.0,
                 log: Callable[[float, str], None] | None = None,
                 listeners: Sequence[Listen] = (), recorder: PcapStream | None = None,
                 idle_timeout: float = 120.0, client_ssl: ssl.SSLContext | None = None,
                 report_every: float = 10.0, keep_pushes: int | None = None) -> None:
        super().__init__("proxy", clock)
        self.driver = driver
        self.ids = ids
        self.address = address
        self.push_gateway = push_gateway
        self.push_timeout = push_timeout
        self.log = log or (lambda now, text: None)
        self.recorder = recorder
        self._idle_timeout = idle_timeout
        self._client_ssl = client_ssl
        self._connections: ConnectionTable | None = None
        self._pending: dict[str, _PendingPush] = {}
        #: (time, Push, result) for every push requested, in order
        #: (`keep_pushes` bounds it to the last ones, for a long run's memory to stay flat)
        self.pushes: deque[tuple[float, Push, PushResult | None]] = deque(maxlen=keep_pushes)
        self.report_every = report_every
        #: refusal reason -> (time of its last log line, its count then)
        self._reported: dict[str, tuple[float, int]] = {}
        self._refused_seen = 0
        host, port = address
        self._own_sent_by = f" {_host(host)}:{port};"
        #: transport -> the sent-by the shell presents on it (its first listener of that kind)
        self._sent_by = {
            listen.transport: f" {_host(listen.host)}:{listen.port};"
            for listen in reversed(listeners)
        }

    @property
    def connections(self) -> ConnectionTable:
        """The TCP and TLS connections (made on first use, on the clock's event loop)."""
        if self._connections is None:
            self._connections = ConnectionTable(self.clock.loop, self,
                                                idle_timeout=self._idle_timeout,
                                                client_ssl=self._client_ssl)
        return self._connections

    # -- proxy I/O -----------------------------------------------------------------------------
    def receive(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.recorder is not None:
            self._record(data, (str(addr[0]), int(addr[1])), self.address, "UDP")
        super().receive(data, addr)

    def on_message(self, message: Request | Response, source: Address, now: float
                   ) -> _Outputs:
        self.deliver(message, source, now)
        return ()

    def on_unparsable(self, data: bytes, source: Address, error: str, now: float
                      ) -> _Outputs:
        self.counts["unparsable"] += 1
        self._handle(Unparsed(data=data, source=source, error=error), now)
        return ()

    def deliver(self, message: Request | Response, source: Address, now: float, *,
                transport: str = "UDP", connection: int | None = None) -> None:
        """Hand one received message to the core and send what it answers, in order."""
        if isinstance(message, Response) and self._pending:
            branch = self._push_branch(message)
            if branch is not None:
                self._push_answered(message, branch, now)
                return
        self._handle(Received(message=message, source=source, transport=transport,
                              connection=connection), now)

    def _handle(self, event: Received | Unparsed | ConnectionClosed | TransportFailed,
                now: float) -> None:
        self._perform(self.driver.handle(event, now), now)
        if self.driver.proxy.inputs.refused != self._refused_seen:
            self._report(now)

    def _report(self, now: float) -> None:
        """One log line per refusal reason whose count grew, at most every `report_every`
        seconds per reason (INPUT-9)."""
        inputs = self.driver.proxy.inputs
        self._refused_seen = inputs.refused
        for key, count in (*inputs.answered.items(), *inputs.dropped.items()):
            at, logged = self._reported.get(key, (None, 0))
            if count == logged or (at is not None and now - at < self.report_every):
                continue
            what = f"answered {key}" if key in inputs.answered else f"dropped ({key})"
            self.log(now, f"refused input: {what}, {count - logged} since the last line, "
                          f"{count} in all; last: {inputs.last.get(key, '')}")
            self._reported[key] = (now, count)

    def input_summary(self) -> str:
        """One line: the core's input counters (INPUT-1), e.g. for when the shell stops."""
        return input_summary(self.driver.proxy.inputs)

    def _push_branch(self, response: Response) -> str | None:
        """The branch of a pending push MESSAGE this response answers, if any."""
        try:
            branch = str(top_via(response).branch)
        except SIPParseError:
            return None
        return branch if branch in self._pending else None

    def on_timer(self, now: float) -> _Outputs:
        for branch, pending in sorted(self._pending.items()):
            if pending.deadline <= now:
                del self._pending[branch]
                self._push_done(pending.push, PushResult(
                    ok=False, detail="the push gateway did not answer"), now)
            elif pending.again is not None and pending.again <= now and pending.message:
                self._retransmit(pending, now)
        at = self.driver.get_timer()
        if at is not None and at <= now:
            self._perform(self.driver.handle_timer(now), now)
        return ()

    def next_deadline(self) -> float | None:
        deadlines = [p.deadline for p in self._pending.values()]
        deadlines += [p.again for p in self._pending.values() if p.again is not None]
        at = self.driver.get_timer()
        if at is not None:
            deadlines.append(at)
        return min(deadlines, default=None)

    def _datagram(self, message: Request | Response, destination: Address) -> None:
        if self.transport is None or self.transport.is_closing():
            self.counts["unsent"] += 1
            return
        data = bytes(message)
        try:
            self.transport.sendto(data, destination)
        except (OSError, OverflowError, ValueError, TypeError):  # e.g. a port above 65535
            self.counts["unsent"] += 1
            return
        if self.recorder is not None:
            self._record(data, self.address, destination, "UDP")
        self.counts["sent"] += 1

    def _perform(self, actions: Iterable[object], now: float) -> None:
        """Carry out the core's actions, in their order."""
        for action in actions:
            if isinstance(action, Send):
                if action.connection is None and action.transport.upper() == "UDP":
                    self._datagram(action.message, action.destination)
                else:
                    self._stream_send(action)
            elif isinstance(action, Push):
                self._push(action, now)
            elif isinstance(action, Log):
                self.log(now, action.text)

    # -- connections ---------------------------------------------------------------------------
    def _stream_send(self, action: Send) -> None:
        transport = action.transport.upper()
        if transport == "UDP":  # the core names a connection: it decides (CONN-1)
            conn = self.connections.get(action.connection) if action.connection else None
            transport = conn.transport if conn is not None else "TCP"
        message = self._present(action.message, transport)
        self.connections.send(bytes(message), action, transport=transport,
                              connection=action.connection, destination=action.destination)

    def _present(self, message: Request | Response, transport: str) -> Request | Response:
        """The core's own top Via of a request, with the sent-by of the listener of
        `transport` (CONN-9)."""
        if not isinstance(message, Request):
            return message
        text = top_via_text(message)
        _, sep, rest = text.partition(" ")
        own = self._own_sent_by[1:]
        sent_by = self._sent_by.get(transport, self._own_sent_by)
        if not sep or not rest.startswith(own) or sent_by == self._own_sent_by:
            return message
        presented = f"SIP/2.0/{transport}{sent_by}{rest[len(own):]}"
        return message.without_top_via().with_header_prepended("Via", presented)

    def _restore(self, message: Response, transport: str) -> Response:
        """The inverse of `_present` on a response that came back on a connection."""
        sent_by = self._sent_by.get(transport, self._own_sent_by)
        if sent_by == self._own_sent_by:
            return message
        text = top_via_text(message)
        prefix = f"SIP/2.0/{transport}{sent_by}"
        if not text.startswith(prefix):
            return message
        own = f"SIP/2.0/{transport}{self._own_sent_by}{text[len(prefix):]}"
        return message.without_top_via().with_header_prepended("Via", own)

    def stream_message(self, conn: StreamConnection, data: bytes) -> None:
        assert conn.remote is not None
        if self.recorder is not None:
            self._record(data, conn.remote, conn.local or self.address, conn.transport)
        try:
            message = parse_message(data, strict=False)
        except SIPParseError as exc:  # framed, not parsed: as a datagram (INPUT-10)
            self.counts["unparsable"] += 1
            self._handle(Unparsed(data=data, source=conn.remote, error=exc.reason,
                                  transport=conn.transport, connection=conn.id),
                         self.clock.now())
            return
        self.counts["received"] += 1
        if isinstance(message, Response):
            message = self._restore(message, conn.transport)
        self.deliver(message, conn.remote, self.clock.now(), transport=conn.transport,
                     connection=conn.id)
        self.rearm()

    def stream_sending(self, conn: StreamConnection, data: bytes) -> None:
        self.counts["sent"] += 1
        if self.recorder is not None and conn.remote is not None:
            self._record(data, conn.local or self.address, conn.remote, conn.transport)

    def stream_broken(self, conn: StreamConnection, reason: str, detail: str) -> None:
        """A stream lost its framing and is closed (CONN-6, CONN-11): one log line."""
        self.log(self.clock.now(), f"{conn!r} closed: {reason} ({detail}); "
                                   f"{self.connections.broken[reason]} so far")

    def stream_closed(self, conn: StreamConnection) -> None:
        """A connection ended: the core fails the branches sent over it (CONN-4)."""
        if self.recorder is not None and conn.remote is not None and conn.local is not None:
            self.recorder.forget(conn.local, conn.remote)
        if not self.running:
            return
        self._handle(ConnectionClosed(connection=conn.id), self.clock.now())
        self.rearm()

    def stream_unsent(self, conn: StreamConnection, tags: list[object]) -> None:
        """Requests that could not be sent: each is a transport failure (CONN-5)."""
        if not self.running:
            return
        now = self.clock.now()
        for tag in tags:
            if not isinstance(tag, Send) or not isinstance(tag.message, Request):
                self.counts["unsent"] += 1
                continue
            self.counts["unsent"] += 1
            if tag.message.method == "ACK":
                continue
            branch = str(top_via(tag.message).branch)
            self._handle(TransportFailed(branch=branch, destination=tag.destination), now)
        self.rearm()

    def _record(self, data: bytes, source: Address, destination: Address, transport: str
                ) -> None:
        """Write a message to the capture; a host name (a Contact such as
        ``sip:dev@localhost:5070``, sent to after the resolver's answer) is written as the
        address it resolves to, and a message that cannot be written is counted ``unrecorded``."""
        assert self.recorder is not None
        try:
            self.recorder.write(self.clock.now(), numeric(source), numeric(destination), data,
                                transport)
        except (OSError, ValueError):
            self.counts["unrecorded"] += 1

    def close(self) -> None:
        if self._connections is not None:
            self._connections.close_all()
        super().close()

    # -- pushes --------------------------------------------------------------------------------
    def _push(self, push: Push, now: float) -> None:
        if self.push_gateway is None:
            self.log(now, f"push for {push.binding.uri} not sent: no push gateway configured")
            self._push_done(push, PushResult(ok=False, detail="no push gateway"), now)
            return
        host, port = self.address
        branch = self.ids.branch()
        gw_host, gw_port = self.push_gateway
        message = make_request(
            "MESSAGE", f"sip:push@{gw_host}:{gw_port}",
            via=f"SIP/2.0/UDP {host}:{port};branch={branch}",
            from_=f"<sip:pushinject@{host}>;tag={self.ids.tag()}",
            to=f"<sip:push@{gw_host}>", call_id=self.ids.call_id(), cseq=1,
            body=push_body(push), content_type=PUSH_CONTENT_TYPE,
        )
        self._pending[branch] = _PendingPush(push, now + self.push_timeout, message,
                                             now + _T1, _T1)
        self.pushes.append((now, push, None))
        self._datagram(message, self.push_gateway)

    def _retransmit(self, pending: _PendingPush, now: float) -> None:
        """Timer E fired: the MESSAGE again, the interval doubled up to T2 (CONN-13)."""
        assert pending.message is not None
        self.counts["push-retransmissions"] += 1
        self._datagram(pending.message, self.push_gateway)  # type: ignore[arg-type]
        pending.interval = min(2 * pending.interval, _T2)
        pending.again = now + pending.interval

    def _push_answered(self, response: Response, branch: str, now: float) -> None:
        if response.status < 200:
            self._pending[branch].again = None  # RFC 3261 §17.1.2.2: Proceeding, over UDP T2
            return
        pending = self._pending.pop(branch)
        ok = 200 <= response.status < 300
        result = PushResult(ok=ok, permanent=response.status == 404,
                            detail=f"{response.status} {response.reason}")
        self._push_done(pending.push, result, now)

    def _push_done(self, push: Push, result: PushResult, now: float) -> None:
        for index, (at, recorded, answer) in enumerate(self.pushes):
            if recorded is push and answer is None:
                self.pushes[index] = (at, recorded, result)
                break
        else:
            self.pushes.append((now, push, result))
        self._perform(self.driver.push_result(push, result, now), now)


def numeric(address: Address) -> Address:
    """`address` with a host name replaced by the first address the resolver gives for it
    (an IP literal, bracketed or not, is returned as it is; `OSError` when it does not resolve).

    >>> numeric(("127.0.0.1", 5060))
    ('127.0.0.1', 5060)
    >>> numeric(("localhost", 5070))[1]
    5070
    """
    host, port = address
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
        return address
    except ValueError:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        return (str(found[0][4][0]), port)


def input_summary(inputs: InputCounts) -> str:
    """One line of input counters (INPUT-1).

    >>> from collections import Counter
    >>> input_summary(InputCounts(received=3, processed=2, dropped=Counter({"unparsable": 1})))
    'inputs: 3 received, 2 processed, 0 answered, 1 dropped (unparsable 1)'
    """
    parts = [f"{key} {n}" for key, n in sorted((*inputs.answered.items(),
                                                 *inputs.dropped.items()))]
    return (f"inputs: {inputs.received} received, {inputs.processed} processed, "
            f"{sum(inputs.answered.values())} answered, {sum(inputs.dropped.values())} "
            f"dropped" + (f" ({', '.join(parts)})" if parts else ""))


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
