"""Inputs of the proxy core: what happened on the wire (house style, principle 5).

Frozen, keyword-only dataclasses; don't subclass them. Timers are not events: the driver calls
`Proxy.handle_timer(now)` when `Proxy.get_timer()` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from pushinject.core.types import start_line

if TYPE_CHECKING:
    from pushinject.core.types import Address
    from pushinject.sip import Request, Response

__all__ = ["Event", "Received", "Unparsed", "TransportFailed", "ConnectionClosed"]


@dataclass(frozen=True, kw_only=True, init=False)
class Received:
    """A SIP message arrived.

    .. attribute:: message   the parsed `Request` or `Response`
    .. attribute:: source    the `(host, port)` it came from
    .. attribute:: transport "UDP" (unreliable: RFC 3261 Timers A and G run) or "TCP", "TLS", ...
    .. attribute:: connection  an opaque id the driver gives the connection the message arrived
                               on (None for UDP); responses to a request go back on it (RFC
                               3261 §18.2.2) and a binding registered over it keeps it
    """

    message: Request | Response
    source: Address
    transport: str = "UDP"
    connection: int | None = None

    def __init__(self, *, message: Request | Response, source: Address, transport: str = "UDP",
                 connection: int | None = None) -> None:
        # the fields go straight into the instance dict, as `pushinject.core.actions.Send`
        # (one per message a driver hands over)
        fields = self.__dict__
        fields["message"] = message
        fields["source"] = source
        fields["transport"] = transport
        fields["connection"] = connection

    def __repr__(self) -> str:
        return f"Received({start_line(self.message)!r}, from={self.source[0]}:{self.source[1]})"


@dataclass(frozen=True, kw_only=True)
class Unparsed:
    """Bytes arrived that the driver's parser rejected (INPUT-7): the core answers 400 when they
    hold a request whose Via, From, To, Call-ID and CSeq can still be read, else counts a drop.

    .. attribute:: data        the bytes, as received (one datagram, or one framed message)
    .. attribute:: source      the `(host, port)` they came from
    .. attribute:: error       what the parser said, named in the 400's Warning
    .. attribute:: transport   as in `Received`
    .. attribute:: connection  as in `Received`
    """

    data: bytes
    source: Address
    error: str = ""
    transport: str = "UDP"
    connection: int | None = None

    def __repr__(self) -> str:
        return f"Unparsed({len(self.data)} bytes, from={self.source[0]}:{self.source[1]})"


@dataclass(frozen=True, kw_only=True)
class TransportFailed:
    """Sending a request to `destination` failed (RFC 3261 §16.9: counts as a 503 there).

    .. attribute:: branch       the Via branch of the request that could not be sent
    .. attribute:: destination  where it was going
    """

    branch: str
    destination: Address


@dataclass(frozen=True, kw_only=True)
class ConnectionClosed:
    """The driver's connection `connection` closed (or failed).

    Every branch whose request was sent over it and has no final response counts as a
    transport failure (RFC 3261 §16.9: a 503 there); bindings registered over it are no longer
    routed over it (RFC 5626 §5.3: a flow that failed is not used).

    .. attribute:: connection  the id the driver gave it in `Received.connection`
    """

    connection: int


#: every input the proxy accepts
Event = Union[Received, Unparsed, TransportFailed, ConnectionClosed]
