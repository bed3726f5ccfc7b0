"""Presets: knob values, and the behaviour each preset is documented to have (their catalogue
rules)."""

from __future__ import annotations

import pytest

from pushinject.core.ids import CountingIds
from pushinject.errors import UsageError
from pushinject.presets import DEFAULT_PRESET, PRESETS, get_preset
from pushinject.presets.rfc8599 import BucketDriver
from pushinject.sim.run import run_scenario
from pushinject.sim.scenario import parse_scenario
from pushinject.sip import parse_message
from tests.conftest import DATA

PUSHED = '[[device]]\nname = "B"\npush = true\n'


def scenario(text: str):  # type: ignore[no-untyped-def]
    return parse_scenario(text, "inline.toml")


def test_three_presets_with_their_documented_defaults() -> None:
    assert list(PRESETS) == ["opensips", "kamailio-tsilo", "rfc8599"]
    assert DEFAULT_PRESET == "opensips"
    assert dict(get_preset("opensips").defaults) == {
        "fr_inv_timeout": 120.0, "fr_timeout": 30.0, "route_to_source": 0.0,
        "subscription_timeout": 20.0}
    assert dict(get_preset("kamailio-tsilo").defaults) == {
        "fr_inv_timeout": 120.0, "fr_timeout": 30.0, "relay_pn": 0.0, "route_to_source": 0.0}
    assert dict(get_preset("rfc8599").defaults) == {
        "bucket_timer": 30.0, "fr_inv_timeout": 120.0, "fr_timeout": 30.0,
        "route_to_source": 0.0}
    for preset in PRESETS.values():
        assert preset.differences and preset.title


def test_scenario_knobs_override_only_what_a_preset_reads() -> None:
    knobs = {"fr_inv_timeout": 30, "bucket_timer": 10.0}
    assert get_preset("opensips").knobs(knobs) == {
        "fr_inv_timeout": 30.0, "fr_timeout": 30.0, "route_to_source": 0.0,
        "subscription_timeout": 20.0}
    assert get_preset("rfc8599").knobs(knobs)["bucket_timer"] == 10.0


def test_unknown_preset_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown preset 'asterisk'"):
        get_preset("asterisk")


def test_opensips_placeholder_gives_408_at_fr_inv_timeout_osips2() -> None:
    run = run_scenario(scenario("[proxy]\nfr_inv_timeout = 30\n[caller]\ninvite_at = 1\n"),
                       "opensips")
    data = run.json()
    assert (data["final"], data["final_at"]) == (408, 31.0)
    assert [(b["kind"], b["final"]) for b in data["branches"]] == [("phony", 408)]


def test_opensips_subscription_timeout_knob_is_the_seed_s_20_s_evt4() -> None:
    late = ('[caller]\ninvite_at = 1\n[[device]]\nname = "C"\nregister_at = {at}\n'
            "answer_after = 1\n")
    caught = run_scenario(scenario(late.format(at=20.5)), "opensips").json()
    assert (caught["final"], caught["final_at"]) == (200, 21.5)
    missed = run_scenario(scenario(late.format(at=21.5)), "opensips").json()
    assert (missed["final"], missed["final_at"]) == (408, 121.0)
    longer = run_scenario(scenario("[proxy]\nsubscription_timeout = 60\n" + late.format(at=21.5)),
                          "opensips").json()
    assert (longer["final"], longer["final_at"]) == (200, 22.5)


def test_kamailio_suspends_with_a_blind_branch_on_fr_timeout_kam5() -> None:
    data = run_scenario(scenario("[proxy]\nfr_timeout = 10\n[caller]\ninvite_at = 1\n"),
                        "kamailio-tsilo").json()
    assert (data["final"], data["final_at"]) == (408, 11.0)
    assert [(b["kind"], b["final"]) for b in data["branches"]] == [("blind", 408)]


def test_kamailio_continues_a_suspended_call_on_the_first_register_kam5() -> None:
    text = ('[caller]\ninvite_at = 1\n[[device]]\nname = "C"\nregister_at = 4\n'
            "ring_after = 0.1\nanswer_after = 1\n")
    run = run_scenario(scenario(text), "kamailio-tsilo")
    data = run.json()
    assert (data["final"], data["final_at"]) == (200, 5.0)
    assert [(b["kind"], b["device"], b["opened_at"]) for b in data["branches"]] == [
        ("blind", None, 1.0), ("real", "C", 4.0)]
    assert run.simulation.proxy.proxy.script.suspended == {}  # type: ignore[attr-defined]


def test_kamailio_pushes_but_does_not_relay_to_a_sleeping_contact() -> None:
    data = run_scenario(scenario("[caller]\ninvite_at = 1\n" + PUSHED), "kamailio-tsilo").json()
    assert data["pushes"] == [{"device": "B", "at": 1.0, "ok": True}]
    assert [b["kind"] for b in data["branches"]] == ["blind"]


def test_rfc8599_bucket_timer_expiry_gives_480_push6() -> None:
    text = "[proxy]\nbucket_timer = 12\n[caller]\ninvite_at = 1\n" + PUSHED
    run = run_scenario(scenario(text), "rfc8599")
    data = run.json()
    assert (data["final"], data["final_at"]) == (480, 13.0)
    driver = run.simulation.proxy
    assert isinstance(driver, BucketDriver) and len(driver.script.bucket) == 0


