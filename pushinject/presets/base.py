"""What a preset is: a routing script, knob values, and the driver the simulator talks to.

A `Preset` builds a `Driver` from knob values: the core `Proxy` running the preset's script,
plus whatever the preset keeps beside it (the RFC 8599 bucket). The driver has the core's
sans-I/O contract (`handle`, `get_timer`, `handle_timer`) and one more input, `push_result`:
what the push service answered to a `Push` action (RFC 8599 §5.6.2 makes a failed push end
the request; the OpenSIPS and Kamailio presets fire and forget their pushes, as a script
calling a REST client does).

Every preset also reads the transaction timers' base values `t1` and `t2` (seconds; RFC 3261
Table 4's 0.5 and 4 by default), which real proxies let the operator change (Kamailio tm
``retr_timer1``/``retr_timer2``, OpenSIPS tm ``T1_timer``/``T2_timer``, in milliseconds): T1
spaces the INVITE retransmissions (Timer A) and sets Timer B to 64*T1 (TIMING-3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pushinject.core.timers import T1, T2

if TYPE_CHECKING:
    from pushinject.core.actions import Action, Push
    from pushinject.core.ids import IdSource
    from pushinject.core.proxy import Proxy
    from pushinject.core.timers import TimerValues
    from pushinject.push.service import PushResult

__all__ = ["Preset", "Driver", "SWITCHES", "ROUTE_TO_SOURCE", "RELAY_PN", "switch", "T1_KNOB",
           "T2_KNOB", "TIMER_KNOBS", "timer_values"]

#: the registrar's NAT handling as a knob (ROUTE-2): 0 routes to the Contact URI, as every
#: modelled proxy does by default (ROUTE-1); 1 routes to the REGISTER's source
ROUTE_TO_SOURCE = "route_to_source"

#: kamailio-tsilo's script relays to contacts with pn-* parameters too (TIMING-2 reads it from
#: a capture): 0 relays only to contacts that need no push, 1 to every contact lookup found
RELAY_PN = "relay_pn"

#: the transaction timers' base values as knobs, read by every preset (RFC 3261 Table 4)
T1_KNOB = "t1"
T2_KNOB = "t2"

#: the timer knobs with their defaults (RFC 3261 Table 4: T1 0.5 s, T2 4 s); not in a preset's
#: `defaults`, so a preset's knobs list them only when they are given
TIMER_KNOBS: Mapping[str, float] = {T1_KNOB: T1, T2_KNOB: T2}

#: knobs that are switches: 0 (off) or 1 (on), not seconds
SWITCHES = frozenset({ROUTE_TO_SOURCE, RELAY_PN})


def switch(knobs: Mapping[str, float], name: str) -> bool:
    """The value of an on/off knob (absent: off).

    >>> switch({"route_to_source": 1.0}, "route_to_source"), switch({}, "route_to_source")
    (True, False)
    """
    return knobs.get(name, 0.0) == 1.0


def timer_values(knobs: Mapping[str, float]) -> TimerValues:
    """The transaction timers' base values for `knobs` (`t1`, `t2`; absent: RFC 3261's).

    >>> timer_values({"t1": 0.25}).b, timer_values({}).t2
    (16.0, 4.0)
    """
    from pushinject.core.timers import TimerValues

    return TimerValues(t1=knobs.get(T1_KNOB, TIMER_KNOBS[T1_KNOB]),
                       t2=knobs.get(T2_KNOB, TIMER_KNOBS[T2_KNOB]))


class Driver:
    """The core proxy as the simulator drives it; presets with more state subclass it."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    def handle(self, event: Any, now: float) -> list[Action]:
        return self.proxy.handle(event, now)

    def get_timer(self) -> float | None:
        return self.proxy.get_timer()

    def handle_timer(self, now: float) -> list[Action]:
        return self.proxy.handle_timer(now)

    def push_result(self, push: Push, result: PushResult, now: float) -> list[Action]:
        """The push service's answer to `push`; ignored unless the preset acts on it."""
        return []


@dataclass(frozen=True)
class Preset:
    """A named proxy behaviour: its knobs with their default values and how to build it.

    Attributes
    ----------
    name : str
        ``opensips``, ``kamailio-tsilo`` or ``rfc8599``.
    title : str
        One line saying what it models.
    defaults : Mapping[str, float]
        The knobs it reads, with its defaults (a scenario's ``[proxy]`` table overrides them;
        knobs it does not read are ignored). Every preset reads `TIMER_KNOBS` too.
    differences : tuple[str, ...]
        How it behaves differently from the others, one sentence each, with the rule.
    catalogue_id : str
        The catalogue rule saying that a proxy behaves as this preset does; a capture's replay
        divergence is a violation of it.
    """

    name: str
    title: str
    defaults: Mapping[str, float]
    differences: tuple[str, ...]
    factory: Callable[[Mapping[str, float], IdSource], Driver]
    catalogue_id: str

    def knobs(self, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        """The knob values in effect: the defaults, overridden where this preset reads them
        (the timer knobs, `TIMER_KNOBS`, are listed only when given)."""
        values = dict(self.defaults)
        for key, value in (overrides or {}).items():
            if key in values or key in TIMER_KNOBS:
                values[key] = float(value)
        return values

    def build(self, ids: IdSource, overrides: Mapping[str, float] | None = None) -> Driver:
        """A fresh driver (proxy and script) with the knobs in effect."""
        return self.factory(self.knobs(overrides), ids)

    def __repr__(self) -> str:
        return f"<Preset {self.name}: {self.title}>"
