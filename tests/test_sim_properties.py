"""Properties of any simulation: it settles, it is deterministic, the caller gets one answer.

Random small scenarios (one caller, up to three devices with random timings, push or not) run
under every preset; whatever happens, RFC 3261 §16.7 lets the caller see exactly one final
response when it is not a 2xx, the proxy's call summary agrees with the wire, and the run is
byte-for-byte repeatable.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushinject.presets import PRESETS
from pushinject.sim.result import caller_final
from pushinject.sim.run import run_scenario
from pushinject.sim.scenario import CallerSpec, DeviceSpec, Scenario

times = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5, 25.0])
delays = st.one_of(st.none(), st.sampled_from([0.1, 0.5, 2.0, 6.0]))


@st.composite
def devices(draw: st.DrawFn, name: str) -> DeviceSpec:
    push = draw(st.booleans())
    ring = draw(delays)
    answer = draw(delays)
    if ring is not None and answer is not None and ring >= answer:
        ring = None
    return DeviceSpec(
        name=name,
        register_at=None if push else draw(times),
        push=push,
        wake_after=draw(delays) if push else None,
        new_port_on_wake=draw(st.booleans()) if push else False,
        ring_after=ring,
        answer_after=answer,
        answer=draw(st.sampled_from([200, 486, 603])),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(min_value=0, max_value=3))
    cancel = draw(st.one_of(st.none(), st.sampled_from([1.5, 4.0])))
    return Scenario(name="random", caller=CallerSpec(invite_at=1.0, cancel_at=cancel),
                    devices=tuple(draw(devices(n)) for n in "ABC"[:count]),
                    proxy={"fr_inv_timeout": 40.0})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), preset=st.sampled_from(list(PRESETS)))
def test_any_scenario_settles_deterministically_with_one_final(scenario: Scenario,
                                                               preset: str) -> None:
    run = run_scenario(scenario, preset)
    wires = run.simulation.wires
    assert [w.time for w in wires] == sorted(w.time for w in wires)
    final, final_at = caller_final(wires)
    assert final is not None and final >= 200  # every call ends (proxy timers, TXN-1, OSIPS-2)
    finals = [w for w in wires if w.source == "proxy" and w.destination == "alice"
              and w.label[:1] in "3456"]
    assert len(finals) <= 1  # one non-2xx final at most (RFC 3261 §16.7 step 6)
    summary = run.summary
    assert summary is not None and summary.final_status == final
    assert summary.final_at is not None and round(summary.final_at, 6) == round(final_at, 6)
    assert run.pcap() == run_scenario(scenario, preset).pcap()
