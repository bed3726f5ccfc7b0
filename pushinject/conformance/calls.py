"""The INVITE server transactions that pass through the proxy, and their branches.

A *call* is one INVITE server transaction at the proxy: an INVITE without To tag that arrives
at the proxy, keyed by its top Via branch (RFC 3261 §17.2.3); later copies with the same key are
retransmissions. Its *branches* are the INVITEs the proxy sends with that Via second from the
top (§16.6 step 8), keyed by (top Via branch, Request-URI): a copy with the same key is a
retransmission (Timer A, §17.1.1.2) and not a new branch. Two branches with the same Via branch
but different targets are kept apart, so the rules can report the re-used branch. A branch's
responses are those with its Via branch sent to the proxy, from `REORDERED_WITHIN` before its
INVITE on: a HEP mirror may stamp the copy of an INVITE the proxy injected after the device's
answers to it (HEP-2), and a branch id is never used by another transaction (§8.1.1.7).

A push is a MESSAGE the proxy originates (one Via) while the call waits for its final
response: a push gateway reached over SIP, as in the capture lab (pushes usually travel outside
SIP, to APNs or FCM, and are not in captures).

A branch is *injected* when its INVITE left the proxy after a registration of its target contact
(Contact URI equal to the Request-URI, §19.1.4) that arrived after the caller's INVITE
(INJ-1); "after" is capture order (CAP-9), which also orders messages with equal timestamps
and those that share a frame.
Registrations are REGISTERs to the proxy for the callee's user with a contact that is not
being removed (expires > 0, §10.2.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pushinject.conformance.capture import (
    REORDERED_WITHIN, Address, Order, Ordered, Parsed, WireMessage, address_text,
)

if TYPE_CHECKING:
    from pushinject.core.summary import CallSummary

__all__ = ["Seen", "Registration", "BranchRecord", "CallRecord", "find_calls", "user_of",
           "added_contacts"]


@dataclass(frozen=True)
class Seen(Ordered):
    """One message of the call as seen on the wire."""

    frame: int
    time: float
    label: str
    status: int = 0
    to_tag: str | None = None
    #: its place among the messages of its frame (CAP-9)
    within: int = 0

    @classmethod
    def of(cls, m: WireMessage) -> Seen:
        return cls(m.frame, m.time, m.label, m.status, m.message.to.tag, m.within)


@dataclass(frozen=True)
class Registration(Ordered):
    """A REGISTER of the callee's user that reached the proxy, with the contacts it adds."""

    frame: int
    time: float
    contacts: tuple[str, ...]
    accepted: bool
    #: its place among the messages of its frame (CAP-9)
    within: int = 0

    def registers(self, target: Any) -> bool:
        """True when one of its contacts equals the URI `target` (RFC 3261 §19.1.4)."""
        from pushinject.sip import parse_uri

        for text in self.contacts:
            try:
                if parse_uri(text) == target:
                    return True
            except ValueError:
                continue
        return False


@dataclass(frozen=True)
class BranchRecord(Ordered):
    """One branch of a call: the INVITE the proxy forwarded and what happened to it."""

    index: int
    target: str
    via_branch: str
    destination: Address
    frame: int
    opened_at: float
    #: where its copies are in capture order (CAP-9)
    retransmissions: tuple[Order, ...]
    responses: tuple[Seen, ...]
    cancels: tuple[Seen, ...]
    registration: Registration | None
    #: its INVITE's place among the messages of its frame (CAP-9)
    within: int = 0

    @property
    def injected(self) -> bool:
        return self.registration is not None

    @property
    def provisional(self) -> tuple[Seen, ...]:
        return tuple(r for r in self.responses if r.status < 200)

    @cached_property
    def final(self) -> Seen | None:
        """The first final response received on the branch (read by many rules: found
        once)."""
        return next((r for r in self.responses if r.status >= 200), None)

    @property
    def final_status(self) -> int | None:
        final = self.final
        return final.status if final else None

    @property
    def cancelled(self) -> bool:
        return bool(self.cancels)

    def to_json(self) -> dict[str, Any]:
        """The branch as the issue's JSON shows it."""
        return {"target": self.target, "via_branch": self.via_branch, "injected": self.injected,
                "final_status": self.final_status, "cancelled": self.cancelled}


