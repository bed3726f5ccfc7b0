"""The caller CANCELs while a branch that never answered holds the call (RFC 3261 §9.1: it
cannot be CANCELled): what each model sends the caller when that branch's FR timer fires, and
when its INVITE copies leave (Timer A; TXN-10). Times are exact."""

from __future__ import annotations

import pytest

from harness import CALLER, Harness
from pushinject.core.actions import Send
from pushinject.core.client_txn import ClientState, ClientTransaction
from pushinject.core.proxy import ProxyConfig
from pushinject.core.timers import TimerAGrowth, TimerValues
from pushinject.core.types import Selection
from pushinject.presets.kamailio_tsilo import TsiloScript
from pushinject.scripts.opensips_seed import SeedScript
from pushinject.sip import make_request

DEV1 = ("192.0.2.20", 5070)


def _copies(h: Harness) -> list[float]:
    """When the proxy sent dev1 its INVITE, the first transmission included."""
    return [t for t, a in h.log if isinstance(a, Send) and a.destination == DEV1
            and getattr(a.message, "method", None) == "INVITE"]


def _to_caller(h: Harness) -> list[tuple[float, int, str]]:
    """The final responses sent to the caller, each once (not its retransmissions)."""
    out: list[tuple[float, int, str]] = []
    for t, a in h.log:
        if isinstance(a, Send) and a.destination == CALLER and a.message.status >= 200:
            if not any(o[1:] == (a.message.status, a.message.cseq.method) for o in out):
                out.append((t, a.message.status, a.message.cseq.method))
    return out


@pytest.mark.parametrize("stops", [False, True])
@pytest.mark.parametrize(("flag", "status"), [(False, 408), (True, 487)])
def test_a_cancelled_calls_local_timeout_is_487_with_the_kamailio_flag_kam_12(
        flag: bool, status: int, stops: bool) -> None:
    """Kamailio's script relays to dev1, which never answers; the caller CANCELs at 2 s. The
    branch cannot be CANCELled and times out at fr_timeout (8 s): the RFC model sends its 408,
    Kamailio's tm, whose transaction was CANCELled, 487 (KAM-12). Its copies go on after the
    CANCEL (3.5 s, 7.5 s), with or without `final_stops_unanswered_branches`, which acts only
    once the final response has left (KAM-11)."""
    config = ProxyConfig(fr_timeout=8.0, cancelled_local_final_is_487=flag,
                         final_stops_unanswered_branches=stops)
    h = Harness(script=TsiloScript(), config=config)
    h.register(port=5070)
    h.call()
    h.advance_to(2.0)
    assert h.sends(h.cancel(), to=DEV1) == []
    h.advance_to(10.0)
    assert _copies(h) == [0.0, 0.5, 1.5, 3.5, 7.5]
    assert _to_caller(h) == [(2.0, 200, "CANCEL"), (8.0, status, "INVITE")]
    branch = h.proxy.summary("call-1").branches[0]
    assert (branch.final_status, branch.final_at, branch.cancelled) == (408, 8.0, False)


def test_a_response_that_came_from_a_branch_is_relayed_as_it_is_with_the_kamailio_flag() -> None:
    """KAM-12 changes only a response the proxy makes up: a ringing branch, CANCELled with the
    call, that answers 486 instead of 487 (its answer crossed the CANCEL) has its 486 relayed."""
    config = ProxyConfig(fr_timeout=8.0, cancelled_local_final_is_487=True)
    h = Harness(script=TsiloScript(), config=config)
    h.register(port=5070)
    [inv] = h.invites(h.call())
    h.answer(inv, 180)
    h.advance_to(2.0)
    assert len(h.sends(h.cancel(), to=DEV1, method="CANCEL")) == 1
    h.advance_to(2.5)
    h.answer(inv, 486)
    assert _to_caller(h) == [(2.0, 200, "CANCEL"), (2.5, 486, "INVITE")]


@pytest.mark.parametrize(("flag", "final"), [(False, (30.0, 487)), (True, (30.0, 408))])
def test_the_caller_gets_the_silent_branchs_408_when_the_cancel_spares_the_placeholder_osips_28(
        flag: bool, final: tuple[float, int]) -> None:
    """The seed: placeholder, then a relay to dev1, which never answers; the caller CANCELs at
    2 s. Without the flag the placeholder takes a 487 and, once dev1 times out at fr_timeout
    (30 s), 487 is chosen (OSIPS-7 ranks it first after a CANCEL); OpenSIPS spares the
    placeholder and leaves it out of the choice, so dev1's own 408 goes (OSIPS-28)."""
    config = ProxyConfig(selection=Selection.OPENSIPS, cancel_skips_placeholder=flag)
    h = Harness(config=config)
    h.register(port=5070)
    h.call()
    h.advance_to(2.0)
    assert [a.message.status for a in h.sends(h.cancel())] == [200]
    h.advance_to(40.0)
    assert _to_caller(h) == [(2.0, 200, "CANCEL"), (*final, "INVITE")]
    phony, real = h.proxy.summary("call-1").branches
    assert (real.final_status, real.final_at) == (408, 30.0)
    assert (phony.final_status, phony.cancelled) == ((487, True) if not flag else (None, True))


