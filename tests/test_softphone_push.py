"""A real push client against `pushinject serve`: linphone wakes up for a call.

`linphonec` (Debian's `linphone-cli`, liblinphone 5.1, the SIP stack of Linphone's mobile apps)
registers bob over UDP as a mobile app does: RFC 8599 push parameters in its Contact and a
`+sip.instance`. Its process is then killed, as a phone puts the app to sleep: nothing
unregisters. alice, a user agent of the test, calls bob with an SDP offer. `serve` sends the
push, a MESSAGE naming bob's pn-prid, to the test's push gateway, which answers 200 and wakes
the phone: linphonec starts again in the same folder (the same instance) on another port and
registers that new contact.

- `rfc8599` and `kamailio-tsilo`: the woken contact is injected into the waiting INVITE,
  linphone answers 200 with its SDP, alice acknowledges and hangs up (BYE answered 200), and
  `check` finds the call conformant, its one branch injected (PUSH-4, INJ-1).
- `opensips`, the seed's script: the registrar matches the woken contact to the push binding
  by its pn-* parameters, so the REGISTER is an UPDATE (EVT-9) and the seed, which listens to
  `E_UL_CONTACT_INSERT` only, never injects it (PIT-1). The caller hears nothing but the 100
  and cancels: the CANCEL is answered 200, and the 487 waits for the branch the seed relayed
  to the phone asleep, which never answered and so cannot be CANCELled (RFC 3261 §9.1,
  OSIPS-28), until its FR timer; the test stops before. `check` reports the miss (INJ-1) at
  the woken phone's REGISTER, and nothing else (CTX-9).

Needs `linphone-cli` (`.ci/run` installs it); without it the tests skip, saying so, or fail
under PUSHINJECT_REQUIRE_TOOLS=1.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pushinject.capture.decoder import decode
from pushinject.lab.softphone import Linphone, linphone_path
from pushinject.live.proxy_shell import parse_push_body
from pushinject.sip import Request, Response, make_request
from tests.conftest import require
from tests.live_clients import (
    DatagramUA, Serve, ack, answer, cancel, free_udp_port, invite,
)

PUSH = "pn-provider=apns;pn-prid=00fc13adff785122;pn-param=ABCD1234.org.example.voip"
OFFER = (b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def _linphone() -> None:
    require(linphone_path() is not None,
            "linphonec is not installed (Debian package linphone-cli)")


def _offer(alice: DatagramUA) -> Request:
    """alice's INVITE to bob, with an SDP offer (G.711)."""
    plain = invite(alice, "bob", "wake-call")
    return make_request("INVITE", str(plain.uri), via=plain.get("Via") or "",
                        from_=plain.get("From") or "", to=plain.get("To") or "",
                        call_id="wake-call", cseq=1, contact=plain.get("Contact"),
                        body=OFFER, content_type="application/sdp")


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


def _responses(alice: DatagramUA, until: float) -> list[Response]:
    """What reaches alice until `until` (monotonic), up to the first final response."""
    got: list[Response] = []
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


def _check(pcap: Path, preset: str) -> list[str]:
    """`pushinject check --preset PRESET PCAP`'s lines about the call and its verdict."""
    done = subprocess.run([sys.executable, "-m", "pushinject", "check", "--preset", preset,
                           str(pcap)], capture_output=True, text=True, timeout=120)
    return [line for line in done.stdout.splitlines()
            if line.startswith(("  call ", "    branch ", "    VIOLATION ", "verdict: "))]


