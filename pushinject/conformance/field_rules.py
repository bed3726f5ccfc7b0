"""Field rules: what breaks push branch injection in deployed proxies (FIELD-1 to FIELD-8).

The REGISTER that triggers an injection never shares the INVITE's Call-ID, so these rules
correlate a call with the registrations of its callee's address of record (the user part of
the INVITE's Request-URI and of the REGISTER's To URI, RFC 3261 §10.2). A *device* is what
one registration stands for (`pushinject.conformance.digest.device_of_contact`). The
registrations are read from the messages' digests (`pushinject.conformance.digest`), so
registrations known only by their digest (the collector's settled ones) count as well.

`field_rules(calls, messages, proxy, settings, facts)` returns each call's violations, in the
order of `calls`; `latencies(calls, facts, proxy)` the capture's push-to-REGISTER,
REGISTER-to-INVITE and CANCEL-to-final delays.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from pushinject.conformance.calls import BranchRecord, CallRecord, user_of
from pushinject.conformance.capture import Address, Order, Ordered, WireMessage
from pushinject.conformance.digest import Digest, device_of_uri, digests
from pushinject.conformance.rules import Violation
from pushinject.sip import parse_uri

__all__ = ["FieldSettings", "RegisterRecord", "Lookup", "lookups", "FIELD_RULES", "field_rules",
           "register_records",
           "registers_by_user", "Latencies", "latencies", "may_push"]


@dataclass(frozen=True)
class FieldSettings:
    """Limits of the field rules (seconds)."""

    #: how long a reaction may lag its cause on the wire
    tolerance: float = 0.5
    #: a device registering this soon after the caller got 408/480 makes a lost call (FIELD-5)
    lost_within: float = 10.0
    #: a call without final response this long after its INVITE has none (FIELD-8)
    final_within: float = 180.0


@dataclass(frozen=True)
class RegisterRecord(Ordered):
    """A REGISTER that reached the proxy adding a contact, and the final answer it got."""

    frame: int
    time: float
    user: str
    contact: str
    device: str
    source: Address
    transport: str
    paths: tuple[str, ...]
    status: int
    answered_frame: int
    answered_at: float
    #: the places of the REGISTER and of its answer among the messages of their frames (CAP-9)
    within: int = 0
    answered_within: int = 0

    @property
    def answered_order(self) -> Order:
        """Where its final answer is in capture order ((0, 0): none seen)."""
        return self.answered_frame, self.answered_within

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


def _uri(text: str) -> Any:
    try:
        return parse_uri(text)
    except ValueError:
        return text


def register_records(facts: Sequence[Digest], proxy: Address) -> list[RegisterRecord]:
    """Every REGISTER to the proxy that adds a contact, with its final answer (status 0 and
    frame 0 when none was seen), from the messages' digests."""
    answers: dict[tuple[str, int, str], Digest] = {}
    for m in facts:
        if (not m.is_request and m.source == proxy and m.status >= 200
                and m.cseq_method == "REGISTER"):
            answers.setdefault((m.call_id, m.cseq_number, m.branch), m)
    out = []
    for m in facts:
        if not (m.is_request and m.label == "REGISTER" and m.destination == proxy
                and m.contact):
            continue
        answer = answers.get((m.call_id, m.cseq_number, m.branch))
        out.append(RegisterRecord(
            frame=m.frame, time=m.time, user=m.user, contact=m.contact, device=m.device,
            source=m.source, transport=m.transport, paths=m.paths,
            status=answer.status if answer else 0, answered_frame=answer.frame if answer else 0,
            answered_at=answer.time if answer else 0.0, within=m.within,
            answered_within=answer.within if answer else 0))
    return out


def registers_by_user(facts: Sequence[Digest], proxy: Address
                      ) -> dict[str, list[RegisterRecord]]:
    """`register_records` by the user registered, each in capture order."""
    registers: dict[str, list[RegisterRecord]] = {}
    for r in register_records(facts, proxy):
        registers.setdefault(r.user, []).append(r)
    return registers


@dataclass(frozen=True)
class Lookup(Ordered):
    """A branch the proxy made by lookup (not injected) to a contact: its INVITE's frame and
    time, next hop and Route set (FIELD-6 compares an injection to the same contact with it)."""

    frame: int
    time: float
    destination: Address
    routes: tuple[str, ...]
    #: its INVITE's place among the messages of its frame (CAP-9)
    within: int = 0


