"""The proxy's Record-Route (RFC 3261 §16.6 step 4, RFC 5658; ROUTE-9): one naming the
interface the INVITE came in on when its branch leaves over the same one; two, the outgoing
interface's on top, when the branch leaves over another transport or address; and both
removed from a request routed back through them (RFC 3261 §16.4)."""

from __future__ import annotations

from harness import CALLER, Harness
from pushinject.sip import make_request

NAT = ("198.51.100.7", 40000)
INSTANCE = "00000000-0000-0000-0000-00000000b0b1"
LISTENERS = {"UDP": ("127.0.0.1", 5060), "TCP": ("127.0.0.1", 5070),
             "TLS": ("127.0.0.1", 5071)}


class RecordRouting:
    """Save REGISTERs; record-route every INVITE to the registered contacts."""

    def request_route(self, sip):  # noqa: ANN001 - a test script
        if sip.is_method("REGISTER"):
            sip.save()
            return
        if sip.has_totag:
            sip.forward()
            return
        sip.record_route()
        sip.t_newtran()
        if sip.lookup() < 0:
            sip.t_reply(404)
            return
        sip.t_relay()


def _invite_rr(*, register: str, call: str, interfaces: bool = True) -> list[str]:
    """The Record-Route lines of the INVITE relayed to bob, registered over `register`, for a
    call that came over `call`."""
    h = Harness(script=RecordRouting())
    if interfaces:
        h.proxy.set_interfaces(LISTENERS)
    if register == "UDP":
        h.register(port=5070)
    else:
        h.register(port=NAT[1], host=NAT[0], source=NAT, transport=register, connection=3,
                   instance=INSTANCE, reg_id=1)
    [inv] = h.invites(h.call(transport=call, connection=None if call == "UDP" else 7))
    return [value for name, value in inv.message.headers if name == "Record-Route"]


def test_the_same_interface_in_and_out_gets_one_record_route():
    assert _invite_rr(register="UDP", call="UDP") == ["<sip:127.0.0.1:5060;lr>"]
    assert _invite_rr(register="TCP", call="TCP") == [
        "<sip:127.0.0.1:5070;transport=tcp;lr>"]


def test_udp_in_tcp_out_gets_two_the_callee_side_on_top():
    assert _invite_rr(register="TCP", call="UDP") == [
        "<sip:127.0.0.1:5070;transport=tcp;r2=on;lr>", "<sip:127.0.0.1:5060;r2=on;lr>"]


def test_tcp_in_udp_out_gets_two_the_udp_one_on_top():
    assert _invite_rr(register="UDP", call="TCP") == [
        "<sip:127.0.0.1:5060;r2=on;lr>", "<sip:127.0.0.1:5070;transport=tcp;r2=on;lr>"]


def test_tls_in_tcp_out_names_both_transports():
    assert _invite_rr(register="TCP", call="TLS") == [
        "<sip:127.0.0.1:5070;transport=tcp;r2=on;lr>",
        "<sip:127.0.0.1:5071;transport=tls;r2=on;lr>"]


def test_without_listeners_the_transport_alone_makes_the_difference():
    """A core with no interfaces of its own (the simulator) has all on its one address: UDP
    calls are as before, a TCP branch still gets its own Record-Route."""
    assert _invite_rr(register="UDP", call="UDP", interfaces=False) == [
        "<sip:127.0.0.1:5060;lr>"]
    assert _invite_rr(register="TCP", call="UDP", interfaces=False) == [
        "<sip:127.0.0.1:5060;transport=tcp;r2=on;lr>", "<sip:127.0.0.1:5060;r2=on;lr>"]


def _bye(routes: list[str]) -> object:
    return make_request("BYE", "sip:alice@192.0.2.10:5060",
                        via="SIP/2.0/TCP 198.51.100.7:40000;branch=z9hG4bK-bye-1",
                        from_="<sip:bob@example.com>;tag=bob-1",
                        to="<sip:alice@example.com>;tag=alice-1", call_id="call-1", cseq=2,
                        extra=[("Route", r) for r in routes])


def test_both_of_a_double_record_route_are_removed_and_the_next_one_kept():
    h = Harness(script=RecordRouting())
    h.proxy.set_interfaces(LISTENERS)
    double = ["<sip:127.0.0.1:5070;transport=tcp;r2=on;lr>", "<sip:127.0.0.1:5060;r2=on;lr>"]
    [send] = h.sends(h.deliver(_bye(double), NAT, "TCP", 3))
    assert (send.destination, send.transport) == (CALLER, "UDP")
    assert send.message.get_all("Route") == []
    [send] = h.sends(h.deliver(_bye([*double, "<sip:192.0.2.99;lr>"]), NAT, "TCP", 3))
    assert send.message.get_all("Route") == ["<sip:192.0.2.99;lr>"]
    assert send.destination == ("192.0.2.99", 5060)
