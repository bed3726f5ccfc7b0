"""Judge calls from a live stream of messages (a HEP collector): group per callee, judge each
call once it is complete, release it.

`CallCollector` is sans-I/O: `add(message, now, raw)` takes each message in arrival order (and
the bytes it was parsed from, if known), `due(now)`
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
- so a registration message is kept as its digest (`pushinject.conformance.digest.Digest`:
  what the proxy's detection, the field rules and the bookkeeping here read), and its parsed
  message is let go once no call in progress needs it whole (checked every `FORGET_EVERY`
  seconds). Until it is settled for any later call (the callee registered afresh after its
  bindings expired), the bytes it was parsed from, given to `add`, are kept as well, to parse
  it again for a call that needs it; without them, the parsed message is kept until then. A
  message once settled for every later call stays settled;
- other messages (a push MESSAGE to a gateway, OPTIONS...) join the judgement of every call in
  progress when they arrive, as they are in a whole capture: the rules do not read them, but
  the latencies count a push, and the replay blames a missing message on the last frame before
  it should have left, whatever that frame is. They are kept once, in arrival order, for as
  long as a call in progress started before them, and each call takes those that came while
  it was in progress when it is judged: a proxy's keep-alives and pushes cost each call a share
  of the stream, not a copy each. Of them, the judged capture holds only those that can
  concern the call (`left_out` says which do not): a request that may be a push
  (`pushinject.conformance.field_rules.may_push`) sent from its INVITE until its final
  response (or a second after its INVITE, where the latencies look), and the answers to such
  a request; the others count only as frames (how long the stream went on, which frame a
  missing message is blamed on) and as what the proxy's detection and the latencies read
  (`judge_calls`' `stream` and `digested`). The replay does not feed the model other dialogs'
  messages either: they are of no call's transaction;
- a call is complete once a final response to its INVITE went to the caller and nothing of the
  call arrived for `quiet` seconds (after a 408 or 480, for the checker's `lost_within` at
  least: a device of the callee registering that soon after is a lost call, FIELD-5), and not
  before Timer B (64*T1, with T1 given or read from the calls judged so far, TIMING-3) of
  each branch INVITE sent over UDP that had no response by then: that client transaction is
  still Calling and retransmits its INVITE until Timer B (RFC 3261
  §17.1.1.2, TXN-3; no CANCEL for it without a provisional response, §9.1); or once it is
  `max_age` seconds old (a proxy that never answers); it is then judged by `judge_calls` on a
  capture made of its messages and its callee's registrations in arrival order (FIELD-8
  taking the stream to go on to the time it was judged, the replay of a call without a final
  response running the reference to the time it was complete, or the end of the stream if
  sooner, FIELD-6 comparing an injection with the lookups of the calls judged before), and
  released. A message of a judged call that comes later is counted as ``late``; a call the
  checker cannot judge (it raises) is counted as ``unjudged`` and the stream goes on. A timer
  value read from one call's events (TIMING-2) stands for the calls judged after it, until a
  call judged later shows it by an event that stands before it
  (`pushinject.conformance.timing.precedence`), as in a whole capture.

Memory follows the calls in progress (their messages parsed) and the registrations that have
not long expired (mostly digests), not the length of the stream.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from operator import itemgetter

from pushinject.conformance.calls import user_of
from pushinject.conformance.capture import Address, Capture, WireMessage, to_wire
from pushinject.conformance.check import CaptureResult, CheckOptions, judge_calls
from pushinject.conformance.digest import Digest, with_values_of
from pushinject.conformance.field_rules import Lookup, may_push
from pushinject.conformance.timing import T1, TimerValue, precedence
from pushinject.presets.base import T1_KNOB
from pushinject.errors import PushInjectError

__all__ = ["CallCollector", "FORGET_EVERY", "left_out", "settled"]

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
    #: the time its last message bears (`last` is when it arrived)
    seen: float = 0.0
    final: bool = False
    #: how long the call must stay quiet once final (set with the final response)
    wait: float = 0.0
    #: each branch INVITE over UDP (top Via branch): when its first copy arrived, None once
    #: answered
    calling: dict[str, float | None] = field(default_factory=dict)
    #: when its last unanswered branch's Timer B fires (set with the final response)
    hold: float = float("-inf")
    #: the time its first final response to the caller bears
    final_at: float = float("inf")
    #: the time of its standing pair in the collector's deadline heap: never after its
    #: deadline (NaN: none yet)
    queued: float = float("nan")


#: one message of a callee's registrations: (arrival number, digest, the parsed message or
#: None once settled, the bytes to parse it again or None)
_Entry = tuple[int, Digest, WireMessage | None, bytes | None]


@cache
def _shortest() -> float:
    """The registrar's shortest accepted expiry, which it may raise a shorter one to."""
    from pushinject.core.location import RegistrarConfig

    return float(RegistrarConfig.min_expires)


