"""The INVITE client transaction of RFC 3261 §17.1.1 as corrected by RFC 6026 §7.2, one per
forwarded branch (CTX-2, TXN-3, TXN-8).

Theory of operation: the table `TRANSITIONS` is the whole machine (Figure 5 of RFC 3261 with
RFC 6026's Accepted state). Entering a state arms its timers: Calling arms A (unreliable
transports only, starting at T1 and doubling; Kamailio's and OpenSIPS's tm grow it their own
way up to T2 and then stay there, `TimerValues.timer_a`, TXN-10) and B (64*T1);
Proceeding stops both; Completed arms D (32 s unreliable, 0 reliable); Accepted, entered on a
2xx, stops A and B and arms Timer M (64*T1): every 2xx that matches the transaction until
then (a retransmission, or the 2xx of another fork further down) is passed up, never ACKed by
the transaction; Terminated clears everything. The owner (a branch of a response context) gets back, besides the actions to
perform, what must be passed up to it (`Outcome`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from pushinject.core.actions import Send
from pushinject.core.machine import step
from pushinject.core.messages import build_ack
from pushinject.core.timers import Timers, TimerValues

if TYPE_CHECKING:
    from pushinject.core.actions import Action
    from pushinject.core.types import Address
    from pushinject.sip import Request, Response

__all__ = ["ClientState", "ClientInput", "TRANSITIONS", "Outcome", "ClientTransaction"]


class ClientState(Enum):
    """States of the INVITE client transaction (RFC 3261 Figure 5, RFC 6026 §7.2)."""

    # members are singletons: hash them by identity (Enum hashes the name in Python,
    # which the transition tables pay on every lookup)
    __hash__ = object.__hash__

    CALLING = "Calling"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class ClientInput(Enum):
    """What can happen to an INVITE client transaction."""

    # members are singletons: hash them by identity (Enum hashes the name in Python,
    # which the transition tables pay on every lookup)
    __hash__ = object.__hash__

    RECV_1XX = "1xx"
    RECV_2XX = "2xx"
    RECV_3XX_6XX = "300-699"
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_M = "Timer M"
    TRANSPORT_ERROR = "transport error"


C, I = ClientState, ClientInput

#: RFC 3261 Figure 5 as RFC 6026 §7.2 corrects it: (state, input) -> (effect, next state)
TRANSITIONS: dict[tuple[ClientState, ClientInput], tuple[str | None, ClientState]] = {
    (C.CALLING, I.TIMER_A): ("retransmit", C.CALLING),
    (C.CALLING, I.TIMER_B): ("timeout", C.TERMINATED),
    (C.CALLING, I.TRANSPORT_ERROR): ("transport_error", C.TERMINATED),
    (C.CALLING, I.RECV_1XX): ("pass", C.PROCEEDING),
    (C.CALLING, I.RECV_2XX): ("pass", C.ACCEPTED),
    (C.CALLING, I.RECV_3XX_6XX): ("ack_pass", C.COMPLETED),
    (C.PROCEEDING, I.RECV_1XX): ("pass", C.PROCEEDING),
    (C.PROCEEDING, I.RECV_2XX): ("pass", C.ACCEPTED),
    (C.PROCEEDING, I.RECV_3XX_6XX): ("ack_pass", C.COMPLETED),
    (C.COMPLETED, I.RECV_3XX_6XX): ("ack", C.COMPLETED),
    (C.COMPLETED, I.TRANSPORT_ERROR): ("transport_error", C.TERMINATED),
    (C.COMPLETED, I.TIMER_D): (None, C.TERMINATED),
    (C.ACCEPTED, I.RECV_2XX): ("pass", C.ACCEPTED),
    (C.ACCEPTED, I.TIMER_M): (None, C.TERMINATED),
}
del C, I

_TIMER_INPUT = {"A": ClientInput.TIMER_A, "B": ClientInput.TIMER_B, "D": ClientInput.TIMER_D,
                "M": ClientInput.TIMER_M}


def input_for_status(status: int) -> ClientInput:
    """The table input a response of `status` is (RFC 3261 §17.1.1.2)."""
    if status < 200:
        return ClientInput.RECV_1XX
    if status < 300:
        return ClientInput.RECV_2XX
    return ClientInput.RECV_3XX_6XX


@dataclass(frozen=True, kw_only=True, init=False)
class Outcome:
    """What a step passes up to the transaction user.

    .. attribute:: actions   messages to send
    .. attribute:: response  a response for the TU (None when absorbed, e.g. a retransmitted 4xx)
    .. attribute:: failure   408 for Timer B, 503 for a transport error (RFC 3261 §16.7, §16.9)
    """

    actions: tuple[Action, ...] = ()
    response: Response | None = None
    failure: int | None = None

    def __init__(self, *, actions: tuple[Action, ...] = (), response: Response | None = None,
                 failure: int | None = None) -> None:
        # straight into the instance dict, as `Send` (one per response a branch receives)
        fields = self.__dict__
        fields["actions"] = actions
        fields["response"] = response
        fields["failure"] = failure


class ClientTransaction:
    """An INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2).

    Parameters
    ----------
    request
        The INVITE as sent (its top Via branch identifies the transaction).
    destination
        Where it is sent.
    now
        When it starts (Timers A and B run from here).
    reliable
        True over TCP/TLS: no Timer A, Timer D is 0 (RFC 3261 §17.1.1.2).
    transport, connection
        How it is sent: the transport, and the driver's connection (a flow the target
        registered over, RFC 5626 §5.3) or None.
    """

    __slots__ = ("request", "destination", "reliable", "values", "state", "timers", "_a_interval",
                 "_a_count", "last_ack", "branch", "transport", "connection")

    def __init__(
        self,
        request: Request,
        destination: Address,
        now: float,
        *,
        reliable: bool = False,
        values: TimerValues = TimerValues(),
        branch: str | None = None,
        transport: str = "UDP",
        connection: int | None = None,
    ) -> None:
        self.request = request
        self.transport = transport
        self.connection = connection
        #: the top Via branch of `request`, which identifies the transaction (RFC 3261 §17.1.3)
        self.branch: str = branch if branch is not None else str(request.top_via.branch)
        self.destination = destination
        self.reliable = reliable
        self.values = values
        self.state = ClientState.CALLING
        self.timers = Timers()
        self._a_interval = values.t1
        #: how many Timer A intervals have begun (the first, T1, with the transaction)
        self._a_count = 1
        self.last_ack: Request | None = None
        if not reliable:
            self.timers.arm("A", now + values.t1)
        self.timers.arm("B", now + values.b)

    def send(self, message: Request) -> Send:
        """`message` (the request or its ACK) sent the way the transaction goes."""
        return Send(message=message, destination=self.destination, connection=self.connection,
                    transport=self.transport)

    def start(self) -> list[Action]:
        """The first transmission of the request."""
        return [self.send(self.request)]

    def get_timer(self) -> float | None:
        return self.timers.earliest()

    def receive(self, response: Response, now: float) -> Outcome:
        """A response matched this transaction (RFC 3261 §17.1.3).

        This is the peer-facing entry: a response the table does not expect in the current
        state (a 180 after a 486, anything after Terminated) is discarded, not raised."""
        inp = input_for_status(response.status)
        if (self.state, inp) not in TRANSITIONS:
            return Outcome()
        return self.process(inp, now, response)

    def transport_error(self, now: float) -> Outcome:
        return self.process(ClientInput.TRANSPORT_ERROR, now)

    def handle_timer(self, now: float) -> list[Outcome]:
        """Fire every timer due at `now` (earliest first)."""
        return self.timers.fire(now, lambda name: self.process(_TIMER_INPUT[name], now))

    def process(self, inp: ClientInput, now: float, response: Response | None = None) -> Outcome:
        """Apply one input through `TRANSITIONS` (raises `LocalProtocolError` if not allowed)."""
        effect, new_state = step(TRANSITIONS, self.state, inp)
        outcome = self._effect(effect, now, response)
        if new_state is not self.state:
            self._enter(new_state, now)
        return outcome

    def abandon(self) -> None:
        """Destroy the transaction of a CANCELled INVITE that got no final response within
        64*T1 (RFC 3261 §9.1). Not a row of Figure 5: the TU ends the transaction."""
        self.timers.clear()
        self.state = ClientState.TERMINATED

    def _effect(self, effect: str | None, now: float, response: Response | None) -> Outcome:
        if effect == "retransmit":
            self._a_interval = self.values.next_a(self._a_interval, self._a_count)
            self._a_count += 1
            self.timers.arm("A", now + self._a_interval)
            return Outcome(actions=(self.send(self.request),))
        if effect == "timeout":
            return Outcome(failure=408)
        if effect == "transport_error":
            return Outcome(failure=503)
        if effect == "pass":
            return Outcome(response=response)
        if effect in ("ack_pass", "ack"):
            assert response is not None
            self.last_ack = build_ack(self.request, response)
            send = (self.send(self.last_ack),)
            return Outcome(actions=send, response=response if effect == "ack_pass" else None)
        return Outcome()

    def _enter(self, state: ClientState, now: float) -> None:
        self.state = state
        if state is ClientState.PROCEEDING:
            self.timers.cancel("A", "B")
        elif state is ClientState.COMPLETED:
            self.timers.cancel("A", "B")
            self.timers.arm("D", now + (0.0 if self.reliable else self.values.d))
        elif state is ClientState.ACCEPTED:  # RFC 6026 §7.2: 64*T1 on every transport
            self.timers.cancel("A", "B")
            self.timers.arm("M", now + self.values.b)
        elif state is ClientState.TERMINATED:
            self.timers.clear()

    def __repr__(self) -> str:
        return f"<ClientTransaction {self.branch} {self.state.value} {self.timers!r}>"