def test_a_lone_placeholder_still_ends_with_487_at_once_under_osips_28() -> None:
    """OSIPS-10, OSIPS-21: with no other branch the CANCEL ends the placeholder at once."""
    h = Harness(config=ProxyConfig(selection=Selection.OPENSIPS, cancel_skips_placeholder=True))
    h.call()
    h.advance_to(3.0)
    out = h.cancel()
    assert [(a.message.status, a.message.cseq.method) for a in h.sends(out)] == [
        (200, "CANCEL"), (487, "INVITE")]


def test_a_spared_placeholder_ends_with_its_408_and_the_choice_waits_for_it_osips_28() -> None:
    """dev1 answered 486 before the CANCEL (absorbed: the placeholder waits, OSIPS-22). The
    CANCEL picks nothing: the spared placeholder's fr_inv_timeout (120 s) gives it its 408, and
    only then is the response chosen among every branch's status: the 486 (OSIPS-7)."""
    config = ProxyConfig(selection=Selection.OPENSIPS, cancel_skips_placeholder=True)
    h = Harness(config=config)
    h.register(port=5070)
    [inv] = h.invites(h.call())
    h.advance_to(1.0)
    assert h.statuses(h.answer(inv, 486)) == []
    h.advance_to(2.0)
    assert [a.message.status for a in h.sends(h.cancel())] == [200]
    h.advance_to(130.0)
    assert _to_caller(h) == [(2.0, 200, "CANCEL"), (120.0, 486, "INVITE")]
    phony = h.proxy.summary("call-1").branches[0]
    assert (phony.final_status, phony.final_at) == (408, 120.0)


def _invite():
    return make_request("INVITE", "sip:bob@192.0.2.20:5070",
                        via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-px-1",
                        from_="<sip:alice@example.com>;tag=a", to="<sip:bob@example.com>",
                        call_id="c1", cseq=7)


@pytest.mark.parametrize(("values", "copies"), [
    (TimerValues(), [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]),
    (TimerValues(timer_a=TimerAGrowth.CAPPED),
     [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]),
    (TimerValues(timer_a=TimerAGrowth.STEPPED),
     [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]),
    (TimerValues(t1=0.25, timer_a=TimerAGrowth.CAPPED),
     [0.25, 0.75, 1.75, 3.75, 7.75, 11.75, 15.75]),
    (TimerValues(t1=0.25, timer_a=TimerAGrowth.STEPPED), [0.25, 0.75, 1.75, 5.75, 9.75, 13.75]),
])
def test_timer_a_doubles_without_a_cap_or_grows_to_t2_txn_10(values: TimerValues,
                                                             copies: list[float]) -> None:
    """RFC 3261 §17.1.1.2 doubles Timer A's interval each time; Kamailio's tm doubles it up to
    T2 (4 s), OpenSIPS's goes T1, 2*T1, 4*T1 then T2 (OSIPS-29): the same with the default T1,
    apart with T1 at 250 ms. Timer B (64*T1) ends each with 408."""
    txn = ClientTransaction(_invite(), DEV1, 0.0, values=values)
    sent, failures = [], []
    while txn.state is ClientState.CALLING:
        now = txn.get_timer()
        for outcome in txn.handle_timer(now):
            sent += [now] if outcome.actions else []
            failures += [(now, outcome.failure)] if outcome.failure else []
    assert (sent, failures) == (copies, [(64 * values.t1, 408)])


@pytest.mark.parametrize(("preset", "growth", "local_487", "spare", "stops"), [
    ("opensips", TimerAGrowth.STEPPED, False, True, True),
    ("kamailio-tsilo", TimerAGrowth.CAPPED, True, False, True),
    ("rfc8599", TimerAGrowth.DOUBLING, False, False, False)])
def test_which_preset_models_which_tm_behaviour(preset: str, growth: TimerAGrowth, local_487: bool,
                                                spare: bool, stops: bool) -> None:
    from pushinject.core.ids import CountingIds
    from pushinject.presets import PRESETS

    config = PRESETS[preset].build(CountingIds("p")).proxy.config
    assert (config.timers.timer_a, config.cancelled_local_final_is_487,
            config.cancel_skips_placeholder, config.final_stops_unanswered_branches) == (
        growth, local_487, spare, stops)


