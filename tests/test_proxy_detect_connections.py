"""The checker finds a proxy's addresses (CONN-12), among them the port of a connection the
proxy opened itself (CONN-15): serve relaying a BYE to a phone's Contact over TCP sends it from
a new port, on the same host as the phones in a loopback capture."""

from __future__ import annotations

from pushinject.conformance.capture import WireMessage
from pushinject.conformance.proxy_detect import find_proxies
from pushinject.sip import make_request, make_response

UDP, TCP, OPENED = ("127.0.0.1", 5060), ("127.0.0.1", 5070), ("127.0.0.1", 49912)
ALICE, BOB, BOB_LISTENER = ("127.0.0.1", 5000), ("127.0.0.1", 6000), ("127.0.0.1", 45673)


def _request(method: str, vias: list[str], cseq: int) -> object:
    return make_request(method, "sip:bob@127.0.0.1", via=", ".join(vias),
                        from_="<sip:alice@x>;tag=a", to="<sip:bob@x>" + (
                            ";tag=b" if method == "BYE" else ""),
                        call_id="c1", cseq=cseq)


def test_the_port_of_a_connection_the_proxy_opened_is_its_own() -> None:
    alice_inv = "SIP/2.0/UDP 127.0.0.1:5000;branch=z9hG4bK-a1"
    alice_bye = "SIP/2.0/UDP 127.0.0.1:5000;branch=z9hG4bK-a2"
    invite = _request("INVITE", [alice_inv], 1)
    relayed = _request("INVITE", ["SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-p1", alice_inv], 1)
    bye = _request("BYE", [alice_bye], 2)
    bye_relayed = _request("BYE", ["SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-p2", alice_bye], 2)
    messages = [
        WireMessage(1, 0.0, ALICE, UDP, invite, "UDP"),
        WireMessage(2, 0.0, UDP, ALICE, make_response(invite, 100), "UDP"),
        WireMessage(3, 0.1, TCP, BOB, relayed, "TCP"),
        WireMessage(4, 0.2, BOB, TCP, make_response(relayed, 200, to_tag="b"), "TCP"),
        WireMessage(5, 0.2, UDP, ALICE, make_response(invite, 200, to_tag="b"), "UDP"),
        WireMessage(6, 1.0, ALICE, UDP, bye, "UDP"),
        WireMessage(7, 1.0, OPENED, BOB_LISTENER, bye_relayed, "TCP"),
    ]
    assert find_proxies(messages) == (UDP, TCP, OPENED)
