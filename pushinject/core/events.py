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

__all__ = ["Event", "Received", "TransportFailed"]


@dataclass(frozen=True, kw_only=True)
class Received:
    """A SIP message arrived.

    .. attribute:: message   the parsed `Request` or `Response`
    .. attribute:: source    the `(host, port)` it came from
    .. attribute:: transport "UDP" (unreliable: RFC 3261 Timers A and G run) or "TCP", "TLS", ...
    """

    message: Request | Response
    source: Address
    transport: str = "UDP"

    def __repr__(self) -> str:
        return f"Received({start_line(self.message)!r}, from={self.source[0]}:{self.source[1]})"


@dataclass(frozen=True, kw_only=True)
class TransportFailed:
    """Sending a request to `destination` failed (RFC 3261 §16.9: counts as a 503 there).

    .. attribute:: branch       the Via branch of the request that could not be sent
    .. attribute:: destination  where it was going
    """

    branch: str
    destination: Address


#: every input the proxy accepts
Event = Union[Received, TransportFailed]
