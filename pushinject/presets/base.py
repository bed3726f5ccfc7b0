"""What a preset is: a routing script, knob values, and the driver the simulator talks to.

A `Preset` builds a `Driver` from knob values: the core `Proxy` running the preset's script,
plus whatever the preset keeps beside it (the RFC 8599 bucket). The driver has the core's
sans-I/O contract (`handle`, `get_timer`, `handle_timer`) and one more input, `push_result`:
what the push service answered to a `Push` action (RFC 8599 §5.6.2 makes a failed push end
the request; the OpenSIPS and Kamailio presets fire and forget their pushes, as a script
calling a REST client does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pushinject.core.actions import Action, Push
    from pushinject.core.ids import IdSource
    from pushinject.core.proxy import Proxy
    from pushinject.push.service import PushResult

__all__ = ["Preset", "Driver", "SWITCHES", "ROUTE_TO_SOURCE", "RELAY_PN", "switch"]

#: the registrar's NAT handling as a knob (ROUTE-2): 0 routes to the Contact URI, as every
#: modelled proxy does by default (ROUTE-1); 1 routes to the REGISTER's source
ROUTE_TO_SOURCE = "route_to_source"

#: kamailio-tsilo's script relays to contacts with pn-* parameters too (TIMING-2 reads it from
#: a capture): 0 relays only to contacts that need no push, 1 to every contact lookup found
RELAY_PN = "relay_pn"

#: knobs that are switches: 0 (off) or 1 (on), not seconds
SWITCHES = frozenset({ROUTE_TO_SOURCE, RELAY_PN})


def switch(knobs: Mapping[str, float], name: str) -> bool:
    """The value of an on/off knob (absent: off).

    >>> switch({"route_to_source": 1.0}, "route_to_source"), switch({}, "route_to_source")
    (True, False)
    """
    return knobs.get(name, 0.0) == 1.0


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
        knobs it does not read are ignored).
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
        """The knob values in effect: the defaults, overridden where this preset reads them."""
        values = dict(self.defaults)
        for key, value in (overrides or {}).items():
            if key in values:
                values[key] = float(value)
        return values

    def build(self, ids: IdSource, overrides: Mapping[str, float] | None = None) -> Driver:
        """A fresh driver (proxy and script) with the knobs in effect."""
        return self.factory(self.knobs(overrides), ids)

    def __repr__(self) -> str:
        return f"<Preset {self.name}: {self.title}>"