def _wake(preset: str, folder: Path) -> tuple[list[Response], Path, dict[str, str], int]:
    """bob registered then asleep, alice's call, the push answered and bob woken on another
    port; then alice finishes the call: ACK and BYE after a 200, else CANCEL after 2 s and the
    ACK of the 487. (alice's responses, serve's capture, the push's fields, the woken port)."""
    pcap = folder / "serve.pcap"
    gateway, alice = DatagramUA(), DatagramUA()
    try:
        with Serve("--preset", preset, "--listen", "udp:127.0.0.1:0", "--push-gateway",
                   f"127.0.0.1:{gateway.local[1]}", "--pcap", str(pcap)) as serve:
            proxy = serve.addresses["udp"]
            asleep = Linphone(folder / "bob", "bob", proxy, free_udp_port(), PUSH)
            try:
                asleep.wait_registered()
            finally:
                asleep.kill()
            offer = _offer(alice)
            alice.send(offer, proxy)
            push = gateway.receive(10)
            assert isinstance(push, Request) and push.method == "MESSAGE", push
            gateway.send(answer(push, 200, tag="gateway"), proxy)
            port = free_udp_port()
            with Linphone(folder / "bob", "bob", proxy, port, PUSH) as woken:
                if preset == "opensips":  # nothing will come: wait for the phone, then 2 s
                    woken.wait_registered()
                got = _responses(alice, time.monotonic() + (2 if preset == "opensips" else 10))
                final = got[-1] if got and got[-1].status >= 200 else None
                if final is not None and final.status == 200:
                    alice.send(_in_dialog("ACK", 1, offer, final, alice), proxy)
                    time.sleep(0.5)
                    alice.send(_in_dialog("BYE", 2, offer, final, alice), proxy)
                    got.append(_final_of(alice, "BYE"))
                    woken.wait_for("ended")
                elif final is None:  # the 487 waits for the asleep branch's timer (OSIPS-28)
                    alice.send(cancel(offer), proxy)
                    got.append(alice.receive_final())
                    got += _responses(alice, time.monotonic() + 1)
        return got, pcap, parse_push_body(push.body), port
    finally:
        gateway.close()
        alice.close()


@pytest.mark.parametrize("preset", ["rfc8599", "kamailio-tsilo"])
def test_woken_linphone_is_injected_and_answers(preset: str, tmp_path: Path) -> None:
    _linphone()
    got, pcap, push, port = _wake(preset, tmp_path)
    assert [(r.status, r.cseq.method) for r in got] == [
        (100, "INVITE"), (180, "INVITE"), (200, "INVITE"), (200, "BYE")]
    assert got[2].body.startswith(b"v=0\r\n") and got[2].get("Content-Type") == "application/sdp"
    assert (push["pn-provider"], push["pn-prid"], push["call-id"]) == (
        "apns", "00fc13adff785122", "wake-call")
    registers = [m for m in decode(pcap) if getattr(m.message, "method", "") == "REGISTER"]
    assert len(registers) == 2
    first, second = (str(m.message.get("Contact")) for m in registers)
    instance = first[first.index(";+sip.instance="):]
    assert second.endswith(instance) and f"127.0.0.1:{port};{PUSH}" in second
    lines = _check(pcap, preset)
    assert lines[0] == "  call wake-call: final 200, 1 branch(es), conformant"
    assert lines[1].startswith(f"    branch 0 sip:bob@127.0.0.1:{port};{PUSH};transport=udp"
                               " -> 200 (injected ")
    assert lines[-1] == ("verdict: conformant (1 capture(s), 1 call(s), 0 violation(s); "
                         f"replayed preset {preset})")


def test_the_seed_misses_the_woken_linphone(tmp_path: Path) -> None:
    """PIT-1 with a real phone: its pn-matched REGISTER is an UPDATE, not the INSERT the seed
    waits for."""
    _linphone()
    got, pcap, push, port = _wake("opensips", tmp_path)
    assert [(r.status, r.cseq.method) for r in got] == [(100, "INVITE"), (200, "CANCEL")]
    assert push["pn-prid"] == "00fc13adff785122"
    messages = list(decode(pcap))
    registers = [m for m in messages if getattr(m.message, "method", "") == "REGISTER"]
    asleep, woken = (m.source[1] for m in registers)
    assert woken == port
    relayed = [m for m in messages if getattr(m.message, "method", "") == "INVITE"
               and m.source == registers[0].destination]
    assert {m.destination for m in relayed} == {("127.0.0.1", asleep)}
    frame = registers[-1].frame
    lines = _check(pcap, "opensips")
    assert lines == [
        "  call wake-call: final -, 1 branch(es), 1 violation(s)",
        f"    branch 0 sip:bob@127.0.0.1:{asleep};{PUSH};transport=udp -> - "
        f"({len(relayed) - 1} retransmission(s))",
        f"    VIOLATION inject-registered INJ-1 (pushinject/catalogue/inj.md) at frame {frame}: "
        f"sip:bob@127.0.0.1:{port};{PUSH};transport=udp registered (frame {frame}) while the "
        "INVITE waited and was never injected",
        "verdict: violations (1 capture(s), 1 call(s), 1 violation(s); replayed preset "
        "opensips)"]
