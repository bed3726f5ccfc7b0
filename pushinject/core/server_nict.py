"""The non-INVITE server transaction of RFC 3261 §17.2.2, for requests the proxy answers
itself: REGISTER and any other non-INVITE it replies to (TXN-6).

Theory of operation: `TRANSITIONS` is Figure 8 of RFC 3261. A retransmitted request (same top
Via branch and sent-by, same method: §17.2.3) is absorbed: in Trying it is dropped, in
Proceeding and Completed the last response is sent again. A final response moves the
transaction to Completed and arms Timer J (64*T1 over unreliable transports, 0 over reliable
ones); Timer J moves it to Terminated, and the owner then forgets it.
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
    from pushinject.sip import Response

__all__ = ["NistState", "NistInput", "TRANSITIONS", "NonInviteServerTransaction"]


class NistState(Enum):
    """States of the non-INVITE server transaction (RFC 3261 Figure 8)."""

    __hash__ = object.__hash__

    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


class NistInput(Enum):
    """What can happen to a non-INVITE server transaction."""

    __hash__ = object.__hash__

    RECV_REQUEST = "request"
    SEND_1XX = "send 1xx"
    SEND_FINAL = "send 200-699"
    TIMER_J = "Timer J"
    TRANSPORT_ERROR = "transport error"


N, I = NistState, NistInput

#: RFC 3261 Figure 8: (state, input) -> (effect, next state)
TRANSITIONS: dict[tuple[NistState, NistInput], tuple[str | None, NistState]] = {
    (N.TRYING, I.RECV_REQUEST): (None, N.TRYING),
    (N.TRYING, I.SEND_1XX): ("send", N.PROCEEDING),
    (N.TRYING, I.SEND_FINAL): ("send", N.COMPLETED),
    (N.PROCEEDING, I.RECV_REQUEST): ("resend", N.PROCEEDING),
    (N.PROCEEDING, I.SEND_1XX): ("send", N.PROCEEDING),
    (N.PROCEEDING, I.SEND_FINAL): ("send", N.COMPLETED),
    (N.PROCEEDING, I.TRANSPORT_ERROR): (None, N.TERMINATED),
    (N.COMPLETED, I.RECV_REQUEST): ("resend", N.COMPLETED),
    (N.COMPLETED, I.TIMER_J): (None, N.TERMINATED),
    (N.COMPLETED, I.TRANSPORT_ERROR): (None, N.TERMINATED),
}
del N, I


class NonInviteServerTransaction:
    """A non-INVITE server transaction (RFC 3261 §17.2.2, TXN-6).

    Parameters
    ----------
    key
        Its §17.2.3 key: (top Via branch, sent-by host, sent-by port, method).
    source, transport, connection
        Where the request came from and how: responses go back the same way (§18.2.2).
    reliable
        True over TCP/TLS: Timer J is 0.
    """

    __slots__ = ("key", "source", "transport", "connection", "reliable", "values", "state",
                 "timers", "last_response")

    def __init__(self, key: tuple[str, str, int | None, str], source: Address, *,
                 transport: str = "UDP", connection: int | None = None,
                 reliable: bool = False, values: TimerValues = TimerValues()) -> None:
        self.key = key
        self.source = source
        self.transport = transport
        self.connection = connection
        self.reliable = reliable
        self.values = values
        self.state = NistState.TRYING
        self.timers = Timers()
        self.last_response: Response | None = None

    def get_timer(self) -> float | None:
        return self.timers.earliest()

    def record(self, send: Send, now: float) -> None:
        """The TU sent `send` (a response to the request) through the transaction."""
        response: Response = send.message  # type: ignore[assignment]
        inp = NistInput.SEND_1XX if response.status < 200 else NistInput.SEND_FINAL
        self._apply(inp, now, send)

    def retransmission(self, now: float) -> list[Action]:
        """A retransmission of the request arrived: the last response again, if any."""
        return self._apply(NistInput.RECV_REQUEST, now)

    def handle_timer(self, now: float) -> list[Action]:
        fired = self.timers.fire(now, lambda name: self._apply(NistInput.TIMER_J, now))
        return [action for actions in fired for action in actions]

    def _apply(self, inp: NistInput, now: float, send: Send | None = None) -> list[Action]:
        effect, new_state = step(TRANSITIONS, self.state, inp)
        out: list[Action] = []
        if effect == "send":
            assert send is not None
            self.last_response = send.message  # type: ignore[assignment]
            self.source = send.destination
        elif effect == "resend" and self.last_response is not None:
            out.append(Send(message=self.last_response, destination=self.source,
                            connection=self.connection, transport=self.transport))
        if new_state is not self.state:
            self.state = new_state
            if new_state is NistState.COMPLETED:
                self.timers.arm("J", now + (0.0 if self.reliable else self.values.b))
            elif new_state is NistState.TERMINATED:
                self.timers.clear()
        return out

    @property
    def terminated(self) -> bool:
        return self.state is NistState.TERMINATED

    def __repr__(self) -> str:
        return f"<NonInviteServerTransaction {self.state.value} {self.timers!r}>"
