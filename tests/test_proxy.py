"""The proxy core driven through the in-memory harness: the seed's script, the §16.7 rules, the
waiting and injection rules and the races among the pitfalls (PIT-13). Times are exact (aioquic
style)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness import CALLER, Harness
from pushinject.core.proxy import ProxyConfig
from pushinject.core.types import Dedup, Selection
from pushinject.scripts.opensips_seed import SeedScript
from pushinject.sip import make_request

DEV1, DEV2 = ("192.0.2.20", 5070), ("192.0.2.20", 5080)


def test_nothing_registered_caller_gets_100_then_408_at_fr_inv_timeout_R28_R32():
    h = Harness()
    assert h.statuses(h.call()) == [100]
    assert h.proxy.get_timer() == pytest.approx(20.0)  # the seed's subscription
    assert h.advance_to(119.999) == []
    assert h.proxy.get_timer() == 120.0
    out = h.advance_to(120.0)
    assert h.statuses(out) == [408]
    assert h.proxy.get_timer() == 120.5                   # Timer G (TXN-4)
    h.ack(out[0].message)
    assert h.proxy.get_timer() == 125.0                   # Timer I = T4
    h.advance_to(125.0)
    assert h.proxy.contexts() == []
    assert h.proxy.summary("call-1").final_status == 408


def test_100_trying_is_never_forwarded_but_180_is_R7():
    h = Harness()
    h.register(port=5070)
    [inv] = h.invites(h.call())
    assert h.statuses(h.answer(inv, 100)) == []
    assert h.statuses(h.answer(inv, 180)) == [180]


def test_forwarded_invite_has_new_via_record_route_and_max_forwards_minus_one_R4():
    h = Harness()
    h.register(port=5070)
    [inv] = h.invites(h.call())
    msg = inv.message
    assert inv.destination == DEV1
    assert [v.branch for v in msg.vias] == ["z9hG4bK-px-1", "z9hG4bK-caller-1"]
    assert msg.max_forwards == 69
    assert [str(r.uri) for r in msg.record_routes] == ["sip:127.0.0.1:5060;lr"]
    assert str(msg.uri) == "sip:bob@192.0.2.20:5070"


def test_registration_after_the_subscription_is_injected_and_answers_pitfall_13():
    h = Harness()
    h.call()
    h.advance_to(5.0)
    out = h.register(port=5070)
    assert [type(a).__name__ for a in out] == ["Send", "Log", "Send"]   # 200 first, then INVITE
    assert out[0].message.status == 200
    [inv] = h.invites(out)
    assert inv.destination == DEV1 and inv.message.call_id == "call-1"
    h.advance_to(6.0)
    assert h.statuses(h.answer(inv, 200)) == [200]
    s = h.proxy.summary("call-1")
    assert (s.final_status, s.final_at) == (200, 6.0)
    assert [(b.kind, b.injected, b.final_status, b.cancelled) for b in s.branches] == [
        ("phony", False, None, True), ("real", True, 200, False)]


def test_registration_before_the_subscription_is_found_by_lookup_R45():
    h = Harness()
    h.register(port=5070)
    out = h.call()
    assert [i.destination for i in h.invites(out)] == [DEV1]
    assert [b.kind for b in h.proxy.summary("call-1").branches] == ["phony", "real"]


def test_device_registering_after_its_subscription_expired_is_never_injected_pitfall_7():
    h = Harness()
    h.call()
    h.advance_to(25.0)
    out = h.register(port=5070)
    assert h.statuses(out, to=DEV1) == [200] and h.invites(out) == []
    assert h.statuses(h.advance_to(120.0)) == [408]


def test_cancel_while_only_the_placeholder_waits_200_then_487_at_once_R12_R36():
    h = Harness()
    h.call()
    h.advance_to(3.0)
    out = h.cancel()
    assert [(a.message.status, a.message.cseq.method) for a in out] == [
        (200, "CANCEL"), (487, "INVITE")]
    s = h.proxy.summary("call-1")
    assert s.cancelled_by_caller and (s.final_status, s.final_at) == (487, 3.0)
    assert h.invites(h.register(port=5070)) == []     # no injection after CANCEL (OSIPS-10)


def test_cancel_with_a_ringing_branch_cancels_it_and_relays_487_R12():
    h = Harness()
    h.register(port=5070)
    [inv] = h.invites(h.call())
    h.answer(inv, 180)
    out = h.cancel()
    assert out[0].message.status == 200
    [cancel] = h.sends(out, method="CANCEL")
    assert cancel.destination == DEV1 and cancel.message.top_via.branch == "z9hG4bK-px-1"
    out = h.answer(inv, 487)
    assert h.statuses(out) == [487]
    assert h.sends(out, method="ACK")[0].destination == DEV1


def test_2xx_then_registration_at_the_same_instant_refuses_injection_R34_R36():
    h = Harness()
    h.register(port=5070)
    [inv] = h.invites(h.call())
    h.advance_to(4.0)
    assert h.statuses(h.answer(inv, 200)) == [200]
    out = h.register(port=5080)
    assert h.invites(out) == [] and out[0].message.status == 200
    assert len(h.proxy.summary("call-1").branches) == 2


def test_registration_then_2xx_at_the_same_instant_cancels_the_new_branch_on_its_1xx_R9():
    h = Harness()
    h.register(port=5070)
    [inv] = h.invites(h.call())
    h.advance_to(4.0)
    [new] = h.invites(h.register(port=5080))
    assert h.statuses(h.answer(inv, 200)) == [200]
    out = h.answer(new, 180)         # CANCEL waits for a provisional (RFC 3261 §9.1)
    [cancel] = h.sends(out, method="CANCEL")
    assert cancel.destination == DEV2
    assert cancel.message.get("Reason") == 'SIP ;cause=200 ;text="Call completed elsewhere"'
    assert h.statuses(out) == []


def test_2xx_cancels_ringing_branches_with_reason_R9_R38():
    h = Harness()
    h.register(port=5070)
    h.register(port=5080)
    a, b = h.invites(h.call())
    h.answer(a, 180)
    h.answer(b, 180)
    out = h.answer(b, 200)
    assert h.statuses(out) == [200]
    [cancel] = h.sends(out, method="CANCEL")
    assert cancel.destination == a.destination


def test_every_device_failing_waits_for_the_placeholder_then_best_response_R32():
    h = Harness()
    h.register(port=5070)
    h.register(port=5080)
    a, b = h.invites(h.call())
    h.advance_to(2.0)
    assert h.statuses(h.answer(a, 486)) == []   # absorbed while the placeholder waits
    assert h.statuses(h.answer(b, 480)) == []
    out = h.advance_to(120.0)
    assert h.statuses(out) == [486]


def test_every_device_failing_opensips_ranking_prefers_486_over_the_placeholder_408_R33():
    h = Harness(config=ProxyConfig(selection=Selection.OPENSIPS))
    h.register(port=5070)
    [a] = h.invites(h.call())
    h.answer(a, 486)
    assert h.statuses(h.advance_to(120.0)) == [486]


def test_6xx_cancels_pending_branches_and_blocks_injection_R8():
    h = Harness()
    h.register(port=5070)
    h.register(port=5080)
    a, b = h.invites(h.call())
    h.answer(a, 180)
    out = h.answer(b, 603)
    assert h.statuses(out) == [] and h.sends(out, method="CANCEL")[0].destination == DEV1
    assert h.invites(h.register(port=5090)) == []
    assert h.statuses(h.answer(a, 487)) == [603]


def test_opensips_selection_relays_a_6xx_at_once_then_cancels_pending_branches_ctx5():
    """OpenSIPS tm picks a 6xx the moment it arrives (seen in the lab's capture O8): the caller
    gets it before the other branch's CANCEL, the late 487 is absorbed, nothing is injected."""
    h = Harness(config=ProxyConfig(selection=Selection.OPENSIPS))
    h.register(port=5070)
    h.register(port=5080)
    a, b = h.invites(h.call())
    h.answer(a, 180)
    out = h.answer(b, 603)
    sent = [getattr(x.message, "status", None) or x.message.method
            for x in out if type(x).__name__ == "Send"]
    assert sent == ["ACK", 603, "CANCEL"]       # ACK of the 603, the caller's 603, then CANCEL
    assert h.sends(out, method="CANCEL")[0].destination == DEV1
    assert h.invites(h.register(port=5090)) == []
    assert h.statuses(h.answer(a, 487)) == []
    assert h.proxy.summary("call-1").final_status == 603


def test_fr_inv_timeout_after_ringing_cancels_with_no_answer_and_fakes_408_R29():
    h = Harness()
    h.register(port=5070)
    [inv] = h.invites(h.call())
    h.advance_to(1.0)
    h.answer(inv, 180)
    h.advance_to(90.0)
    h.answer(inv, 183)                     # a provisional above 100 restarts it (TXN-1)
    out = h.advance_to(210.0)
    [cancel] = h.sends(out, method="CANCEL")
    assert cancel.message.get("Reason") == 'SIP;cause=480;text="NO_ANSWER"'
    branch = h.proxy.summary("call-1").branches[1]
    assert (branch.final_status, branch.final_at, branch.cancelled_at) == (408, 210.0, 210.0)


def test_branch_that_never_rings_gets_408_at_fr_timeout_R6():
    h = Harness(script=SeedScript())
    h.register(port=5070)
    h.call()
    h.advance_to(30.0)
    branch = h.proxy.summary("call-1").branches[1]
    assert (branch.final_status, branch.final_at, branch.cancelled) == (408, 30.0, False)


def test_max_forwards_zero_is_answered_483_RFC3261_16_3():
    h = Harness()
    req = make_request("INVITE", "sip:bob@example.com",
                       via=f"SIP/2.0/UDP {CALLER[0]}:{CALLER[1]};branch=z9hG4bK-x",
                       from_="<sip:alice@example.com>;tag=1", to="<sip:bob@example.com>",
                       call_id="mf", cseq=1, max_forwards=0)
    assert h.statuses(h.deliver(req, CALLER)) == [483]


class InsertAndUpdate(SeedScript):
    """The seed, listening to INSERT and UPDATE (INJ-6), once per event name."""

    def route_to_user(self, sip):
        sip.t_newtran()
        sip.t_wait_for_new_branches()
        for event in ("E_UL_CONTACT_INSERT", "E_UL_CONTACT_UPDATE"):
            sip.notify_on_event(event, "aor=" + sip.rU, "fork_call", 120)
        if sip.lookup("location") > 0:
            sip.route("relay")


def test_seed_misses_a_refreshed_binding_update_pitfall_1_R24():
    h = Harness()
    h.register(port=5070, instance="dev-1")
    h.call()
    assert h.invites(h.register(port=5070, instance="dev-1", cseq=2)) == []


def test_device_registering_twice_gets_two_branches_without_dedup_R37():
    h = Harness(script=InsertAndUpdate())
    h.register(port=5070, instance="dev-1")
    h.call()
    assert len(h.invites(h.register(port=5070, instance="dev-1", cseq=2))) == 1
    assert len(h.proxy.summary("call-1").branches) == 3


def test_device_registering_twice_is_skipped_by_instance_dedup_R41():
    h = Harness(script=InsertAndUpdate(), config=ProxyConfig(dedup=Dedup.BY_INSTANCE))
    h.register(port=5070, instance="dev-1")
    h.call()
    out = h.register(port=5070, instance="dev-1", cseq=2)
    assert h.invites(out) == []
    assert "still pending (INJ-3)" in h.logs(out)[-1]


def test_device_reconnecting_elsewhere_is_dispatched_again_by_instance_R41():
    h = Harness(script=InsertAndUpdate(), config=ProxyConfig(dedup=Dedup.BY_INSTANCE))
    h.register(port=5070, instance="dev-1")
    h.call()
    assert [i.destination for i in h.invites(h.register(port=5071, instance="dev-1", cseq=2))
            ] == [("192.0.2.20", 5071)]


def test_same_location_record_is_skipped_by_location_dedup_R43():
    h = Harness(script=InsertAndUpdate(), config=ProxyConfig(dedup=Dedup.BY_LOCATION))
    h.register(port=5070)
    h.call()
    assert h.invites(h.register(port=5070, cseq=2)) == []


class WaitFor(SeedScript):
    """t_wait_for_new_branches(N) and the `l` flag (OSIPS-4)."""

    def __init__(self, n=None, flags=""):
        super().__init__(timeout=120)
        self.n, self.flags = n, flags
        self.results: list[int] = []

    def route_to_user(self, sip):
        sip.t_newtran()
        sip.t_wait_for_new_branches(self.n)
        sip.notify_on_event(self.event, "aor=" + sip.rU, "fork_call", self.timeout)
        if sip.lookup("location") > 0:
            sip.route("relay")

    def fork_call(self, sip):
        self.results.append(sip.t_inject_branches("event", self.flags))


def test_wait_for_n_branches_stops_waiting_once_n_arrived_R30():
    h = Harness(script=WaitFor(n=1))
    h.call()
    h.advance_to(10.0)
    [inv] = h.invites(h.register(port=5070))
    h.advance_to(11.0)
    out = h.answer(inv, 486)
    assert h.statuses(out) == [486]            # no wait until 120 s
    assert h.proxy.summary("call-1").final_at == 11.0


def test_last_flag_caps_the_wait_at_the_injected_branch_R30_R38():
    h = Harness(script=WaitFor(flags="l"))
    h.call()
    [inv] = h.invites(h.register(port=5070))
    assert h.statuses(h.answer(inv, 480)) == [480]


def test_cancel_flag_cancels_branches_that_rang_but_not_the_placeholder_R38():
    h = Harness(script=WaitFor(flags="c"))
    h.register(port=5070)
    [old] = h.invites(h.call())
    h.answer(old, 180)
    out = h.register(port=5080)
    kinds = [(a.message.method, a.destination) for a in h.sends(out) if hasattr(a.message,
                                                                                   "method")]
    assert kinds == [("INVITE", DEV2), ("CANCEL", DEV1)]   # CANCEL after the new branch
    assert not h.proxy.summary("call-1").branches[0].cancelled


def test_injection_result_codes_cancelled_answered_freed_R34_R36():
    script = WaitFor()
    h = Harness(script=script)
    h.call()
    h.cancel()
    h.register(port=5070)                                # -2: the 487 went out at once
    h.advance_to(60.0)                                   # Timer H retires the context
    assert h.proxy.contexts() == []
    h.register(port=5080)                                # -1: the transaction is gone
    h.call(call_id="call-2", branch="z9hG4bK-caller-2")
    [inv] = h.invites(h.register(port=5090))             # 1
    h.answer(inv, 200)
    h.register(port=5100)                                # -2: a final response was sent
    # call-1's subscription outlives its transaction (EVT-4): it fires, and gets -1, each time
    assert script.results == [-2, -1, -1, 1, -1, -2]


def test_injection_after_a_6xx_or_a_cancel_with_pending_branches_returns_minus_3_R8_R36():
    script = WaitFor()
    h = Harness(script=script)
    h.register(port=5070)
    h.register(port=5080)
    a, b = h.invites(h.call())
    h.answer(a, 180)
    h.answer(b, 603)
    h.register(port=5090)
    h.call(call_id="call-2", branch="z9hG4bK-caller-2")
    h.cancel()
    h.register(port=5100)
    assert script.results[0] == -3 and script.results[-1] == -3


def test_transport_error_counts_as_503_and_rfc3261_sends_500_R13_R10():
    from pushinject.core.events import TransportFailed

    h = Harness(script=WaitFor(n=0))
    h.register(port=5070)
    [inv] = h.invites(h.call())
    out = h.proxy.handle(TransportFailed(branch=inv.message.top_via.branch,
                                         destination=inv.destination), 0.5)
    assert h.statuses(out) == [500]


def test_push_is_requested_for_a_contact_with_pn_parameters_on_lookup_R25():
    h = Harness(config=replace(ProxyConfig(), push_on_lookup=True))
    h.register(port=5070, pn="tok1", instance="dev-1")
    out = h.call()
    [push] = h.pushes(out)
    assert (push.aor, push.call_id, push.reason) == ("bob", "call-1", "ini-INVITE")
    assert h.proxy.summary("call-1").pushes == (("urn:uuid:dev-1", 0.0),)


class StopWaiting(WaitFor):
    """fork_call injects, then `t_wait_no_more_branches()` (OSIPS-4)."""

    def fork_call(self, sip):
        self.results.append(sip.t_inject_branches("event"))
        self.results.append(sip.t_wait_no_more_branches())


def test_t_wait_no_more_branches_caps_the_wait_at_the_current_branches_R30():
    script = StopWaiting()
    h = Harness(script=script)
    h.call()
    h.advance_to(3.0)
    [inv] = h.invites(h.register(port=5070))
    assert script.results == [1, 1]
    assert h.statuses(h.answer(inv, 486)) == [486]       # no waiting for the placeholder
    assert h.proxy.summary("call-1").final_at == 3.0


def test_injection_does_not_move_the_placeholder_deadline_and_the_branch_outlives_it_R40_R29():
    h = Harness(script=WaitFor())
    h.call()
    h.advance_to(100.0)
    [inv] = h.invites(h.register(port=5070))
    h.answer(inv, 180)
    assert h.advance_to(121.0) == []                     # the placeholder's 408 is not final
    assert h.proxy.summary("call-1").branches[0].final_at == 120.0
    assert h.proxy.get_timer() == 132.0                  # the REGISTER's Timer J (TXN-6)
    assert h.advance_to(132.0) == []
    assert h.proxy.get_timer() == 220.0                  # fr_inv_timeout of the new branch
    out = h.advance_to(220.0)
    assert h.sends(out, method="CANCEL") and h.statuses(out) == [408]


def test_chosen_401_carries_every_challenge_collected_R10():
    h = Harness(script=WaitFor(n=1))
    h.register(port=5070)
    h.register(port=5080)
    a, b = h.invites(h.call())
    from pushinject.sip import make_response

    r1 = make_response(a.message, 401, to_tag="x", extra=[("WWW-Authenticate",
                                                           'Digest realm="a", nonce="1"')])
    r2 = make_response(b.message, 407, to_tag="y", extra=[("Proxy-Authenticate",
                                                           'Digest realm="b", nonce="2"')])
    h.deliver(r1, a.destination)
    out = h.deliver(r2, b.destination)
    [final] = [s.message for s in h.sends(out, to=CALLER)]
    assert final.status == 401
    assert final.get("WWW-Authenticate") == 'Digest realm="a", nonce="1"'
    assert final.get("Proxy-Authenticate") == 'Digest realm="b", nonce="2"'


def test_max_inv_lifetime_ends_the_whole_transaction_R65():
    h = Harness(config=ProxyConfig(max_inv_lifetime=180.0, fr_inv_timeout=300.0))
    h.register(port=5070)
    [inv] = h.invites(h.call())
    h.answer(inv, 180)
    h.advance_to(33.0)                                   # past the seed's subscription and
    assert h.proxy.get_timer() == 180.0                  # the REGISTER's Timer J (TXN-6)
    out = h.advance_to(180.0)
    assert h.sends(out, method="CANCEL") and h.statuses(out) == [408]


def test_exact_deadlines_after_each_step_of_a_seed_call_R14_R15_R28_R29():
    """aioquic style: the proxy's next deadline after every step of one call."""
    h = Harness()
    h.register(port=5070)
    assert h.proxy.get_timer() == 32.0                    # the REGISTER's Timer J (TXN-6)
    [inv] = h.invites(h.call())
    assert h.proxy.get_timer() == 0.5                     # Timer A of branch 1 (UDP)
    h.advance_to(0.2)
    h.answer(inv, 180)
    assert h.proxy.get_timer() == pytest.approx(20.0)     # the seed's subscription
    h.advance_to(21.0)
    assert h.proxy.get_timer() == 32.0                    # Timer J
    h.advance_to(32.0)
    assert h.proxy.get_timer() == 120.0                   # the placeholder (fr_inv_timeout)
    h.advance_to(50.0)
    [ack] = h.answer(inv, 486)                            # absorbed: only the ACK goes out
    assert ack.message.method == "ACK" and h.proxy.get_timer() == 82.0   # Timer D
    h.advance_to(82.0)
    assert h.proxy.get_timer() == 120.0
    [final] = h.advance_to(120.0)
    assert final.message.status == 486 and h.proxy.get_timer() == 120.5  # Timer G
    h.advance_to(121.0)                                   # G fired at 120.5, next at 121.5
    assert h.proxy.get_timer() == 121.5
    h.ack(final.message)
    assert h.proxy.get_timer() == 126.0                   # Timer I = T4
    h.advance_to(126.0)
    assert h.proxy.contexts() == [] and h.proxy.get_timer() == 3600.0


def test_a_later_100_does_not_restart_the_fr_inv_timer_but_a_180_does_R5_R29():
    h = Harness(script=WaitFor())                 # subscription as long as the placeholder
    h.register(port=5070)
    [inv] = h.invites(h.call())
    h.advance_to(1.0)
    h.answer(inv, 100)                             # first provisional: fr_timeout -> fr_inv
    branch = h.proxy.contexts()[0].branches[1]
    assert branch.fr_at == 121.0
    h.advance_to(50.0)
    h.answer(inv, 100)
    assert branch.fr_at == 121.0                   # 100 does not restart it (TXN-1)
    h.advance_to(60.0)
    h.answer(inv, 180)
    assert branch.fr_at == 180.0                   # 101-199 does


def test_proxies_built_from_one_config_each_move_to_their_own_address():
    """`set_address` moves the proxy's Via and "is this mine?" checks; proxies sharing one
    (frozen) config move alone, the config itself stays where it was."""
    from pushinject.core.ids import CountingIds
    from pushinject.core.proxy import Proxy

    config = ProxyConfig(host="127.0.0.1", port=5060)
    first, second, third = (Proxy(config, CountingIds(p), SeedScript()) for p in "abc")
    first.set_address("192.0.2.1", 5070)
    second.set_address("192.0.2.2", 5080)
    third.set_address("192.0.2.1", 5070)
    assert [(p.config.host, p.config.port) for p in (first, second, third)] == [
        ("192.0.2.1", 5070), ("192.0.2.2", 5080), ("192.0.2.1", 5070)]
    assert (config.host, config.port) == ("127.0.0.1", 5060)
    assert third.config == first.config and third.config.registrar is config.registrar


def _bye_through_both_listeners():  # type: ignore[no-untyped-def]
    """A BYE routed through the proxy's TCP listener (a phone's outbound proxy, RFC 5626
    §4.3) while the proxy's own address is its UDP one."""
    from pushinject.sip import parse_message

    return parse_message(
        "BYE sip:alice@192.0.2.20:5080 SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 192.0.2.30:5090;branch=z9hG4bKbye1;rport\r\n"
        "Route: <sip:127.0.0.1:5062;transport=tcp;lr>\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=b1\r\n"
        "To: <sip:alice@example.com>;tag=a1\r\nCall-ID: aliases-1\r\nCSeq: 2 BYE\r\n"
        "Content-Length: 0\r\n\r\n".encode())


@pytest.mark.parametrize("aliases, sent_to", [
    ([], ("127.0.0.1", 5062)),                      # not known as its own: to itself again
    ([("127.0.0.1", 5062)], ("192.0.2.20", 5080)),  # CONN-14: the Route is the proxy's
])
def test_a_route_naming_another_listener_of_the_proxy_is_its_own_conn14(aliases, sent_to):
    """RFC 3261 §16.4: the proxy removes the top Route when it names the proxy, whichever of
    its addresses it names; then the BYE goes to its Request-URI. Without the alias it went to
    the proxy's own TCP listener, Route and all."""
    from pushinject.core.actions import Send
    from pushinject.core.events import Received
    from pushinject.core.ids import CountingIds
    from pushinject.core.proxy import Proxy

    proxy = Proxy(ProxyConfig(host="127.0.0.1", port=5060), CountingIds("p"), SeedScript())
    proxy.add_aliases(aliases)
    out = proxy.handle(Received(message=_bye_through_both_listeners(), source=("192.0.2.30", 5090),
                                transport="TCP", connection=7), 1.0)
    (send,) = [a for a in out if isinstance(a, Send)]
    assert send.destination == sent_to
    assert send.message.method == "BYE"
    assert send.message.has("Route") == (not aliases)
