"""Replay: the proxy's inputs fed to the reference core, its outputs compared with the capture.

Every message the capture shows arriving at the proxy (the caller's requests, the REGISTERs,
the devices' responses) is handed to a fresh core proxy built from the chosen preset
(`pushinject.presets`), at its capture timestamp and with its transport (retransmission timers
run only over unreliable transports, RFC 3261 §17); the core's timers fire in between, at
their own deadlines. A device's response carries the real proxy's Via branch; before it is handed
over, its top Via is replaced by the one the core put on the request with the same Call-ID,
method, CSeq and Request-URI (RFC 3261 §17.1.3 matching), so the core finds its transaction.

What the core sends for a call is compared with what the real proxy sent for it at the level of
`Output.key` — (direction, method or status, target): direction ``caller`` or ``onward``, the
target being the Request-URI of a request — in order, with a time tolerance: each message the
proxy sent must have a reference output with the same key no further than `tolerance` seconds
away, and each reference output that falls inside the capture (or before the `horizon` it is
known to go on to) must have been sent by the proxy. A reference output that a timer of the
core sent (a final response or a CANCEL: an FR timer, a placeholder's deadline) is partnered
only by a message sent no earlier than one timer tick before it and at most `slack` seconds
after it (TIMING-1): real timers fire late, never early. In the capture-driven replay, a
non-2xx final response to the caller matches any other one: which status is best is the
rules' to judge (RFC 3261 §16.7 step 6 leaves ties open).
A final response the proxy sent the caller before the message that made the reference send
it (it did not wait for a branch the reference waits for) is a divergence too, however close in
time. The earliest message without a partner is the divergence. A request the proxy sends on
must also go to the same next hop as the reference's, when the reference names it by an IP
address (ROUTE-1 to ROUTE-3: the Contact URI, or the REGISTER's source with NAT handling, the
`route_to_source` knob, or for an RFC 5626 flow); a host name is not resolved, so it matches
any address.

Pushes are not compared: the core asks for them with `Push` actions, real proxies use
whatever their configuration does (an HTTP call, a SIP MESSAGE to a gateway). Their outcome is
not on the wire either, so it is read from the proxy's answer (PUSH-14): for a model that acts
on a failed push (the `rfc8599` preset, PUSH-6), a push the reference asks for is taken to have
failed when the proxy sent the caller a 404 or 480 no later than `PUSH_ANSWER_WITHIN` seconds
after it; the failure reaches the reference at that answer's time (permanent for 404).
Nor is a connection's closing, which a capture of SIP messages (`serve --pcap`) does not
hold: a call the proxy answered `430 Flow Failed` is taken to have found the RFC 5626 flows of
its callee closed (ROUTE-8), so the reference's flows of that AoR are marked failed just before
its INVITE is handed over, as the closing of their connection would have (ROUTE-7).
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from pushinject.conformance.capture import (
    Address, Order, Ordered, Parsed, WireMessage, address_text,
)
from pushinject.conformance.rules import overtaken
from pushinject.core.messages import top_via_text, with_top_via
from pushinject.core.timers import T2
from pushinject.errors import PushInjectError
from pushinject.presets.base import timer_values
from pushinject.sip import Request

__all__ = ["Output", "Divergence", "ReplayResult", "ReplayError", "replay", "replay_outputs",
           "compare", "sent_by", "PUSH_ANSWER_WITHIN"]

#: how long after a push its failure may show as the proxy's 404 or 480 to the caller (PUSH-14)
PUSH_ANSWER_WITHIN = 5.0

#: the statuses a proxy answers a failed push with (PUSH-6)
_PUSH_FAILED = (404, 480)


@dataclass(frozen=True, init=False)
class Output(Ordered):
    """A message the proxy sent (`frame` > 0) or the reference core sent (`frame` 0)."""

    time: float
    frame: int
    call_id: str
    destination: Address
    direction: str
    label: str
    target: str
    #: sent by a timer of the reference core (a final response or a CANCEL)
    timer: bool = False
    #: where the input that made the reference core send it is in capture order ((0, 0):
    #: none, or a timer; CAP-9)
    cause: Order = (0, 0)
    #: the place of the proxy's message among the messages of its frame (CAP-9)
    within: int = 0

    def __init__(self, time: float, frame: int, call_id: str, destination: Address,
                 direction: str, label: str, target: str, timer: bool = False,
                 cause: Order = (0, 0), within: int = 0) -> None:
        # straight into the instance dict, as `pushinject.core.actions.Send` (one per message
        # of either side): the generated __init__ sets each field through object.__setattr__
        fields = self.__dict__
        fields["time"] = time
        fields["frame"] = frame
        fields["call_id"] = call_id
        fields["destination"] = destination
        fields["direction"] = direction
        fields["label"] = label
        fields["target"] = target
        fields["timer"] = timer
        fields["cause"] = cause
        fields["within"] = within

    @property
    def key(self) -> tuple[str, str, str]:
        return self.direction, self.label, self.target

    def loose_key(self) -> tuple[str, str, str]:
        """The key, with any non-2xx final response to the caller called ``final``."""
        if self.direction == "caller" and self.label.isdigit() and int(self.label) >= 300:
            return self.direction, "final", self.target
        return self.key

    def describe(self) -> str:
        what = f"{self.label} {self.target}" if self.target else self.label
        return f"{what} to {address_text(self.destination)}"

    @classmethod
    def of(cls, time: float, frame: int, message: Any, destination: Address,
           callers: Mapping[str, Address], timer: bool = False, cause: Order = (0, 0),
           within: int = 0) -> Output:
        call_id = message.call_id
        direction = _direction(callers.get(call_id), destination)
        method = getattr(message, "method", None)
        if method is not None:
            return cls(time, frame, call_id, destination, direction, str(method),
                       str(message.uri), timer, cause, within)
        return cls(time, frame, call_id, destination, direction, str(message.status), "",
                   timer, cause, within)


def _direction(caller: Address | None, destination: Address) -> str:
    """Which way a message the proxy (or the core) sent went: to the ``caller`` of its call
    (`caller`, that call's caller's address) or ``onward``."""
    return "caller" if caller == destination else "onward"


@dataclass(frozen=True)
class Divergence:
    """The first difference between the proxy and the reference for one call."""

    time: float
    frame: int
    message: str


@dataclass(frozen=True)
class ReplayResult:
    """What the reference core sent, and the first divergence of each call (None: same)."""

    preset: str
    reference: tuple[Output, ...]
    actual: tuple[Output, ...]
    divergences: Mapping[str, Divergence | None]


#: `Output.key` as one call
_KEY = attrgetter("direction", "label", "target")


def _same_hop(actual: Output, reference: Output) -> bool:
    """Whether a request went where the reference sends it (see the module docstring)."""
    if actual.destination == reference.destination or not reference.label.isalpha():
        return True
    try:
        ipaddress.ip_address(reference.destination[0])
    except ValueError:  # a name: not resolved here
        return True
    return False


def _driver(preset: Any, proxy: Address, knobs: Mapping[str, float] | None,
            aliases: Sequence[Address] = ()) -> Any:
    """The preset's driver at the proxy's address; its other addresses are its own too, so
    that a Route naming one of them (the second of a double Record-Route) is removed as the
    proxy removed it (CONN-12, ROUTE-9)."""
    from pushinject.core.ids import CountingIds

    driver = preset.build(CountingIds("px"), knobs)
    core = driver.proxy
    if (core.config.host, core.config.port) != proxy:
        core.set_address(*proxy)
    if aliases:
        core.add_aliases(aliases)
    return driver


def _entry(driver: Any, name: str) -> Any:
    """The driver's method `name`, or the proxy's own when the driver only passes it on."""
    from pushinject.presets.base import Driver

    if getattr(type(driver), name) is getattr(Driver, name):
        return getattr(driver.proxy, name)
    return getattr(driver, name)


def _push_answers(driver: Any, messages: Sequence[WireMessage], proxy: Address,
                  callers: Mapping[str, Address]) -> dict[str, tuple[float, int]]:
    """Each call's first 404 or 480 that `proxy` sent its caller, (time, status): what a failed
    push shows (PUSH-14); none when the model ignores a push's outcome."""
    from pushinject.presets.base import Driver

    if type(driver).push_result is Driver.push_result:
        return {}
    out: dict[str, tuple[float, int]] = {}
    for m in messages:
        if m.source == proxy and not m.is_request and m.status in _PUSH_FAILED:
            call_id = m.message.call_id
            if call_id not in out and callers.get(call_id) == m.destination:
                out[call_id] = (m.time, m.status)
    return out