def _scan(registrations: Sequence[tuple[int, Digest] | _Entry], seq: int
          ) -> tuple[int, int | None, float]:
    """`settled`'s walk over the registration messages that arrived before number `seq`:
    (the settled prefix whatever the INVITE's time, how many messages were walked or None
    when one of another kind stopped the walk, when the last binding made so far expires)."""
    shortest = _shortest()
    cut = 0
    alive = float("-inf")
    for index, entry in enumerate(registrations):
        if entry[0] > seq:
            return cut, index, alive
        d = entry[1]
        if d.cseq_method != "REGISTER":
            return cut, None, alive  # a message of another kind: nothing before it is settled
        if d.is_request and d.label == "REGISTER":
            if d.time > alive:
                cut = index
            alive = max(alive, d.time + max(d.lifetime, shortest))
    return cut, len(registrations), alive


def settled(registrations: Sequence[tuple[int, Digest] | _Entry], seq: int,
            time: float) -> int:
    """How many of a callee's first registration messages (arrival number and digest, in
    arrival order) are *settled* for a call whose INVITE is message number `seq`, of capture
    time `time`: a prefix made of REGISTERs and their responses before the INVITE, every
    binding of which (`pushinject.conformance.digest.lifetime`, at least the registrar's
    shortest accepted expiry, which a registrar may raise a shorter one to) had expired before
    the next REGISTER of the callee arrived and before the INVITE. A registrar holds no
    binding of them once the call starts, and the next REGISTER finds none of them, so they
    cannot change what the call's transactions or the model do (RFC 3261 §10.3 step 7);
    `judge_calls` reads them for the proxy's detection, the devices of the field rules
    and the latencies only."""
    cut, walked, alive = _scan(registrations, seq)
    return walked if walked is not None and time > alive else cut


class _Due:
    """One time for each user, soonest first: a heap whose pairs no longer standing are
    skipped, and dropped once they outnumber the standing ones, so that its size follows the
    users, not how often their times changed."""

    def __init__(self) -> None:
        self._when: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def set(self, user: str, when: float | None) -> None:
        """The user's time is now `when` (None: none)."""
        if when is None:
            self._when.pop(user, None)
            return
        if self._when.get(user) == when:
            return
        self._when[user] = when
        heapq.heappush(self._heap, (when, user))
        if len(self._heap) > 2 * len(self._when) + 64:
            self._heap = [(t, u) for u, t in self._when.items()]
            heapq.heapify(self._heap)

    def due(self, before: float) -> list[str]:
        """The users whose time is before `before`; their times are dropped."""
        out = []
        heap, when = self._heap, self._when
        while heap and heap[0][0] < before:
            t, user = heapq.heappop(heap)
            if when.get(user) == t:
                del when[user]
                out.append(user)
        return out


#: an entry's arrival number
_number = itemgetter(0)


