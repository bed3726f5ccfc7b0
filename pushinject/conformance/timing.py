"""Timer values read from the capture, and timer-driven events judged with a slack for lateness.

A proxy's final-response timers show on the wire only when they fire. Three kinds of event
show one (TIMING-1):

- ``fr_inv_timeout``: the proxy CANCELs a branch that rang, with nothing else to explain the
  CANCEL (no final sent, no caller CANCEL, no 2xx or 6xx, no branch opened just before): the
  timer ran from the branch's last provisional (it restarts on each 1xx);
- ``fr_timeout``: the proxy sends its final response while a branch it forked never answered
  at all, with no branch final just before (also after the caller's CANCEL: such a branch
  cannot be CANCELled, RFC 3261 §9.1): the timer ran from that branch's INVITE (when that
  branch left with the caller's INVITE, the event shows the wait timer too: both ended);
- the *wait* timer (a placeholder, a suspended transaction, a bucket): the proxy sends its
  final response while no branch is pending and no branch final arrived just before: the
  timer ran from the caller's INVITE. Which knob that is depends on the model replayed
  (`WAIT_KNOBS`).

An event within the tolerance of the moment its timer would have started (a final response
sent as the INVITE came, with no branch at all: the proxy rejected it at once) shows no timer.

When a timer's value is not given (``--knob``), the first event that shows it gives it
(TIMING-2): the observed delay, taken as the whole second it is a late firing of when it lies
within ``[n - TICK, n + slack]``, otherwise to the millisecond. Every event that shows a timer,
the first included, must then lie in ``[value - TICK, value + slack]`` (TIMING-1): a timer
may fire late by up to the slack (a timer wheel), never early beyond one tick of a proxy's
timer wheel (Kamailio ticks 16 times a second).

The transaction timers' base value T1 (the ``t1`` knob, RFC 3261's 0.5 s by default) shows in
the INVITE retransmissions of a branch the proxy sent over UDP (Timer A: T1, 2*T1, 4*T1...
apart, RFC 3261 §17.1.1.2); when not given, it is read from them (TIMING-3, `retransmission_t1`)
and, when it differs from the default, used wherever the checker counts in T1: the replay's
reference, Timer B (64*T1) of a branch that never answered, Timer L of the rules.

T2 (the ``t2`` knob, 4 s by default) shows there too when a proxy holds the interval at T2
(Kamailio's and OpenSIPS's tm, TXN-10): two intervals in a row that are equal, not doubled;
when not given, it is read from them (TIMING-4, `retransmission_t2`) and, when it differs from
the default, used by the replay's reference and wherever a copy's due time is reckoned.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pushinject.conformance.calls import BranchRecord, CallRecord
from pushinject.conformance.capture import Order, WireMessage
from pushinject.conformance.rules import Violation
from pushinject.core.timers import T1, T2, TimerAGrowth, TimerValues
from pushinject.presets.base import RELAY_PN, SWITCHES, T1_KNOB, T2_KNOB

__all__ = ["TICK", "WAIT_KNOBS", "SUBSCRIPTION", "TimerEvidence", "TimerValue", "Timing",
           "timer_evidence", "infer_timers", "precedence", "whole_timer", "timing_lines",
           "retransmission_bound", "retransmission_t1", "retransmission_t2", "T1", "T2",
           "JITTER"]

#: how early a timer may fire through a proxy's timer-wheel granularity (seconds)
TICK = 0.1

#: the OpenSIPS model's subscription to the callee's new contacts (`notify_on_event`'s timeout)
SUBSCRIPTION = "subscription_timeout"

#: how far a copy of a request may lie from where its retransmission timer puts it, relative
#: to the copy before (seconds): a proxy's timer wheel and its first send are not exact
#: (TIMING-3)
JITTER = 0.05

#: knobs that are transaction timers' base values, not timers that a timer-driven event shows
_BASES = frozenset({T1_KNOB, T2_KNOB})

#: the knob that the wait timer is, per model replayed (``capture``: the capture-driven one)
WAIT_KNOBS: Mapping[str, str] = {
    "capture": "wait_timeout",
    "opensips": "fr_inv_timeout",
    "kamailio-tsilo": "fr_timeout",
    "rfc8599": "bucket_timer",
}


@dataclass(frozen=True)
class TimerEvidence:
    """One event that shows a timer: it started at frame `start` and fired at frame `end`,
    `observed` seconds later."""

    kind: str
    call_id: str
    start: int
    end: int
    started_at: float
    observed: float

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "frames": [self.start, self.end],
                "observed": round(self.observed, 6)}


@dataclass(frozen=True)
class TimerValue:
    """A timer's value in force: given as a knob (`evidence` None) or read from the capture."""

    knob: str
    #: seconds; a whole second read from the capture is an int (`whole_timer`)
    value: int | float
    evidence: TimerEvidence | None
    #: when the capture shows only bounds: (low, high], the timer fired in between
    bounded: tuple[float, float] | None = None

    @property
    def source(self) -> str:
        return "knob" if self.evidence is None else "capture"

    @property
    def replay_value(self) -> float:
        e = self.evidence
        if e is None or self.bounded is not None or e.kind in ("routing", "subscription",
                                                                 *_BASES):
            return self.value
        return min(self.value, e.observed)

    def describe(self) -> str:
        unit = "" if self.knob in SWITCHES else " s"
        if self.evidence is None:
            return f"{self.knob} = {self.value:g}{unit} (given)"
        e = self.evidence
        if e.kind == "routing":
            return (f"{self.knob} = {self.value:g} (read from the capture: frame {e.end} relays "
                    "to a contact with pn-* parameters)")
        if e.kind == "subscription":
            return (f"{self.knob} = {self.value:g} s (inferred: the REGISTER of frame {e.end}, "
                    f"{e.observed:.3f} s after the INVITE of frame {e.start}, was injected, so "
                    "the subscription lasted longer)")
        if self.bounded is not None:
            low, high = self.bounded
            return (f"{self.knob} = {self.value:g} s (inferred: the retransmissions of frame "
                    f"{e.start} stopped after frame {e.end}, so it fired between {low:.3f} and "
                    f"{high:.3f} s)")
        if e.kind == T2_KNOB:
            return (f"{self.knob} = {self.value:g} s (inferred from the copies of frames "
                    f"{e.start} -> {e.end}, observed {e.observed:.3f} s apart on average)")
        return (f"{self.knob} = {self.value:g} s (inferred from frames {e.start} -> {e.end}, "
                f"observed {e.observed:.3f} s)")

    def to_json(self) -> dict[str, Any]:
        return {"knob": self.knob, "value": self.value, "source": self.source,
                "evidence": self.evidence.to_json() if self.evidence else None,
                "bounds": list(self.bounded) if self.bounded else None}