def _flows_closed(messages: Sequence[WireMessage], proxy: Address,
                  callers: Mapping[str, Address]) -> set[str]:
    """The calls whose caller got `430 Flow Failed` from `proxy`: their callee's flows had
    closed (ROUTE-8)."""
    return {m.message.call_id for m in messages
            if m.source == proxy and not m.is_request and m.status == 430
            and callers.get(m.message.call_id) == m.destination}


def _fail_flows(driver: Any, request: Any) -> None:
    """Mark the RFC 5626 flows of the AoR `request` is for failed, as their connection's
    closing would (ROUTE-7, ROUTE-8)."""
    location = driver.proxy.location
    for binding in location.bindings(location.aor_of(request.uri)):
        if location.is_flow(binding):
            location.fail_flow(binding)


def _request_key(message: Any, uri: str | None = None) -> tuple[str, str, int, str]:
    """A request's (Call-ID, method, CSeq number, Request-URI); `uri`: the Request-URI's
    text, when already written."""
    return (message.call_id, message.method, message.cseq.number,
            str(message.uri) if uri is None else uri)


class _Vias:
    """Which core Via stands for which Via branch of the real proxy: the n-th request the core
    sends with a (Call-ID, method, CSeq, Request-URI) stands for the n-th the proxy sent (two
    branches to one contact are two requests, a retransmission is not)."""

    def __init__(self, messages: Sequence[WireMessage], proxy: Address) -> None:
        self.real: dict[tuple[str, str, int, str], list[str]] = {}
        read: set[Parsed] = set()  # a copy (the same bytes) adds the same branch to the same key
        for m in messages:
            if m.is_request and m.branch and m.source == proxy and m.parsed not in read:
                read.add(m.parsed)
                branches = self.real.setdefault(_request_key(m.message), [])
                if m.branch not in branches:
                    branches.append(m.branch)
        self.core: dict[str, str] = {}
        self.seen: dict[tuple[str, str, int, str], list[str]] = {}
        #: the core's requests already taken, by identity: a retransmission is the same
        #: request sent again, and teaches nothing new (held, so that no identity is reused)
        self.taken: dict[int, Any] = {}

    def sent(self, message: Any, uri: str) -> None:
        """The core sent request `message`, whose Request-URI reads `uri`."""
        taken = self.taken
        if id(message) in taken:
            return
        taken[id(message)] = message
        text = message.get("Via")  # the core's own Via is the top one (RFC 3261 §16.6 step 8)
        if not text:
            return
        via = top_via_text(message)
        key = _request_key(message, uri)
        mine = self.seen.setdefault(key, [])
        if via not in mine:
            mine.append(via)
        real = self.real.get(key)
        if real:
            n = mine.index(via)
            if n < len(real):
                self.core.setdefault(real[n], via)

    def translate(self, m: WireMessage) -> Any:
        """The message of `m`, a response with the real proxy's top Via replaced by the core's
        (see the module docstring); other messages as they are."""
        message = m.message
        if m.is_request or not m.branch:
            return message
        via = self.core.get(m.branch)
        if via is None:
            return message
        return with_top_via(message, via)


