"""Requests for the proxy itself (CTX-10, CTX-11) and the non-INVITE server transaction of the
requests it answers (TXN-6): nothing is forwarded to the proxy's own address, and a
retransmitted REGISTER gets its first answer again until Timer J."""

from __future__ import annotations

import pytest

from harness import CALLER, DOMAIN, PROXY, Harness
from pushinject.core.actions import Send
from pushinject.core.server_nict import NistState
from pushinject.sip import Request, make_request

REMOTE = ("203.0.113.9", 5080)


def _in_dialog(method: str, uri: str, *, routes: tuple[str, ...] = (), branch: str = "z9hG4bK-b1",
               to_tag: str | None = "bob-1") -> Request:
    extra = [("Route", r) for r in routes]
    to = f"<sip:bob@{DOMAIN}>" + (f";tag={to_tag}" if to_tag else "")
    return make_request(method, uri, via=f"SIP/2.0/UDP {CALLER[0]}:{CALLER[1]};branch={branch}",
                        from_=f"<sip:alice@{DOMAIN}>;tag=alice-1", to=to, call_id="dlg-1",
                        cseq=2, extra=extra)


def _responses(actions: list) -> list[tuple[int, tuple[str, int]]]:
    return [(a.message.status, a.destination) for a in actions
            if isinstance(a, Send) and hasattr(a.message, "status")]


def test_ctx_10_a_bye_to_the_proxy_itself_is_answered_481_and_not_forwarded():
    h = Harness()
    actions = h.deliver(_in_dialog("BYE", "sip:127.0.0.1:5060"), CALLER)  # SIPp's default BYE
    assert _responses(actions) == [(481, CALLER)]
    assert h.sends(actions, method="BYE") == []
    assert [a.destination for a in actions if isinstance(a, Send)] == [CALLER]


def test_ctx_10_a_bye_whose_only_route_is_the_proxy_and_uri_the_proxy_is_481():
    h = Harness()
    bye = _in_dialog("BYE", "sip:bob@127.0.0.1", routes=("<sip:127.0.0.1:5060;lr>",))
    assert _responses(h.deliver(bye, CALLER)) == [(481, CALLER)]


def test_ctx_10_an_ack_to_the_proxy_itself_is_dropped_and_counted():
    h = Harness()
    actions = h.deliver(_in_dialog("ACK", "sip:127.0.0.1:5060"), CALLER)
    assert actions == []
    assert h.proxy.inputs.dropped["ack-to-proxy"] == 1
    assert h.proxy.inputs.balanced()


@pytest.mark.parametrize(("uri", "route"), [
    (f"sip:bob@{REMOTE[0]}:{REMOTE[1]}", "<sip:127.0.0.1:5060;lr>"),   # loose routing
    ("sip:127.0.0.1:5060;lr", f"<sip:bob@{REMOTE[0]}:{REMOTE[1]}>"),   # from a strict router
])
def test_ctx_10_a_routed_bye_still_goes_to_the_remote_party(uri: str, route: str) -> None:
    h = Harness()
    [sent] = h.deliver(_in_dialog("BYE", uri, routes=(route,)), CALLER)
    assert isinstance(sent, Send) and sent.destination == REMOTE
    assert str(sent.message.uri) == f"sip:bob@{REMOTE[0]}:{REMOTE[1]}"
    assert sent.message.get("Route") is None


def test_ctx_11_a_forward_to_the_proxy_itself_is_answered_404_not_sent():
    h = Harness()
    # the Route naming the proxy is removed (every leading one would be, ROUTE-9); the next
    # names another host but its maddr is the proxy's address: it would send it back
    bye = _in_dialog("BYE", f"sip:bob@{REMOTE[0]}:{REMOTE[1]}",
                     routes=("<sip:127.0.0.1:5060;lr>",
                             "<sip:edge.example.net;maddr=127.0.0.1;lr>"))
    actions = h.deliver(bye, CALLER)
    assert _responses(actions) == [(404, CALLER)]
    assert all(a.destination != PROXY for a in actions if isinstance(a, Send))


def test_ctx_11_no_branch_to_a_contact_that_is_the_proxy_itself():
    h = Harness()
    h.register(host="127.0.0.1", port=5060)
    actions = h.call()
    assert h.invites(actions) == []
    assert any("is the proxy itself" in text for text in h.logs(actions))


# ---------------------------------------------------------------------- TXN-6
def test_txn_6_a_retransmitted_register_gets_the_same_200_again():
    h = Harness()
    [first] = h.register()
    assert first.message.status == 200
    again = h.register()  # same Via branch, same time: a retransmission
    assert [(a.message.status, a.destination) for a in again] == [(200, first.destination)]
    assert again[0].message is first.message
    [nist] = h.proxy.server_transactions()
    assert nist.state is NistState.COMPLETED
    assert h.proxy.get_timer() == 32.0  # Timer J: 64*T1


def test_txn_6_timer_j_frees_the_transaction():
    h = Harness()
    h.register()
    h.advance_to(31.9)
    assert len(h.proxy.server_transactions()) == 1
    h.advance_to(32.0)
    assert h.proxy.server_transactions() == []
    assert len(h.proxy._timers) == 0


def test_txn_6_over_a_reliable_transport_nothing_is_kept():
    h = Harness()
    h.register(transport="TCP", connection=1)
    assert h.proxy.server_transactions() == []


def test_txn_6_the_481_of_a_bye_to_the_proxy_is_resent_to_its_retransmission():
    h = Harness()
    [first] = h.deliver(_in_dialog("BYE", "sip:127.0.0.1:5060"), CALLER)
    [again] = h.deliver(_in_dialog("BYE", "sip:127.0.0.1:5060"), CALLER)
    assert again.message is first.message
