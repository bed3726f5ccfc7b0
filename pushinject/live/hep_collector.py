"""A live HEP collector: HEPv3 over UDP and TCP in, each call's verdict out as soon as it is
complete.

`collect()` binds a UDP socket and a TCP listening socket on the same address and port (as a
Homer collector listens: capture agents send HEP over either), announces
``listening for HEP on HOST:PORT`` on stderr, and loops until `duration` seconds have passed
or SIGINT/SIGTERM arrives (the loop waits at most 0.2 s at a time, so it notices both
promptly). Each UDP datagram is one HEP packet; a TCP connection carries a stream of them, cut
by their length fields (`pushinject.capture.hep.HEPFramer`, HEP-4). At most
`MAX_CONNECTIONS` connections are served at once, a further one is closed at once and counted;
a stream out of step is counted as one malformed packet and its connection closed, the others
go on. The UDP socket asks for a receive buffer of `buffer_kib` (default 8 MiB, forced past the
system's limit when the process may) and for the kernel's count of the datagrams it dropped
because the buffer was full (Linux ``SO_RXQ_OVFL``): a collector that falls behind a busy
proxy says how many it lost, as a capture's statistics do (CAP-8). Each packet goes through
`pushinject.capture.Decoder.feed_datagram` (HEP unwrapped, HEP-2; malformed packets counted,
never raised) and `pushinject.conformance.capture.screened` (copies recorded twice set aside,
CAP-11), then into a `pushinject.conformance.collector.CallCollector`, whose `now` is this
loop's monotonic clock (HEP-3). Every verdict is printed when its call completes; at the end the
calls still open are judged, and a summary follows. Frame numbers count the packets received,
from 1.

Output: text (each call as `text_report` shows it, with its ladder when `ladder`; at the end
``verdict: ...``), or with `json_lines`
one JSON object per judged call (its capture's `to_json`) and a last ``{"summary": ...}``.
Returns the exit status of `pushinject check`: 0 conformant, 1 violations.
"""

from __future__ import annotations

import errno
import json
import selectors
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

from pushinject.capture.hep import HEPError, HEPFramer
from pushinject.conformance.capture import Address, address_text
from pushinject.conformance.check import CaptureResult, CheckOptions
from pushinject.errors import UsageError

__all__ = ["BUFFER_KIB", "MAX_CONNECTIONS", "collect"]

#: the longest the loop waits for a packet before it looks at the clock again
TICK = 0.2
#: TCP connections served at once (a capture agent keeps one open)
MAX_CONNECTIONS = 64
#: bytes read from a connection at a time
_READ = 65536
#: tries at one free port for both sockets, when any port will do
_PORT_TRIES = 20
#: the UDP receive buffer asked for by default (KiB): about 8,000 HEP packets of 1 KiB
BUFFER_KIB = 8192
#: Linux socket options (socket(7)) Python does not name: the buffer size past
#: net.core.rmem_max (CAP_NET_ADMIN), and the dropped-datagram count as ancillary data
_SO_RCVBUFFORCE = 33
_SO_RXQ_OVFL = 40
#: room for the dropped-datagram count's ancillary message
_ANCILLARY = socket.CMSG_SPACE(4)


def _socket(kind: int, listen: Address) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
    sock = socket.socket(family, kind)
    if kind == socket.SOCK_STREAM:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(listen)
    except OSError:
        sock.close()
        raise
    return sock


def _receive_buffer(udp: socket.socket, buffer_kib: int) -> None:
    """Ask for a receive buffer of `buffer_kib` (forced when the process may, else up to the
    system's limit) and for the count of dropped datagrams (where the system gives it)."""
    size = buffer_kib * 1024
    try:
        udp.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
    except OSError:
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    try:
        udp.setsockopt(socket.SOL_SOCKET, _SO_RXQ_OVFL, 1)
    except OSError:
        pass  # no count: the summary then shows no drop