def replay_outputs(messages: Sequence[WireMessage], proxy: Address, preset: Any,
                   knobs: Mapping[str, float] | None = None, *, until: float | None = None,
                   callers: Mapping[str, Address] | None = None,
                   aliases: Sequence[Address] = ()) -> list[Output]:
    """The reference core's `Send`s when the proxy's inputs are fed to it at their times, and
    the failures of its pushes that the proxy's answers show (PUSH-14) at theirs. `aliases`:
    the proxy's other addresses (CONN-12)."""
    from pushinject.conformance.timing import TICK
    from pushinject.core.actions import Push, Send
    from pushinject.core.events import Received
    from pushinject.push.service import PushResult

    driver = _driver(preset, proxy, knobs, aliases)
    handle, get_timer, handle_timer = (_entry(driver, name)
                                       for name in ("handle", "get_timer", "handle_timer"))
    vias = _Vias(messages, proxy)
    sent_by_core = vias.sent
    callers = callers or {}
    caller_of = callers.get
    out: list[Output] = []
    append = out.append
    answered = _push_answers(driver, messages, proxy, callers)
    closed = _flows_closed(messages, proxy, callers)
    # (time, order, push, result): failed pushes to hand back to the driver, in time order
    failures: list[tuple[float, int, Any, PushResult]] = []
    order = itertools.count()

    sent: set[tuple[str, str, str, str]] = set()

    def collect(actions: Iterable[Any], now: float, timer: bool = False,
                cause: Order = (0, 0)) -> None:
        for a in actions:
            if not isinstance(a, Send):
                if answered and isinstance(a, Push) and a.call_id in answered:
                    at, status = answered[a.call_id]
                    if now - TICK <= at <= now + PUSH_ANSWER_WITHIN:
                        heapq.heappush(failures, (max(at, now), next(order), a,
                                                  PushResult(ok=False, permanent=status == 404)))
                continue
            message = a.message
            destination = a.destination
            call_id = message.call_id
            direction = _direction(caller_of(call_id), destination)
            if isinstance(message, Request):
                label, target = str(message.method), str(message.uri)
                sent_by_core(message, target)
            else:
                label, target = str(message.status), ""
            timed = False
            if timer:
                key = (call_id, direction, label, target)
                if key not in sent:
                    sent.add(key)
                    timed = label == "CANCEL" or label.isdigit()
            else:
                sent.add((call_id, direction, label, target))
            append(Output(now, 0, call_id, destination, direction, label, target, timed, cause))

    def timers(limit: float) -> None:
        for _ in range(10_000):
            at = get_timer()
            if failures and failures[0][0] <= limit and (at is None or failures[0][0] <= at):
                when, _, push, result = heapq.heappop(failures)
                collect(driver.push_result(push, result, when), when)
                continue
            if at is None or at > limit:
                return
            collect(handle_timer(at), at, timer=True)

    translate = vias.translate
    # in the order of their times: a HEP mirror's copies may come a little out of it (HEP-2),
    # and the core takes its inputs as the proxy did (a capture's own order where times tie)
    inputs = sorted((m for m in messages if m.destination == proxy and m.source != proxy),
                    key=attrgetter("time"))
    for m in inputs:
        now = m.time
        try:
            at = get_timer()  # `timers(now)` when nothing is due: no call
            if (at is not None and at <= now) or (failures and failures[0][0] <= now):
                timers(now)
            event = Received(message=translate(m), source=m.source, transport=m.transport)
            if closed and m.label == "INVITE" and m.message.call_id in closed:
                _fail_flows(driver, event.message)
            collect(handle(event, now), now, cause=m.order)
        except (PushInjectError, ValueError) as exc:
            raise ReplayError(m.time, m.frame, str(exc)) from None
    if until is not None:
        timers(until)
    return out


