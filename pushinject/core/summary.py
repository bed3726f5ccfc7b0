"""What happened to one call, as plain data: the server transaction and its branches.

The proxy core, the simulator, capture decoding and the conformance checker all produce a
`CallSummary`; `pushinject.graph` draws it. Times are seconds on the clock of whoever produced
it. Branch kinds follow OSIPS-1 ("phony" placeholder) and KAM-5 ("blind" suspend branch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["BranchSummary", "CallSummary"]


@dataclass(frozen=True, kw_only=True)
class BranchSummary:
    """One branch of a response context (RFC 3261 §16.6, one client transaction each).

    .. attribute:: index         position in the context (the placeholder is 0 when it exists)
    .. attribute:: target        the Request-URI the branch was sent to ("" for phony/blind)
    .. attribute:: via_branch    the Via branch parameter of the forwarded request, if any
    .. attribute:: kind          "real", "phony" (placeholder) or "blind" (t_suspend)
    .. attribute:: injected      True when the branch was added after the first forwarding
    .. attribute:: opened_at     when the branch was created
    .. attribute:: provisional   statuses of the provisional responses received, in order
    .. attribute:: final_status  its final status (received, or faked e.g. 408 on a timer)
    .. attribute:: final_at      when it got that final status
    .. attribute:: cancelled     True when the proxy sent a CANCEL on it (or ended a phony one)
    .. attribute:: cancelled_at  when
    """

    index: int
    target: str
    via_branch: str | None
    kind: str
    injected: bool
    opened_at: float
    provisional: tuple[int, ...] = ()
    final_status: int | None = None
    final_at: float | None = None
    cancelled: bool = False
    cancelled_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["provisional"] = list(self.provisional)
        return data


@dataclass(frozen=True, kw_only=True)
class CallSummary:
    """One INVITE server transaction seen by the proxy, and its branches.

    .. attribute:: call_id              Call-ID of the INVITE
    .. attribute:: caller               From URI
    .. attribute:: callee               Request-URI of the INVITE as received
    .. attribute:: invite_at            when the INVITE arrived
    .. attribute:: final_status         the final status sent to the caller (None: none yet)
    .. attribute:: final_at             when it was sent
    .. attribute:: cancelled_by_caller  True when the caller sent CANCEL (RFC 3261 §16.10)
    .. attribute:: branches             the branches in creation order
    .. attribute:: pushes               (device, time) for each push requested for the call

    >>> s = CallSummary(call_id="c1", caller="sip:a@x", callee="sip:b@x", invite_at=0.0)
    >>> s.to_json()["branches"], s.answered
    ([], False)
    """

    call_id: str
    caller: str
    callee: str
    invite_at: float
    final_status: int | None = None
    final_at: float | None = None
    cancelled_by_caller: bool = False
    branches: tuple[BranchSummary, ...] = ()
    pushes: tuple[tuple[str, float], ...] = ()

    @property
    def answered(self) -> bool:
        """True when a 2xx was sent to the caller."""
        return self.final_status is not None and 200 <= self.final_status < 300

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (lists for tuples)."""
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "callee": self.callee,
            "invite_at": self.invite_at,
            "final_status": self.final_status,
            "final_at": self.final_at,
            "cancelled_by_caller": self.cancelled_by_caller,
            "branches": [b.to_json() for b in self.branches],
            "pushes": [list(p) for p in self.pushes],
        }
