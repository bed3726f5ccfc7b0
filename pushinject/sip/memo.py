"""Bounded tables of parsed values keyed by their exact text.

The same header texts come back again and again (an AOR in To, `1 INVITE` in CSeq, a proxy's
own Via on each response of a branch); parsing one is a grammar match and an object, looking
it up is one dict access. Only immutable values that parsing the same text under strict rules
always gives again are kept, and a table never holds more than `bound` entries: when it is full
it starts again empty (dropping entries one at a time from the front of a dict gets slower as
the dict's deleted slots pile up). Callers share the values they get, so they must treat their
`params` (and the URI `headers`) as read-only, as the frozen value types already say.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, TypeVar

__all__ = ["Memo", "Recent"]

_V = TypeVar("_V")


class Memo(dict[Hashable, _V], Generic[_V]):
    """A dict of at most `bound` entries; `remember` empties it first when it is full. Keys are
    texts, or tuples of texts (a header line as its name and value).

    >>> m: Memo[int] = Memo(2)
    >>> m.remember("a", 1), m.remember("b", 2), m.remember("c", 3)
    (1, 2, 3)
    >>> sorted(m), m.get("c")
    (['c'], 3)
    """

    __slots__ = ("bound",)

    def __init__(self, bound: int) -> None:
        super().__init__()
        self.bound = bound

    def remember(self, key: Hashable, value: _V) -> _V:
        """Keep `value` under `key` (emptying the table first when full); returns `value`."""
        if len(self) >= self.bound:
            self.clear()
        self[key] = value
        return value


class Recent(Generic[_V]):
    """A table that remembers at least the last `bound` keys put in it, and at most twice as
    many: two generations, the current one and the one before, which is dropped whole when the
    current one is full (so no key is dropped one at a time). A key found in the older
    generation moves to the current one.

    >>> r: Recent[int] = Recent(2)
    >>> for key in "abcde":
    ...     r.put(key, ord(key))
    >>> len(r), [r.get(key) for key in "abcde"]
    (3, [None, None, 99, 100, 101])
    """

    __slots__ = ("bound", "_new", "_old")

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self._new: dict[Hashable, _V] = {}
        self._old: dict[Hashable, _V] = {}

    def __len__(self) -> int:
        return len(self._new) + len(self._old)

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value put under `key`, or `default` when it is not remembered."""
        value = self._new.get(key, _ABSENT)
        if value is _ABSENT:
            value = self._old.pop(key, _ABSENT)
            if value is _ABSENT:
                return default
            self.put(key, value)
        return value

    def put(self, key: Hashable, value: _V) -> None:
        """Remember `value` under `key` (the older generation is dropped when the current one
        is full, and the current one becomes the older)."""
        new = self._new
        if len(new) >= self.bound:
            self._old = new
            new = self._new = {}
        new[key] = value


#: what `Recent.get` finds for a key it does not hold
_ABSENT: Any = object()
