"""Outputs of the proxy core: what the driver must do (house style, principle 5).

Frozen, keyword-only dataclasses; don't subclass them. The proxy returns them in the order they
must happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from pushinject.core.types import start_line

if TYPE_CHECKING:
    from pushinject.core.location import Binding
    from pushinject.core.types import Address
    from pushinject.sip import Request, Response

__all__ = ["Action", "Send", "Push", "Log"]


@dataclass(frozen=True, kw_only=True, init=False)
class Send:
    """Send `message` to `destination` `(host, port)`.

    .. attribute:: connection  the driver's connection to send it on while the driver still has
                               it (`Received.connection`), None to use `transport` afresh
    .. attribute:: transport   "UDP", "TCP", "TLS", ...: a response goes by the transport of its
                               request (RFC 3261 §18.2.2), a branch by its binding's
    """

    message: Request | Response
    destination: Address
    connection: int | None = None
    transport: str = "UDP"

    def __init__(self, *, message: Request | Response, destination: Address,
                 connection: int | None = None, transport: str = "UDP") -> None:
        # the fields go straight into the instance dict (the proxy makes several per call):
        # the __init__ a frozen dataclass generates sets each through object.__setattr__
        fields = self.__dict__
        fields["message"] = message
        fields["destination"] = destination
        fields["connection"] = connection
        fields["transport"] = transport

    def __repr__(self) -> str:
        to = f"to={self.destination[0]}:{self.destination[1]}"
        if self.transport != "UDP":
            to += f" {self.transport}"
        if self.connection is not None:
            to += f" conn={self.connection}"
        return f"Send({start_line(self.message)!r}, {to})"


@dataclass(frozen=True, kw_only=True)
class Push:
    """Ask the push service to wake the device behind `binding` (RFC 8599 §5.6.2).

    .. attribute:: aor      the address-of-record called
    .. attribute:: binding  the registered contact carrying the pn-* parameters
    .. attribute:: call_id  the Call-ID of the request that triggered the push
    .. attribute:: reason   why: "ini-INVITE" as OpenSIPS `E_UL_CONTACT_REFRESH` says (EVT-10)
    """

    aor: str
    binding: Binding
    call_id: str
    reason: str = "ini-INVITE"

    def __repr__(self) -> str:
        return f"Push(aor={self.aor!r}, contact={str(self.binding.uri)!r}, reason={self.reason!r})"


@dataclass(frozen=True, kw_only=True, init=False)
class Log:
    """A line the routing script or the core logs (`xlog`, warnings)."""

    text: str

    def __init__(self, *, text: str) -> None:
        self.__dict__["text"] = text  # as `Send`: straight into the instance


#: every output the proxy produces
Action = Union[Send, Push, Log]
