"""Listening addresses of the live shell: `udp:HOST:PORT`, `tcp:HOST:PORT`, `tls:HOST:PORT`.

A bare `HOST:PORT` means UDP. Port 0 asks the system for a free port. IPv6 hosts are written in
brackets (`tcp:[::1]:5060`), as in a SIP URI (RFC 3261 §25.1).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STREAM_TRANSPORTS", "Listen", "parse_listen"]

#: transports carried over a connection (RFC 3261 §18: reliable, framed by Content-Length)
STREAM_TRANSPORTS = frozenset({"TCP", "TLS"})


@dataclass(frozen=True)
class Listen:
    """One listening address: `transport` is "UDP", "TCP" or "TLS"."""

    transport: str
    host: str
    port: int

    @property
    def stream(self) -> bool:
        return self.transport in STREAM_TRANSPORTS

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.lower()}:{host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """Read a listening address; raises ValueError with a one-line reason.

    >>> parse_listen("tls:127.0.0.1:5061")
    Listen(transport='TLS', host='127.0.0.1', port=5061)
    >>> parse_listen("127.0.0.1:0"), str(parse_listen("tcp:[::1]:5060"))
    (Listen(transport='UDP', host='127.0.0.1', port=0), 'tcp:[::1]:5060')
    >>> parse_listen("sctp:127.0.0.1:5060")
    Traceback (most recent call last):
    ValueError: unknown transport 'sctp' (udp, tcp or tls)
    """
    scheme, sep, rest = text.partition(":")
    transport = "UDP"
    if sep and scheme.lower() in ("udp", "tcp", "tls"):
        transport = scheme.upper()
    elif sep and scheme.isalpha() and not rest.startswith("//") and ":" in rest:
        raise ValueError(f"unknown transport {scheme!r} (udp, tcp or tls)")
    else:
        rest = text
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected [udp:|tcp:|tls:]HOST:PORT, got {text!r}")
    return Listen(transport, host.strip("[]"), int(port))