def left_out(others: Sequence[tuple[int, WireMessage, Digest | None]], start: float,
             final_at: float) -> set[int]:
    """The arrival numbers of the other dialogs' messages that cannot concern a call whose
    INVITE bears `start` and whose final response `final_at` (inf: none): all but a request
    that may be a push (`may_push`) from `start` until the final response or a second after
    `start`, whichever is later (where `pushinject.conformance.calls` and the latencies look
    for pushes), and the answers to such a request (a ladder draws them)."""
    end = max(final_at, start + 1.0)
    pushes = {n for n, m, d in others
              if d is not None and may_push(d) and start <= m.time <= end}
    dialogs = {d.call_id for n, _, d in others if n in pushes and d is not None}
    return {n for n, _, d in others if n not in pushes and (
        d is None or d.is_request or d.call_id not in dialogs)}


def _kept_settled(entries: Sequence[_Entry]) -> int:
    """How many of a user's first registration messages are kept as digests only: they were
    settled for every call to come when their parsed message was let go."""
    count = 0
    for e in entries:
        if e[2] is not None or e[3] is not None:
            break
        count += 1
    return count


def _parsed(entry: _Entry) -> WireMessage:
    """A registration message parsed again from its bytes, as it was when it arrived."""
    from pushinject.capture.decoder import DecodedMessage

    _, d, _, raw = entry
    wire = to_wire(DecodedMessage(d.frame, d.time, d.source, d.destination, d.transport,
                                  raw or b"", within=d.within))
    if wire is None:  # it was parsed when it arrived: the same bytes parse the same
        raise ValueError(f"frame {d.frame} no longer parses")
    return wire


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
        #: the other messages (arrival number, message, its digest), while a call in progress
        #: needs them
        self._context: list[tuple[int, WireMessage, Digest]] = []
        self._registrations: dict[str, list[_Entry]] = {}
        self._register_ids: dict[str, str] = {}
        self._until: dict[str, float] = {}  # REGISTER Call-ID: when its bindings expire
        # what `_forget` looks at, so that its cost follows what changed, not all it holds:
        # (until, Call-ID) of `_until` (a stale pair when raised since); the time of the
        # next message of each user to grow older than `max_age`, and of its oldest message,
        # to grow older than `keep_registrations`; the users given a message since, and
        # those of the calls judged since (whose registrations a call may no longer need)
        self._expiring: list[tuple[float, str]] = []
        self._aging = _Due()
        self._old = _Due()
        self._changed: set[str] = set()
        self._released: set[str] = set()
        self._done: dict[str, float] = {}
        self._newest = 0.0
        self._clock = float("-inf")  # the latest arrival time asked about (`completed`)
        self._next_forget = float("-inf")
        self._next_due = float("inf")  # no call is complete before this
        # a heap of (time, arrival number of the INVITE, Call-ID), a standing pair for each
        # call in progress, at or before its deadline; a pair whose time is not its call's
        # `queued` is stale, skipped
        self._deadlines: list[tuple[float, int, str]] = []
        #: timer values read so far from the calls' events (TIMING-2)
        self.timers: dict[str, TimerValue] = {}
        #: the first branch made by lookup to each contact in the calls judged (FIELD-6),
        #: forgotten with the registrations (`keep_registrations`) once they double
        self.lookups: dict[str, Lookup] = {}
        self._lookups_kept = 1024

    @property
    def timer_b(self) -> float:
        """Timer B of a branch INVITE (64*T1, RFC 3261 §17.1.1.2), with the T1 in force: given
        (``--knob t1``), read from the calls judged so far (TIMING-3), else RFC 3261's."""
        given = self.options.knobs.get(T1_KNOB)
        if given is None:
            read = self.timers.get(T1_KNOB)
            given = T1 if read is None else read.value
        return 64 * given

    @property
    def open_calls(self) -> int:
        return len(self._calls)

    def add(self, message: WireMessage, now: float, raw: bytes | None = None) -> None:
        """Take one message, arrived at `now`; `raw`, the bytes it was parsed from (as
        `pushinject.conformance.capture.to_wire` parses them), lets a registration be let go
        sooner (see the module docstring)."""
        self._seq += 1
        entry = (self._seq, message)
        msg = message.message
        call_id = msg.call_id
        if message.time > self._newest:
            self._newest = message.time
        call = self._calls.get(call_id)
        if call is not None:
            call.messages.append(entry)
            call.last = now
            call.seen = message.time
            if call.final:
                if now + call.wait < call.queued:  # an earlier time: keep the pair at or
                    self._queue(call, self._deadline(call))  # before the deadline
            elif message.is_request:  # a branch INVITE over UDP, before the final response
                if (message.source != call.caller and message.label == "INVITE"
                        and message.transport == "UDP"):
                    call.calling.setdefault(message.branch, now)
            elif message.destination != call.caller:  # a response on a branch
                call.calling[message.branch] = None
            elif message.status >= 200 and msg.cseq.method == "INVITE":
                call.final = True
                call.final_at = message.time
                lost = message.status in (408, 480)
                call.wait = max(self.quiet, self.options.lost_within) if lost else self.quiet
                if call.calling:
                    timer_b = self.timer_b
                    call.hold = max((t + timer_b for t in call.calling.values()
                                     if t is not None), default=call.hold)
                self._next_due = min(self._next_due, now + call.wait)
                self._queue(call, self._deadline(call))
            self.counts["call"] += 1
            return
        if call_id in self._done:
            self.counts["late"] += 1
            return
        if message.is_request and message.label == "INVITE" and msg.to.tag is None:
            call = self._calls[call_id] = _Call(call_id, user_of(message.request_uri),
                                                message.source, now, now, [entry],
                                                seen=message.time)
            self._next_due = min(self._next_due, now + self.max_age)
            self._queue(call, self._deadline(call))
            self.counts["call"] += 1
            return
        user = self._register_ids.get(call_id)
        if user is None and message.is_request and message.label == "REGISTER":
            user = self._register_ids[call_id] = user_of(msg.to.uri)
        if user is not None:
            digest = Digest.of(message)
            if message.is_request and message.label == "REGISTER":
                until = max(self._until.get(call_id, 0.0), message.time + digest.lifetime)
                self._until[call_id] = until
                heapq.heappush(self._expiring, (until, call_id))
            entries = self._registrations.setdefault(user, [])
            entries.append((self._seq, with_values_of(digest, (e[1] for e in entries[-4:])),
                            message, raw))
            self._changed.add(user)
            self.counts["registration"] += 1
            return
        self.counts["unrelated"] += 1
        if self._calls:
            self._context.append((self._seq, message, Digest.of(message)))

    def due(self, now: float) -> list[CaptureResult]:
        """Judge and release every call that is complete at `now`, in order of completion."""
        return [result for _, result in self.completed(now)]

    def completed(self, now: float) -> list[tuple[float, CaptureResult]]:
        """`due`, each call with the time it became complete (its deadline: the same however
        often `due` is asked), in order of that time, then of arrival."""
        out = []
        if now > self._clock:
            self._clock = now
        if now >= self._next_due:  # a message only ever moves its call's deadline later
            ready = []
            heap = self._deadlines
            while heap and heap[0][0] <= now:
                call = self._standing(heapq.heappop(heap))
                if call is None:
                    continue
                deadline = self._deadline(call)
                if deadline > now:  # messages since moved it later
                    self._queue(call, deadline)
                else:
                    call.queued = float("nan")  # any other pair of it is stale
                    ready.append((deadline, call.messages[0][0], call))
            ready.sort(key=lambda r: r[:2])
            out = [(deadline, self._judge(call, now, deadline=deadline))
                   for deadline, _, call in ready]
            self._next_due = self._soonest()
        if now >= self._next_forget:  # every few seconds: the cost follows the state
            self._forget(now)
            self._next_forget = now + FORGET_EVERY
        return out

    def _standing(self, pair: tuple[float, int, str]) -> _Call | None:
        """The call of a pair of the deadline heap, None when the pair is stale."""
        call = self._calls.get(pair[2])
        if call is None or call.queued != pair[0] or call.messages[0][0] != pair[1]:
            return None
        return call

    def _queue(self, call: _Call, when: float) -> None:
        """Give the call the standing pair `when` in the deadline heap (its pairs before go
        stale); the heap is rebuilt once stale pairs outnumber the calls, so that its size
        follows them."""
        if when == call.queued:
            return
        call.queued = when
        heap = self._deadlines
        heapq.heappush(heap, (when, call.messages[0][0], call.call_id))
        if len(heap) > 2 * len(self._calls) + 64:
            heap[:] = [(c.queued, c.messages[0][0], c.call_id) for c in self._calls.values()
                       if c.queued == c.queued]  # NaN: it has none (being judged)
            heapq.heapify(heap)

    def _soonest(self) -> float:
        """The earliest deadline of the calls in progress (inf: none): stale pairs on top of
        the heap are dropped, a pair before its call's deadline moved up to it."""
        heap = self._deadlines
        while heap:
            call = self._standing(heap[0])
            if call is None:
                heapq.heappop(heap)
                continue
            deadline = self._deadline(call)
            if deadline == heap[0][0]:
                return deadline
            heapq.heappop(heap)
            call.queued = float("nan")
            self._queue(call, deadline)
        return float("inf")

    def _deadline(self, call: _Call) -> float:
        """When the call is complete if nothing more of it arrives."""
        aged = call.started + self.max_age
        return min(max(call.last + call.wait, call.hold), aged) if call.final else aged

    def flush(self) -> list[CaptureResult]:
        """Judge every call still open (the stream ended)."""
        out = [self._judge(c, c.last, self._newest, deadline=min(self._deadline(c), self._clock))
               for c in list(self._calls.values())]
        self._deadlines.clear()
        self._forget(float("inf"))
        return out

    def _judge(self, call: _Call, now: float, until: float | None = None, *,
               deadline: float) -> CaptureResult:
        """Judge the call at `now`, the stream seen to go on to `until` on the messages'
        clock (FIELD-8 reads it; default: `now`), nothing of the call having come until
        `deadline`, to which the replay runs (HEP-3). `now` and `deadline` are arrival times,
        read on the messages' clock from the call's last message: a live collector's own
        clock need not be the one its messages are stamped with."""
        del self._calls[call.call_id]
        self._done[call.call_id] = now
        self._released.add(call.user)
        self.judged += 1
        registrations = self._registrations.get(call.user, [])
        seq, invite = call.messages[0]
        cut = max(settled(registrations, seq, invite.time), _kept_settled(registrations))
        name = f"{self.name} call {self.judged}"
        capture = Capture(file=name, frames=0, messages=())
        try:
            context = self._context
            own: list[tuple[int, WireMessage, Digest | None]] = [
                (n, m, None) for n, m in call.messages]
            others: list[tuple[int, WireMessage, Digest | None]] = list(
                context[bisect_right(context, seq, key=_number):])
            rest: list[tuple[int, WireMessage, Digest | None]] = [
                (e[0], e[2] if e[2] is not None else _parsed(e), e[1])
                    for e in registrations[cut:]]
            merged = (list(heapq.merge(own, others, rest, key=_number)) if rest or others
                      else own)  # each in arrival order
            out = left_out(others, invite.time, call.final_at)
            messages = tuple(e[1] for e in merged if e[0] not in out)
            capture = Capture(file=name, frames=cut + len(merged), messages=messages,
                              counted=len(merged) if len(messages) < len(merged) else None)
            of = Digest.of
            result = judge_calls(capture, self.options, self.timers,
                                 settled=[e[1] for e in registrations[:cut]],
                                 digested=[of(m) if d is None else d for _, m, d in merged],
                                 until=call.seen + now - call.last if until is None else until,
                                 horizon=call.seen + max(0.0, deadline - call.last),
                                 known=self.lookups,
                                 stream=[(e[1].time, e[1].frame) for e in merged]
                                 if len(messages) < len(merged) else None)
        except (PushInjectError, ValueError):  # a stream must not stop on one odd call
            self.counts["unjudged"] += 1
            return CaptureResult(capture, None, (), None)
        held = self.lookups
        for key, made in result.lookups.items():  # of its call alone: no other starts here
            if key not in held or made.order < held[key].order:
                held[key] = made
        for knob, value in result.timing.values.items():
            known = self.timers.get(knob)
            if value.evidence is not None and (known is None
                                               or precedence(value) < precedence(known)):
                self.timers[knob] = value
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
        users |= self._released
        self._released = set()
        expired = set()
        while self._expiring and self._expiring[0][0] < recent:
            until, k = heapq.heappop(self._expiring)
            if self._until.get(k) == until:  # else raised since: a later pair stands
                expired.add(k)
                del self._until[k]
                users.add(self._register_ids.pop(k))
        users.update(self._aging.due(recent))
        users.update(self._old.due(horizon))
        calls: dict[str, list[_Call]] = {}
        for call in self._calls.values():
            calls.setdefault(call.user, []).append(call)
        for user in users:
            entries = self._registrations.get(user)
            if entries is None:
                continue
            newest: dict[str, int] = {}
            for e in entries:
                key = e[1].call_id
                newest[key] = max(newest.get(key, 0), e[1].cseq_number)
            kept = [e for e in entries if e[1].time >= horizon
                    and e[1].call_id not in expired and (
                        e[1].time >= recent or e[1].cseq_number == newest[e[1].call_id])]
            if kept:
                self._registrations[user] = kept
                self._let_go(kept, calls.get(user, ()))
                times = [e[1].time for e in kept]
                self._old.set(user, min(times))
                self._aging.set(user, min((t for t in times if t >= recent), default=None))
            else:
                del self._registrations[user]
                self._old.set(user, None)
                self._aging.set(user, None)
        self._done = {k: t for k, t in self._done.items() if now - t < self.max_age}
        oldest = min((c.messages[0][0] for c in self._calls.values()), default=self._seq + 1)
        del self._context[:bisect_left(self._context, oldest, key=_number)]
        if len(self.lookups) > self._lookups_kept:
            self.lookups = {k: a for k, a in self.lookups.items() if a.time >= horizon}
            self._lookups_kept = max(1024, 2 * len(self.lookups))

    def _let_go(self, entries: list[_Entry], calls: Iterable[_Call]) -> None:
        """Keep only the digest of each registration message that no call of the user in
        progress needs whole, and its bytes as well until it is settled for any later call
        (see the module docstring)."""
        sure = _scan(entries, self._seq)[0]
        now = len(entries)
        for call in calls:
            seq, invite = call.messages[0]
            held = settled(entries, seq, invite.time)
            sure, now = min(sure, held), min(now, held)
        for index in range(now):
            number, digest, wire, raw = entries[index]
            if index < sure:
                if wire is not None or raw is not None:
                    entries[index] = (number, digest, None, None)
            elif wire is not None and raw is not None:
                entries[index] = (number, digest, None, raw)

    def run(self, stream: Iterable[tuple[WireMessage, float]]) -> list[CaptureResult]:
        """Every verdict of a finite stream of (message, arrival time), judged as it goes,
        then flushed."""
        out: list[CaptureResult] = []
        for message, now in stream:
            out.extend(self.due(now))
            self.add(message, now)
        out.extend(self.flush())
        return out
