"""The INVITE server transaction of RFC 3261 §17.2.1 as corrected by RFC 6026 §7.1, towards
the caller (TXN-4, TXN-7).

Theory of operation: `TRANSITIONS` is Figure 7 of RFC 3261 with RFC 6026's Accepted state, plus
one row for an INVITE retransmission in Confirmed (absorbed, as the ACK retransmissions are).
Entering Completed arms Timer G (unreliable only: T1, doubling up to T2) and Timer H (64*T1);
Confirmed stops them and arms Timer I (T4 unreliable, 0 reliable). A 2xx from the TU moves
Proceeding to Accepted, which arms Timer L (64*T1, every transport): there a retransmitted
INVITE is absorbed without an answer, every further 2xx of the TU is sent, an ACK that matches
goes up to the TU (the ACK of a 2xx is end to end) and a transport error leaves the state as it
is. A transaction made with `resend_2xx` answers an absorbed INVITE with the last 2xx instead,
as Kamailio's and OpenSIPS's tm do for a request matching a finished transaction. Terminated
clears everything. The proxy (the TU) sends responses through `respond()`; in
Proceeding and Completed a retransmitted INVITE gets the last response again.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from pushinject.core.actions import Send
from pushinject.core.machine import step
from pushinject.core.timers import Timers, TimerValues

if TYPE_CHECKING:
    from pushinject.core.actions import Action
    from pushinject.core.types import Address
    from pushinject.sip import Request, Response

__all__ = ["ServerState", "ServerInput", "TRANSITIONS", "ServerTransaction"]


class ServerState(Enum):
    """States of the INVITE server transaction (RFC 3261 Figure 7, RFC 6026 §7.1)."""

    # members are singletons: hash them by identity (Enum hashes the name in Python,
    # which the transition tables pay on every lookup)
    __hash__ = object.__hash__

    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class ServerInput(Enum):
    """What can happen to an INVITE server transaction."""

    # members are singletons: hash them by identity (Enum hashes the name in Python,
    # which the transition tables pay on every lookup)
    __hash__ = object.__hash__

    RECV_INVITE = "INVITE"
    RECV_ACK = "ACK"
    SEND_1XX = "send 1xx"
    SEND_2XX = "send 2xx"
    SEND_3XX_6XX = "send 300-699"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_L = "Timer L"
    TRANSPORT_ERROR = "transport error"


P, S = ServerState, ServerInput

#: RFC 3261 Figure 7 as RFC 6026 §7.1 corrects it: (state, input) -> (effect, next state)
TRANSITIONS: dict[tuple[ServerState, ServerInput], tuple[str | None, ServerState]] = {
    (P.PROCEEDING, S.RECV_INVITE): ("resend", P.PROCEEDING),
    (P.PROCEEDING, S.SEND_1XX): ("send", P.PROCEEDING),
    (P.PROCEEDING, S.SEND_2XX): ("send", P.ACCEPTED),
    (P.PROCEEDING, S.SEND_3XX_6XX): ("send", P.COMPLETED),
    (P.PROCEEDING, S.TRANSPORT_ERROR): (None, P.TERMINATED),
    (P.COMPLETED, S.RECV_INVITE): ("resend", P.COMPLETED),
    (P.COMPLETED, S.TIMER_G): ("retransmit", P.COMPLETED),
    (P.COMPLETED, S.RECV_ACK): (None, P.CONFIRMED),
    (P.COMPLETED, S.TIMER_H): (None, P.TERMINATED),
    (P.COMPLETED, S.TRANSPORT_ERROR): (None, P.TERMINATED),
    (P.CONFIRMED, S.RECV_ACK): (None, P.CONFIRMED),
    (P.CONFIRMED, S.RECV_INVITE): (None, P.CONFIRMED),
    (P.CONFIRMED, S.TIMER_I): (None, P.TERMINATED),
    (P.ACCEPTED, S.RECV_INVITE): ("absorb", P.ACCEPTED),
    (P.ACCEPTED, S.SEND_2XX): ("send", P.ACCEPTED),
    (P.ACCEPTED, S.RECV_ACK): ("pass", P.ACCEPTED),
    (P.ACCEPTED, S.TRANSPORT_ERROR): (None, P.ACCEPTED),
    (P.ACCEPTED, S.TIMER_L): (None, P.TERMINATED),
}
del P, S

_TIMER_INPUT = {"G": ServerInput.TIMER_G, "H": ServerInput.TIMER_H, "I": ServerInput.TIMER_I,
                "L": ServerInput.TIMER_L}


def input_for_status(status: int) -> ServerInput:
    """The table input for sending a response of `status`."""
    if status < 200:
        return ServerInput.SEND_1XX
    if status < 300:
        return ServerInput.SEND_2XX
    return ServerInput.SEND_3XX_6XX


class ServerTransaction:
    """An INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1).

    Parameters
    ----------
    request
        The INVITE received.
    source
        Where it came from: responses go back there (RFC 3261 §18.2.2 with rport, RFC 3581).
    reliable
        True over TCP/TLS: no Timer G, Timer I is 0.
    transport, connection
        The transport the INVITE came over and the driver's connection id (None over UDP):
        every response goes back the same way (RFC 3261 §18.2.2).
    resend_2xx
        In Accepted, answer a retransmitted INVITE with the last 2xx, as Kamailio's and
        OpenSIPS's tm do (`t_newtran` resends the last relayed response), where RFC 6026 §7.1
        sends nothing (TXN-7).
    """

    __slots__ = ("request", "source", "reliable", "values", "state", "timers", "last_response",
                 "_g_interval", "transport", "connection", "resend_2xx")

    def __init__(
        self,
        request: Request,
        source: Address,
        *,
        reliable: bool = False,
        values: TimerValues = TimerValues(),
        transport: str = "UDP",
        connection: int | None = None,
        resend_2xx: bool = False,
    ) -> None:
        self.request = request
        self.resend_2xx = resend_2xx
        self.source = source
        self.reliable = reliable
        self.transport = transport
        self.connection = connection
        self.values = values
        self.state = ServerState.PROCEEDING
        self.timers = Timers()
        self.last_response: Response | None = None
        self._g_interval = values.t1

    def get_timer(self) -> float | None:
        return self.timers.earliest()

    def send(self, response: Response) -> Send:
        """`response` sent to the caller the way the INVITE came (RFC 3261 §18.2.2)."""
        return Send(message=response, destination=self.source, connection=self.connection,
                    transport=self.transport)

    def respond(self, response: Response, now: float) -> list[Action]:
        """The TU sends `response` through the transaction."""
        return self.process(input_for_status(response.status), now, response)

    def passes(self, inp: ServerInput) -> bool:
        """Does `inp` go up to the TU in the current state? An ACK that matches the transaction
        in Accepted does: it acknowledges a 2xx, end to end (RFC 6026 §7.1, TXN-7)."""
        row = TRANSITIONS.get((self.state, inp))
        return row is not None and row[0] == "pass"

    def handle_timer(self, now: float) -> list[Action]:
        fired = self.timers.fire(now, lambda name: self.process(_TIMER_INPUT[name], now))
        return [action for actions in fired for action in actions]

    def process(
        self, inp: ServerInput, now: float, response: Response | None = None
    ) -> list[Action]:
        """Apply one input through `TRANSITIONS` (raises `LocalProtocolError` if not allowed)."""
        effect, new_state = step(TRANSITIONS, self.state, inp)
        out: list[Action] = []
        if effect == "send":
            assert response is not None
            self.last_response = response
            out.append(self.send(response))
        elif effect == "resend" and self.last_response is not None:
            out.append(self.send(self.last_response))
        elif effect == "absorb" and self.resend_2xx and self.last_response is not None:
            out.append(self.send(self.last_response))
        elif effect == "retransmit":
            assert self.last_response is not None
            self._g_interval = min(2 * self._g_interval, self.values.t2)
            self.timers.arm("G", now + self._g_interval)
            out.append(self.send(self.last_response))
        if new_state is not self.state:
            self._enter(new_state, now)
        return out

    def _enter(self, state: ServerState, now: float) -> None:
        self.state = state
        if state is ServerState.COMPLETED:
            if not self.reliable:
                self.timers.arm("G", now + self.values.t1)
            self.timers.arm("H", now + self.values.b)
        elif state is ServerState.CONFIRMED:
            self.timers.cancel("G", "H")
            self.timers.arm("I", now + (0.0 if self.reliable else self.values.t4))
        elif state is ServerState.ACCEPTED:  # RFC 6026 §7.1: 64*T1 on every transport
            self.timers.arm("L", now + self.values.b)
        elif state is ServerState.TERMINATED:
            self.timers.clear()

    def __repr__(self) -> str:
        return f"<ServerTransaction {self.state.value} {self.timers!r}>"
