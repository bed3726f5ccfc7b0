"""The non-INVITE client transaction of RFC 3261 §17.1.2, used for the proxy's CANCELs.

Theory of operation: `TRANSITIONS` is Figure 6 of RFC 3261. Trying arms Timer E (unreliable
only: T1, doubling up to T2) and Timer F (64*T1); a provisional moves to Proceeding, where E
keeps firing at T2; a final moves to Completed, where Timer K (T4 unreliable, 0 reliable)
absorbs repeats; Timer F or a transport error ends it. A CANCEL is hop by hop: its 200 only
ends this transaction, the INVITE branch it cancels still waits for its 487 (RFC 3261 §9.1).
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
    from pushinject.sip import Request

__all__ = ["NonInviteState", "NonInviteInput", "TRANSITIONS", "NonInviteClientTransaction"]


class NonInviteState(Enum):
    """States of the non-INVITE client transaction (RFC 3261 Figure 6)."""

    # members are singletons: hash them by identity (Enum hashes the name in Python,
    # which the transition tables pay on every lookup)
    __hash__ = object.__hash__

    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


class NonInviteInput(Enum):
    """What can happen to a non-INVITE client transaction."""

    # members are singletons: hash them by identity (Enum hashes the name in Python,
    # which the transition tables pay on every lookup)
    __hash__ = object.__hash__

    RECV_1XX = "1xx"
    RECV_FINAL = "200-699"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_K = "Timer K"
    TRANSPORT_ERROR = "transport error"


T, N = NonInviteState, NonInviteInput

#: RFC 3261 Figure 6: (state, input) -> (effect, next state)
TRANSITIONS: dict[tuple[NonInviteState, NonInviteInput], tuple[str | None, NonInviteState]] = {
    (T.TRYING, N.TIMER_E): ("retransmit", T.TRYING),
    (T.TRYING, N.TIMER_F): (None, T.TERMINATED),
    (T.TRYING, N.TRANSPORT_ERROR): (None, T.TERMINATED),
    (T.TRYING, N.RECV_1XX): (None, T.PROCEEDING),
    (T.TRYING, N.RECV_FINAL): (None, T.COMPLETED),
    (T.PROCEEDING, N.TIMER_E): ("retransmit", T.PROCEEDING),
    (T.PROCEEDING, N.TIMER_F): (None, T.TERMINATED),
    (T.PROCEEDING, N.TRANSPORT_ERROR): (None, T.TERMINATED),
    (T.PROCEEDING, N.RECV_1XX): (None, T.PROCEEDING),
    (T.PROCEEDING, N.RECV_FINAL): (None, T.COMPLETED),
    (T.COMPLETED, N.RECV_1XX): (None, T.COMPLETED),
    (T.COMPLETED, N.RECV_FINAL): (None, T.COMPLETED),
    (T.COMPLETED, N.TIMER_K): (None, T.TERMINATED),
}
del T, N

_TIMER_INPUT = {"E": NonInviteInput.TIMER_E, "F": NonInviteInput.TIMER_F,
                "K": NonInviteInput.TIMER_K}


class NonInviteClientTransaction:
    """A non-INVITE client transaction (RFC 3261 §17.1.2): here, a CANCEL."""

    __slots__ = ("request", "destination", "reliable", "values", "state", "timers", "_e",
                 "transport", "connection")

    def __init__(self, request: Request, destination: Address, now: float, *,
                 reliable: bool = False, values: TimerValues = TimerValues(),
                 transport: str = "UDP", connection: int | None = None) -> None:
        self.request = request
        #: a CANCEL goes where its INVITE went, the same way (RFC 3261 §9.1)
        self.transport = transport
        self.connection = connection
        self.destination = destination
        self.reliable = reliable
        self.values = values
        self.state = NonInviteState.TRYING
        self.timers = Timers()
        self._e = values.t1
        if not reliable:
            self.timers.arm("E", now + values.t1)
        self.timers.arm("F", now + values.b)

    def _send(self) -> Send:
        return Send(message=self.request, destination=self.destination,
                    connection=self.connection, transport=self.transport)

    def start(self) -> list[Action]:
        return [self._send()]

    def get_timer(self) -> float | None:
        return self.timers.earliest()

    def receive(self, status: int, now: float) -> None:
        """A response to the request; one the table does not expect is discarded."""
        inp = NonInviteInput.RECV_1XX if status < 200 else NonInviteInput.RECV_FINAL
        if (self.state, inp) in TRANSITIONS:
            self.process(inp, now)

    def transport_error(self) -> None:
        """The connection it was sent on is gone: the transaction ends (RFC 3261 §17.1.2.2)."""
        if (self.state, NonInviteInput.TRANSPORT_ERROR) in TRANSITIONS:
            self.process(NonInviteInput.TRANSPORT_ERROR, 0.0)

    def handle_timer(self, now: float) -> list[Action]:
        fired = self.timers.fire(now, lambda name: self.process(_TIMER_INPUT[name], now))
        return [action for actions in fired for action in actions]

    def process(self, inp: NonInviteInput, now: float) -> list[Action]:
        """Apply one input through `TRANSITIONS` (raises `LocalProtocolError` if not allowed)."""
        effect, new_state = step(TRANSITIONS, self.state, inp)
        out: list[Action] = []
        if effect == "retransmit":
            # Trying: E doubles up to T2; Proceeding: E is T2 (RFC 3261 §17.1.2.2)
            self._e = (min(2 * self._e, self.values.t2) if self.state is NonInviteState.TRYING
                       else self.values.t2)
            self.timers.arm("E", now + self._e)
            out.append(self._send())
        if new_state is not self.state:
            self.state = new_state
            if new_state is NonInviteState.COMPLETED:
                self.timers.cancel("E", "F")
                self.timers.arm("K", now + (0.0 if self.reliable else self.values.t4))
            elif new_state is NonInviteState.TERMINATED:
                self.timers.clear()
        return out

    def __repr__(self) -> str:
        return f"<NonInviteClientTransaction {self.request.method} {self.state.value}>"
