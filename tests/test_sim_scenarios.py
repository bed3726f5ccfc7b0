"""Every shipped scenario, under every preset, produces the outcome its manifest states.

The manifest (`data/scenarios/manifest.toml`) records, per scenario and preset, the status the
caller gets, when the proxy sends it, which devices get an injected branch and which are
pushed; `shows` says which pitfall (PIT-N) or which preset difference it demonstrates.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from pushinject.catalogue import cited_ids
from pushinject.presets import PRESETS
from pushinject.sim.pcap import pcap_bytes
from pushinject.sim.run import run_scenario
from tests.conftest import DATA, require_tool

SCENARIOS = DATA / "scenarios"
MANIFEST = tomllib.loads((SCENARIOS / "manifest.toml").read_text())["scenario"]
CASES = [(name, preset) for name in sorted(MANIFEST) for preset in PRESETS]


def outcome(name: str, preset: str) -> dict[str, object]:
    data = run_scenario(SCENARIOS / f"{name}.toml", preset).json()
    return {
        "final": data["final"],
        "final_at": data["final_at"],
        "injected": [b["device"] for b in data["branches"] if b["injected"]],
        "pushed": [p["device"] for p in data["pushes"]],
    }


def test_at_least_twelve_scenarios_each_in_the_manifest() -> None:
    files = {p.stem for p in SCENARIOS.glob("*.toml")} - {"manifest"}
    assert len(files) >= 12
    assert files == set(MANIFEST)
    for name, entry in MANIFEST.items():
        assert entry["shows"], name
        assert set(entry) - {"shows"} == set(PRESETS), name


@pytest.mark.parametrize(("name", "preset"), CASES)
def test_scenario_outcome_matches_the_manifest(name: str, preset: str) -> None:
    assert outcome(name, preset) == MANIFEST[name][preset]


def test_every_pair_of_presets_differs_in_some_scenario() -> None:
    """Each preset difference is shown by at least one shipped scenario."""
    names = list(PRESETS)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            differ = [n for n, e in MANIFEST.items() if e[first] != e[second]]
            assert differ, (first, second)


def test_the_pitfall_races_are_covered() -> None:
    """PIT-1, PIT-3, PIT-4, PIT-7, PIT-13 and the core issue's race list each have a scenario."""
    shows = " ".join(e["shows"] for e in MANIFEST.values())
    assert {"PIT-1", "PIT-3", "PIT-4", "PIT-7", "PIT-13"} <= set(cited_ids(shows))
    for race in ("CANCEL while waiting", "same instant", "registering twice",
                 "every device fails", "after its subscription expired",
                 "after the subscription"):
        assert race in shows, race


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_pcap_is_byte_identical_run_to_run(name: str) -> None:
    path = SCENARIOS / f"{name}.toml"
    assert run_scenario(path).pcap() == run_scenario(path).pcap()


@pytest.mark.parametrize("preset", list(PRESETS))
def test_tshark_decodes_every_message_of_every_scenario_as_sip(preset: str,
                                                               tmp_path: Path) -> None:
    """All scenarios under one preset, one after the other in one capture (1000 s apart)."""
    tshark = require_tool("tshark")
    wires = []
    for number, name in enumerate(sorted(MANIFEST)):
        run = run_scenario(SCENARIOS / f"{name}.toml", preset)
        wires += [replace(w, time=w.time + 1000 * number) for w in run.simulation.wires]
    path = tmp_path / "all.pcap"
    path.write_bytes(pcap_bytes(wires))
    done = subprocess.run(
        [tshark, "-r", str(path), "-T", "fields", "-e", "frame.protocols",
         "-e", "_ws.expert.message"], capture_output=True, text=True, check=True)
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert len(rows) == len(wires)
    assert all(proto.endswith(":sip") for proto, *_ in rows), rows
    assert all(not "".join(rest) for _, *rest in rows), rows  # no expert warnings
    assert "malformed" not in done.stdout.lower() + done.stderr.lower()


def test_each_documented_preset_difference_names_a_scenario_that_shows_it() -> None:
    """A difference is shown when the named scenario's outcome under this preset differs from
    its outcome under at least one other preset."""
    for name, preset in PRESETS.items():
        for difference in preset.differences:
            match = re.search(r"scenario: (\w+)", difference)
            assert match, (name, difference)
            entry = MANIFEST[match.group(1)]
            assert any(entry[name] != entry[other] for other in PRESETS if other != name), (
                name, difference)


@pytest.mark.parametrize(("name", "preset", "hops"), [
    ("register_from_other_port", "opensips", [("127.0.0.10", 5060)]),
    ("register_from_other_port_routed_to_source", "kamailio-tsilo", [("127.0.0.10", 5090)]),
    ("behind_nat", "rfc8599", [("10.0.0.10", 5060)]),
    ("behind_nat_routed_to_source", "rfc8599", [("127.0.0.10", 5060)]),
    ("outbound_flow", "opensips", [("127.0.0.10", 5060)]),
    ("push_wake_new_flow", "rfc8599", [("127.0.0.10", 5062)]),
])
def test_where_the_invites_go_route_1_to_3(name: str, preset: str,
                                           hops: list[tuple[str, int]]) -> None:
    """The first transmission of each INVITE the proxy sends, by next hop: the Contact by
    default (ROUTE-1), the REGISTER's source with NAT handling (ROUTE-2) or for a flow
    (ROUTE-3)."""
    wires = run_scenario(SCENARIOS / f"{name}.toml", preset).simulation.wires
    sent = [w.destination_address for w in wires
            if w.source == "proxy" and w.data.startswith(b"INVITE ")]
    assert list(dict.fromkeys(sent)) == hops