DEV2 = ("192.0.2.20", 5071)
#: the two tm models: Kamailio's script and RFC 3261 selection, the seed and OpenSIPS's
TM = {"kamailio": (TsiloScript, Selection.RFC3261), "opensips": (SeedScript, Selection.OPENSIPS)}


def _silent_and_answering(model: str, flag: bool, status: int) -> Harness:
    """dev1 and dev2 are registered; the call is relayed to both at 0 s; dev1 never answers,
    dev2 rings at 1 s and answers `status` at 3.1 s; the clock then runs to 40 s."""
    script, selection = TM[model]
    config = ProxyConfig(fr_timeout=8.0, selection=selection,
                         final_stops_unanswered_branches=flag)
    h = Harness(script=script(), config=config)
    h.register(port=5070)
    h.register(port=5071)
    invites = h.invites(h.call())
    [inv2] = [i for i in invites if i.destination == DEV2]
    h.advance_to(1.0)
    h.answer(inv2, 180)
    h.advance_to(3.1)
    h.answer(inv2, status)
    h.advance_to(40.0)
    return h


@pytest.mark.parametrize("model", ["kamailio", "opensips"])
@pytest.mark.parametrize(("flag", "copies"), [
    (False, [0.0, 0.5, 1.5, 3.5, 7.5]), (True, [0.0, 0.5, 1.5])])
def test_the_2xx_stops_the_copies_of_a_branch_that_never_answered_kam_11_osips_26(
        model: str, flag: bool, copies: list[float]) -> None:
    """dev2's 200 reaches the caller at 3.1 s. RFC 3261 goes on retransmitting dev1's INVITE
    (3.5 s, 7.5 s) until its FR timer (8 s); both tm modules, with the flag, send it nothing
    after the 200: copies at 0.5 s and 1.5 s only. Neither sends dev1 a CANCEL (RFC 3261
    §9.1), and the call is over all the same."""
    h = _silent_and_answering(model, flag, 200)
    assert _copies(h) == copies
    assert [t for t, a in h.log if isinstance(a, Send) and a.destination == DEV1
            and getattr(a.message, "method", None) == "CANCEL"] == []
    assert _to_caller(h) == [(3.1, 200, "INVITE")]
    assert h.proxy.context("call-1") is None
    dev1 = next(b for b in h.proxy.summary("call-1").branches if b.target.endswith(":5070"))
    assert (dev1.final_status, dev1.final_at) == ((None, None) if flag else (408, 8.0))


@pytest.mark.parametrize(("model", "flag", "copies", "final"), [
    ("kamailio", False, [0.0, 0.5, 1.5, 3.5, 7.5], 8.0),
    ("kamailio", True, [0.0, 0.5, 1.5, 3.5, 7.5], 8.0),
    ("opensips", False, [0.0, 0.5, 1.5, 3.5, 7.5], 3.1),
    ("opensips", True, [0.0, 0.5, 1.5], 3.1)])
def test_a_6xx_stops_the_copies_only_where_it_reaches_the_caller_at_once(
        model: str, flag: bool, copies: list[float], final: float) -> None:
    """dev2 answers 603 at 3.1 s. Kamailio's tm holds it until dev1 ends (its `cancel_b_method`
    1 keeps retransmitting an unreplied branch), so dev1's copies go on to its FR timer at 8 s
    and the 603 leaves then; OpenSIPS's relays the 603 at once (CTX-5), which, with the flag,
    stops dev1's copies as a 2xx does (OSIPS-26)."""
    h = _silent_and_answering(model, flag, 603)
    assert _copies(h) == copies
    assert _to_caller(h) == [(final, 603, "INVITE")]


@pytest.mark.parametrize("model", ["kamailio", "opensips"])
def test_a_branch_given_up_with_the_call_is_cancelled_when_it_rings_at_last(model: str) -> None:
    """dev1, given up at dev2's 200 (3.1 s), sends 180 at 5 s: it gets the CANCEL it could not
    get before (Reason: the call was answered elsewhere), as both tm modules do for a branch
    marked cancelled that answers at last."""
    script, selection = TM[model]
    config = ProxyConfig(selection=selection, final_stops_unanswered_branches=True)
    h = Harness(script=script(), config=config)
    h.register(port=5070)
    h.register(port=5071)
    invites = h.invites(h.call())
    inv1, inv2 = (next(i for i in invites if i.destination == d) for d in (DEV1, DEV2))
    h.advance_to(3.1)
    h.answer(inv2, 200)
    h.advance_to(5.0)
    [cancel] = h.sends(h.answer(inv1, 180), to=DEV1, method="CANCEL")
    assert cancel.message.get("Reason") == 'SIP ;cause=200 ;text="Call completed elsewhere"'
    assert _to_caller(h) == [(3.1, 200, "INVITE")]
