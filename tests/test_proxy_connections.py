"""Connections in the core: responses go back on the request's connection (RFC 3261 §18.2.2),
bindings remember the connection their REGISTER came on, a branch to an RFC 5626 flow is sent
over it, and a closed connection fails the branches sent over it (RFC 3261 §16.9)."""

from __future__ import annotations

from harness import CALLER, Harness
from pushinject.core.actions import Send
from pushinject.core.events import ConnectionClosed

NAT = ("198.51.100.7", 40000)   # where the device's REGISTER comes from
INSTANCE = "00000000-0000-0000-0000-00000000b0b1"


class Relay:
    """The smallest script: save REGISTERs; INVITEs go to every registered contact."""

    def request_route(self, sip):  # noqa: ANN001 - a test script
        if sip.is_method("REGISTER"):
            sip.save()
            return
        sip.t_newtran()
        if sip.lookup() < 0:
            sip.t_reply(404)
            return
        sip.t_relay()


def _flow(h: Harness, connection: int = 3, source: tuple[str, int] = NAT,
          cseq: int = 1) -> list:
    return h.register(port=5070, instance=INSTANCE, reg_id=1, source=source, transport="TCP",
                      connection=connection, cseq=cseq)


def test_responses_to_a_request_go_back_on_its_connection_and_transport():
    h = Harness(script=Relay())
    [trying, not_found] = h.call(transport="TCP", connection=7)
    assert (trying.message.status, trying.destination) == (100, CALLER)
    assert (trying.connection, trying.transport) == (7, "TCP")
    assert (not_found.message.status, not_found.connection, not_found.transport) == (
        404, 7, "TCP")


def test_a_udp_request_is_answered_without_a_connection():
    h = Harness(script=Relay())
    [trying, _] = h.call()
    assert (trying.connection, trying.transport) == (None, "UDP")


def test_the_200_to_register_goes_back_on_its_connection_and_the_binding_records_it():
    h = Harness(script=Relay())
    [ok] = _flow(h)
    # the connection first; without it, `received` with the sent-by port (RFC 3261 §18.2.2)
    assert (ok.message.status, ok.destination, ok.connection, ok.transport) == (
        200, ("198.51.100.7", 5070), 3, "TCP")
    [binding] = h.proxy.location.bindings("bob")
    assert (binding.source, binding.transport, binding.connection) == (NAT, "TCP", 3)


def test_a_branch_to_an_outbound_flow_goes_over_its_connection():
    h = Harness(script=Relay())
    _flow(h)
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection, inv.transport) == (NAT, 3, "TCP")
    assert str(inv.message.top_via).startswith("SIP/2.0/TCP 127.0.0.1:5060;")


def test_a_closed_connection_fails_the_branch_sent_over_it_with_503():
    h = Harness(script=Relay())
    _flow(h)
    h.call()
    out = h.proxy.handle(ConnectionClosed(connection=3), h.now)
    # the only branch failed with 503; RFC 3261 §16.7 step 6 sends 500 in its place
    assert h.statuses(out) == [500]
    [branch] = h.proxy.summary("call-1").branches
    assert branch.final_status == 503


def test_a_closed_connection_fails_a_branch_that_already_rang():
    h = Harness(script=Relay())
    _flow(h)
    [inv] = h.invites(h.call())
    assert h.statuses(h.answer(inv, 180)) == [180]
    out = h.proxy.handle(ConnectionClosed(connection=3), h.now)
    assert h.statuses(out) == [500]
    assert h.proxy.summary("call-1").branches[0].final_status == 503


def test_a_closed_connection_leaves_branches_over_other_connections_alone():
    h = Harness(script=Relay())
    _flow(h, connection=3)
    h.call()
    assert h.proxy.handle(ConnectionClosed(connection=9), h.now) == []
    assert h.proxy.summary("call-1").branches[0].final_status is None
    [binding] = h.proxy.location.bindings("bob")
    assert binding.connection == 3


def test_bindings_lose_a_closed_connection_and_take_the_new_one_on_reregistration():
    h = Harness(script=Relay())
    _flow(h, connection=3)
    h.proxy.handle(ConnectionClosed(connection=3), h.now)
    [binding] = h.proxy.location.bindings("bob")
    assert (binding.source, binding.connection) == (NAT, None)
    h.advance(1.0)
    _flow(h, connection=4, source=("198.51.100.7", 40002), cseq=2)
    [binding] = h.proxy.location.bindings("bob")
    assert binding.connection == 4
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection) == (("198.51.100.7", 40002), 4)