@dataclass(frozen=True)
class CallRecord(Ordered):
    """One INVITE server transaction through the proxy (see the module docstring)."""

    call_id: str
    proxy: Address
    caller: Address
    caller_uri: str
    uri: str
    via_branch: str
    frame: int
    invite_at: float
    retransmissions: tuple[Seen, ...]
    branches: tuple[BranchRecord, ...]
    upstream: tuple[Seen, ...]
    cancel: Seen | None
    cancel_answers: tuple[Seen, ...]
    registrations: tuple[Registration, ...]
    pushes: tuple[Seen, ...] = ()
    #: its INVITE's place among the messages of its frame (CAP-9)
    within: int = 0

    @cached_property
    def final(self) -> Seen | None:
        """The first final response the proxy sent the caller (read by many rules: found
        once)."""
        return next((r for r in self.upstream if r.status >= 200), None)

    @property
    def final_status(self) -> int | None:
        final = self.final
        return final.status if final else None

    def summary(self, origin: float = 0.0, ndigits: int | None = None) -> CallSummary:
        """The call as a `pushinject.core.summary.CallSummary`: times are capture timestamps
        minus `origin`, rounded to `ndigits` decimals when given."""
        from pushinject.core.summary import BranchSummary, CallSummary

        def at(t: float) -> float:
            return t - origin if ndigits is None else round(t - origin, ndigits)

        branches = []
        for b in self.branches:
            final = b.final
            once = dict.fromkeys((r.status, r.to_tag) for r in b.provisional)  # §17.1.1.2
            branches.append(BranchSummary(
                index=b.index, target=b.target, via_branch=b.via_branch, kind="real",
                injected=b.injected, opened_at=at(b.opened_at),
                provisional=tuple(status for status, _ in once),
                final_status=final.status if final else None,
                final_at=at(final.time) if final else None, cancelled=b.cancelled,
                cancelled_at=at(b.cancels[0].time) if b.cancels else None))
        final = self.final
        return CallSummary(
            call_id=self.call_id, caller=self.caller_uri, callee=self.uri,
            invite_at=at(self.invite_at), final_status=final.status if final else None,
            final_at=at(final.time) if final else None,
            cancelled_by_caller=self.cancel is not None, branches=tuple(branches),
            pushes=tuple((self.uri, at(p.time)) for p in self.pushes))

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "proxy": address_text(self.proxy),
                "final_status": self.final_status,
                "branches": [b.to_json() for b in self.branches]}


def user_of(uri: Any) -> str:
    """The address of record's key: the user part of a URI, else its host."""
    return str(getattr(uri, "user", None) or getattr(uri, "host", "") or "")



def added_contacts(msg: Any) -> list[Any]:
    """The Contacts a REGISTER adds: not ``*``, and not expiring at once (RFC 3261 §10.2.2;
    the Expires header, else 3600 s, for a Contact without its own expires)."""
    default = msg.expires if msg.expires is not None else 3600
    return [c for c in msg.contacts
            if not c.star and (c.expires if c.expires is not None else default) > 0]


#: what `_branches` finds for bytes it has not read yet
_UNREAD: Any = object()


def _branches(messages: Sequence[WireMessage], proxy: Address, invite: WireMessage,
              registrations: Sequence[Registration]) -> list[BranchRecord]:
    """The branches of `invite`'s transaction, from `messages`: those of its Call-ID, in
    capture order."""
    key, host = invite.branch, proxy[0]
    opened: dict[tuple[str, str], list[WireMessage]] = {}
    # the branch each INVITE's bytes open (None: none of this transaction's): read once for
    # all the copies of one (Timer A retransmissions)
    opens: dict[Parsed, tuple[str, str] | None] = {}
    for m in messages:
        if not (m.is_request and m.label == "INVITE" and m.source[0] == host
                and m.destination != proxy):
            continue
        parsed = m.parsed
        branch = opens.get(parsed, _UNREAD)
        if branch is _UNREAD:
            vias = m.message.vias
            branch = opens[parsed] = (None if len(vias) < 2 or vias[1].branch != key else
                                      (m.branch, str(m.request_uri)))
        if branch is not None:
            opened.setdefault(branch, []).append(m)
    if not opened:
        return []
    # the messages of each branch opened (its top Via branch), for its responses and CANCELs
    of_branch: dict[str, list[WireMessage]] = {branch: [] for branch, _ in opened}
    for m in messages:
        same = of_branch.get(m.branch)
        if same is not None:
            same.append(m)
    out = []
    for index, ((branch, target), copies) in enumerate(opened.items()):
        first = copies[0]
        mine = of_branch[branch]
        responses = tuple(Seen.of(m) for m in mine
                          if not m.is_request and m.destination[0] == host
                          and m.source != proxy and m.message.cseq.method == "INVITE"
                          and m.time >= first.time - REORDERED_WITHIN)
        cancels = tuple(Seen.of(m) for m in mine
                        if m.is_request and m.label == "CANCEL" and m.source[0] == host)
        late = [r for r in registrations
                if invite.order < r.order < first.order and r.registers(first.request_uri)]
        out.append(BranchRecord(
            index=index, target=target, via_branch=branch, destination=first.destination,
            frame=first.frame, opened_at=first.time,
            retransmissions=tuple(m.order for m in copies[1:]), responses=responses,
            cancels=cancels, registration=late[0] if late else None, within=first.within))
    return out