@dataclass(frozen=True)
class Timing:
    """The timers in force for one capture and the events that disagree with them."""

    values: Mapping[str, TimerValue]
    slack: float
    violations: Mapping[str, tuple[Violation, ...]]

    @property
    def t1(self) -> float:
        """T1 in force: given, read from the capture (TIMING-3), else RFC 3261's."""
        value = self.values.get(T1_KNOB)
        return T1 if value is None else value.value

    @property
    def t2(self) -> float:
        """T2 in force: given, read from the capture (TIMING-4), else RFC 3261's."""
        value = self.values.get(T2_KNOB)
        return T2 if value is None else value.value

    def timers(self) -> list[float]:
        """The values of the timers in force that a timer-driven event shows (not T1, T2)."""
        return [v.value for k, v in self.values.items() if k not in _BASES]

    def knobs(self) -> dict[str, float]:
        """The knob values to replay with: a timer inferred from an event that fired early
        (within a tick) runs as that event shows it, so that what followed it (the caller's
        ACK) follows it in the replay too."""
        return {k: v.replay_value for k, v in self.values.items()}

    def to_json(self) -> dict[str, Any]:
        return {"slack": self.slack, "tick": TICK,
                "timers": [v.to_json() for _, v in sorted(self.values.items())]}


def whole_timer(observed: float, slack: float) -> int | float:
    """The timer value an observed delay shows: the whole second it is a late (up to `slack`)
    or early (up to `TICK`) firing of, else the delay to the millisecond (TIMING-2).

    >>> whole_timer(30.652, 1.0), whole_timer(7.977, 1.0), whole_timer(12.5, 0.25)
    (30, 8, 12.5)
    """
    n = math.floor(observed + TICK)
    if n > 0 and observed - n <= slack:
        return n
    return round(observed, 3)