class ReplayError(PushInjectError):
    """The reference core could not take a message of the capture (it is malformed for it)."""

    def __init__(self, time: float, frame: int, text: str) -> None:
        super().__init__(f"the reference core could not take frame {frame}: {text}")
        self.time = time
        self.frame = frame


def _partner(a: Output, r: Output, at: float, tolerance: float, slack: float | None) -> bool:
    """Can `r`, due at `at`, stand for `a` in time? (see the module docstring)"""
    if r.timer and slack is not None:
        from pushinject.conformance.timing import TICK

        return at - TICK <= a.time <= at + slack
    return abs(at - a.time) <= tolerance


def _before_its_cause(a: Output, r: Output) -> bool:
    """Did the proxy send its final response to the caller before the input the reference
    needed to send it (a branch's last answer, RFC 3261 §16.7 steps 5 and 6)? Capture order
    (CAP-9) tells, also of two messages in one frame."""
    final = a.direction == "caller" and a.label.isdigit() and int(a.label) >= 200
    return final and 0 < a.frame and a.order < r.cause


#: the time of a message that never left
_NEVER = float("inf")


def _copy_times(a: Output, actual: Sequence[Output]) -> list[float]:
    """When the proxy sent `a`, an INVITE onward, and each copy of it before."""
    return [o.time for o in actual if o.key == a.key and o.destination == a.destination
            and o.time <= a.time]


