"""Named deadlines and the RFC 3261 timer values (RFC 3261 §17.1.1.1, Table 4).

A `Timers` object holds absolute deadlines by name ("A", "B", "D", "G", "H", "I", "fr", ...);
`earliest()` is what an owner's `get_timer()` returns and `due(now)` lists what `handle_timer(now)`
must fire, in deadline order. `TimerQueue` lets the proxy find, among thousands of owners, the
ones whose deadline has come, without scanning them all.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from enum import StrEnum
from collections.abc import Callable
from typing import Protocol, TypeVar

R = TypeVar("R")

__all__ = ["T1", "T2", "T4", "TimerAGrowth", "TimerValues", "Timers", "TimerOwner", "TimerQueue"]

#: RFC 3261 §17.1.1.1: round-trip time estimate
T1 = 0.5
#: RFC 3261 §17.1.2.2: maximum retransmit interval for non-INVITE requests and INVITE responses
T2 = 4.0
#: RFC 3261 §17.1.2.2: maximum duration a message will remain in the network
T4 = 5.0


class TimerAGrowth(StrEnum):
    """How Timer A's interval grows from one INVITE copy to the next."""

    #: RFC 3261 §17.1.1.2: T1, then doubling without a cap
    DOUBLING = "doubling"
    #: doubling up to T2, then T2, as Timer E's (RFC 3261 §17.1.2.2): Kamailio's tm (TXN-10)
    CAPPED = "capped"
    #: T1, 2*T1, 4*T1 (each at most T2), then T2: OpenSIPS's tm (TXN-10, OSIPS-29)
    STEPPED = "stepped"


@dataclass(frozen=True, kw_only=True)
class TimerValues:
    """The timer base values of RFC 3261 Table 4 (change them to model another stack)."""

    t1: float = T1
    t2: float = T2
    t4: float = T4
    #: how Timer A's interval grows: RFC 3261's doubling, or a proxy's own rule (TXN-10)
    timer_a: TimerAGrowth = TimerAGrowth.DOUBLING

    def next_a(self, interval: float, n: int) -> float:
        """Timer A's interval after its `n`-th (the first is T1), which was `interval` long
        (RFC 3261 §17.1.1.2; TXN-10 for the capped and stepped rules).

        >>> [TimerValues(timer_a=g).next_a(4.0, 4) for g in TimerAGrowth]
        [8.0, 4.0, 4.0]
        >>> [TimerValues(t1=0.25, timer_a=g).next_a(1.0, 3) for g in TimerAGrowth]
        [2.0, 2.0, 4.0]
        >>> [TimerValues(t2=1.5, timer_a=g).next_a(1.0, 2) for g in TimerAGrowth]
        [2.0, 1.5, 1.5]
        """
        if self.timer_a is TimerAGrowth.STEPPED and n >= 3:
            return self.t2
        doubled = 2 * interval
        return doubled if self.timer_a is TimerAGrowth.DOUBLING else min(doubled, self.t2)

    @property
    def b(self) -> float:
        """Timer B (and H, F): 64*T1 (RFC 3261 §17.1.1.2)."""
        return 64 * self.t1

    @property
    def d(self) -> float:
        """Timer D on unreliable transports: at least 32 s (RFC 3261 §17.1.1.2)."""
        return max(32.0, 64 * self.t1)


