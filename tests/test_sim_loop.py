"""The event loop: virtual time, the order of simultaneous events, latency, lost datagrams."""

from __future__ import annotations

from pushinject.core.ids import CountingIds
from pushinject.presets import get_preset
from pushinject.sim.loop import Simulation
from pushinject.sim.result import caller_final
from pushinject.sim.run import run_scenario
from pushinject.sim.scenario import parse_scenario
from tests.conftest import DATA


def simulate(text: str, preset: str = "opensips", **kwargs: float) -> Simulation:
    driver = get_preset(preset).build(CountingIds("px"))
    return Simulation(parse_scenario(text), driver, **kwargs).run()


def test_an_agent_acts_before_a_proxy_timer_due_at_the_same_instant() -> None:
    """Ordering rule 2 before 3: C's REGISTER at 11.0 beats the blind branch's fr_timeout."""
    sim = simulate('[proxy]\nfr_timeout = 10\n[caller]\ninvite_at = 1\n[[device]]\nname = "C"\n'
                   "register_at = 11\nanswer_after = 1\n", "kamailio-tsilo")
    assert caller_final(sim.wires) == (200, 12.0)


def test_simultaneous_agent_actions_follow_the_file_order() -> None:
    """Ordering rule 2: devices act in file order (the two same-instant scenarios)."""
    first = run_scenario(DATA / "scenarios" / "answer_and_register_same_instant.toml")
    second = run_scenario(DATA / "scenarios" / "answer_before_register_same_instant.toml")
    at_four = [(w.source, w.label) for w in first.simulation.wires if w.time == 4.0]
    assert at_four[:2] == [("C", "REGISTER"), ("proxy", "200 OK")]
    at_four = [(w.source, w.label) for w in second.simulation.wires if w.time == 4.0]
    assert at_four[:2] == [("A", "200 OK"), ("proxy", "200 OK")]


def test_latency_delays_every_arrival() -> None:
    sim = simulate('[caller]\ninvite_at = 1\n[[device]]\nname = "A"\nregister_at = 0\n'
                   "answer_after = 1\n", latency=0.25)
    timeline = [(w.time, w.source, w.label) for w in sim.wires]
    assert timeline[:6] == [
        (0.0, "A", "REGISTER"), (0.25, "proxy", "200 OK"), (1.0, "alice", "INVITE"),
        (1.25, "proxy", "100 Trying"), (1.25, "proxy", "INVITE"), (1.5, "A", "100 Trying")]
    assert caller_final(sim.wires) == (200, 2.75)


def test_datagrams_to_an_address_nobody_listens_on_are_lost() -> None:
    run = run_scenario(DATA / "scenarios" / "push_wake_answer.toml", "opensips")
    lost = run.simulation.lost
    # Timer A's copy at 2.5 s into B's old port, after B moved; none after the call's 200
    # (3.5 s), as OpenSIPS gives a branch that never answered up with the call (OSIPS-26)
    assert [w.time for w in lost] == [2.5]
    assert caller_final(run.simulation.wires) == (200, 3.5)
    assert {(w.destination_address, w.label) for w in lost} == {(("127.0.0.11", 5060), "INVITE")}
    assert run.simulation.devices[1].address == ("127.0.0.11", 5062)


def test_the_loop_stops_at_until() -> None:
    sim = simulate("[caller]\ninvite_at = 1\n", until=50.0)
    assert caller_final(sim.wires) == (None, None)
    assert round(sim.now, 6) == 21.0  # the subscription expiry was the last timer before 50
    assert caller_final(simulate("[caller]\ninvite_at = 1\n").wires) == (408, 121.0)


def test_every_wire_parses_and_names_both_ends() -> None:
    run = run_scenario(DATA / "scenarios" / "two_pushed_first_answers.toml", "rfc8599")
    parties = set(run.parties)
    for wire in run.simulation.wires:
        assert {wire.source, wire.destination} <= parties
    times = [w.time for w in run.simulation.wires]
    assert times == sorted(times)


def test_each_push_is_recorded_with_its_place_among_the_datagrams() -> None:
    run = run_scenario(DATA / "scenarios" / "two_pushed_first_answers.toml", "rfc8599")
    sim = run.simulation
    assert [(name, at, result.ok) for name, at, result in sim.pushes] == [
        ("B", 1.0, True), ("C", 1.0, True)]
    # both asked for while the INVITE was processed: after its 100 Trying, before anything else
    assert sim.push_marks == [6, 6]
    assert (sim.wires[5].source, sim.wires[5].label) == ("proxy", "100 Trying")


def test_the_scenario_latency_is_used_unless_the_caller_gives_one() -> None:
    text = '[caller]\ninvite_at = 1\n[[device]]\nname = "A"\nregister_at = 0\nanswer_after = 1\n'
    assert caller_final(run_scenario(parse_scenario("latency = 0.25\n" + text)).simulation.wires
                        ) == (200, 2.75)
    assert caller_final(run_scenario(parse_scenario("latency = 0.25\n" + text), latency=0.0)
                        .simulation.wires) == (200, 2.0)