def _quiet_before(call: CallRecord, t: float, tolerance: float) -> bool:
    """No branch got a final response within `tolerance` before `t`, and none was opened then
    (what the proxy did at `t` was not a reaction to a response or an injection)."""
    for b in call.branches:
        final = b.final
        if final is not None and t - tolerance <= final.time <= t:
            return False
        if t - tolerance <= b.opened_at <= t:
            return False
    return True


def _ringing_cancel(call: CallRecord, b: BranchRecord, tolerance: float
                    ) -> TimerEvidence | None:
    if not b.cancels:
        return None
    c = b.cancels[0]
    if call.final is not None and call.final.order < c.order:
        return None
    if call.cancel is not None and call.cancel.time <= c.time + tolerance:
        return None
    for other in call.branches:
        f = other.final
        if f is not None and f.time <= c.time and (200 <= f.status < 300 or f.status >= 600):
            return None
        if other is not b and c.time - tolerance <= other.opened_at <= c.time:
            return None  # cancelled for an injected branch (the `c` flag), not by a timer
    rang = [r for r in b.provisional if r.time <= c.time and r.status > 100]
    if not rang:
        return None
    last = rang[-1]
    return TimerEvidence("fr_inv_timeout", call.call_id, last.frame, c.frame, last.time,
                         c.time - last.time)


def _alive(b: BranchRecord, t: float, tolerance: float, t1: float = T1) -> bool:
    """A branch that never answered is still alive at `t` before its Timer B (64*T1)."""
    return t - b.opened_at <= 64 * t1 + tolerance


def retransmission_t1(sent: Sequence[float]) -> float | None:
    """The T1 that the copies of one INVITE sent over UDP at times `sent` show (TIMING-3), to
    the millisecond, read from the intervals of the first three retransmissions (Timer A:
    T1, 2*T1, 4*T1 apart), else the interval from the first copy to the first retransmission
    (T1). A quarter of the third retransmission's interval (4*T1 under every growth rule of
    TXN-10 while below T2) reads T1 finest, as a timer tick late or early moves each interval
    by as much; it stands when the intervals before it show T1 and 2*T1 as a timer fires them
    (`_on_time`: OpenSIPS's copies at T1 = 250 ms once left 0.246, 0.601 and 1.002 s apart),
    else half the second interval when the first shows it (OpenSIPS's first copy at T1 =
    250 ms left 0.344 s after the INVITE). None when there is no retransmission, or when no
    reading explains the intervals: a copy is missing from the capture (a first interval of
    3*T1), which the evidence cannot tell apart from another T1.

    >>> retransmission_t1([0.0, 0.25, 0.75, 1.75]), retransmission_t1([3.0, 3.4684, 4.4684])
    (0.25, 0.5)
    >>> retransmission_t1([0.0, 0.75, 1.75]) is None, retransmission_t1([1.0])
    (True, None)
    >>> retransmission_t1([0.002, 0.346, 0.847, 1.849])
    0.251
    >>> retransmission_t1([0.0, 0.246, 0.847, 1.849]), retransmission_t1([0.0, 0.75, 1.75, 3.75])
    (0.251, None)
    """
    gaps = [b - a for a, b in zip(sent, sent[1:4])]
    if len(gaps) == 1:
        return round(gaps[0], 3)
    for k in range(len(gaps) - 1, 0, -1):  # the longest interval first: the finest reading
        t1 = gaps[k] / (1 << k)
        if all(_on_time(gaps[n], t1 * (1 << n)) for n in range(k)):
            return round(t1, 3)
    return None