def lookups(calls: Sequence[CallRecord], messages: Iterable[WireMessage], proxy: Address
            ) -> dict[str, Lookup]:
    """The first branch of `calls` made by lookup to each target URI (the earliest frame)."""
    out: dict[str, Lookup] = {}
    frames = _invites_sent(messages, proxy)
    for call in calls:
        for a in call.branches:
            if a.injected:
                continue
            key = str(_uri(a.target))
            if key in out and out[key].order <= a.order:
                continue
            out[key] = Lookup(a.frame, a.opened_at, a.destination, _routes(frames.get(a.order)),
                              a.within)
    return out


def _routes(invite: WireMessage | None) -> tuple[str, ...]:
    """The Route set an INVITE the proxy sent carried, as text (none when not seen)."""
    return tuple(str(r) for r in invite.message.routes) if invite is not None else ()


def _invites_sent(messages: Iterable[WireMessage], proxy: Address
                  ) -> dict[Order, WireMessage]:
    """The INVITEs the proxy sent, by capture order (CAP-9)."""
    return {m.order: m for m in messages
            if m.is_request and m.label == "INVITE" and m.source[0] == proxy[0]}


@dataclass(frozen=True)
class _View:
    """What the field rules read about a capture."""

    calls: Sequence[CallRecord]
    proxy: Address
    frames: dict[Order, WireMessage]
    registers: dict[str, list[RegisterRecord]]
    settings: FieldSettings
    end: float
    #: the INVITEs the proxy sent, by Call-ID
    invites: dict[str, list[WireMessage]]
    #: the first branch made by lookup (not injected) to each target URI, of the calls judged
    #: before
    known: Mapping[str, Lookup]
    #: `registrations` and `trigger` as found, by the call (its id) and the branch's place
    found: dict[tuple[int, Order], Any] = field(default_factory=dict)
    #: the first branch made by lookup to each target URI in `calls`, when already found
    own: Mapping[str, Lookup] | None = None

    def registrations(self, call: CallRecord) -> list[RegisterRecord]:
        key = (id(call), (-1, -1))
        if key not in self.found:
            self.found[key] = self.registers.get(user_of(_uri(call.uri)), [])
        return self.found[key]  # type: ignore[no-any-return]

    def trigger(self, call: CallRecord, b: BranchRecord) -> RegisterRecord | None:
        """The last REGISTER of the callee, after the INVITE and before the branch, that
        registered the branch's target (any answer)."""
        key = (id(call), b.order)
        if key in self.found:
            return self.found[key]  # type: ignore[no-any-return]
        target = _uri(b.target)
        found = None
        for r in self.registrations(call):
            if call.order < r.order < b.order and _uri(r.contact) == target:
                found = r
        self.found[key] = found
        return found

    def device_of(self, call: CallRecord, b: BranchRecord) -> str:
        target = _uri(b.target)
        for r in reversed(self.registrations(call)):
            if r.order < b.order and _uri(r.contact) == target:
                return r.device
        return device_of_uri(target)

    def lookup(self, target: str) -> Lookup | None:
        """The first branch made by lookup to `target`, here or in a call judged before
        (those here found once, when first asked: only an injected branch asks)."""
        mine = self._lookups.get(target)
        before = self.known.get(target)
        if mine is None or (before is not None and before.order < mine.order):
            return before
        return mine

    @cached_property
    def _lookups(self) -> Mapping[str, Lookup]:
        if self.own is not None:
            return self.own
        return lookups(self.calls, self.frames.values(), self.proxy)

    def routes(self, b: BranchRecord) -> tuple[str, ...]:
        return _routes(self.frames.get(b.order))


def _end_of(call: CallRecord) -> tuple[float, Order, str] | None:
    """When the call ended: (time, place in capture order, what): its final response or the
    caller's CANCEL, the earlier."""
    ends = []
    if call.final is not None:
        ends.append((call.final.time, call.final.order, f"the final {call.final.status}"))
    if call.cancel is not None:
        ends.append((call.cancel.time, call.cancel.order, "the caller's CANCEL"))
    return min(ends) if ends else None


# ------------------------------------------------------------------------------------ rules

