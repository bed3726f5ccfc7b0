"""The live shell: the same core over real UDP sockets agrees with the simulation.

The loopback runs use fixed ports (5060, 5090), so they run inside a private network namespace
(`pushinject live` re-runs itself under `unshare -n`); they need root and util-linux.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from pushinject.core.ids import CountingIds
from pushinject.live.endpoint import LiveClock
from pushinject.live.proxy_shell import ProxyShell, parse_push_body, push_body
from pushinject.presets import get_preset
from pushinject.sim.agents import PROXY_ADDRESS
from pushinject.sip import make_request
from tests.conftest import DATA, require, require_tool

SCENARIOS = DATA / "scenarios"


class _FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        self.sent.append((data, address))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _register(prid: str) -> bytes:
    contact = f"<sip:bob@127.0.0.10:5060;pn-provider=fcm;pn-param=app;pn-prid={prid}>"
    return bytes(make_request(
        "REGISTER", "sip:example.com", via="SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK-r1;rport",
        from_="<sip:bob@example.com>;tag=r1", to="<sip:bob@example.com>", call_id="reg-1",
        cseq=1, contact=contact, extra=[("Expires", "3600")]))


def _invite() -> bytes:
    return bytes(make_request(
        "INVITE", "sip:bob@example.com", via="SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-i1",
        from_="<sip:alice@example.com>;tag=a1", to="<sip:bob@example.com>", call_id="call-1",
        cseq=1, contact="<sip:alice@127.0.0.2:5060>"))


def _shell(gateway: tuple[str, int] | None) -> tuple[ProxyShell, _FakeTransport]:
    async def make() -> tuple[ProxyShell, _FakeTransport]:
        clock = LiveClock(asyncio.get_running_loop())
        driver = get_preset("opensips").build(CountingIds("px"))
        shell = ProxyShell(driver, clock, CountingIds("shell"), address=PROXY_ADDRESS,
                           push_gateway=gateway)
        transport = _FakeTransport()
        shell.connection_made(transport)  # type: ignore[arg-type]
        shell.datagram_received(_register("tok-B"), ("127.0.0.10", 5060))
        shell.datagram_received(_invite(), ("127.0.0.2", 5060))
        shell.close()
        return shell, transport
    return asyncio.run(make())


def test_a_push_action_becomes_a_message_to_the_gateway_naming_the_pn_parameters() -> None:
    """RFC 8599 §5.6.2: the proxy requests a push for the binding's pn-provider/prid/param."""
    shell, transport = _shell(("127.0.0.1", 5090))
    to_gateway = [data for data, address in transport.sent if address == ("127.0.0.1", 5090)]
    assert len(to_gateway) == 1
    head, _, body = to_gateway[0].partition(b"\r\n\r\n")
    assert head.startswith(b"MESSAGE sip:push@127.0.0.1:5090 SIP/2.0\r\n")
    assert parse_push_body(body) == {"pn-provider": "fcm", "pn-prid": "tok-B",
                                     "pn-param": "app", "aor": "bob", "call-id": "call-1",
                                     "reason": "ini-INVITE"}
    assert [result for _, _, result in shell.pushes] == [None]  # waiting for the answer


def test_without_a_gateway_the_push_is_reported_failed_and_logged() -> None:
    shell, transport = _shell(None)
    assert [(push.call_id, result.ok if result else None)
            for _, push, result in shell.pushes] == [("call-1", False)]
    starts = sorted(data.split(b"\r\n", 1)[0] for data, _ in transport.sent)
    assert b"SIP/2.0 100 Trying" in starts  # the call itself goes on (the seed relays)


def test_unparsable_datagrams_are_counted_not_fatal() -> None:
    async def run() -> dict[str, int]:
        clock = LiveClock(asyncio.get_running_loop())
        shell = ProxyShell(get_preset("opensips").build(CountingIds("px")), clock,
                           CountingIds("shell"), address=PROXY_ADDRESS)
        shell.connection_made(_FakeTransport())  # type: ignore[arg-type]
        shell.datagram_received(b"\x00\x01garbage", ("127.0.0.9", 5060))
        shell.datagram_received(b"\r\n\r\n", ("127.0.0.9", 5060))
        shell.close()
        return dict(shell.counts)
    assert asyncio.run(run()) == {"unparsable": 2}