def _on_time(interval: float, due: float) -> bool:
    """Whether a copy's `interval` after the one before shows a timer `due` seconds long, as a
    proxy's timer wheel fires it (TIMING-3): at most `JITTER` early, late by at most a tick and
    `JITTER`, and never by half of `due` (a copy missing from the capture)."""
    return -JITTER <= interval - due <= min(TICK + JITTER, due / 2)


def retransmission_t2(sent: Sequence[float]) -> tuple[int, int, int | float, float] | None:
    """``(i, j, T2, mean)``: the T2 that the copies of one INVITE sent over UDP at times `sent`
    show (TIMING-4), read from the intervals ``i`` to ``j`` (interval ``n`` runs from
    ``sent[n]`` to ``sent[n + 1]``), ``mean`` seconds long on average. A proxy that holds the
    interval at T2 (TXN-10) sends copies at two equal intervals in a row, where RFC 3261
    doubles it and no copy missing from the capture makes two equal: from the later of the
    first such pair on (the earlier may be 4*T1 that T2 capped), each interval is T2 as a timer
    fires it, a tick early or late (OpenSIPS's copies at T2 = 2 s lay 1.954 to 2.054 s apart,
    capture O16), unless a copy missing from the capture lengthened it (to twice or more):
    the mean of those within a quarter of the first shows T2. The first interval is not read
    (a timer tick may move the first retransmission, TIMING-3). Two intervals are equal within
    a tick and `JITTER`, and within a quarter of the shorter; T2 is the whole second within
    `JITTER` of the mean, else the mean to the millisecond. None when no two intervals are
    equal.

    >>> retransmission_t2([0.0, 0.482, 1.482, 3.482, 5.482, 7.482])
    (3, 4, 2, 2.0)
    >>> retransmission_t2([0.0, 0.446, 1.548, 3.553, 5.517, 7.521, 9.525, 11.479, 13.483])[:3]
    (3, 7, 2)
    >>> retransmission_t2([0.0, 0.344, 0.845, 1.847, 5.805, 9.812])[:3]
    (4, 4, 4)
    >>> retransmission_t2([0.0, 0.5, 1.5, 3.5, 4.75, 6.0]), retransmission_t2([0.0, 0.5, 1.5])
    ((4, 4, 1.25, 1.25), None)
    >>> retransmission_t2([0.0, 0.5, 1.5, 3.5, 7.5, 15.5]) is None  # RFC 3261's doubling
    True
    >>> retransmission_t2([0.0, 0.5, 1.5, 7.5, 15.5]) is None  # the copy at 3.5 s lost
    True
    """
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    for i in range(1, len(gaps) - 1):
        before, gap = gaps[i], gaps[i + 1]
        if abs(gap - before) <= min(TICK + JITTER, min(gap, before) / 4):
            run = [n for n in range(i + 1, len(gaps)) if abs(gaps[n] - gap) <= gap / 4]
            mean = sum(gaps[n] for n in run) / len(run)
            whole = round(mean)
            value = whole if whole > 0 and abs(mean - whole) <= JITTER else round(mean, 3)
            return run[0], run[-1], value, mean
    return None


def _copies(b: BranchRecord, frames: Mapping[Order, WireMessage], most: int | None = None
            ) -> list[WireMessage] | None:
    """The copies of branch `b`'s INVITE sent over UDP that the capture shows (the first
    included; `most`: at most that many retransmissions), None when it shows none sent
    again or the branch is not over UDP (`frames`: the messages by capture order, CAP-9)."""
    first = frames.get(b.order)
    if not b.retransmissions or first is None or first.transport != "UDP":
        return None
    return [first] + [frames[f] for f in b.retransmissions[:most] if f in frames]