def test_rfc8599_holds_pushes_and_forwards_after_the_register_2xx_push5_push6() -> None:
    text = ("[caller]\ninvite_at = 1\n" + PUSHED +
            "wake_after = 2\nring_after = 0.1\nanswer_after = 1\n")
    run = run_scenario(scenario(text), "rfc8599")
    labels = [(w.time, w.source, w.destination, w.label) for w in run.simulation.wires]
    # the 200 to the refresh REGISTER goes out before the INVITE to the woken device
    assert labels.index((3.0, "proxy", "B", "200 OK")) < labels.index((3.0, "proxy", "B", "INVITE"))
    data = run.json()
    assert (data["final"], data["final_at"]) == (200, 4.0)
    assert [(b["kind"], b["injected"], b["opened_at"]) for b in data["branches"]] == [
        ("phony", False, 1.0), ("real", True, 3.0)]


def test_rfc8599_failed_push_gives_404_at_once_push6() -> None:
    data = run_scenario(scenario("[caller]\ninvite_at = 1\n" + PUSHED + "push_fails = true\n"),
                        "rfc8599").json()
    assert (data["final"], data["final_at"]) == (404, 1.0)
    assert data["pushes"] == [{"device": "B", "at": 1.0, "ok": False}]


def test_rfc8599_empty_target_set_gives_480_at_once_ctx1() -> None:
    data = run_scenario(scenario("[caller]\ninvite_at = 1\n"), "rfc8599").json()
    assert (data["final"], data["final_at"], data["branches"]) == (480, 1.0, [])


def test_rfc8599_bucket_expiry_with_other_branches_lets_them_decide() -> None:
    text = ('[proxy]\nbucket_timer = 5\n[caller]\ninvite_at = 1\n[[device]]\nname = "A"\n'
            "register_at = 0\nring_after = 0.1\nanswer_after = 8\n" + PUSHED)
    data = run_scenario(scenario(text), "rfc8599").json()
    assert (data["final"], data["final_at"]) == (200, 9.0)


def test_presets_build_fresh_proxies() -> None:
    preset = get_preset("rfc8599")
    one, two = preset.build(CountingIds("a")), preset.build(CountingIds("b"))
    assert one.proxy is not two.proxy


def test_only_rfc8599_advertises_push_support_on_the_register_2xx_push8() -> None:
    """RFC 8599 §5.6.1.1: a proxy supporting the PNS adds Feature-Caps +sip.pns to the 2xx."""
    text = "[caller]\ninvite_at = 1\n" + PUSHED
    for preset, expected in (("opensips", None), ("kamailio-tsilo", None),
                             ("rfc8599", '*;+sip.pns="fcm"')):
        wires = run_scenario(scenario(text), preset).simulation.wires
        (ok,) = [w for w in wires if w.source == "proxy" and w.label == "200 OK"]
        response = parse_message(ok.data)
        assert response.cseq.method == "REGISTER"
        assert response.get("Feature-Caps") == expected, preset


def test_opensips_answers_the_cancel_then_487_with_only_the_placeholder_spec_d() -> None:
    """OSIPS-21: 200 to the CANCEL, then 487 to the INVITE, no waiting."""
    run = run_scenario(DATA / "scenarios" / "cancel_nobody_registered.toml", "opensips")
    to_caller = [(w.time, w.label) for w in run.simulation.wires
                 if w.source == "proxy" and w.destination == "alice"]
    assert to_caller == [(1.0, "100 Trying"), (5.0, "200 OK"), (5.0, "487 Request Terminated")]
    cseqs = [parse_message(w.data).cseq.method for w in run.simulation.wires
             if w.source == "proxy" and w.time == 5.0]
    assert cseqs == ["CANCEL", "INVITE"]


def test_opensips_absorbs_a_486_behind_the_placeholder_spec_d() -> None:
    """OSIPS-22: the proxy ACKs the 486, the caller sees nothing, a later device answers."""
    run = run_scenario(DATA / "scenarios" / "busy_then_pushed_answers.toml", "opensips")
    to_caller = [w.label for w in run.simulation.wires
                 if w.source == "proxy" and w.destination == "alice"]
    assert to_caller == ["100 Trying", "180 Ringing", "200 OK"]
    assert ("proxy", "A", "ACK") in [(w.source, w.destination, w.label)
                                     for w in run.simulation.wires if w.time == 1.5]


def test_rfc8599_answers_pnsreg_with_its_interval_push10() -> None:
    """RFC 8599 §4.1.4, §5.5: a contact with +sip.pnsreg gets +sip.pnsreg="<seconds>" back."""
    text = "[caller]\ninvite_at = 1\n" + PUSHED + "pnsreg = true\n"
    wires = run_scenario(scenario(text), "rfc8599").simulation.wires
    register = parse_message(wires[0].data)
    assert (register.get("Contact") or "").endswith(";+sip.pnsreg")
    ok = parse_message(wires[1].data)
    assert ok.get("Feature-Caps") == '*;+sip.pns="fcm";+sip.pnsreg="130"'


def test_kamailio_and_opensips_record_route_the_invite_they_relay_kam17() -> None:
    """KAM-17: as the usual configurations, both presets put the proxy in the INVITE's
    Record-Route, so that ACK and BYE come back through it (RFC 3261 §16.6 step 4)."""
    text = ('[caller]\ninvite_at = 1\n[[device]]\nname = "C"\nregister_at = 0.5\n'
            "ring_after = 0.1\nanswer_after = 1\n")
    for preset in ("opensips", "kamailio-tsilo"):
        wires = run_scenario(scenario(text), preset).simulation.wires
        (invite,) = [parse_message(w.data) for w in wires
                     if w.source == "proxy" and w.destination == "C" and w.label == "INVITE"]
        assert invite.get_all("Record-Route") == ["<sip:127.0.0.1:5060;lr>"], preset
