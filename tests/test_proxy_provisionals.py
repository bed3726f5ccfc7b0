"""RFC 3261 §16.7 step 6 / CTX-8: a proxy never sends a provisional of its own except
100 Trying; every other 1xx the caller gets is a device's, forwarded (CTX-4).

Checked on every shipped scenario under every preset: each non-100 provisional the proxy sent to
the caller must match one a device sent to the proxy (same status, same To tag, same Via branch
as the caller's INVITE once the proxy's own Via is removed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pushinject.presets import PRESETS
from pushinject.sim.run import run_scenario
from pushinject.sip import Response, parse_message
from tests.conftest import DATA

SCENARIOS = sorted(p for p in (DATA / "scenarios").glob("*.toml") if p.name != "manifest.toml")


def _provisionals(run, source: str, destination: str) -> list[tuple[int, str | None, str]]:
    out = []
    for wire in run.simulation.wires:
        if wire.source != source or (destination and wire.destination != destination):
            continue
        message = parse_message(wire.data)
        if isinstance(message, Response) and 100 < message.status < 200:
            out.append((message.status, message.to.tag, str(message.vias[-1].branch)))
    return out


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_provisional_to_the_caller_is_a_forwarded_one_R11_R7(
        scenario: Path, preset: str) -> None:
    run = run_scenario(scenario, preset)
    to_caller = _provisionals(run, "proxy", "alice")
    from_devices: set[tuple[int, str | None, str]] = set()
    for device in run.simulation.devices:
        from_devices.update(_provisionals(run, device.name, "proxy"))
    assert [p for p in to_caller if p not in from_devices] == []


def test_the_check_would_see_a_self_made_provisional() -> None:
    """The comparison is not vacuous: a scenario with ringing devices forwards 180s."""
    run = run_scenario(DATA / "scenarios" / "push_wake_answer.toml", "opensips")
    assert [status for status, _, _ in _provisionals(run, "proxy", "alice")] == [180, 180]
