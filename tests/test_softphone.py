"""A real softphone against `pushinject serve`: two baresip phones on loopback.

`serve` runs the `kamailio-tsilo` preset on a UDP and a TCP address (free ports) and records a
pcap; alice registers over UDP, bob over TCP as an RFC 5626 flow (`+sip.instance`, `reg-id`),
both auto-answer; one calls the other, the call lasts a second and a half, the caller hangs up.
The capture must show both REGISTERs answered 200, the INVITE reaching the callee where it
registered (bob: on his own connection, CONN-1), 180 and 200 relayed to the caller, ACK and BYE
sent through `serve` (its Record-Route, KAM-17) and answered; `pushinject check` must find it
conformant. The INVITE crosses from one listener to the other, so serve record-routes it twice
(ROUTE-9) and the caller's ACK and BYE come over its own transport: bob's on his connection.
Needs Debian's `baresip-core` (`.ci/run` installs it); without it the tests skip,
saying so, or fail under PUSHINJECT_REQUIRE_TOOLS=1.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pushinject.capture.decoder import decode
from pushinject.conformance.capture import load_capture
from pushinject.conformance.proxy_detect import find_proxies
from pushinject.lab.softphone import CONFIG, Baresip, account_line, baresip_path
from tests.conftest import ROOT, require
from tests.live_clients import Serve

VERDICT = ("verdict: conformant (1 capture(s), 1 call(s), 0 violation(s); "
           "replayed preset kamailio-tsilo)")
REGISTERED = "registered successfully"


def _flows(pcap: Path) -> list[tuple[Any, Any, str, str]]:
    """(source, destination, transport, what) of each message: a method, or `STATUS METHOD`."""
    rows = []
    for item in decode(pcap):
        message = item.message
        what = (message.method if hasattr(message, "method")
                else f"{message.status} {message.cseq.method}")
        rows.append((item.source, item.destination, item.transport, what))
    return rows


def _register_sources(pcap: Path) -> dict[str, Any]:
    """Each phone's (host, port) as its first REGISTER came from."""
    sources: dict[str, Any] = {}
    for item in decode(pcap):
        message = item.message
        if getattr(message, "method", None) == "REGISTER":
            sources.setdefault(str(message.from_.uri.user), item.source)
    return sources


