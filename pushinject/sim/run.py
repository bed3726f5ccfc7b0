"""Run a scenario under a preset and look at the outcome: JSON, ladder, branch graph, pcap.

`run_scenario(scenario, preset)` builds the preset's proxy with the scenario's knobs, runs the
`Simulation` and returns a `Run`, from which every view is drawn. Identifiers come from
`CountingIds` (the proxy's are ``px``, each agent's its own name), so every view is the same
on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pushinject.core.ids import CountingIds
from pushinject.presets import DEFAULT_PRESET, Preset, get_preset
from pushinject.sim.loop import Simulation
from pushinject.sim.pcap import pcap_bytes
from pushinject.sim.result import result_json
from pushinject.sim.scenario import Scenario, load_scenario

if TYPE_CHECKING:
    from pushinject.core.summary import CallSummary

__all__ = ["Run", "run_scenario", "PARTIES"]

#: the ladder's columns: caller, proxy, then the devices in file order
PARTIES = ("alice", "proxy")


@dataclass(frozen=True)
class Run:
    """One finished simulation and the preset it ran under."""

    simulation: Simulation
    preset: Preset
    knobs: dict[str, float]

    @property
    def summary(self) -> CallSummary | None:
        """The proxy's summary of the caller's call (None if the INVITE never arrived)."""
        # a preset's driver wraps the core `Proxy`, which keeps the summaries
        proxy: Any = getattr(self.simulation.proxy, "proxy", self.simulation.proxy)
        invite = self.simulation.caller.invite
        if invite is None:
            return None
        try:
            summary: CallSummary = proxy.summary(invite.call_id)
            return summary
        except KeyError:
            return None

    def json(self) -> dict[str, Any]:
        """The `pushinject simulate --json` object."""
        data = result_json(self.simulation, self.summary, self.preset.name)
        data["knobs"] = dict(sorted(self.knobs.items()))
        return data

    @property
    def parties(self) -> tuple[str, ...]:
        return (*PARTIES, *(d.name for d in self.simulation.devices))

    def pcap(self) -> bytes:
        """The capture of every message (see `pushinject.sim.pcap`)."""
        return pcap_bytes(self.simulation.wires)


def run_scenario(scenario: Scenario | str | Path, preset: str | None = None, *,
                 latency: float | None = None) -> Run:
    """Simulate `scenario` (or the file it names) under `preset` (default: the scenario's own,
    else ``opensips``), with the scenario's `latency` unless one is given."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    chosen = get_preset(preset or scenario.preset or DEFAULT_PRESET)
    knobs = chosen.knobs(scenario.proxy)
    driver = chosen.build(CountingIds("px"), scenario.proxy)
    delay = scenario.latency if latency is None else latency
    simulation = Simulation(scenario, driver, latency=delay).run()
    return Run(simulation=simulation, preset=chosen, knobs=knobs)