def _growth(times: Sequence[float], t2: float = T2) -> str:
    """How the last interval between INVITE copies sent at `times` departs from RFC 3261
    §17.1.1.2's doubling ("" when it doubled): kept (stopped doubling, at T2 as Kamailio's tm
    does), or jumped to T2 before reaching it (OpenSIPS's tm, OSIPS-29) (TXN-10); `t2`: T2 in
    force (TIMING-4), named with its value when it is not RFC 3261's. An interval is at T2
    within an eighth of it. The interval from the first copy is not read: a timer tick may
    delay it (TIMING-3)."""
    if len(times) < 4:
        return ""
    last, before = times[-1] - times[-2], times[-2] - times[-3]
    named = "T2" if t2 == T2 else f"T2 = {t2:g} s"
    if abs(last - before) < abs(last - 2 * before):
        at = f" at {named}" if abs(last - t2) < t2 / 8 else ""
        how = f"the interval stopped doubling{at}"
    elif abs(last - t2) < t2 / 8 < last - 2 * before:
        how = f"the interval went to {named} before doubling up to it"
    else:
        return ""
    return (f"left {last:.3f} s after the one before, which left {before:.3f} s after its own: "
            f"{how} (TXN-10), where RFC 3261 §17.1.1.2 doubles it each time")


def _undoubled(a: Output, actual: Sequence[Output], t2: float) -> str:
    """Why an INVITE copy the proxy sent onward has no partner, when its interval since the
    copy before did not double (`_growth`; "" otherwise)."""
    if a.label != "INVITE" or a.direction != "onward":
        return ""
    growth = _growth(_copy_times(a, actual), t2)
    return f": this copy {growth}" if growth else ""


def _next_copy_undoubled(r: Output, actual: Sequence[Output], t2: float) -> str:
    """Why the proxy did not send the INVITE copy `r` of the reference, when the proxy's next
    copy there came at an interval that did not double (`_growth`; "" otherwise)."""
    if r.label != "INVITE" or r.direction != "onward":
        return ""
    after = next((o for o in actual if o.key == r.key and o.destination == r.destination
                  and o.time > r.time), None)
    growth = "" if after is None else _growth(_copy_times(after, actual), t2)
    return f": the proxy's next copy (frame {after.frame}) {growth}" if after and growth else ""


def _final_to_caller(outputs: Iterable[Output]) -> float:
    """When the first final response to the caller among `outputs` left (`_NEVER`: none)."""
    return min((o.time for o in outputs
                if o.direction == "caller" and o.label.isdigit() and int(o.label) >= 200),
               default=_NEVER)


def _given_up(actual: Sequence[Output], reference: Sequence[Output], side: Sequence[Output]
              ) -> Callable[[Output], bool]:
    """Whether an output of `side` (the reference's or the proxy's) is a copy of an INVITE on
    a branch sent after the call's first final response to the caller (the proxy's or the
    reference's), or at the same instant, where the wire does not say which came first: the
    proxy need not send it, and may (TXN-9)."""
    final = min(_final_to_caller(actual), _final_to_caller(reference))
    if final == _NEVER:
        return lambda r: False
    first: dict[tuple[str, str, str], float] = {}
    for r in side:
        if r.label == "INVITE" and r.direction == "onward":
            first.setdefault(r.key, r.time)
    return lambda r: (r.label == "INVITE" and r.direction == "onward" and r.time >= final
                      and first[r.key] < r.time)


