"""Storage for event subscriptions that stays fast with thousands of waiting calls.

`Subscriptions` asks three things of its store: which subscriptions *might* match an event,
when the next one expires, and which have expired. A linear scan answers all three, but every
REGISTER would then walk every waiting call's subscription. This index keeps, per event name:

- subscriptions with a literal filter value (no glob characters, no URI parameter), e.g.
  ``aor=bob``, under their lower-case key and that value: only the ones whose value equals the
  event's parameter are candidates, plus every one whose key the event lacks (an unknown key
  passes, EVT-2);
- all other subscriptions in one list, always candidates.

Candidates come back in creation order and are then matched in full by the caller, so the
index never changes which subscriptions fire. Expiry uses a heap of ``created + timeout``.
Removal is lazy: dead entries are skipped and the lists rebuilt when they outnumber the live.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pushinject.core.subscriptions import Subscription

__all__ = ["SubscriptionIndex"]

_GLOB_CHARS = frozenset("*?[\\")


def _literal(sub: Subscription) -> tuple[str, str] | None:
    """The first filter that is a plain ``key=value`` without glob characters, if any."""
    for flt in sub.filters:
        if flt.uri_param is None and _GLOB_CHARS.isdisjoint(flt.pattern):
            return flt.key.lower(), flt.pattern
    return None


@dataclass
class _EventIndex:
    by_key: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    rest: list[str] = field(default_factory=list)


class SubscriptionIndex:
    """Live subscriptions in creation order, indexed by event and literal filter value."""

    def __init__(self) -> None:
        self._subs: dict[str, Subscription] = {}
        self._seq: dict[str, int] = {}
        self._count = 0
        self._dead = 0
        self._events: dict[str, _EventIndex] = {}
        self._heap: list[tuple[float, int, str]] = []

    def add(self, sub: Subscription) -> None:
        self._count += 1
        self._subs[sub.id] = sub
        self._seq[sub.id] = self._count
        self._file(sub)
        heapq.heappush(self._heap, (sub.expires_at, self._count, sub.id))

    def _file(self, sub: Subscription) -> None:
        index = self._events.get(sub.event)
        if index is None:
            index = self._events[sub.event] = _EventIndex()
        literal = _literal(sub)
        if literal is None:
            index.rest.append(sub.id)
            return
        key, value = literal
        by_value = index.by_key.get(key)
        if by_value is None:
            by_value = index.by_key[key] = {}
        same = by_value.get(value)
        if same is None:
            by_value[value] = [sub.id]
        else:
            same.append(sub.id)

    def remove(self, sub: Subscription) -> bool:
        """Forget `sub`; False when it was not held."""
        if self._subs.pop(sub.id, None) is None:
            return False
        self._dead += 1
        if self._dead > 64 and self._dead > len(self._subs):
            self._compact()
        return True

    def _compact(self) -> None:
        self._events = {}
        for sub in self._subs.values():
            self._file(sub)
        self._heap = [(s.expires_at, self._seq[s.id], s.id) for s in self._subs.values()]
        heapq.heapify(self._heap)
        self._seq = {i: self._seq[i] for i in self._subs}
        self._dead = 0

    def watches(self, event: str) -> bool:
        """False when no subscription to `event` is held (True may include removed ones)."""
        return event in self._events

    def candidates(self, event: str, lowered: Mapping[str, str]) -> list[Subscription]:
        """Subscriptions to `event` that may match parameters `lowered` (lower-case names),
        in creation order."""
        index = self._events.get(event)
        if index is None:
            return []
        # each list is in creation order; only ids from several lists need sorting
        lists = [index.rest] if index.rest else []
        for key, by_value in index.by_key.items():
            if key in lowered:
                same = by_value.get(lowered[key])
                if same:
                    lists.append(same)
            else:
                lists += by_value.values()
        held = self._subs
        if len(lists) == 1:
            return [held[i] for i in lists[0] if i in held]
        subs = [held[i] for ids in lists for i in ids if i in held]
        subs.sort(key=lambda s: self._seq[s.id])
        return subs

    def next_removal(self) -> float | None:
        """The first instant after the earliest ``created + timeout`` (EVT-4), or None."""
        while self._heap and self._heap[0][2] not in self._subs:
            heapq.heappop(self._heap)
        return math.nextafter(self._heap[0][0], math.inf) if self._heap else None

    def expire(self, now: float) -> list[Subscription]:
        """Remove and return every subscription with ``created + timeout < now``, earliest
        first."""
        gone = []
        while self._heap and self._heap[0][0] < now:
            _, _, sub_id = heapq.heappop(self._heap)
            sub = self._subs.get(sub_id)
            if sub is not None and self.remove(sub):
                gone.append(sub)
        return gone

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._subs.values()))

    def __contains__(self, sub: object) -> bool:
        return getattr(sub, "id", None) in self._subs

    def __len__(self) -> int:
        return len(self._subs)
