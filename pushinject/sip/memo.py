"""Bounded tables of parsed values keyed by their exact text.

The same header texts come back again and again (an AOR in To, `1 INVITE` in CSeq, a proxy's
own Via on each response of a branch); parsing one is a grammar match and an object, looking
it up is one dict access. Only immutable values that parsing the same text under strict rules
always gives again are kept, and a table never holds more than `bound` entries: when it is full
it starts again empty (dropping entries one at a time from the front of a dict gets slower as
the dict's deleted slots pile up). Callers share the values they get, so they must treat their `params` (and the URI
`headers`) as read-only, as the frozen value types already say.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["Memo"]

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