def compare(actual: Sequence[Output], reference: Sequence[Output], tolerance: float,
            until: float, preset: str, *, slack: float | None = None,
            loose: bool = False, t2: float = T2) -> Divergence | None:
    """The earliest unmatched message of either side (see the module docstring); `slack`
    judges the reference's timer-driven outputs, `loose` compares finals by `loose_key`, `t2`
    (T2 in force) explains an INVITE copy whose interval did not double (`_growth`).
    When a timer-driven output is matched by a message sent later, the reference's later
    copies of it (its retransmissions) are taken as that much later too."""
    key = Output.loose_key if loose else _KEY
    shift: dict[tuple[str, str, str], float] = {}
    free = list(reference)
    keys = [key(r) for r in free]  # the key of each output in `free`, kept alongside
    unmatched: list[Divergence] = []
    given_up = _given_up(actual, reference, reference)
    # branches the reference gives up with the call's final response: the proxy may still
    # retransmit there (TXN-9); where the reference goes on, the proxy's copies are judged
    going_on = {r.key for r in reference if given_up(r)}
    after_final = _given_up(actual, reference, actual)
    for a in actual:
        k = key(a)
        late = shift.get(k, 0.0)
        found = None
        for i, r in enumerate(free):
            if keys[i] == k and _partner(a, r, r.time + late, tolerance, slack) \
                    and _same_hop(a, r):
                found = i
                break
        if found is None:
            if after_final(a) and a.key not in going_on:
                continue  # a copy the reference no longer sends after the final (TXN-9)
            near = next((r for i, r in enumerate(free)
                         if keys[i] == k and r.timer and slack is not None), None)
            why = (f"the {preset} reference sent it by a timer {a.time - near.time:+.3f} s "
                   f"from then, and a timer fires up to {slack:g} s late, never early"
                   if near is not None else
                   f"the {preset} reference sent no such message within {tolerance:g} s"
                   + _undoubled(a, actual, t2))
            unmatched.append(Divergence(a.time, a.frame, f"the proxy sent {a.describe()} "
                                        f"(frame {a.frame}); {why}"))
        else:
            partner = free.pop(found)
            del keys[found]
            if partner.timer and slack is not None:
                shift[k] = max(0.0, a.time - partner.time)
            if _before_its_cause(a, partner):
                unmatched.append(Divergence(a.time, a.frame, f"the proxy sent {a.describe()} "
                                            f"(frame {a.frame}) before frame "
                                            f"{partner.cause[0]}, "
                                            f"which the {preset} reference waits for to send "
                                            "it"))
    first_final = _final_to_caller(actual)
    for r, k in zip(free, keys):
        due = r.time + shift.get(k, 0.0)
        if given_up(r) or (r.direction == "caller" and r.label.isdigit()
                           and 100 < int(r.label) < 200 and overtaken(r.time, first_final)):
            continue  # a provisional the proxy's final overtook (CTX-4, KAM-16)
        if due + (slack if r.timer and slack is not None else 0.0) <= until:
            unmatched.append(Divergence(due, 0, f"the {preset} reference sends "
                                        f"{r.describe()} here; the proxy did not"
                                        + _next_copy_undoubled(r, actual, t2)))
    return min(unmatched, key=lambda d: d.time) if unmatched else None