def one_branch_per_device(call: CallRecord, v: _View) -> list[Violation]:
    """FIELD-1: one call has at most one branch per device at a time. The first branch counts
    when the device was awake for it: it was injected after a REGISTER, or it answered (a
    branch to a sleeping device's stale contact that never answers is not a second ring).
    Two branches to one URI are the rule no-duplicate-branch's; this one finds a device
    reached again under another contact (a new port, a new Call-ID)."""
    out = []
    seen: dict[str, BranchRecord] = {}
    for b in call.branches:
        device = v.device_of(call, b)
        first = seen.get(device)
        if (first is not None and (first.injected or first.responses)
                and _uri(first.target) != _uri(b.target)
                and (first.final is None or first.final.time > b.opened_at)):
            reg = v.trigger(call, b)
            why = f" after REGISTER frame {reg.frame}" if reg is not None else ""
            out.append(Violation("FIELD-1", f"branch {b.index} to {b.target}{why} is a second "
                                 f"branch to device {device} (branch {first.index}, frame "
                                 f"{first.frame}, still pending)", b.frame))
        else:
            seen[device] = b
    return out


def inject_after_2xx(call: CallRecord, v: _View) -> list[Violation]:
    """FIELD-2: a branch is injected only after the REGISTER's 2xx has left the proxy."""
    out = []
    for b in call.branches:
        reg = v.trigger(call, b)
        if reg is None or (reg.accepted and reg.answered_order < b.order):
            continue
        if reg.status and not reg.accepted:
            what = f"a REGISTER answered {reg.status} (frame {reg.answered_frame})"
        elif reg.status:
            what = (f"the REGISTER (frame {reg.frame}) before its {reg.status} "
                    f"(frame {reg.answered_frame})")
        else:
            what = f"a REGISTER (frame {reg.frame}) that got no final answer"
        out.append(Violation("FIELD-2", f"branch {b.index} to {b.target} was injected after "
                             f"{what}", b.frame))
    return out


def no_injection_after_end(call: CallRecord, v: _View) -> list[Violation]:
    """FIELD-3: no INVITE for the call leaves the proxy for a device that registered after the
    call had its final response or the caller's CANCEL (its Via may even be new)."""
    end = _end_of(call)
    if end is None:
        return []
    out = []
    for m in v.invites.get(call.call_id, ()):
        if m.destination == call.proxy or m.message.to.tag is not None or m.order <= end[1]:
            continue
        uri = m.request_uri  # an INVITE's
        target = _uri(str(uri))
        regs = [r for r in v.registrations(call)
                if call.order < r.order < m.order and _uri(r.contact) == target]
        if regs:
            out.append(Violation("FIELD-3", f"{uri} registered (frame "
                                 f"{regs[-1].frame}) and was injected {m.time - end[0]:.3f} s "
                                 f"after {end[2]} (frame {end[1][0]})", m.frame))
    return out


def prompt_487(call: CallRecord, v: _View) -> list[Violation]:
    """FIELD-4: after the caller's CANCEL the final response leaves as soon as the branches
    that were pending have answered (it is not held back for a wait timer)."""
    c, final = call.cancel, call.final
    if c is None or final is None or final.time < c.time:
        return []
    pending = [b for b in call.branches if b.opened_at <= c.time
               and (b.final is None or b.final.time >= c.time)]
    due = max([c.time] + [b.final.time for b in pending if b.final is not None])
    if any(b.final is None for b in pending):
        return []
    late = final.time - due
    if late <= v.settings.tolerance:
        return []
    return [Violation("FIELD-4", f"the {final.status} reached the caller {final.time - c.time:.3f}"
                      f" s after its CANCEL (frame {c.frame}), {late:.3f} s after the last "
                      "pending branch answered", final.frame)]


def no_lost_call(call: CallRecord, v: _View) -> list[Violation]:
    """FIELD-5: a device of the callee that registers shortly after the caller got 408 or 480
    marks a lost call: the proxy stopped waiting just before the push worked."""
    final = call.final
    if final is None or final.status not in (408, 480):
        return []
    if call.cancel is not None and call.cancel.time <= final.time:
        return []
    for r in v.registrations(call):
        margin = r.time - final.time
        if r.order > final.order and margin <= v.settings.lost_within and r.accepted:
            return [Violation("FIELD-5", f"lost call: {r.contact} registered (frame {r.frame}) "
                              f"{margin:.3f} s after the caller got {final.status}", r.frame)]
    return []