def test_the_cancel_of_a_branch_goes_over_the_branch_connection():
    h = Harness(script=Relay())
    _flow(h)
    [inv] = h.invites(h.call())
    h.answer(inv, 180)
    [cancel] = h.sends(h.cancel(), method="CANCEL")
    assert (cancel.destination, cancel.connection, cancel.transport) == (NAT, 3, "TCP")


def test_send_repr_names_transport_and_connection_only_when_not_plain_udp():
    from pushinject.sip import make_response

    msg = make_response(h_invite(), 180)
    assert repr(Send(message=msg, destination=("10.0.0.1", 5060))) == (
        "Send('180 Ringing', to=10.0.0.1:5060)")
    assert repr(Send(message=msg, destination=("10.0.0.1", 5060), connection=4,
                     transport="TLS")) == "Send('180 Ringing', to=10.0.0.1:5060 TLS conn=4)"


def h_invite():
    h = Harness(script=Relay())
    h.call()
    assert h.invite is not None
    return h.invite


def test_a_call_to_a_flow_whose_connection_closed_fails_with_430_and_sends_nothing():
    """ROUTE-7 (RFC 5626 §5.3, §11): no attempt on a new connection; the branch ends with
    430 Flow Failed, the only answer the caller can get."""
    h = Harness(script=Relay())
    _flow(h)
    h.proxy.handle(ConnectionClosed(connection=3), h.now)
    out = h.call()
    assert h.invites(out) == [] and h.statuses(out) == [100]
    out = h.advance(0.0)  # the branch fails once the INVITE is handled
    assert h.sends(out, method="INVITE") == []
    [final] = [a.message for a in out if isinstance(a, Send)]
    assert (final.status, final.reason, h.now) == (430, "Flow Failed", 0.0)
    [branch] = h.proxy.summary("call-1").branches
    assert (branch.target, branch.final_status) == ("sip:bob@192.0.2.20:5070;transport=tcp", 430)


def test_a_failed_flow_beside_a_working_binding_leaves_the_call_to_it():
    """ROUTE-7 with RFC 3261 §16.7: the 430 branch is one response among others; the other
    binding's 200 is the one the caller gets."""
    h = Harness(script=Relay())
    _flow(h)
    h.register(port=5072, call_id="reg-other")
    h.proxy.handle(ConnectionClosed(connection=3), h.now)
    out = h.call()
    [inv] = h.invites(out)
    assert (inv.destination, inv.connection, inv.transport) == (("192.0.2.20", 5072), None, "UDP")
    assert h.statuses(out) == [100]
    assert h.statuses(h.advance(0.0)) == []  # the 430 alone decides nothing
    assert h.statuses(h.answer(inv, 200)) == [200]
    finals = sorted(b.final_status for b in h.proxy.summary("call-1").branches)
    assert finals == [200, 430]


def test_a_flow_refreshed_on_a_new_connection_is_called_there_again():
    """ROUTE-7 ends with the refresh of the flow (ROUTE-3): a later call goes over the new
    connection."""
    h = Harness(script=Relay())
    _flow(h, connection=3)
    h.proxy.handle(ConnectionClosed(connection=3), h.now)
    h.call(call_id="call-0", branch="z9hG4bK-c0")
    assert h.statuses(h.advance(0.0)) == [430]
    h.advance(1.0)
    _flow(h, connection=5, cseq=2)
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection) == (NAT, 5)


def test_a_contact_at_its_source_without_reg_id_is_not_a_flow_and_gets_a_new_connection():
    """ROUTE-6 unchanged: a binding that is no RFC 5626 flow (no reg-id), whose Contact names
    the REGISTER's source, is reached on a new connection once its own closed."""
    h = Harness(script=Relay())
    h.register(port=NAT[1], host=NAT[0], source=NAT, transport="TCP", connection=3)
    h.proxy.handle(ConnectionClosed(connection=3), h.now)
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection, inv.transport) == (NAT, None, "TCP")