class Timers:
    """Absolute deadlines by name.

    >>> t = Timers()
    >>> t.arm("B", 32.0); t.arm("A", 0.5); t.earliest()
    0.5
    >>> t.due(1.0), t.earliest()
    (['A'], 0.5)
    >>> t.cancel("A"); t.earliest(), t.next_at
    (32.0, 32.0)
    """

    __slots__ = ("_at", "next_at")

    def __init__(self) -> None:
        self._at: dict[str, float] = {}
        #: the earliest deadline (None when nothing is armed), kept up to date by every change:
        #: it is read far more often than timers change (after every input, for every
        #: transaction of a call), so readers take the attribute instead of calling a method
        self.next_at: float | None = None

    def arm(self, name: str, at: float) -> None:
        at_ = self._at
        previous = at_.get(name)
        at_[name] = at
        next_at = self.next_at
        if next_at is None or at < next_at:
            self.next_at = at
        elif previous == next_at:  # the earliest moved later: look again
            self.next_at = min(at_.values())

    def cancel(self, *names: str) -> None:
        at_ = self._at
        for name in names:
            at_.pop(name, None)
        self.next_at = min(at_.values()) if at_ else None

    def clear(self) -> None:
        self._at.clear()
        self.next_at = None

    def get(self, name: str) -> float | None:
        return self._at.get(name)

    def earliest(self) -> float | None:
        return self.next_at

    def due(self, now: float) -> list[str]:
        """Names whose deadline is at or before `now`, earliest first (ties by name)."""
        at_ = self._at
        due = [n for n, at in at_.items() if at <= now]
        if len(due) > 1:
            due.sort(key=lambda n: (at_[n], n))
        return due

    def fire(self, now: float, handler: Callable[[str], R]) -> list[R]:
        """Disarm and hand to `handler` each timer due at `now`, earliest first; a timer that an
        earlier handler disarmed is skipped. Returns the handlers' results in order."""
        out: list[R] = []
        at_ = self._at
        for name in self.due(now):
            if name in at_:
                del at_[name]
                self.next_at = min(at_.values()) if at_ else None
                out.append(handler(name))
        return out

    def as_dict(self) -> dict[str, float]:
        return dict(sorted(self._at.items()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={at:g}" for n, at in sorted(self._at.items(), key=lambda x: x[1]))
        return f"Timers({inner})"


class TimerOwner(Protocol):
    def get_timer(self) -> float | None: ...


class TimerQueue:
    """A heap of deadlines, so that among thousands of owners the due ones are found without
    scanning them all.

    Call `schedule(owner)` after anything that may have moved the owner's deadline (it reads
    `owner.get_timer()`); `discard(owner)` forgets an owner. Heap entries are `(deadline,
    sequence number)` pairs; the sequence number of each owner's live entry maps back to it, so
    entries left behind by a rescheduled or discarded owner are skipped when they come up, and
    hold no reference to it (a retired owner is freed at once, not when its old deadline comes).
    Owners due at the same instant come out in the order they were scheduled.

    >>> class O:
    ...     def __init__(self, at): self.at = at
    ...     def get_timer(self): return self.at
    >>> q = TimerQueue(); a, b = O(3.0), O(1.0)
    >>> q.schedule(a); q.schedule(b); q.get_timer()
    1.0
    >>> b.at = None; q.schedule(b); q.get_timer()
    3.0
    >>> q.pop_due(5.0) == [a], q.get_timer()
    (True, None)
    """

    __slots__ = ("_heap", "_seq", "_entry", "_owner")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._seq = itertools.count()
        #: owner -> (deadline, sequence number) of its live heap entry
        self._entry: dict[TimerOwner, tuple[float, int]] = {}
        #: sequence number of a live heap entry -> its owner
        self._owner: dict[int, TimerOwner] = {}

    def schedule(self, owner: TimerOwner) -> None:
        at = owner.get_timer()
        entry = self._entry.get(owner)
        if entry is not None:
            if entry[0] == at:
                return
            del self._owner[entry[1]]
            if at is None:
                del self._entry[owner]
                return
        elif at is None:
            return
        seq = next(self._seq)
        self._entry[owner] = (at, seq)
        self._owner[seq] = owner
        heapq.heappush(self._heap, (at, seq))

    def discard(self, owner: TimerOwner) -> None:
        entry = self._entry.pop(owner, None)
        if entry is not None:
            del self._owner[entry[1]]

    def _clean(self) -> None:
        heap, owners = self._heap, self._owner
        while heap and heap[0][1] not in owners:
            heapq.heappop(heap)

    def get_timer(self) -> float | None:
        heap, owners = self._heap, self._owner
        while heap:  # `_clean`, written out: it runs after every input
            entry = heap[0]
            if entry[1] in owners:
                return entry[0]
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> list[TimerOwner]:
        """Owners whose scheduled deadline is at or before `now`, earliest first; they are
        forgotten until scheduled again."""
        out: list[TimerOwner] = []
        heap, owners, entries = self._heap, self._owner, self._entry
        while heap:
            at, seq = heap[0]
            owner = owners.get(seq)
            if owner is None:  # left behind: the owner was rescheduled or discarded
                heapq.heappop(heap)
                continue
            if at > now:
                break
            heapq.heappop(heap)
            del owners[seq]
            del entries[owner]
            out.append(owner)
        return out

    def __len__(self) -> int:
        return len(self._entry)