def _t1_evidence(calls: Sequence[CallRecord], frames: Mapping[Order, WireMessage]
                 ) -> TimerValue | None:
    """T1 as the branches of `calls` show it (TIMING-3): the shortest that any branch sent
    over UDP shows (`retransmission_t1`; a copy missing from the capture only lengthens the
    intervals), the earliest branch of the shortest; None when none shows one."""
    best: tuple[float, float, int] | None = None
    shown: TimerValue | None = None
    for call in calls:
        for b in call.branches:
            sent = _copies(b, frames, 3)
            if sent is None or len(sent) < 2:
                continue
            value = retransmission_t1([b.opened_at] + [m.time for m in sent[1:]])
            if value is None or value <= 0:
                continue
            copy = sent[1]
            key = (value, copy.time, copy.frame)
            if best is None or key < best:
                best = key
                shown = TimerValue(T1_KNOB, value, TimerEvidence(
                    T1_KNOB, call.call_id, b.frame, copy.frame, b.opened_at,
                    copy.time - b.opened_at))
    return shown


def _t2_evidence(calls: Sequence[CallRecord], frames: Mapping[Order, WireMessage]
                 ) -> TimerValue | None:
    """T2 as the branches of `calls` show it (TIMING-4), as `_t1_evidence` reads T1: the
    shortest that any branch sent over UDP shows (`retransmission_t2`; a copy missing from
    the capture only lengthens an interval), the earliest branch of the shortest."""
    best: tuple[float, float, int] | None = None
    shown: TimerValue | None = None
    for call in calls:
        for b in call.branches:
            sent = _copies(b, frames)
            read = None if sent is None else retransmission_t2(
                [b.opened_at] + [m.time for m in sent[1:]])
            if sent is None or read is None:
                continue
            i, j, value, mean = read
            start, end = sent[i], sent[j + 1]
            key = (value, start.time, start.frame)
            if best is None or key < best:
                best = key
                shown = TimerValue(T2_KNOB, value, TimerEvidence(
                    T2_KNOB, call.call_id, start.frame, end.frame, start.time, mean))
    return shown


def _infer_bases(calls: Sequence[CallRecord], messages: Sequence[WireMessage],
                 values: dict[str, TimerValue], given: Mapping[str, float]) -> None:
    """T1 and T2 read from the capture when not given (TIMING-3, TIMING-4): the shortest
    shown stands against one read before; one within `JITTER` of RFC 3261's is RFC 3261's,
    and not listed."""
    frames: dict[Order, WireMessage] | None = None
    for knob, default, evidence in ((T1_KNOB, T1, _t1_evidence), (T2_KNOB, T2, _t2_evidence)):
        if knob in given or not messages:
            continue
        if frames is None:
            frames = {m.order: m for m in messages}
        shown = evidence(calls, frames)
        if shown is None or abs(shown.value - default) <= JITTER:
            continue
        current = values.get(knob)
        if current is None or precedence(shown) < precedence(current):
            values[knob] = shown


