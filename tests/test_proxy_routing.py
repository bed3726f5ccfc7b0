"""Where a branch to a registered contact goes (ROUTE-1 to ROUTE-4): the Contact URI by default,
the REGISTER's source with NAT handling on or for an RFC 5626 flow, and over which transport and
connection."""

from __future__ import annotations

from harness import Harness
from pushinject.core.location import RegistrarConfig
from pushinject.core.proxy import ProxyConfig
from test_proxy_connections import INSTANCE, NAT, Relay

CONTACT = ("192.0.2.20", 5070)


def _harness(**registrar: object) -> Harness:
    config = ProxyConfig(registrar=RegistrarConfig(**registrar))  # type: ignore[arg-type]
    return Harness(script=Relay(), config=config)


def test_route_1_the_invite_goes_to_the_contact_not_the_register_source():
    h = _harness()
    h.register(port=5070, source=("192.0.2.20", 5090))  # SIPp's recipe: another port
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection, inv.transport) == (CONTACT, None, "UDP")
    [binding] = h.proxy.location.bindings("bob")
    assert (binding.received, binding.source) == (None, ("192.0.2.20", 5090))


def test_route_1_a_tcp_contact_registered_from_elsewhere_gets_a_new_connection():
    h = _harness()
    h.register(port=5070, source=NAT, transport="TCP", connection=3)
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection, inv.transport) == (CONTACT, None, "TCP")
    assert str(inv.message.top_via).startswith("SIP/2.0/TCP ")


def test_route_2_nat_handling_sends_the_invite_to_the_source_over_its_connection():
    h = _harness(route_to_source=True)
    h.register(port=5070, source=NAT, transport="TCP", connection=3)
    [binding] = h.proxy.location.bindings("bob")
    assert binding.received == "sip:198.51.100.7:40000;transport=tcp"
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection, inv.transport) == (NAT, 3, "TCP")
    assert str(inv.message.uri) == "sip:bob@192.0.2.20:5070;transport=tcp"  # R-URI: the Contact


def test_route_2_nat_handling_changes_nothing_when_the_source_is_the_contact():
    h = _harness(route_to_source=True)
    h.register(port=5070)
    [binding] = h.proxy.location.bindings("bob")
    assert binding.received is None
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection) == (CONTACT, None)


def test_route_3_a_flow_is_reached_at_its_source_without_nat_handling():
    h = _harness()
    h.register(port=5070, instance=INSTANCE, reg_id=1, source=NAT, transport="TCP",
               connection=3)
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection, inv.transport) == (NAT, 3, "TCP")


def test_route_3_with_outbound_off_the_reg_id_is_ignored_and_the_contact_is_used():
    h = _harness(outbound=False)
    h.register(port=5070, instance=INSTANCE, reg_id=1, source=NAT, transport="TCP",
               connection=3)
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection) == (CONTACT, None)


def test_route_3_an_instance_without_reg_id_is_not_a_flow():
    h = _harness()
    h.register(port=5070, instance=INSTANCE, source=NAT)
    [inv] = h.invites(h.call())
    assert inv.destination == CONTACT


def test_route_4_a_contact_naming_its_own_source_reuses_the_connection():
    h = _harness()
    h.register(port=5070, transport="TCP", connection=5)
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection, inv.transport) == (CONTACT, 5, "TCP")


def test_route_4_a_branch_through_a_path_never_takes_the_register_connection():
    from pushinject.sip import make_request

    h = _harness(route_to_source=True)
    register = make_request(
        "REGISTER", "sip:example.com", via="SIP/2.0/TCP 192.0.2.50:5060;branch=z9hG4bK-e1",
        from_="<sip:bob@example.com>;tag=r", to="<sip:bob@example.com>", call_id="p1",
        cseq=1, contact="<sip:bob@192.0.2.20:5070>",
        extra=[("Path", "<sip:192.0.2.50:5060;lr>"), ("Expires", "600")])
    h.deliver(register, ("192.0.2.50", 5060), "TCP", 8)
    [inv] = h.invites(h.call())
    assert (inv.destination, inv.connection, inv.transport) == (("192.0.2.50", 5060), None,
                                                                 "UDP")
    assert inv.message.get("Route") == "<sip:192.0.2.50:5060;lr>"