def _bind(listen: Address) -> tuple[socket.socket, socket.socket]:
    """A UDP socket and a listening TCP socket on the same address and port (port 0: one
    port free for both)."""
    for _ in range(_PORT_TRIES if listen[1] == 0 else 1):
        try:
            udp = _socket(socket.SOCK_DGRAM, listen)
        except OSError as exc:
            raise UsageError(f"cannot listen on {address_text(listen)}: {exc.strerror}"
                             ) from None
        try:
            tcp = _socket(socket.SOCK_STREAM, (listen[0], udp.getsockname()[1]))
        except OSError as exc:
            udp.close()
            if exc.errno == errno.EADDRINUSE and listen[1] == 0:
                continue
            raise UsageError(f"cannot listen on {address_text(listen)} over TCP: "
                             f"{exc.strerror}") from None
        tcp.listen(16)
        tcp.setblocking(False)
        udp.setblocking(False)
        return udp, tcp
    raise UsageError(f"cannot listen on {address_text(listen)}: no port free for UDP and TCP")


@dataclass
class _Counts:
    """What came in: packets (the frame numbers), UDP datagrams, TCP connections and the
    packets they carried."""

    packets: int = 0
    datagrams: int = 0
    connections: int = 0
    over_tcp: int = 0
    #: datagrams the kernel dropped, the receive buffer full (as of the last one received)
    dropped: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