def _pushes(messages: Sequence[WireMessage], proxy: Address, start: float,
            final: Seen | None) -> tuple[Seen, ...]:
    """The MESSAGEs the proxy originates from `start` until the final response (see the
    module docstring)."""
    return tuple(Seen.of(m) for m in messages
                 if start <= m.time and (final is None or m.time <= final.time)
                 and len(m.message.vias) == 1)


def find_calls(messages: Sequence[WireMessage], proxy: Address) -> list[CallRecord]:
    """Every INVITE server transaction of `proxy` in the capture, in order of arrival."""
    host = proxy[0]
    invites: dict[tuple[str, str], list[WireMessage]] = {}
    by_call: dict[str, list[WireMessage]] = {}
    sent: list[WireMessage] = []  # MESSAGEs from the proxy: pushes
    registers: list[WireMessage] = []  # REGISTERs to the proxy
    # the status of the proxy's last answer to each REGISTER transaction
    answered: dict[tuple[str, int, str], int] = {}
    for m in messages:
        msg = m.message
        call_id = msg.call_id
        same = by_call.get(call_id)
        if same is None:
            by_call[call_id] = [m]
        else:
            same.append(m)
        if m.is_request:
            label = m.label
            if label == "INVITE":
                if m.destination == proxy and m.source != proxy and msg.to.tag is None:
                    invites.setdefault((call_id, m.branch), []).append(m)
            elif label == "MESSAGE":
                if m.source[0] == host:
                    sent.append(m)
            elif label == "REGISTER" and m.destination == proxy:
                registers.append(m)
        elif m.source == proxy:
            cseq = msg.cseq
            if cseq.method == "REGISTER":
                answered[(call_id, cseq.number, m.branch)] = m.status
    by_user: dict[str, list[Registration]] = {}
    for m in registers:  # those that add a contact and were not refused
        msg = m.message
        contacts = tuple(str(c.uri) for c in added_contacts(msg))
        if not contacts:
            continue
        status = answered.get((msg.call_id, msg.cseq.number, m.branch), 0)
        if status == 0 or 200 <= status < 300:
            by_user.setdefault(user_of(msg.to.uri), []).append(
                Registration(m.frame, m.time, contacts, accepted=True, within=m.within))
    calls = []
    for (call_id, key), copies in invites.items():
        invite = copies[0]
        regs = tuple(by_user.get(user_of(invite.request_uri), ()))
        same = by_call[call_id]
        branches = _branches(same, proxy, invite, regs)
        upstream: list[Seen] = []
        answers: list[Seen] = []
        cancel = None
        for m in same:
            if m.branch != key:
                continue
            if m.is_request:
                if cancel is None and m.label == "CANCEL" and m.destination == proxy:
                    cancel = Seen.of(m)
            elif m.source[0] == host:
                method = m.message.cseq.method
                if method == "INVITE":
                    upstream.append(Seen.of(m))
                elif method == "CANCEL":
                    answers.append(Seen.of(m))
        final = next((r for r in upstream if r.status >= 200), None)
        calls.append(CallRecord(
            call_id=call_id, proxy=proxy, caller=invite.source,
            caller_uri=str(invite.message.from_.uri), uri=str(invite.request_uri),
            via_branch=key, frame=invite.frame, invite_at=invite.time,
            retransmissions=tuple(Seen.of(m) for m in copies[1:]), branches=tuple(branches),
            upstream=tuple(upstream), cancel=cancel, cancel_answers=tuple(answers),
            registrations=tuple(r for r in regs if r.order > invite.order),
            pushes=_pushes(sent, proxy, invite.time, final), within=invite.within))
    return calls
