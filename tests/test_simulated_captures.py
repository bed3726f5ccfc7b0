"""The simulator's bundled captures (`data/simulated/`): reproducible and judged as their manifest
says.

Each manifest table names the scenario and preset that make its capture; regenerating it gives
the same bytes. `pushinject check` with that preset gives the expected verdict, final status and
violated rules: conformant for the captures under `<preset>/`, and for `pitfalls/` the
violations a real proxy's pitfall must produce (the seed's 20 s subscription, PIT-7).
"""

from __future__ import annotations

import tomllib

import pytest

from pushinject.conformance.check import CheckOptions, check_capture, verdict
from pushinject.sim.run import run_scenario
from tests.conftest import DATA

FOLDER = DATA / "simulated"
MANIFEST = tomllib.loads((FOLDER / "manifest.toml").read_text(encoding="utf-8"))


def test_every_capture_is_in_the_manifest_and_every_entry_has_its_capture() -> None:
    on_disk = sorted(str(p.relative_to(FOLDER)) for p in FOLDER.rglob("*.pcap"))
    assert on_disk == sorted(MANIFEST)


def test_the_bundle_has_conformant_captures_of_every_preset_and_pitfalls() -> None:
    presets = {e["preset"] for e in MANIFEST.values() if e["expected_verdict"] == "conformant"}
    assert presets == {"opensips", "kamailio-tsilo", "rfc8599"}
    assert any(e["expected_verdict"] == "violations" for e in MANIFEST.values())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_capture_regenerates_byte_for_byte(name: str) -> None:
    entry = MANIFEST[name]
    run = run_scenario(DATA / "scenarios" / f"{entry['scenario']}.toml", entry["preset"])
    assert run.pcap() == (FOLDER / name).read_bytes()


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_check_judges_the_capture_as_its_manifest_says(name: str) -> None:
    entry = MANIFEST[name]
    result = check_capture(FOLDER / name, CheckOptions(preset=entry["preset"]))
    assert verdict([result]) == entry["expected_verdict"]
    assert [c.call.to_json()["final_status"] for c in result.calls] == [entry["final_status"]]
    rules = sorted({v.rule for c in result.calls for v in c.violations})
    assert rules == sorted(entry["violations"])