class _Inputs:
    """The sockets of the collector: each ready one gives its whole HEP packets with the
    address they came from."""

    def __init__(self, udp: socket.socket, tcp: socket.socket, counts: _Counts) -> None:
        self.udp, self.tcp, self.counts = udp, tcp, counts
        self.selector = selectors.DefaultSelector()
        self.selector.register(udp, selectors.EVENT_READ, None)
        self.selector.register(tcp, selectors.EVENT_READ, None)
        #: open connections: socket -> (peer, framer)
        self.streams: dict[socket.socket, tuple[Address, HEPFramer]] = {}

    def packets(self, timeout: float) -> list[tuple[Address, bytes]]:
        out: list[tuple[Address, bytes]] = []
        for key, _ in self.selector.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is self.udp:
                self._datagrams(out)
            elif sock is self.tcp:
                self._accept()
            else:
                self._read(sock, out)
        return out

    def _datagrams(self, out: list[tuple[Address, bytes]]) -> None:
        for _ in range(256):  # bounded: the clock is looked at between batches
            try:
                data, ancillary, _flags, peer = self.udp.recvmsg(65535, _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_RXQ_OVFL and len(value) >= 4:
                    self.counts.dropped = max(self.counts.dropped,
                                              int.from_bytes(value[:4], sys.byteorder))
            self.counts.datagrams += 1
            out.append((peer[:2], data))

    def _accept(self) -> None:
        try:
            conn, peer = self.tcp.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        if len(self.streams) >= MAX_CONNECTIONS:
            conn.close()
            self.counts.skipped["hep-connection-refused"] += 1
            return
        conn.setblocking(False)
        self.counts.connections += 1
        self.streams[conn] = (peer[:2], HEPFramer())
        self.selector.register(conn, selectors.EVENT_READ, None)

    def _read(self, conn: socket.socket, out: list[tuple[Address, bytes]]) -> None:
        peer, framer = self.streams[conn]
        try:
            data = conn.recv(_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            if framer.pending:
                self.counts.skipped["hep-malformed"] += 1  # a packet cut by the close
            self._close(conn)
            return
        try:
            packets = framer.feed(data)
        except HEPError:
            self.counts.skipped["hep-malformed"] += 1
            self._close(conn)
            return
        self.counts.over_tcp += len(packets)
        out.extend((peer, p) for p in packets)

    def _close(self, conn: socket.socket) -> None:
        self.selector.unregister(conn)
        del self.streams[conn]
        conn.close()

    def close(self) -> None:
        for conn in list(self.streams):
            self._close(conn)
        self.selector.close()
        self.udp.close()
        self.tcp.close()


def _print(results: Sequence[CaptureResult], preset: str | None, json_lines: bool,
           ladder: bool, out: TextIO) -> None:
    from pushinject.conformance.report import text_report

    for result in results:
        if json_lines:
            out.write(json.dumps(result.to_json()) + "\n")
        else:
            report = text_report([result], preset, ladder=ladder)
            out.write(report[: report.rindex("verdict: ")])  # without its verdict line
    out.flush()


def collect(listen: Address, options: CheckOptions, *, duration: float | None = None,
            quiet: float = 5.0, json_lines: bool = False, ladder: bool = False,
            buffer_kib: int = BUFFER_KIB, out: TextIO = sys.stdout) -> int:
    """Run the collector (see the module docstring); returns the exit status."""
    from pushinject.capture.decoder import Decoder
    from pushinject.conformance.capture import screened
    from pushinject.conformance.collector import CallCollector
    from pushinject.conformance.duplicates import Duplicates

    udp, tcp = _bind(listen)
    _receive_buffer(udp, buffer_kib)
    host, port = udp.getsockname()[:2]
    where = address_text((host, port))
    counts = _Counts()
    inputs = _Inputs(udp, tcp, counts)
    stop: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    decoder = Decoder()
    duplicates = Duplicates(options.duplicates_within)
    collector = CallCollector(options, name=f"HEP {where}", quiet=quiet)
    judged = [0, 0]  # calls, violations

    def report(done: Sequence[CaptureResult]) -> None:
        judged[0] += sum(len(r.calls) for r in done)
        judged[1] += sum(r.violations for r in done)
        _print(done, options.preset, json_lines, ladder, out)

    print(f"listening for HEP on {where}", file=sys.stderr, flush=True)
    end = None if duration is None else time.monotonic() + duration
    try:
        while not stop:
            now = time.monotonic()
            if end is not None and now >= end:
                break
            try:
                packets = inputs.packets(TICK if end is None else min(TICK, end - now))
            except InterruptedError:
                packets = []
            now = time.monotonic()
            for peer, data in packets:
                counts.packets += 1
                for decoded in decoder.feed_datagram(counts.packets, time.time(), peer,
                                                     (host, port), data):
                    wire = screened(decoded, duplicates)
                    if isinstance(wire, str):
                        counts.skipped[wire] += 1
                    else:
                        collector.add(wire, now, decoded.raw)
            report(collector.due(now))
        report(collector.flush())
    finally:
        inputs.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    counts.skipped.update(decoder.summary.skipped)
    verdict = "violations" if judged[1] else "conformant"
    skipped = dict(sorted(counts.skipped.items()))
    if json_lines:
        summary: dict[str, object] = {
            "verdict": verdict, "listen": where, "datagrams": counts.datagrams}
        if counts.connections:
            summary["tcp"] = {"connections": counts.connections, "packets": counts.over_tcp}
        if counts.dropped:
            summary["dropped"] = counts.dropped
        summary |= {"sip_messages": decoder.summary.messages, "calls": judged[0],
                    "violations": judged[1], "skipped": skipped,
                    "messages": dict(sorted(collector.counts.items()))}
        out.write(json.dumps({"summary": summary}) + "\n")
    else:
        streams = (f", {counts.over_tcp} HEP packet(s) over {counts.connections} TCP "
                   "connection(s)" if counts.connections else "")
        lost = (f"; {counts.dropped} datagram(s) dropped by the kernel: the collector fell "
                "behind (a larger --receive-buffer may help)" if counts.dropped else "")
        skips = ", ".join(f"{k} {v}" for k, v in skipped.items())
        out.write(f"verdict: {verdict} ({counts.datagrams} HEP datagram(s){streams} on {where}, "
                  f"{judged[0]} call(s), {judged[1]} violation(s){lost}"
                  + (f"; skipped: {skips}" if skips else "") + ")\n")
    out.flush()
    return 1 if judged[1] else 0