def _next_copy_due(sent: Sequence[float], rules: Sequence[TimerValues] = (TimerValues(),)
                   ) -> float:
    """When the copy after `sent` (an INVITE and its copies, at least two) was due: the last
    interval kept when it had already stopped doubling, being closer to the interval before it
    than to its double, else grown by Timer A's rule (RFC 3261 §17.1.1.2 doubling, TXN-10);
    among several `rules` (a capture's proxy may follow any), by the one that puts it latest.

    >>> _next_copy_due([0.0, 0.5, 1.5, 3.5, 7.5]), _next_copy_due([0.0, 3.5, 7.5, 11.5])
    (15.5, 15.5)
    >>> capped, stepped = (TimerValues(t1=0.25, timer_a=g) for g in (TimerAGrowth.CAPPED,
    ...                                                                TimerAGrowth.STEPPED))
    >>> _next_copy_due([0.0, 0.5, 1.5, 3.5, 7.5], [TimerValues(timer_a=TimerAGrowth.CAPPED)])
    11.5
    >>> sent = [0.0, 0.25, 0.75, 1.75]
    >>> _next_copy_due(sent, [capped]), _next_copy_due(sent, [stepped])
    (3.75, 5.75)
    >>> _next_copy_due(sent, [capped, stepped]), _next_copy_due(sent)
    (5.75, 3.75)
    """
    gap = sent[-1] - sent[-2]
    if len(sent) >= 3:
        before = sent[-2] - sent[-3]
        if abs(gap - before) < abs(gap - 2 * before):
            return sent[-1] + gap
    return sent[-1] + max(r.next_a(gap, len(sent) - 1) for r in rules)


@functools.lru_cache(maxsize=None)
def _timer_a_growth(model: str) -> TimerAGrowth | None:
    """How the preset `model` grows the interval between INVITE copies (TXN-10); None for the
    capture-driven model (``capture``): the capture's proxy may follow any rule."""
    from pushinject.core.ids import CountingIds
    from pushinject.presets import PRESETS

    if model not in PRESETS:
        return None
    return PRESETS[model].build(CountingIds("timing")).proxy.config.timers.timer_a


def retransmission_bound(call: CallRecord, b: BranchRecord,
                         frames: Mapping[Order, WireMessage], end: float, t1: float = T1, *,
                         rules: Sequence[TimerValues] = (TimerValues(),)
                         ) -> tuple[float, float] | None:
    """(low, high): a branch sent over UDP that never answered, whose INVITE retransmissions
    (RFC 3261 §17.1.1.2: T1, 2*T1, 4*T1... apart; or T2 apart once there, TXN-10) were seen and
    then stopped before its Timer B (64*`t1`) and the capture's end (`end`), had its FR timer
    fire in (low, high] seconds (`rules`: how Timer A may grow, `_next_copy_due`). A
    final response to the caller before the next copy was due may have stopped them instead
    (a proxy may give up a branch that cannot be CANCELled, RFC 3261 §9.1), unless copies
    went on after it (`frames`: the messages by capture order, CAP-9)."""
    first = frames.get(b.order)
    if b.responses or b.cancels or not b.retransmissions or first is None or (
            first.transport != "UDP"):
        return None
    sent = [b.opened_at] + [frames[f].time for f in b.retransmissions if f in frames]
    due = _next_copy_due(sent, rules)
    final = call.final
    stop = end if final is None or final.time <= sent[-1] else min(end, final.time)
    if due - b.opened_at >= 64 * t1 or due >= stop:
        return None
    return sent[-1] - b.opened_at, due - b.opened_at


def timer_evidence(call: CallRecord, tolerance: float, t1: float = T1) -> list[TimerEvidence]:
    """The events of `call` that show a timer firing (see the module docstring); `t1`: T1 in
    force."""
    return [e for e in _timer_events(call, tolerance, t1) if e.observed > tolerance]


