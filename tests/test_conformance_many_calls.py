"""Many calls in one capture: a busy proxy's capture holds many concurrent calls to many users;
proxy detection, call grouping, the rules and the replay judge each call as if it were alone.
And a capture with no call through a proxy gets the verdict ``no-calls`` (exit status 3).

The busy capture is made by the simulator: each bundled scenario is simulated under a preset,
and copies of its messages are given to other users (``bob`` becomes ``bob7``), with their
own Call-IDs and Via branches, and started a fraction of a second apart so that they overlap;
the simulator's pcap writer writes them all in time order."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pushinject.cli import main
from pushinject.conformance import CheckOptions, check_capture, verdict
from pushinject.sim.pcap import pcap_bytes
from pushinject.sim.run import run_scenario
from pushinject.sim.trace import Wire

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "data" / "scenarios"
#: scenarios simulated under the opensips preset; the last one breaks a rule (a pitfall)
NAMES = ("push_wake_answer", "every_device_fails", "cancel_while_waiting",
         "two_pushed_first_answers", "decline_then_register", "nobody_registered",
         "wake_after_subscription_expired")


def renamed(wires: list[Wire], k: int, shift: float) -> list[Wire]:
    """The call of `wires` for user ``bob{k}``: its own Call-IDs and branches, `shift` later."""
    def data(d: bytes) -> bytes:
        return (d.replace(b"sip:bob@", f"sip:bob{k}@".encode())
                .replace(b"-call-", f"-call{k}-".encode())
                .replace(b"z9hG4bK-", f"z9hG4bK-{k}-".encode()))

    return [dataclasses.replace(w, time=w.time + shift, data=data(w.data)) for w in wires]


@pytest.fixture(scope="module")
def runs() -> dict[str, list[Wire]]:
    return {name: list(run_scenario(SCENARIOS / f"{name}.toml", "opensips").simulation.wires)
            for name in NAMES}


def alone(runs: dict[str, list[Wire]], name: str, tmp: Path, options: CheckOptions
          ) -> tuple[int | None, list[str], int]:
    path = tmp / f"{name}.pcap"
    path.write_bytes(pcap_bytes(runs[name]))
    [call] = check_capture(path, options).calls
    return call.call.final_status, [v.rule for v in call.violations], len(call.call.branches)


@pytest.mark.parametrize("preset", ["opensips", "capture"])
def test_each_of_many_overlapping_calls_is_judged_as_if_alone(
        runs: dict[str, list[Wire]], tmp_path: Path, preset: str) -> None:
    """140 calls to 140 users, a new one every 0.25 s while each lasts up to 120 s: the same
    final status, branches and violations per call as the scenario alone (one in seven
    breaks inject-registered; judged without a preset, the two whose silent branch is
    retransmitted every 4 s at T2, as OpenSIPS does, break the replay: TXN-10; the others
    stop retransmitting it at the 200 before its interval reaches T2, OSIPS-26)."""
    options = CheckOptions(preset=preset)
    expected = {n: alone(runs, n, tmp_path, options) for n in NAMES}
    wires: list[Wire] = []
    for k in range(140):
        wires += renamed(runs[NAMES[k % len(NAMES)]], k, k * 0.25)
    wires.sort(key=lambda w: w.time)
    path = tmp_path / "busy.pcap"
    path.write_bytes(pcap_bytes(wires))
    result = check_capture(path, options)
    assert result.proxy == ("127.0.0.1", 5060)
    assert len(result.calls) == 140
    got = {}
    for c in result.calls:
        k = int(c.call.call_id.split("-call")[1].split("-")[0])
        got[k] = (c.call.final_status, [v.rule for v in c.violations], len(c.call.branches))
    assert got == {k: expected[NAMES[k % len(NAMES)]] for k in range(140)}
    assert [expected[n][1] for n in NAMES] == (
        [[]] * 6 + [["inject-registered"]] if preset == "opensips" else
        [[], [], ["replay"], [], [], [], ["inject-registered", "replay"]])


def test_a_capture_without_a_call_is_not_conformant(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Only the REGISTERs of a scenario: no call through a proxy, verdict no-calls, exit 3,
    and the text report says so."""
    wires = [w for w in run_scenario(SCENARIOS / "push_wake_answer.toml", "opensips")
             .simulation.wires if b"REGISTER" in w.data.split(b"\r\n")[0]
             or b"REGISTER" in w.data.split(b"CSeq:")[1][:20]]
    path = tmp_path / "registers.pcap"
    path.write_bytes(pcap_bytes(wires))
    result = check_capture(path, CheckOptions())
    assert (result.calls, verdict([result])) == ((), "no-calls")
    assert main(["check", str(path)]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["  no INVITE transaction through a proxy: nothing judged here",
                       "verdict: no-calls (1 capture(s), 0 call(s), 0 violation(s); replayed "
                       "capture-driven)"]
    assert main(["check", "--json", str(path), str(ROOT / "data" / "kamailio" / "S1.pcap")]) == 3
    assert json.loads(capsys.readouterr().out)["verdict"] == "no-calls"
