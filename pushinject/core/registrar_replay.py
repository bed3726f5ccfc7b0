"""Replaying a real registrar's REGISTER traffic through the location service.

A capture of a registrar at work is a specification by example: after each REGISTER it
accepted, its 200 lists every binding of the AoR with the seconds left (RFC 3261 §10.3 step 8).
`replay_registers` feeds the same REGISTERs, at their capture times, to a `LocationService` and
pairs each of our responses with theirs. Only REGISTERs the real registrar accepted (a 2xx with
the same Call-ID, CSeq and top Via branch) are fed: a challenged or refused one changed nothing
there. Times are relative to the first REGISTER.

`same_listing` compares two 200s: the same contacts in the same order (URIs equal by RFC 3261
§19.1.4), the same q, and expires within one second, since a real registrar counts whole
seconds of its own clock. Nothing here reads a file: the caller decodes the capture (e.g.
`pushinject.capture.decoder.decode`) and passes its messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pushinject.core.location import LocationService
    from pushinject.core.types import Address
    from pushinject.sip import Request, Response

__all__ = ["CapturedMessage", "ReplayRow", "same_listing", "replay_registers"]


class CapturedMessage(Protocol):
    """What a replay needs of a captured message (`DecodedMessage` has it)."""

    time: float
    source: Address
    transport: str

    @property
    def message(self) -> Any: ...


def same_listing(ours: Response, theirs: Response, *, tolerance: int = 1) -> bool:
    """True when two REGISTER responses list the same bindings (§10.3 step 8)."""
    a = [(c.uri, c.expires, c.q) for c in ours.contacts]
    b = [(c.uri, c.expires, c.q) for c in theirs.contacts]
    return len(a) == len(b) and all(
        ua == ub and qa == qb and ea is not None and eb is not None
        and abs(ea - eb) <= tolerance
        for (ua, ea, qa), (ub, eb, qb) in zip(a, b, strict=True)
    )


@dataclass(frozen=True)
class ReplayRow:
    """One accepted REGISTER: when (relative), ours and theirs."""

    at: float
    request: Request
    ours: Response
    theirs: Response

    @property
    def agrees(self) -> bool:
        """Both answered 2xx with the same Contact listing."""
        return 200 <= self.ours.status < 300 and same_listing(self.ours, self.theirs)


def replay_registers(
    messages: Iterable[CapturedMessage], location: LocationService
) -> list[ReplayRow]:
    """Feed every REGISTER the real registrar accepted to `location`, at its capture time."""
    pending: dict[tuple[str, int, str | None], tuple[Request, Address, float, str]] = {}
    start: float | None = None
    rows: list[ReplayRow] = []
    for item in messages:
        msg = item.message
        if msg.cseq.method != "REGISTER":
            continue
        start = item.time if start is None else start
        key = (msg.call_id, msg.cseq.number, msg.top_via.branch)
        if not hasattr(msg, "status"):
            pending[key] = (msg, item.source, item.time - start, item.transport)
        elif 200 <= msg.status < 300 and key in pending:
            request, source, at, transport = pending.pop(key)
            ours = location.register(request, source, at, transport=transport).response
            rows.append(ReplayRow(at, request, ours, msg))
    return rows