def _timer_events(call: CallRecord, tolerance: float, t1: float) -> list[TimerEvidence]:
    out = [e for b in call.branches if (e := _ringing_cancel(call, b, tolerance)) is not None]
    final = call.final
    if final is None or final.status < 300:
        return out
    t = final.time
    if not _quiet_before(call, t, tolerance):
        return out
    cancelled = call.cancel is not None and call.cancel.time <= t
    silent = [b for b in call.branches if not b.responses and not b.cancels and b.opened_at < t
              and _alive(b, t, tolerance, t1)]
    pending = [b for b in call.branches if (b.final is None or b.final.time > t)
               and (b.responses or b.cancels or _alive(b, t, tolerance, t1))]
    if cancelled:
        # after the caller's CANCEL only a branch that never answered (and so cannot be
        # CANCELled, RFC 3261 §9.1) holds the final response back, until its timer
        pending = [b for b in pending if not b.cancels]
    if silent and len(silent) == len(pending):
        b = max(silent, key=lambda x: x.opened_at)
        out.append(TimerEvidence("fr_timeout", call.call_id, b.frame, final.frame, b.opened_at,
                                 t - b.opened_at))
        if not cancelled and b.opened_at - call.invite_at <= tolerance:
            # forked with the INVITE: its timer and a wait timer from the INVITE end together
            out.append(TimerEvidence("wait", call.call_id, call.frame, final.frame,
                                     call.invite_at, t - call.invite_at))
    elif not pending and not cancelled:
        out.append(TimerEvidence("wait", call.call_id, call.frame, final.frame, call.invite_at,
                                 t - call.invite_at))
    return out


def _judge(e: TimerEvidence, value: TimerValue, slack: float) -> Violation | None:
    low, high = value.value - TICK, value.value + slack
    if low <= e.observed <= high:
        return None
    how = "early" if e.observed < low else "late"
    return Violation("TIMING-1", f"{value.knob} fired {e.observed:.3f} s after frame {e.start}, "
                     f"{how} for {value.describe()} (accepted {low:.3f}..{high:.3f} s)", e.end,
                     "TIMING-1")


def infer_timers(calls: Sequence[CallRecord], given: Mapping[str, float], model: str,
                 slack: float, tolerance: float,
                 messages: Sequence[WireMessage] = (),
                 known: Mapping[str, TimerValue] | None = None,
                 end: float | None = None) -> Timing:
    """The timers in force for `calls` replayed through `model` (a preset name or
    ``capture``): the `given` knobs, and each other timer the capture shows (TIMING-2); each
    event that shows a timer is judged against its value (TIMING-1). When no event shows
    ``fr_timeout`` but the retransmissions of a branch that never answered stopped early
    (`retransmission_bound`), it takes a whole second inside that bound. One routing choice
    is read the same way: kamailio-tsilo's ``relay_pn`` is 1 when the proxy relayed an INVITE
    to a contact with pn-* parameters as it arrived (TIMING-2). `known` are values already
    read from earlier calls of the same capture (a capture judged call by call): they stand
    as the first events that showed them, except that a value read from bounds yields to an
    event of these calls, as it does in a whole capture. `end`: when the capture is known to
    go on to, past its last message (`pushinject.conformance.replay.replay`'s `horizon`).
    T1 and T2, when not given, are read first, from the INVITE retransmissions (TIMING-3,
    TIMING-4): Timer B counts in T1, a copy's due time in both."""
    wait_knob = WAIT_KNOBS.get(model, "wait_timeout")
    earlier = known or {}
    values = {k: v for k, v in earlier.items() if v.bounded is None}
    values.update((k, TimerValue(k, v, None)) for k, v in given.items())
    _infer_bases(calls, messages, values, given)
    t1 = values[T1_KNOB].value if T1_KNOB in values else T1
    evidence: list[TimerEvidence] = []
    for call in calls:
        evidence += timer_evidence(call, tolerance, t1)
    evidence.sort(key=lambda e: (e.started_at + e.observed, e.end))
    found: dict[str, list[Violation]] = {}
    for e in evidence:
        knob = wait_knob if e.kind == "wait" else e.kind
        if knob not in values:
            values[knob] = TimerValue(knob, whole_timer(e.observed, slack), e)
        bad = _judge(e, values[knob], slack)
        if bad is not None:
            found.setdefault(e.call_id, []).append(bad)
    if "fr_timeout" not in values and "fr_timeout" in earlier:
        values["fr_timeout"] = earlier["fr_timeout"]
    if "fr_timeout" not in values and messages:
        frames = {m.order: m for m in messages}
        last = messages[-1].time if end is None else max(end, messages[-1].time)
        growth = _timer_a_growth(model)
        t2 = values[T2_KNOB].value if T2_KNOB in values else T2
        rules = [TimerValues(t1=t1, t2=t2, timer_a=g)
                 for g in (TimerAGrowth if growth is None else (growth,))]
        for call in calls:
            for b in call.branches:
                bound = retransmission_bound(call, b, frames, last, t1, rules=rules)
                if bound is not None:
                    low, high = bound
                    value = math.ceil(high) - 1 if math.ceil(high) - 1 > low else (low + high) / 2
                    e = TimerEvidence("fr_timeout", call.call_id, b.frame,
                                      b.retransmissions[-1][0] if b.retransmissions else b.frame,
                                      b.opened_at, high)
                    values["fr_timeout"] = TimerValue("fr_timeout", value, e, bounded=(low, high))
                    break
            if "fr_timeout" in values:
                break
    from pushinject.presets import PRESETS

    subscription = PRESETS[model].defaults.get(SUBSCRIPTION) if model in PRESETS else None
    if subscription is not None:  # a model whose script subscribes (the opensips seed's)
        _subscription(calls, values, subscription)
    if model == "kamailio-tsilo" and RELAY_PN not in values:
        relayed = next((b for c in calls for b in c.branches
                        if not b.injected and _has_pn(b.target)), None)
        if relayed is not None:
            values[RELAY_PN] = TimerValue(RELAY_PN, 1.0, TimerEvidence(
                "routing", "", relayed.frame, relayed.frame, relayed.opened_at, 0.0))
    return Timing(values, slack, {k: tuple(v) for k, v in found.items()})


