"""Transition tables: the one way state machines are written in the core (house style, 3).

A table maps `(state, input)` to `(effect, next_state)`, where `effect` names the side effect
the owner performs (or is None). Any pair missing from the table is illegal and raises
`LocalProtocolError`, naming both. `pushinject.graph.transition_graph` draws a table.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from pushinject.errors import LocalProtocolError

__all__ = ["Table", "step"]

S = TypeVar("S", bound=Enum)
I = TypeVar("I", bound=Enum)

#: (state, input) -> (effect name or None, next state)
Table = dict[tuple[S, I], tuple[str | None, S]]


def step(table: dict[tuple[S, I], tuple[str | None, S]], state: S, inp: I) -> tuple[str | None, S]:
    """Look `(state, inp)` up in `table`.

    Raises
    ------
    LocalProtocolError
        When the table has no entry for the pair.

    Examples
    --------
    >>> from enum import Enum
    >>> class St(Enum): ON = 1; OFF = 2
    >>> class In(Enum): PRESS = 1
    >>> step({(St.ON, In.PRESS): ("click", St.OFF)}, St.ON, In.PRESS)
    ('click', <St.OFF: 2>)
    >>> step({}, St.OFF, In.PRESS)
    Traceback (most recent call last):
    ...
    pushinject.errors.LocalProtocolError: input PRESS is not allowed in state OFF
    """
    try:
        return table[(state, inp)]
    except KeyError:
        raise LocalProtocolError(f"input {inp.name} is not allowed in state {state.name}") from None