def replay(messages: Sequence[WireMessage], proxy: Address, callers: Mapping[str, Address],
           preset: Any, knobs: Mapping[str, float] | None = None, *,
           tolerance: float = 0.5, slack: float | None = None,
           loose: bool = False, horizon: float | None = None,
           aliases: Sequence[Address] = (), calls_only: bool = False,
           frames: Sequence[tuple[float, int]] | None = None) -> ReplayResult:
    """Replay the capture through `preset`; `callers` maps each call's Call-ID to the caller's
    address (`aliases`: the proxy's other addresses, CONN-12). Returns each call's first
    divergence. `slack` and `loose`: see `compare`.
    `horizon`: when the capture is known to go on to, past its last message (nothing more of
    these calls came until then), so that what the reference sends up to then and the proxy
    did not is a divergence, for a call whose caller got no final response. After one, what
    the reference sends later are copies that the caller's ACK stops (one that came just
    before a reference timer fired a tick later does not reach its transaction) or that the
    proxy may leave unsent (TXN-9): such a call is judged to its own last message, as if it
    were alone in the capture (other calls' messages and later registrations, interleaved
    under load, do not lengthen it). `calls_only`: the calls' outputs only, the reference fed
    only the calls' messages and registrations, not the others a stream interleaves (pushes
    and their answers, keep-alives), which no call's transaction takes: what a stream's
    judgement of its calls needs; the other messages still count as frames a missing one is
    blamed on.
    `frames`: (time, frame) of every message of the stream, in order, when `messages` hold
    only some: the last is the capture's end, and a missing message is blamed on them."""
    if not frames:
        frames = [(m.time, m.frame) for m in messages]
    last = frames[-1][0] if frames else 0.0
    end = last if horizon is None else max(last, horizon)
    until = end + max(tolerance, slack or 0.0)
    own = _calls_only(messages, callers) if calls_only else messages
    try:
        reference = replay_outputs(own, proxy, preset, knobs, until=until, callers=callers,
                                   aliases=aliases)
    except ReplayError as exc:
        failed = Divergence(exc.time, exc.frame, str(exc))
        return ReplayResult(preset.name, (), (), {cid: failed for cid in callers})
    actual = sent_by(own, proxy, callers)
    sent: dict[str, list[Output]] = {}
    expected: dict[str, list[Output]] = {}
    for o in actual:
        sent.setdefault(o.call_id, []).append(o)
    for o in reference:
        expected.setdefault(o.call_id, []).append(o)
    own_last: dict[str, float] = {}
    for m in messages:
        if m.message.call_id in callers:
            own_last[m.message.call_id] = m.time
    divergences = {
        cid: _located(compare(sent.get(cid, []), expected.get(cid, []), tolerance,
                              end if _final_to_caller(sent.get(cid, ())) == _NEVER
                              else own_last.get(cid, last),
                              preset.name, slack=slack, loose=loose,
                              t2=timer_values(knobs or {}).t2),
                      frames)
        for cid in callers}
    return ReplayResult(preset.name, tuple(reference), tuple(actual), divergences)


def _calls_only(messages: Sequence[WireMessage], callers: Mapping[str, Address]
                ) -> list[WireMessage]:
    """The messages of the calls (their Call-IDs are `callers`') and of registrations."""
    return [m for m in messages
            if m.message.call_id in callers or m.message.cseq.method == "REGISTER"]


def sent_by(messages: Iterable[WireMessage], proxy: Address,
            callers: Mapping[str, Address]) -> list[Output]:
    """`Output.of` each message that `proxy` sent, in order; the Call-ID, label and target
    of a copy (the same bytes: `pushinject.conformance.capture.Parsed`) are its first's."""
    out: list[Output] = []
    append = out.append
    caller_of = callers.get
    read: dict[Parsed, Output] = {}
    for m in messages:
        if m.source != proxy:
            continue
        first = read.get(m.parsed)
        if first is None:
            output = read[m.parsed] = Output.of(m.time, m.frame, m.message, m.destination,
                                                callers, within=m.within)
        else:
            call_id, destination = first.call_id, m.destination
            output = Output(m.time, m.frame, call_id, destination,
                            _direction(caller_of(call_id), destination), first.label,
                            first.target, within=m.within)
        append(output)
    return out


def _located(d: Divergence | None, frames: Sequence[tuple[float, int]]) -> Divergence | None:
    """A missing message is blamed on the last frame before it should have left."""
    if d is None or d.frame:
        return d
    before = [frame for time, frame in frames if time <= d.time]
    frame = before[-1] if before else 0
    return Divergence(d.time, frame, f"{d.message} (after frame {frame})")
