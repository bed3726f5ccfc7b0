"""Every bundled capture is judged as its manifest says: verdict, proxy, final status, branches
(target, injected, cancelled, final status), frame counts; without any option (the routing
choices and timers read from the capture), under the kamailio-tsilo preset with no knob (the
timers read from the capture), and with the lab's knobs: the Kamailio lab runs tm with
fr_timer 8 s and fr_inv_timer 10 s, except where a capture's table names its own tm timers
(S13 and S14, in timers/), whose knobs it then takes. The real OpenSIPS captures likewise,
with and without their preset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pushinject.conformance import CheckOptions, check_capture, verdict
from pushinject.lab.manifest import read_manifest
from pushinject.lab.proxies import KAMAILIO as KAMAILIO_LAB
from pushinject.lab.runner import FR_INV_TIMER_MS, FR_TIMER_MS

KAMAILIO = Path(__file__).resolve().parent.parent / "data" / "kamailio"
MANIFEST = read_manifest(KAMAILIO / "manifest.toml")
LAB_KNOBS = {"fr_timeout": FR_TIMER_MS / 1000, "fr_inv_timeout": FR_INV_TIMER_MS / 1000}
OPTIONS = CheckOptions(preset="kamailio-tsilo", knobs=LAB_KNOBS)
WAYS = {"no option": CheckOptions(), "preset": CheckOptions(preset="kamailio-tsilo"),
        "preset and knobs": OPTIONS}


def _options(way: str, entry: dict[str, object]) -> CheckOptions:
    """The way's options, the lab knobs being those of the capture's own tm timers if any."""
    if way != "preset and knobs" or "tm" not in entry:
        return WAYS[way]
    tm = tuple(entry["tm"].items())  # type: ignore[attr-defined]
    return CheckOptions(preset="kamailio-tsilo", knobs={**LAB_KNOBS, **KAMAILIO_LAB.knobs(tm)})


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_bundled_capture_judged_as_manifest_says(name: str, way: str) -> None:
    """Where the table has expected_verdict_without_preset (S13, S14: copies at T2 intervals),
    no option gives that verdict and names its rules."""
    entry = MANIFEST[name]
    result = check_capture(KAMAILIO / entry["file"], _options(way, entry))
    plain = way == "no option" and "expected_verdict_without_preset" in entry
    assert verdict([result]) == entry[
        "expected_verdict_without_preset" if plain else "expected_verdict"]
    assert (result.capture.frames, result.capture.sip_messages) == (
        entry["frames"], entry["sip_messages"])
    [call] = [c.to_json() for c in result.calls]
    assert call["call_id"] == entry["call_id"]
    assert call["proxy"] == entry["proxy"]
    assert call["final_status"] == entry["final_status"]
    want = entry["branches"]
    got = [{k: b[k] for k in w} for b, w in zip(call["branches"], want, strict=False)]
    assert (len(call["branches"]), got) == (len(want), want)
    assert sorted({v["rule"] for v in call["violations"]}) == (
        entry["violations_without_preset"] if plain else [])


def test_main_command_judges_bundled_data_conformant() -> None:
    """`make run`: `pushinject check` on the bundled captures exits 0 with one JSON verdict: those
    made with the lab's timers with and without its knobs, those in timers/ (made with their own
    tm timers) with the preset and no knob."""
    files = [str(KAMAILIO / MANIFEST[n]["file"]) for n in sorted(MANIFEST)
             if "tm" not in MANIFEST[n]]
    knobs = [f"--knob={k}={v:g}" for k, v in sorted(LAB_KNOBS.items())]
    done = subprocess.run([sys.executable, "-m", "pushinject", "check", "--json",
                           "--preset", "kamailio-tsilo", *knobs, *files],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["verdict"] == "conformant"
    assert [c["file"] for c in report["captures"]] == [Path(f).name for f in files]
    plain = subprocess.run([sys.executable, "-m", "pushinject", "check", *files],
                           capture_output=True, text=True, check=False)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[-1] == (
        f"verdict: conformant ({len(files)} capture(s), {len(files)} call(s), 0 violation(s); "
        "replayed capture-driven)")
    timers = sorted(str(p) for p in (KAMAILIO / "timers").glob("*.pcap"))
    assert [Path(f).name for f in timers] == ["S13.pcap", "S14.pcap"]
    own = subprocess.run([sys.executable, "-m", "pushinject", "check", "--preset",
                          "kamailio-tsilo", *timers], capture_output=True, text=True, check=False)
    assert own.returncode == 0, own.stdout[-2000:] + own.stderr
    makefile = (KAMAILIO.parent.parent / "Makefile").read_text()
    assert "pushinject check --preset kamailio-tsilo data/kamailio/timers/*.pcap" in makefile


OPENSIPS = KAMAILIO.parent / "opensips"
OPENSIPS_MANIFEST = read_manifest(OPENSIPS / "manifest.toml")


@pytest.mark.parametrize("name", sorted(OPENSIPS_MANIFEST))
def test_opensips_capture_judged_as_manifest_says_with_and_without_preset(name: str) -> None:
    """A real OpenSIPS running the seed's routes: `--preset opensips` with no knob gives each
    capture its expected_verdict (the timers read from the capture), and no option at all
    gives expected_verdict_without_preset where the table has one (O8: OpenSIPS relays a 6xx
    at once, which the reference core holds, FIELD-9), else the same verdict."""
    table = OPENSIPS_MANIFEST[name]
    with_preset = check_capture(OPENSIPS / table["file"], CheckOptions(preset="opensips"))
    plain = check_capture(OPENSIPS / table["file"], CheckOptions())
    assert verdict([with_preset]) == table["expected_verdict"]
    assert verdict([plain]) == table.get("expected_verdict_without_preset",
                                         table["expected_verdict"])
    want = table.get("violations_without_preset", table.get("violations", []))
    assert sorted({v.rule for c in plain.calls for v in c.violations}) == sorted(want)
    assert [c.call.final_status for c in plain.calls] == [table["final_status"]]