def precedence(value: TimerValue) -> tuple[float, ...]:
    """Of two values of one timer read from different calls of a capture, the one with the
    smaller key stands (TIMING-2): an event over bounds, then the event that fired first; of
    two subscriptions shown by injections, the longer; of two T1 or two T2 shown by
    retransmissions, the shorter (TIMING-3, TIMING-4)."""
    e = value.evidence
    assert e is not None
    if e.kind in _BASES:
        return (0, value.value, e.started_at + e.observed, e.end)
    if e.kind == "subscription":
        return (0, -value.value, e.started_at + e.observed, e.end)
    return (value.bounded is not None, e.started_at + e.observed, e.end)


def _subscription(calls: Sequence[CallRecord], values: dict[str, TimerValue],
                  default: float) -> None:
    """The OpenSIPS model's subscription, when not given, lasted past the latest REGISTER it
    let inject: the whole second above that REGISTER's delay from the INVITE, when the value
    in force (`default` or read before) is no longer (TIMING-2)."""
    current = values.get(SUBSCRIPTION)
    if current is not None and current.evidence is None:
        return  # given
    shown = [(b.registration.time - c.invite_at, c.frame, c, b.registration) for c in calls
             for b in c.branches if b.registration is not None]
    if not shown:
        return
    delay, _, call, registration = max(shown, key=lambda x: x[:2])
    if delay < (default if current is None else current.value):
        return
    values[SUBSCRIPTION] = TimerValue(SUBSCRIPTION, math.floor(delay) + 1, TimerEvidence(
        "subscription", call.call_id, call.frame, registration.frame, call.invite_at, delay))


def _has_pn(target: str) -> bool:
    """Does the URI carry RFC 8599 pn-* parameters (§4.1.1)?"""
    return any(p.lower().startswith("pn-") for p in target.split(";")[1:])


def timing_lines(timing: Timing) -> Iterable[str]:
    """The report's lines on the timers in force."""
    head = f"  timers (a timer may fire {timing.slack:g} s late, {TICK:g} s early):"
    if not timing.values:
        yield head + " none given, none shown"
        return
    yield head
    for _, v in sorted(timing.values.items()):
        yield f"    {v.describe()}"