def same_route_as_lookup(call: CallRecord, v: _View) -> list[Violation]:
    """FIELD-6: an injected INVITE has the next hop and Route set of a branch to the same
    binding made by lookup, or with none in the capture, the Route set its REGISTER's Path
    asks for (RFC 3327 §5.3)."""
    out = []
    for b in call.branches:
        if not b.injected:
            continue
        routes = v.routes(b)
        a = v.lookup(str(_uri(b.target)))
        if a is not None:
            if (a.destination, a.routes) != (b.destination, routes):
                out.append(Violation("FIELD-6", f"injected branch {b.index} went to "
                                     f"{_hop(b.destination, routes)}, a branch by lookup to the "
                                     f"same contact (frame {a.frame}) to "
                                     f"{_hop(a.destination, a.routes)}", b.frame))
            continue
        reg = v.trigger(call, b)
        if reg is not None and reg.paths and routes[:len(reg.paths)] != reg.paths:
            out.append(Violation("FIELD-6", f"injected branch {b.index} ignores the Path "
                                 f"{', '.join(reg.paths)} of REGISTER frame {reg.frame}: Route "
                                 f"{', '.join(routes) or 'none'}", b.frame))
    return out


def _hop(destination: Address, routes: tuple[str, ...]) -> str:
    from pushinject.conformance.capture import address_text

    return address_text(destination) + (f" via {', '.join(routes)}" if routes else "")


def newest_binding(call: CallRecord, v: _View) -> list[Violation]:
    """FIELD-7: an injected INVITE goes to the device's newest binding: not to a contact (or,
    over a connection, a connection) that a later accepted REGISTER of the device replaced."""
    out = []
    for b in call.branches:
        reg = v.trigger(call, b)
        if reg is None or not b.injected:
            continue
        newer = [r for r in v.registrations(call) if r.device == reg.device
                 and reg.order < r.order < b.order and r.accepted]
        if not newer:
            continue
        latest = newer[-1]
        if _uri(latest.contact) != _uri(b.target):
            out.append(Violation("FIELD-7", f"branch {b.index} went to {b.target}, superseded by "
                                 f"{latest.contact} (REGISTER frame {latest.frame})", b.frame))
        elif latest.transport != "UDP" and b.destination != latest.source:
            out.append(Violation("FIELD-7", f"branch {b.index} used the old connection of "
                                 f"{reg.device}; REGISTER frame {latest.frame} came over "
                                 "another", b.frame))
    return out


def _last_activity(call: CallRecord) -> float:
    times = [call.invite_at] + [r.time for r in call.retransmissions]
    for b in call.branches:
        times += [b.opened_at] + [r.time for r in b.responses] + [c.time for c in b.cancels]
    return max(times)


def final_response_sent(call: CallRecord, v: _View) -> list[Violation]:
    """FIELD-8: every call gets a final response: none had come `final_within` seconds after
    the call's last message, while the capture went on."""
    last = _last_activity(call)
    if call.final is not None or v.end - last <= v.settings.final_within:
        return []
    return [Violation("FIELD-8", f"no final response: the call went silent at "
                      f"{last - call.invite_at:.3f} s and the capture goes on "
                      f"{v.end - last:.3f} s more (limit {v.settings.final_within:g} s)",
                      call.frame)]


Check = Callable[[CallRecord, _View], list[Violation]]

#: (rule id, title, check), in report order
FIELD_RULES: tuple[tuple[str, str, Check], ...] = (
    ("FIELD-1", "one branch per device", one_branch_per_device),
    ("FIELD-2", "injection only after the REGISTER's 2xx", inject_after_2xx),
    ("FIELD-3", "no injection after the final response or CANCEL", no_injection_after_end),
    ("FIELD-4", "the 487 is not held back after CANCEL", prompt_487),
    ("FIELD-5", "no device registers just after a 408/480", no_lost_call),
    ("FIELD-6", "an injected branch is routed as lookup routes it", same_route_as_lookup),
    ("FIELD-7", "injection to the newest binding", newest_binding),
    ("FIELD-8", "every call gets a final response", final_response_sent),
)


def _view(calls: Sequence[CallRecord], messages: Sequence[WireMessage], proxy: Address,
          settings: FieldSettings, registers: dict[str, list[RegisterRecord]],
          until: float | None, known: Mapping[str, Lookup] | None,
          own: Mapping[str, Lookup] | None) -> _View:
    frames = _invites_sent(messages, proxy)
    invites: dict[str, list[WireMessage]] = {}
    for m in frames.values():
        invites.setdefault(m.message.call_id, []).append(m)
    last = messages[-1].time if messages else 0.0
    return _View(calls, proxy, frames, registers, settings,
                 last if until is None else max(last, until), invites, known or {}, own=own)


