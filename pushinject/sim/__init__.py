"""The deterministic simulator: scenarios, simulated user agents, a virtual-clock loop,
traces and byte-identical captures.

- `pushinject.sim.scenario`: scenario files (TOML) and their validation;
- `pushinject.sim.agents`: the caller and the callee's devices; `pushservice`: the push
  service stand-in;
- `pushinject.sim.loop`: the event loop; `trace`: what it records;
- `pushinject.sim.run`: a scenario under a preset, and `result` / `views` / `pcap`: its JSON,
  ladder, branch graph and capture.
"""

from __future__ import annotations

from pushinject.sim.loop import Simulation
from pushinject.sim.run import Run, run_scenario
from pushinject.sim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

__all__ = ["Run", "Scenario", "ScenarioError", "Simulation", "load_scenario", "parse_scenario",
           "run_scenario"]