def test_push_body_round_trip() -> None:
    shell, transport = _shell(("127.0.0.1", 5090))
    push = shell.pushes[0][1]
    assert parse_push_body(push_body(push))["pn-prid"] == "tok-B"


def _live(scenario: str, preset: str, limit: float) -> dict[str, object]:
    require(os.geteuid() == 0, "a private network namespace needs root")
    require_tool("unshare")
    require_tool("ip")
    done = subprocess.run(
        [sys.executable, "-m", "pushinject", "live", str(SCENARIOS / scenario), "--preset",
         preset, "--limit", str(limit), "--json"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("scenario", "preset", "final", "injected"), [
    ("push_wake_answer.toml", "opensips", 200, ["B"]),
    ("two_pushed_first_answers.toml", "rfc8599", 200, None),
    ("decline_then_register.toml", "kamailio-tsilo", 603, None),
])
def test_live_run_over_udp_agrees_with_the_simulation(
        scenario: str, preset: str, final: int, injected: list[str] | None) -> None:
    """The same core behind the asyncio shell, real sockets, real time: same outcome."""
    out = _live(scenario, preset, limit=8.0)
    assert out["differences"] == []
    assert out["agree"] is True
    live = out["live"]
    assert isinstance(live, dict)
    assert live["final"] == final
    if injected is not None:
        assert [b["device"] for b in live["branches"] if b["injected"]] == injected


def test_serve_answers_a_register_on_an_ephemeral_loopback_port() -> None:
    """`pushinject serve` binds, announces its address, and the registrar answers 200."""
    import socket

    proc = subprocess.Popen(
        [sys.executable, "-m", "pushinject", "serve", "--listen", "127.0.0.1:0",
         "--duration", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on udp:127.0.0.1:"), line
        assert line.endswith(" (preset opensips)\n"), line
        port = int(line.split()[2].rsplit(":", 1)[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(5.0)
            sock.sendto(_register("tok-Z"), ("127.0.0.1", port))
            data, _ = sock.recvfrom(65535)
        assert data.startswith(b"SIP/2.0 200 OK\r\n")
        assert b"pn-prid=tok-Z" in data
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_unanswered_push_message_is_retransmitted_on_timer_e_until_the_push_timeout() -> None:
    """CONN-13 (RFC 3261 §17.1.2.2): the MESSAGE goes again after T1, 2*T1, 4*T1 (capped at
    T2), the same bytes each time, until the push timeout (5 s) fails the push."""
    async def run() -> tuple[list[float], list[bytes], ProxyShell]:
        clock = LiveClock(asyncio.get_running_loop())
        shell = ProxyShell(get_preset("opensips").build(CountingIds("px")), clock,
                           CountingIds("shell"), address=PROXY_ADDRESS,
                           push_gateway=("127.0.0.1", 5090))
        transport = _FakeTransport()
        shell.connection_made(transport)  # type: ignore[arg-type]
        shell.datagram_received(_register("tok-B"), ("127.0.0.10", 5060))
        shell.datagram_received(_invite(), ("127.0.0.2", 5060))
        start = shell.pushes[0][0]
        times = [0.0]
        while (at := shell.next_deadline()) is not None and at < start + 5.0:
            shell.on_timer(at)
            sent = [d for d, a in transport.sent if a == ("127.0.0.1", 5090)]
            if len(sent) > len(times):
                times.append(round(at - start, 3))
        shell.on_timer(start + 5.0)
        shell.close()
        return times, [d for d, a in transport.sent if a == ("127.0.0.1", 5090)], shell
    times, messages, shell = asyncio.run(run())
    assert times == [0.0, 0.5, 1.5, 3.5]
    assert len(set(messages)) == 1 and messages[0].startswith(b"MESSAGE ")
    assert shell.counts["push-retransmissions"] == 3
    [(_, _, result)] = shell.pushes
    assert result is not None and (result.ok, result.detail) == (
        False, "the push gateway did not answer")