def _check(pcap: Path) -> str:
    """`pushinject check --preset kamailio-tsilo PCAP`'s last line (its verdict)."""
    done = subprocess.run([sys.executable, "-m", "pushinject", "check", "--preset",
                           "kamailio-tsilo", str(pcap)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.stdout


def _talk(caller: Baresip, callee: Baresip, uri: str, seconds: float, *,
          callee_hangs_up: bool = False) -> None:
    """`caller` dials `uri`, which `callee` answers; the caller (or the callee) hangs up after
    `seconds`."""
    mark = caller.command(f"dial {uri}")
    caller.wait_for("Call established", start=mark)
    callee.wait_for("Call established")
    time.sleep(seconds)
    ender, other = (callee, caller) if callee_hangs_up else (caller, callee)
    mark = ender.command("hangup")
    ender.wait_for("terminated", start=mark)
    other.wait_for("terminated")


def _call(tmp_path: Path, caller_name: str, callee_hangs_up: bool = False
          ) -> tuple[Path, Serve]:
    """Register alice (UDP) and bob (TCP, outbound), let `caller_name` call the other, hang up
    after 1.5 s (the caller, or the callee); the capture and the stopped `serve`."""
    require(baresip_path() is not None, "baresip is not installed (Debian package baresip-core)")
    pcap = tmp_path / "serve.pcap"
    with Serve("--preset", "kamailio-tsilo", "--listen", "udp:127.0.0.1:0",
               "--listen", "tcp:127.0.0.1:0", "--pcap", str(pcap), duration=40) as serve:
        udp, tcp = serve.addresses["udp"], serve.addresses["tcp"]
        phones = {
            "alice": Baresip(tmp_path / "alice", account_line("alice", udp, answer=True)),
            "bob": Baresip(tmp_path / "bob", account_line("bob", tcp, "tcp", outbound=True,
                                                          answer=True)),
        }
        try:
            for phone in phones.values():
                phone.wait_for(REGISTERED)
            callee_name = "bob" if caller_name == "alice" else "alice"
            caller, callee = phones[caller_name], phones[callee_name]
            # the caller's own registrar address: baresip adds `;transport=tcp` over TCP
            host, port = udp if caller_name == "alice" else tcp
            _talk(caller, callee, f"sip:{callee_name}@{host}:{port}", 1.5,
                  callee_hangs_up=callee_hangs_up)
        finally:
            for phone in phones.values():
                phone.stop()
    assert serve.proc.returncode == 0, serve.stderr
    assert "Traceback" not in serve.stderr, serve.stderr
    return pcap, serve


def _sides(pcap: Path, serve: Serve, caller_name: str) -> tuple[Any, ...]:
    """serve's address by transport, the set of them, the caller's and the callee's address
    (where each registered from) and transport, and the capture's flows."""
    sources = _register_sources(pcap)
    alice, bob = sources["alice"], sources["bob"]
    proxy = {"UDP": serve.addresses["udp"], "TCP": serve.addresses["tcp"]}
    caller, callee = (alice, bob) if caller_name == "alice" else (bob, alice)
    caller_tx, callee_tx = ("UDP", "TCP") if caller_name == "alice" else ("TCP", "UDP")
    return proxy, set(proxy.values()), caller, callee, caller_tx, callee_tx, _flows(pcap)


@pytest.mark.parametrize("caller_name", ["alice", "bob"])
def test_baresip_calls_through_serve_and_the_capture_is_conformant(
        tmp_path: Path, caller_name: str) -> None:
    pcap, serve = _call(tmp_path, caller_name)
    proxy, own, caller, callee, caller_tx, callee_tx, flows = _sides(pcap, serve, caller_name)
    alice, bob = (caller, callee) if caller_name == "alice" else (callee, caller)
    # bob registers as an RFC 5626 flow (§4.2: +sip.instance and reg-id), alice does not: her
    # Contact carries +sip.instance (for GRUU, RFC 5627) but no reg-id
    contacts: dict[str, str] = {}
    for item in decode(pcap):
        if getattr(item.message, "method", None) == "REGISTER":
            contacts.setdefault(str(item.message.from_.uri.user), item.message.get("Contact"))
    assert ";+sip.instance=" in contacts["bob"] and ";reg-id=1" in contacts["bob"]
    assert ";+sip.instance=" in contacts["alice"] and "reg-id" not in contacts["alice"]
    # both REGISTERs answered 200 where they came from (bob: on his connection)
    assert (proxy["UDP"], alice, "UDP", "200 REGISTER") in flows
    assert (proxy["TCP"], bob, "TCP", "200 REGISTER") in flows
    # INVITE, ACK and BYE reach the callee where it registered: bob on the connection he
    # registered on (RFC 5626 §5.3, CONN-1), alice at her Contact (ROUTE-1), where she sends
    # from; 180 and 200 come back to the caller, the BYE's 200 to where the BYE came from
    assert (caller, proxy[caller_tx], caller_tx, "INVITE") in flows
    for method in ("INVITE", "ACK", "BYE"):
        assert (proxy[callee_tx], callee, callee_tx, method) in flows, method
    for answer in ("180 INVITE", "200 INVITE", "200 BYE"):
        assert (callee, proxy[callee_tx], callee_tx, answer) in flows, answer
    for answer in ("180 INVITE", "200 INVITE"):
        assert (proxy[caller_tx], caller, caller_tx, answer) in flows, answer
    # ACK and BYE go through serve, which record-routed the INVITE (KAM-17), never to the
    # callee directly; the caller sends them on the transport it called over: bob on the TCP
    # connection he registered on (the top Route serve gave him names its TCP listener,
    # ROUTE-9), alice over UDP
    (ack,) = [f for f in flows if f[3] == "ACK" and f[1] in own]
    (bye,) = [f for f in flows if f[3] == "BYE" and f[1] in own]
    assert ack[:3] == bye[:3] == (caller, proxy[caller_tx], caller_tx)
    assert (bye[1], bye[0], caller_tx, "200 BYE") in flows
    assert not any(f[1] == callee and f[0] not in own for f in flows)
    # the INVITE crossed from one listener to the other: two Record-Routes, the callee's side
    # on top (RFC 5658, ROUTE-9)
    rr = {"UDP": f"<sip:{proxy['UDP'][0]}:{proxy['UDP'][1]};r2=on;lr>",
          "TCP": f"<sip:{proxy['TCP'][0]}:{proxy['TCP'][1]};transport=tcp;r2=on;lr>"}
    sent = [d.message for d in decode(pcap)
            if getattr(d.message, "method", None) in ("INVITE", "BYE") and d.source in own]
    invites = [m for m in sent if m.method == "INVITE"]
    assert [i.get_all("Record-Route") for i in invites] == [[rr[callee_tx], rr[caller_tx]]]
    # serve removed its own Routes: bob's outbound proxy (its TCP listener; CONN-14) from the
    # INVITE, both of its Record-Routes from the BYE (ROUTE-9)
    assert [m.get_all("Route") for m in sent] == [[], []]

    report = _check(pcap)
    assert report.splitlines()[-1] == VERDICT, report


@pytest.mark.parametrize("caller_name", ["alice", "bob"])
def test_the_callee_s_bye_comes_over_its_own_transport(tmp_path: Path, caller_name: str) -> None:
    """The callee's route set is the Record-Route in order (RFC 3261 §12.1.1): its first Route
    is the top one, serve's listener on the callee's side (ROUTE-9). Bob hanging up sends his
    BYE on the connection he registered on, alice hers over UDP; serve relays it to the caller
    over the caller's transport and the capture is conformant."""
    pcap, serve = _call(tmp_path, caller_name, callee_hangs_up=True)
    proxy, own, caller, callee, caller_tx, callee_tx, flows = _sides(pcap, serve, caller_name)
    (bye,) = [f for f in flows if f[3] == "BYE" and f[1] in own]
    assert bye[:3] == (callee, proxy[callee_tx], callee_tx)
    assert (proxy[callee_tx], callee, callee_tx, "200 BYE") in flows
    # relayed to the caller's Contact (the BYE's Request-URI) over the caller's transport:
    # alice's is where she sends from; bob's INVITE named his listening port, which serve
    # reaches on a new connection
    (relayed,) = [d for d in decode(pcap)
                  if getattr(d.message, "method", None) == "BYE" and d.destination not in own]
    uri = relayed.message.uri
    assert (relayed.destination, relayed.transport) == ((uri.host, uri.port), caller_tx)
    assert (relayed.destination, relayed.source, caller_tx, "200 BYE") in flows
    report = _check(pcap)
    assert report.splitlines()[-1] == VERDICT, report


def test_the_readme_gives_the_tested_account_lines_and_configuration() -> None:
    """The README's recipe ("Pointing a softphone at serve") is the one these tests run."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    proxy = ("192.0.2.10", 5060)
    assert account_line("alice", proxy, answer=True) + "\n" in readme
    assert account_line("bob", proxy, "tcp", outbound=True, answer=True) + "\n" in readme
    assert CONFIG in readme


def test_a_call_to_a_vanished_flow_gets_430_and_reaches_the_phone_once_it_registers_again(
        tmp_path: Path) -> None:
    """ROUTE-7: bob's TCP connection closes (his baresip killed); alice's call fails with
    430 Flow Failed at once. Bob starts again from the same folder (the same +sip.instance and
    reg-id) and registers on a new connection; alice's next call reaches him there (CONN-3)."""
    require(baresip_path() is not None, "baresip is not installed (Debian package baresip-core)")
    pcap = tmp_path / "serve.pcap"
    bob_line_args = {"transport": "tcp", "outbound": True, "answer": True}
    with Serve("--preset", "kamailio-tsilo", "--listen", "udp:127.0.0.1:0",
               "--listen", "tcp:127.0.0.1:0", "--pcap", str(pcap), duration=40) as serve:
        udp, tcp = serve.addresses["udp"], serve.addresses["tcp"]
        alice = Baresip(tmp_path / "alice", account_line("alice", udp, answer=True))
        bob = Baresip(tmp_path / "bob", account_line("bob", tcp, **bob_line_args))
        again = None
        try:
            alice.wait_for(REGISTERED)
            bob.wait_for(REGISTERED)
            bob.kill()
            time.sleep(1.0)  # serve sees the close at once: leeway for a busy machine
            mark = alice.command(f"dial sip:bob@{udp[0]}:{udp[1]}")
            alice.wait_for("430 Flow Failed", start=mark)
            again = Baresip(tmp_path / "bob", account_line("bob", tcp, **bob_line_args))
            again.wait_for(REGISTERED)
            _talk(alice, again, f"sip:bob@{udp[0]}:{udp[1]}", 1.0)
        finally:
            for phone in (alice, bob, again):
                if phone is not None:
                    phone.stop()
    assert serve.proc.returncode == 0, serve.stderr
    assert "Traceback" not in serve.stderr, serve.stderr

    flows = _flows(pcap)
    registers = [f for f in flows if f[3] == "REGISTER" and f[2] == "TCP"]
    first, second = registers[0][0], registers[-1][0]
    assert first != second  # a new connection, from another port
    invites = [f for f in flows if f[3] == "INVITE" and f[0] in serve.addresses.values()]
    assert [f[1] for f in invites] == [second]  # nothing sent towards the closed one
    alice_address = _register_sources(pcap)["alice"]
    answers = [f[3] for f in flows if f[1] == alice_address and f[3].endswith("INVITE")]
    assert answers[:2] == ["100 INVITE", "430 INVITE"]
    assert "200 INVITE" in answers[2:]

    report = _check(pcap)
    assert report.splitlines()[-1] == VERDICT.replace("1 call(s)", "2 call(s)"), report


def test_the_checker_reads_serve_s_registrar_and_a_closed_flow_from_baresip_s_capture(
        ) -> None:
    """A capture of the test above (`tests/softphone/`): the call that got 430 was never
    forwarded, so only bob's REGISTERs show serve's TCP listener, its registrar (CONN-12); the
    replay reads the closed flow from the 430 (ROUTE-8). Before, the REGISTERs were not the
    proxy's inputs and the reference, with no binding for bob, sent no 430."""
    pcap = ROOT / "tests" / "softphone" / "flow_closed_then_registered.pcap"
    assert find_proxies(load_capture(pcap).messages) == (("127.0.0.1", 50796), ("127.0.0.1", 35637))
    report = _check(pcap)
    assert report.splitlines()[-1] == VERDICT.replace("1 call(s)", "2 call(s)"), report
    assert "call c0f9bc57f6c1c869: final 430, 0 branch(es), conformant" in report