def field_rules(calls: Sequence[CallRecord], messages: Sequence[WireMessage], proxy: Address,
                settings: FieldSettings | None = None, facts: Sequence[Digest] | None = None,
                registers: dict[str, list[RegisterRecord]] | None = None,
                until: float | None = None, known: Mapping[str, Lookup] | None = None,
                own: Mapping[str, Lookup] | None = None) -> list[list[Violation]]:
    """Each call's field-rule violations, in the order of `calls`. `facts`: the digests of
    `messages` and of the registrations known before them (default: of `messages`);
    `registers`: `registers_by_user` of them, when already made; `until`: when the capture
    was seen to go on to, when later than its last message (a call judged as it completes,
    `pushinject.conformance.collector`: the time it was judged); `known`: the branches made
    by lookup in calls judged before, `own`: in `calls` (`lookups`, when already found)."""
    if registers is None:
        registers = registers_by_user(digests(messages) if facts is None else facts, proxy)
    v = _view(calls, messages, proxy, settings or FieldSettings(), registers, until, known, own)
    return [[replace(x, catalogue_id=rid) for rid, _, check in FIELD_RULES for x in check(call, v)]
            for call in calls]


# -------------------------------------------------------------------------------- latencies

@dataclass(frozen=True)
class Latencies:
    """A capture's delays: push to the device's REGISTER, REGISTER to the injected INVITE,
    the caller's CANCEL to its final response (seconds, each in increasing order: the same
    whether one capture or its calls one by one were judged)."""

    push_to_register: tuple[float, ...]
    register_to_invite: tuple[float, ...]
    cancel_to_final: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {name: _stats(getattr(self, name))
                for name in ("push_to_register", "register_to_invite", "cancel_to_final")}

    def lines(self) -> list[str]:
        out = []
        for name in ("push_to_register", "register_to_invite", "cancel_to_final"):
            s = _stats(getattr(self, name))
            text = name.replace("_", "-")
            if s["count"]:
                out.append(f"  latency {text}: {s['count']}, min {s['min']:.3f} s, median "
                           f"{s['median']:.3f} s, max {s['max']:.3f} s")
        return out


def _stats(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "min": None, "median": None, "max": None}
    return {"count": len(values), "min": round(min(values), 6),
            "median": round(statistics.median(values), 6), "max": round(max(values), 6)}


_NOT_PUSH = frozenset({"INVITE", "ACK", "CANCEL", "BYE", "REGISTER", "OPTIONS", "PRACK",
                       "UPDATE", "INFO", "REFER", "SUBSCRIBE"})


def may_push(m: Digest) -> bool:
    """`m` may be a push: a request with one Via (sent by whoever made it) of a method no
    call or registration uses (a MESSAGE or NOTIFY to a push gateway)."""
    return m.is_request and m.vias == 1 and m.label not in _NOT_PUSH


def latencies(calls: Sequence[CallRecord], messages: Sequence[WireMessage | Digest],
              proxy: Address, registers: dict[str, list[RegisterRecord]] | None = None
              ) -> Latencies:
    """The capture's latencies. A push is a request the proxy sends of its own (one Via) that
    is no call's (a MESSAGE or NOTIFY to a push gateway) within a second of a call's INVITE;
    its REGISTER is the callee's next one (`registers`: `registers_by_user` of the messages,
    when already made), and a REGISTER answers the first push before it only: a call judged
    alone is given the pushes of the calls in progress with it, which its INVITE would
    otherwise claim."""
    facts = digests(messages)
    if registers is None:
        registers = registers_by_user(facts, proxy)
    pushes = [m for m in facts if may_push(m) and m.source[0] == proxy[0]]
    by_time = sorted(calls, key=lambda c: c.invite_at)
    to_register = []
    answered: set[Order] = set()  # the REGISTERs that answered a push (CAP-9)
    for p in pushes:
        calls_before = [c for c in by_time if c.invite_at <= p.time <= c.invite_at + 1.0]
        if not calls_before:
            continue
        call = calls_before[-1]
        nxt = next((r for r in registers.get(user_of(_uri(call.uri)), [])
                    if r.order > p.order), None)
        if nxt is not None and nxt.order not in answered \
                and (call.final is None or nxt.time <= call.final.time):
            answered.add(nxt.order)
            to_register.append(nxt.time - p.time)
    to_invite = [b.opened_at - b.registration.time for c in calls for b in c.branches
                 if b.registration is not None]
    to_final = [c.final.time - c.cancel.time for c in calls
                if c.cancel is not None and c.final is not None
                and c.final.time >= c.cancel.time]
    return Latencies(*(tuple(sorted(v) if len(v) > 1 else v)
                       for v in (to_register, to_invite, to_final)))
