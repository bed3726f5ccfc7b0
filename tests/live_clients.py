"""Real clients for the live shell's tests: `pushinject serve` as a subprocess, and blocking
UDP, TCP and TLS user agents on loopback built from the message layer.

Every socket has a timeout and every read is bounded; `Serve` stops the process it started by
its PID (terminate, then kill after 10 s).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import tempfile

from pushinject.sip import Request, Response, StreamFramer, make_request, make_response
from pushinject.sip import parse_message

TIMEOUT = 5.0


class Serve:
    """`pushinject serve ARGS...` running until `stop()`; `addresses` maps each transport
    ("udp", "tcp", "tls") to the (host, port) it announced."""

    def __init__(self, *args: str, duration: float = 60.0) -> None:
        # stderr goes to a file: a pipe nobody reads could fill up and stop the proxy
        self._log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pushinject", "serve", *args, "--duration", str(duration)],
            stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        #: the line announcing the addresses
        self.banner = line
        self.stderr = ""
        if not line.startswith("listening on "):
            self.stop()
            raise AssertionError(f"serve did not start: {line!r} {self.stderr}")
        self.addresses: dict[str, tuple[str, int]] = {}
        for word in line.split()[2:]:
            if word.startswith("("):
                break
            transport, _, hostport = word.partition(":")
            host, _, port = hostport.rpartition(":")
            self.addresses[transport] = (host.strip("[]"), int(port))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.seek(0)
            self.stderr = self._log.read()
            self._log.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StreamUA:
    """A user agent on one TCP or TLS connection to the proxy."""

    def __init__(self, address: tuple[str, int], tls: bool = False) -> None:
        raw = socket.create_connection(address, timeout=TIMEOUT)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            raw = context.wrap_socket(raw, server_hostname=address[0])
        self.sock = raw
        self.transport = "TLS" if tls else "TCP"
        self.local: tuple[str, int] = raw.getsockname()[:2]
        self.framer = StreamFramer()
        self.inbox: list[bytes] = []

    def send(self, message: Request | Response) -> None:
        self.sock.sendall(bytes(message))

    def receive(self, timeout: float = TIMEOUT) -> Request | Response:
        """The next message on the connection (AssertionError when none comes in time)."""
        self.sock.settimeout(timeout)
        while not self.inbox:
            try:
                data = self.sock.recv(65535)
            except (TimeoutError, socket.timeout):
                raise AssertionError(f"nothing arrived on {self.transport} {self.local}") from None
            if not data:
                raise AssertionError(f"the proxy closed {self.transport} {self.local}")
            self.inbox += self.framer.feed(data)
        return parse_message(self.inbox.pop(0))

    def receive_final(self, timeout: float = TIMEOUT) -> Response:
        while True:
            message = self.receive(timeout)
            if isinstance(message, Response) and message.status >= 200:
                return message

    def silent(self, timeout: float = 0.5) -> bool:
        """Whether nothing arrives within `timeout` seconds."""
        try:
            self.receive(timeout)
        except AssertionError:
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def hostport(host: str, port: int) -> str:
    """`host:port` as SIP writes it, an IPv6 host in brackets (RFC 3261 §25.1)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class DatagramUA:
    """A user agent on one UDP socket on loopback (`host` "::1" for IPv6), on `port` (by
    default a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.local: tuple[str, int] = self.sock.getsockname()[:2]

    def send(self, message: Request | Response, to: tuple[str, int]) -> None:
        self.sock.sendto(bytes(message), to)

    def receive(self, timeout: float = TIMEOUT) -> Request | Response:
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except (TimeoutError, socket.timeout):
            raise AssertionError(f"nothing arrived on UDP {self.local}") from None
        return parse_message(data)

    def receive_final(self, timeout: float = TIMEOUT) -> Response:
        while True:
            message = self.receive(timeout)
            if isinstance(message, Response) and message.status >= 200:
                return message

    def close(self) -> None:
        self.sock.close()


def register(ua: StreamUA | DatagramUA, user: str, contact: str, *, cseq: int = 1,
             call_id: str = "reg-1", proxy: tuple[str, int] = ("127.0.0.1", 5060)) -> Request:
    transport = ua.transport if isinstance(ua, StreamUA) else "UDP"
    host, port = ua.local
    proxy_host = f"[{proxy[0]}]" if ":" in proxy[0] else proxy[0]
    return make_request(
        "REGISTER", f"sip:{proxy_host}", via=f"SIP/2.0/{transport} {hostport(host, port)};"
        f"branch=z9hG4bK-{call_id}-{cseq};rport", from_=f"<sip:{user}@example.com>;tag=r{cseq}",
        to=f"<sip:{user}@example.com>", call_id=call_id, cseq=cseq, contact=contact,
        extra=[("Expires", "600")])


def invite(ua: DatagramUA, user: str, call_id: str = "call-1") -> Request:
    host, port = ua.local
    return make_request(
        "INVITE", f"sip:{user}@example.com", via=f"SIP/2.0/UDP {hostport(host, port)};"
        f"branch=z9hG4bK-{call_id}", from_="<sip:alice@example.com>;tag=a1",
        to=f"<sip:{user}@example.com>", call_id=call_id, cseq=1,
        contact=f"<sip:alice@{hostport(host, port)}>")


def answer(request: Request, status: int = 200, tag: str = "dev") -> Response:
    return make_response(request, status, to_tag=tag)



def cancel(request: Request) -> Request:
    """The CANCEL of `request` (RFC 3261 §9.1: its Request-URI, top Via, From, To, Call-ID and
    CSeq number)."""
    return make_request("CANCEL", str(request.uri), via=request.get("Via") or "",
                        from_=request.get("From") or "", to=request.get("To") or "",
                        call_id=request.call_id, cseq=request.cseq.number)


def ack(request: Request, final: Response) -> Request:
    """The ACK of a non-2xx final response (RFC 3261 §17.1.1.3): same branch, the To of the
    response."""
    return make_request("ACK", str(request.uri), via=request.get("Via") or "",
                        from_=request.get("From") or "", to=final.get("To") or "",
                        call_id=request.call_id, cseq=request.cseq.number)


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port of `host` free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
