"""Judge calls from a live stream of messages (a HEP collector): group per callee, judge each
call once it is complete, release it.

`CallCollector` is sans-I/O: `add(message, now)` takes each message in arrival order, `due(now)`
returns the calls that are complete, each judged, and `flush()` judges what is left at the end;
`now` is the receiver's clock (arrival time), so the quiet period does not depend on the
sender's clock. The rules (HEP-3):

- a *call* starts with an INVITE without To tag whose Call-ID is new; every later message with
  that Call-ID (provisional and final responses, the forwarded and injected branches, CANCEL,
  ACK) belongs to it. Its *callee* is the user part of the INVITE's Request-URI, as
  `pushinject.conformance.calls` matches registrations;
- a REGISTER and its responses belong to the registrations of the user of its To URI; they are
  kept for `keep_registrations` seconds of message time (a registration older than that has
  expired by the registrar's default of 3600 s) and join the judgement of every call to that
  user, so the replay knows the contacts that existed when the INVITE came. A registration
  whose bindings all expired (the longest expires of its contacts, else its Expires header,
  else 3600 s: RFC 3261 §10.2.1.1, §10.3 step 7) more than `max_age` ago, longer than any
  call in progress has lasted, is dropped with its Call-ID; once older than `max_age`, only the
  newest refresh of each registration (its Call-ID's highest CSeq, which a registrar applies
  over the older ones: §10.2.4) is kept. For one call, the first of its callee's
  registrations whose bindings all expired before the next REGISTER and before the INVITE
  are *settled* (`settled`): the field rules still read them (a stale contact the proxy
  forks to names its device by its old REGISTER, FIELD-1), but the call's transactions and
  the replay, whose registrar no longer holds their bindings, go without them;
- other messages (a push MESSAGE to a gateway, OPTIONS...) join the judgement of every call in
  progress when they arrive, as they are in a whole capture: the rules do not read them, but
  the latencies count a push, and the replay blames a missing message on the last frame before
  it should have left, whatever that frame is;
- a call is complete once a final response to its INVITE went to the caller and nothing of the
  call arrived for `quiet` seconds (after a 408 or 480, for the checker's `lost_within` at
  least: a device of the callee registering that soon after is a lost call, FIELD-5), or once
  it is `max_age` seconds old (a proxy that never
  answers); it is then judged by `check_messages` on a capture made of its messages and its
  callee's registrations in arrival order, and released. A message of a judged call that comes
  later is counted as ``late``; a call the checker cannot judge (it raises) is counted as
  ``unjudged`` and the stream goes on. A timer value read from one call's events (TIMING-2)
  stands for the calls judged after it, as in a whole capture the first event that shows it
  does.

Memory follows the calls in progress and the live registrations, not the length of the stream.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from pushinject.conformance.calls import user_of
from pushinject.conformance.capture import Address, Capture, WireMessage
from pushinject.conformance.check import CaptureResult, CheckOptions, check_messages
from pushinject.conformance.timing import TimerValue
from pushinject.errors import PushInjectError

__all__ = ["CallCollector", "FORGET_EVERY", "settled"]

#: how often (seconds of arrival time) expired registrations and judged calls are forgotten
FORGET_EVERY = 10.0


@dataclass
class _Call:
    """One call in progress: its messages as (arrival number, message)."""

    call_id: str
    user: str
    caller: Address
    started: float
    last: float
    messages: list[tuple[int, WireMessage]] = field(default_factory=list)
    final: bool = False
    #: how long the call must stay quiet once final (set with the final response)
    wait: float = 0.0


def _lifetime(register: object) -> float:
    """How long the bindings of a REGISTER last: the longest expires of its contacts, else its
    Expires header, else 3600 s (RFC 3261 §10.2.1.1)."""
    default = getattr(register, "expires", None)
    default = 3600 if default is None else default
    lives = [c.expires if c.expires is not None else default
             for c in getattr(register, "contacts", ()) if not c.star]
    return float(max(lives, default=default))


def settled(registrations: Sequence[tuple[int, WireMessage]],
            invite: tuple[int, WireMessage]) -> int:
    """How many of a callee's first registration messages (in arrival order, the `invite`
    of a call among them) are *settled* for the call: a prefix made of REGISTERs and their
    responses before the INVITE, every binding of which (`_lifetime`, at least the
    registrar's shortest accepted expiry, which a registrar may raise a shorter one to) had
    expired before the next REGISTER of the callee arrived and before the INVITE. A
    registrar holds no binding of them once the call starts, and the next REGISTER finds
    none of them, so they cannot change what the call's transactions or the model do
    (RFC 3261 §10.3 step 7); `check_messages` reads them for the proxy's detection and the
    devices of the field rules only."""
    from pushinject.core.location import RegistrarConfig

    shortest = float(RegistrarConfig.min_expires)
    seq, first = invite
    cut = 0
    alive = float("-inf")  # when the last binding made so far expires
    for index, (number, m) in enumerate(registrations):
        if number > seq:
            break
        if m.message.cseq.method != "REGISTER":
            return cut  # a message of another kind: nothing before it is settled
        if m.is_request and m.label == "REGISTER":
            if m.time > alive:
                cut = index
            alive = max(alive, m.time + max(_lifetime(m.message), shortest))
    else:
        index = len(registrations)
    return index if first.time > alive else cut


class CallCollector:
    """Group a stream of messages into calls and judge each as it completes (see the module
    docstring). `counts` tells what happened to the messages: ``call``, ``registration``,
    ``unrelated``, ``late`` (and to calls: ``unjudged``)."""

    def __init__(self, options: CheckOptions, *, name: str = "stream", quiet: float = 5.0,
                 max_age: float = 600.0, keep_registrations: float = 3600.0) -> None:
        self.options = options
        self.name = name
        self.quiet = quiet
        self.max_age = max_age
        self.keep_registrations = keep_registrations
        self.counts: Counter[str] = Counter()
        self.judged = 0
        self._seq = 0
        self._calls: dict[str, _Call] = {}
        self._registrations: dict[str, list[tuple[int, WireMessage]]] = {}
        self._register_ids: dict[str, str] = {}
        self._until: dict[str, float] = {}  # REGISTER Call-ID: when its bindings expire
        # what `_forget` looks at, so that its cost follows what changed, not all it holds:
        # (until, Call-ID) of `_until` (a stale pair when raised since); (time, user) of the
        # next message of a user to grow older than `max_age`, and of its oldest message,
        # to grow older than `keep_registrations`; the users given a message since
        self._expiring: list[tuple[float, str]] = []
        self._aging: list[tuple[float, str]] = []
        self._old: list[tuple[float, str]] = []
        self._changed: set[str] = set()
        self._done: dict[str, float] = {}
        self._newest = 0.0
        self._next_forget = float("-inf")
        self._next_due = float("inf")  # no call is complete before this
        #: timer values read so far from the calls' events (TIMING-2)
        self.timers: dict[str, TimerValue] = {}

    @property
    def open_calls(self) -> int:
        return len(self._calls)

    def add(self, message: WireMessage, now: float) -> None:
        """Take one message, arrived at `now`."""
        self._seq += 1
        entry = (self._seq, message)
        msg = message.message
        call_id = msg.call_id
        self._newest = max(self._newest, message.time)
        call = self._calls.get(call_id)
        if call is not None:
            call.messages.append(entry)
            call.last = now
            if (not message.is_request and message.status >= 200
                    and msg.cseq.method == "INVITE" and message.destination == call.caller
                    and not call.final):
                call.final = True
                lost = message.status in (408, 480)
                call.wait = max(self.quiet, self.options.lost_within) if lost else self.quiet
                self._next_due = min(self._next_due, now + call.wait)
            self.counts["call"] += 1
            return
        if call_id in self._done:
            self.counts["late"] += 1
            return
        if message.is_request and message.label == "INVITE" and msg.to.tag is None:
            self._calls[call_id] = _Call(call_id, user_of(msg.uri), message.source, now, now,
                                         [entry])
            self._next_due = min(self._next_due, now + self.max_age)
            self.counts["call"] += 1
            return
        user = self._register_ids.get(call_id)
        if user is None and message.is_request and message.label == "REGISTER":
            user = self._register_ids[call_id] = user_of(msg.to.uri)
        if user is not None:
            if message.is_request and message.label == "REGISTER":
                until = max(self._until.get(call_id, 0.0), message.time + _lifetime(msg))
                self._until[call_id] = until
                heapq.heappush(self._expiring, (until, call_id))
            self._registrations.setdefault(user, []).append(entry)
            self._changed.add(user)
            self.counts["registration"] += 1
            return
        self.counts["unrelated"] += 1
        for open_call in self._calls.values():
            open_call.messages.append(entry)

    def due(self, now: float) -> list[CaptureResult]:
        """Judge and release every call that is complete at `now`, in order of completion."""
        return [result for _, result in self.completed(now)]

    def completed(self, now: float) -> list[tuple[float, CaptureResult]]:
        """`due`, each call with the time it became complete (its deadline: the same however
        often `due` is asked), in order of that time, then of arrival."""
        out = []
        if now >= self._next_due:  # a message only ever moves its call's deadline later
            ready = sorted((c for c in self._calls.values() if self._deadline(c) <= now),
                           key=self._deadline)
            out = [(self._deadline(c), self._judge(c, now)) for c in ready]
            self._next_due = min(map(self._deadline, self._calls.values()), default=float("inf"))
        if now >= self._next_forget:  # every few seconds: the cost follows the state
            self._forget(now)
            self._next_forget = now + FORGET_EVERY
        return out

    def _deadline(self, call: _Call) -> float:
        """When the call is complete if nothing more of it arrives."""
        aged = call.started + self.max_age
        return min(call.last + call.wait, aged) if call.final else aged

    def flush(self) -> list[CaptureResult]:
        """Judge every call still open (the stream ended)."""
        out = [self._judge(c, c.last) for c in list(self._calls.values())]
        self._forget(float("inf"))
        return out

    def _judge(self, call: _Call, now: float) -> CaptureResult:
        del self._calls[call.call_id]
        self._done[call.call_id] = now
        self.judged += 1
        registrations = self._registrations.get(call.user, [])
        entries = sorted(registrations + call.messages, key=lambda e: e[0])
        messages = tuple(m for _, m in entries)
        capture = Capture(file=f"{self.name} call {self.judged}", frames=len(messages),
                          messages=messages)
        try:
            result = check_messages(capture, self.options, self.timers,
                                    settled=settled(registrations, call.messages[0]))
        except (PushInjectError, ValueError):  # a stream must not stop on one odd call
            self.counts["unjudged"] += 1
            return CaptureResult(capture, None, (), None)
        for knob, value in result.timing.values.items():
            if value.evidence is not None:
                self.timers.setdefault(knob, value)
        return replace(result, calls=tuple(c for c in result.calls
                                           if c.call.call_id == call.call_id))

    def _forget(self, now: float) -> None:
        """Drop expired registrations and the memory of calls judged long ago: a Call-ID whose
        bindings expired more than `max_age` ago, a message older than `keep_registrations`,
        and one older than `max_age` that is not of its Call-ID's highest CSeq. Only the users
        where one of these can have changed are looked at: those given a message, those with
        a message that has just grown older than either age, those of an expired Call-ID."""
        horizon = self._newest - self.keep_registrations
        recent = self._newest - self.max_age
        users, self._changed = self._changed, set()
        expired = set()
        while self._expiring and self._expiring[0][0] < recent:
            until, k = heapq.heappop(self._expiring)
            if self._until.get(k) == until:  # else raised since: a later pair stands
                expired.add(k)
                del self._until[k]
                users.add(self._register_ids.pop(k))
        while self._aging and self._aging[0][0] < recent:
            users.add(heapq.heappop(self._aging)[1])
        while self._old and self._old[0][0] < horizon:
            users.add(heapq.heappop(self._old)[1])
        for user in users:
            entries = self._registrations.get(user)
            if entries is None:
                continue
            newest: dict[str, int] = {}
            for _, m in entries:
                key = m.message.call_id
                newest[key] = max(newest.get(key, 0), m.message.cseq.number)
            kept = [e for e in entries if e[1].time >= horizon
                    and e[1].message.call_id not in expired and (
                        e[1].time >= recent
                        or e[1].message.cseq.number == newest[e[1].message.call_id])]
            if kept:
                self._registrations[user] = kept
                times = [e[1].time for e in kept]
                heapq.heappush(self._old, (min(times), user))
                young = [t for t in times if t >= recent]
                if young:
                    heapq.heappush(self._aging, (min(young), user))
            else:
                del self._registrations[user]
        self._done = {k: t for k, t in self._done.items() if now - t < self.max_age}

    def run(self, stream: Iterable[tuple[WireMessage, float]]) -> list[CaptureResult]:
        """Every verdict of a finite stream of (message, arrival time), judged as it goes,
        then flushed."""
        out: list[CaptureResult] = []
        for message, now in stream:
            out.extend(self.due(now))
            self.add(message, now)
        out.extend(self.flush())
        return out
