"""The wake-up call of a real push client, for the tests against `serve` and against the lab's
real proxies (`tests/test_softphone_push.py`).

bob's `linphonec` registers with RFC 8599 push parameters and a `+sip.instance`, then its
process is killed (the app asleep: nothing unregisters). alice, a user agent of the test,
calls bob with an SDP offer. The proxy sends its push, a MESSAGE, to the test's push gateway,
which answers 200 and wakes the phone: `linphonec` starts again in the same folder (the same
instance) on another port and registers there. When the call reaches it, it answers; alice
acknowledges the 200 and hangs up after half a second.

`python -m tests.wake_call PROXY FOLDER` runs it through the lab's `kamailio` or `opensips`
(`pushinject.lab.proxies`), inside a private network namespace on the lab's fixed addresses:
the lab's tcpdump and proxy started and stopped as a scenario's are (`pushinject.lab.runner`),
the proxy on 127.0.0.1:5060, the gateway on 5090, alice on 5070, bob on 5072 then 5073. It
leaves `FOLDER/wake.pcap` and the logs in `FOLDER/logs/`, and prints the outcome as one JSON
object.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pushinject.lab.softphone import Linphone
from pushinject.live.proxy_shell import parse_push_body
from pushinject.sip import Request, Response, make_request
from tests.live_clients import DatagramUA, answer, invite

#: bob's RFC 8599 parameters, as an app sets them for Apple's push service
PUSH = "pn-provider=apns;pn-prid=00fc13adff785122;pn-param=ABCD1234.org.example.voip"
#: alice's SDP offer (G.711)
OFFER = (b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
CALL_ID = "wake-call"


@dataclass
class WakeCall:
    """What alice received, (status, method) each; the push's fields; bob's port asleep and
    woken."""

    responses: list[tuple[int, str]]
    push: dict[str, str]
    asleep_port: int
    woken_port: int


def _offer(alice: DatagramUA) -> Request:
    plain = invite(alice, "bob", CALL_ID)
    return make_request("INVITE", str(plain.uri), via=plain.get("Via") or "",
                        from_=plain.get("From") or "", to=plain.get("To") or "",
                        call_id=CALL_ID, cseq=1, contact=plain.get("Contact"), body=OFFER,
                        content_type="application/sdp")


def _in_dialog(method: str, cseq: int, offer: Request, final: Response,
               alice: DatagramUA) -> Request:
    """alice's ACK or BYE in the dialog the 200 made: to bob's Contact, through the route set
    of its Record-Route (RFC 3261 §12.1.2, §12.2.1.1)."""
    contact = final.get("Contact") or ""
    target = contact[contact.index("<") + 1:contact.index(">")] if "<" in contact else contact
    routes = [("Route", value) for value in reversed(final.get_all("Record-Route"))]
    return make_request(method, target, via=f"SIP/2.0/UDP 127.0.0.1:{alice.local[1]};"
                        f"branch=z9hG4bK-wake-{method.lower()}", from_=offer.get("From") or "",
                        to=final.get("To") or "", call_id=offer.call_id, cseq=cseq,
                        extra=routes)


def _until_final(alice: DatagramUA, timeout: float) -> list[Response]:
    """What reaches alice within `timeout` seconds, up to the first final response."""
    got: list[Response] = []
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        try:
            message = alice.receive(min(0.5, max(0.05, until - time.monotonic())))
        except AssertionError:
            continue
        if isinstance(message, Response):
            got.append(message)
            if message.status >= 200:
                break
    return got


def _final_of(alice: DatagramUA, method: str) -> Response:
    """The final response to alice's `method`, past the copies of earlier ones (a 200 to the
    INVITE sent again before alice's ACK reached the phone)."""
    while True:
        final = alice.receive_final()
        if final.cseq.method == method:
            return final


def wake_call(proxy: tuple[str, int], gateway: DatagramUA, alice: DatagramUA, folder: Path,
              ports: tuple[int, int]) -> WakeCall:
    """The call (see the module docstring): bob asleep on `ports[0]`, woken on `ports[1]`."""
    asleep = Linphone(folder, "bob", proxy, ports[0], PUSH)
    try:
        asleep.wait_registered()
    finally:
        asleep.kill()
    offer = _offer(alice)
    alice.send(offer, proxy)
    push = gateway.receive(10)
    assert isinstance(push, Request) and push.method == "MESSAGE", push
    gateway.send(answer(push, 200, tag="gateway"), proxy)
    with Linphone(folder, "bob", proxy, ports[1], PUSH) as woken:
        got = _until_final(alice, 10)
        final = got[-1] if got and got[-1].status >= 200 else None
        if final is not None and final.status == 200:
            alice.send(_in_dialog("ACK", 1, offer, final, alice), proxy)
            time.sleep(0.5)
            alice.send(_in_dialog("BYE", 2, offer, final, alice), proxy)
            got.append(_final_of(alice, "BYE"))
            woken.wait_for("ended")
    return WakeCall([(r.status, r.cseq.method) for r in got], parse_push_body(push.body),
                    ports[0], ports[1])


def main(argv: list[str]) -> int:
    from pushinject.lab.proxies import PROXIES
    from pushinject.lab.runner import (
        Processes, render_config, start_capture, udp_bound, wait_for,
    )
    from pushinject.lab.scenarios import PROXY_PORT, PUSH_PORT

    proxy, folder = PROXIES[argv[0]], Path(argv[1])
    procs = Processes(folder / "logs")
    procs.logs.mkdir(parents=True, exist_ok=True)
    gateway, alice = DatagramUA(port=PUSH_PORT), DatagramUA(port=5070)
    try:
        start_capture(procs, folder / "wake.pcap")
        cfg = procs.logs / proxy.config
        cfg.write_text(render_config(proxy=proxy, log_prefix="wake"), encoding="utf-8")
        procs.start(proxy.name, proxy.argv(proxy.binary, cfg, procs.logs))
        wait_for(lambda: udp_bound(PROXY_PORT), f"{proxy.name} to bind its port")
        done = wake_call(("127.0.0.1", PROXY_PORT), gateway, alice, folder / "bob",
                         (5072, 5073))
        time.sleep(0.5)  # let tcpdump write the last packets
    finally:
        procs.stop_all()
        gateway.close()
        alice.close()
    print(json.dumps(asdict(done)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
