"""The live shell over TCP and TLS with real clients on loopback (rules CONN-1 to CONN-9).

Every test starts `pushinject serve` on ephemeral loopback ports and stops it by its PID.
"""

from __future__ import annotations

import time

import pytest

from pushinject.sip import Request, Response
from tests.live_clients import DatagramUA, Serve, StreamUA, answer, invite, register

FLOW = ';+sip.instance="<urn:uuid:00000000-0000-0000-0000-00000000000d>";reg-id=1'
PN = ";pn-provider=fcm;pn-prid=tok-D;pn-param=app"


def test_a_register_over_tcp_is_answered_on_its_connection_with_received_and_rport() -> None:
    """CONN-1 (RFC 3261 §18.2.2): the 200 goes back on the connection the REGISTER came on,
    its Via marked with the source port (RFC 3581); `received` only when the host differs
    (RFC 3261 §18.2.1), which it does not here."""
    with Serve("--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0") as serve:
        device = StreamUA(serve.addresses["tcp"])
        try:
            device.send(register(device, "dev", "<sip:dev@127.0.0.1:9;transport=tcp>"))
            ok = device.receive()
        finally:
            device.close()
    assert isinstance(ok, Response)
    assert (ok.status, ok.reason) == (200, "OK")
    host, port = device.local
    assert ok.vias[0].host == host and "received" not in ok.vias[0].params
    assert ok.vias[0].rport == str(port)


def test_a_tls_device_reregistering_on_a_new_connection_gets_the_waiting_call_there() -> None:
    """CONN-2: a device registered as an RFC 5626 flow over TLS goes to sleep; a call waits
    (kamailio-tsilo suspends it for the push); the device comes back on a new connection and
    re-registers: the INVITE comes on the new connection, nothing on the old one, and the
    caller gets the device's 200."""
    with Serve("--preset", "kamailio-tsilo", "--listen", "udp:127.0.0.1:0",
               "--listen", "tls:127.0.0.1:0") as serve:
        tls = serve.addresses["tls"]
        contact = f"<sip:dev@127.0.0.1:9;transport=tls{PN}>{FLOW}"
        old = StreamUA(tls, tls=True)
        new = None
        caller = DatagramUA()
        try:
            old.send(register(old, "dev", contact, cseq=1))
            assert old.receive_final().status == 200
            caller.send(invite(caller, "dev"), serve.addresses["udp"])
            assert caller.receive().status == 100  # type: ignore[union-attr]
            assert old.silent(0.5)  # suspended: the pushed contact is not called
            new = StreamUA(tls, tls=True)
            new.send(register(new, "dev", contact, cseq=2))
            assert new.receive_final().status == 200
            call = new.receive()
            assert isinstance(call, Request) and call.method == "INVITE"
            assert call.vias[0].transport == "TLS"
            assert (call.vias[0].host, call.vias[0].port) == tls
            assert old.silent(0.3)
            new.send(answer(call, 200))
            final = caller.receive_final()
        finally:
            for ua in (old, new, caller):
                if ua is not None:
                    ua.close()
    assert (final.status, final.call_id) == (200, "call-1")


def test_a_connection_closed_under_a_pending_branch_is_a_transport_failure() -> None:
    """CONN-4 (RFC 3261 §16.9): the device's connection closes while its INVITE is pending:
    the branch fails at once (503, which the caller sees as 500, RFC 3261 §16.7 step 6), long
    before any FR timer."""
    with Serve("--preset", "kamailio-tsilo", "--listen", "udp:127.0.0.1:0",
               "--listen", "tcp:127.0.0.1:0") as serve:
        device = StreamUA(serve.addresses["tcp"])
        caller = DatagramUA()
        try:
            device.send(register(device, "dev", f"<sip:dev@127.0.0.1:9;transport=tcp>{FLOW}"))
            assert device.receive_final().status == 200
            caller.send(invite(caller, "dev"), serve.addresses["udp"])
            call = device.receive()
            assert isinstance(call, Request) and call.method == "INVITE"
            started = time.monotonic()
            device.close()
            final = caller.receive_final()
            waited = time.monotonic() - started
        finally:
            caller.close()
    assert final.status == 500
    assert waited < 2.0


def test_a_connection_that_cannot_be_opened_fails_its_branch() -> None:
    """CONN-5 (RFC 3261 §16.9): the contact names TCP at a port where nothing listens; the
    connection is refused and the branch fails at once (503, seen by the caller as 500)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with Serve("--preset", "kamailio-tsilo", "--listen", "udp:127.0.0.1:0") as serve:
        udp = serve.addresses["udp"]
        device, caller = DatagramUA(), DatagramUA()
        try:
            device.send(register(device, "dev", f"<sip:dev@127.0.0.1:{closed_port};"
                                 "transport=tcp>", proxy=udp), udp)
            assert device.receive_final().status == 200
            started = time.monotonic()
            caller.send(invite(caller, "dev"), udp)
            final = caller.receive_final()
            waited = time.monotonic() - started
        finally:
            device.close()
            caller.close()
    assert (final.status, final.call_id) == (500, "call-1")
    assert waited < 2.0


@pytest.mark.parametrize(("sent", "reply"), [
    # CONN-7 (RFC 5626 §3.5.1): a double-CRLF ping is answered with one CRLF
    (b"\r\n\r\n", b"\r\n"),
    # CONN-6: a Content-Length that cannot frame the stream ends the connection
    (b"OPTIONS sip:x SIP/2.0\r\nContent-Length: many\r\n\r\n", b""),
])
def test_raw_stream_input_gets_its_reply(sent: bytes, reply: bytes) -> None:
    with Serve("--listen", "tcp:127.0.0.1:0") as serve:
        device = StreamUA(serve.addresses["tcp"])
        try:
            device.sock.sendall(sent)
            device.sock.settimeout(5.0)
            assert device.sock.recv(16) == reply
        finally:
            device.close()


def test_an_idle_connection_is_closed() -> None:
    """CONN-8: no traffic for --idle-timeout seconds closes the connection."""
    with Serve("--listen", "tcp:127.0.0.1:0", "--idle-timeout", "0.4") as serve:
        device = StreamUA(serve.addresses["tcp"])
        try:
            started = time.monotonic()
            device.sock.settimeout(5.0)
            assert device.sock.recv(16) == b""
            assert 0.3 < time.monotonic() - started < 2.0
        finally:
            device.close()


@pytest.mark.parametrize(("args", "error"), [
    (["--listen", "tls:127.0.0.1:0", "--tls-cert", "/nonexistent", "--tls-key", "/nonexistent"],
     "pushinject serve: error: cannot load the TLS certificate /nonexistent / key /nonexistent: "
     "[Errno 2] No such file or directory"),
    (["--listen", "sctp:127.0.0.1:5"],
     "pushinject serve: error: argument --listen: unknown transport 'sctp' (udp, tcp or tls)"),
    (["--listen", "udp:127.0.0.1:0", "--listen", "udp:127.0.0.1:0"],
     "pushinject serve: error: at most one udp: listening address"),
    (["--listen", "tcp:127.0.0.1:0", "--push-gateway", "127.0.0.1:5090"],
     "pushinject serve: error: --push-gateway needs a udp: listening address (pushes go over UDP)"),
    (["--listen", "udp:127.0.0.1:0", "--tls-cert", "c.pem"],
     "pushinject serve: error: --tls-cert and --tls-key go together"),
    (["--listen", "udp:0.0.0.0:0"],
     "pushinject serve: error: listening on 0.0.0.0 (every address): give --advertise HOST, the "
     "address phones reach the proxy at"),
])
def test_serve_refuses_bad_usage_in_one_line(args: list[str], error: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from pushinject.cli import main

    try:
        status = main(["serve", *args, "--duration", "0.1"])
    except SystemExit as exc:  # argparse refuses an argument it cannot convert this way
        status = exc.code  # type: ignore[assignment]
    assert status == 2
    assert capsys.readouterr().err.splitlines()[-1] == error


def _raw(serve: Serve, transport: str = "tcp") -> StreamUA:
    return StreamUA(serve.addresses[transport], tls=transport == "tls")


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_an_unparsable_request_on_a_stream_is_answered_400_on_its_connection(
        transport: str) -> None:
    """INPUT-10 (RFC 3261 §8.2, §16.3): a framed request whose Request-URI cannot be parsed but
    whose Via, From, To, Call-ID and CSeq can be read gets 400 on its connection, its reason
    phrase naming the defect; the connection stays open and carries the next request."""
    with Serve("--listen", f"{transport}:127.0.0.1:0") as serve:
        ua = _raw(serve, transport)
        host, port = ua.local
        head = (f"Via: SIP/2.0/{transport.upper()} {host}:{port};branch=z9hG4bK-bad\r\n"
                "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
                "Call-ID: bad-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        try:
            ua.sock.sendall(f"OPTIONS sip:b@[::1 SIP/2.0\r\n{head}".encode())
            refused = ua.receive_final()
            ua.send(register(ua, "dev", f"<sip:dev@{host}:{port};transport={transport}>"))
            ok = ua.receive_final()
        finally:
            ua.close()
        serve.stop()
    assert (refused.status, refused.reason, refused.call_id) == (400, "Bad Request-Line", "bad-1")
    proxy = "{}:{}".format(*serve.addresses[transport])
    assert refused.get("Warning") == \
        f'399 {proxy} "bad Request-URI: not a valid sip: URI: \'sip:b@[::1\'"'
    assert (ok.status, ok.call_id) == (200, "reg-1")
    assert "answered 400 Request-Line, 1 since the last line, 1 in all" in serve.stderr
    assert "connections: 1 established, 0 closed as broken\n" in serve.stderr


@pytest.mark.parametrize(("sent", "reason"), [
    # CONN-6: a Content-Length that is no number
    (b"OPTIONS sip:x SIP/2.0\r\nCall-ID: c\r\nContent-Length: many\r\n\r\n", "bad Content-Length"),
    # CONN-11: a Content-Length shorter than the body leaves bytes where a start line must be
    (b"OPTIONS sip:x SIP/2.0\r\nCall-ID: c\r\nContent-Length: 2\r\n\r\nhello world\r\n\r\n",
     "no start line"),
    # CONN-11: garbage first, even before its blank line arrives
    (b"\x16\x03\x01\x02\x00 not SIP\r\n", "no start line"),
])
def test_a_stream_that_lost_its_framing_is_closed_and_counted(sent: bytes, reason: str) -> None:
    """CONN-6, CONN-11 (RFC 3261 §18.3): the connection is closed, the log names the reason,
    and the summary counts it."""
    with Serve("--listen", "tcp:127.0.0.1:0") as serve:
        ua = _raw(serve)
        try:
            ua.sock.sendall(sent)
            ua.sock.settimeout(5.0)
            closed = ua.sock.recv(65535)
        finally:
            ua.close()
        serve.stop()
    assert closed == b""
    assert f"connection 1 from 127.0.0.1:{ua.local[1]}> closed: {reason} (" in serve.stderr
    assert f"connections: 1 established, 1 closed as broken ({reason} 1)\n" in serve.stderr


def test_a_call_to_a_flow_whose_connection_closed_gets_430_without_a_new_connection() -> None:
    """ROUTE-7 (RFC 5626 §5.3): a device registers an RFC 5626 flow over TCP and its connection
    closes; a call for it fails at once with 430 Flow Failed (a new connection to the flow's
    address would have been refused: 500 after a 503), and serve logs why. (kamailio-tsilo
    relays at once to a contact without pn-* parameters; the opensips preset would hold the
    call for a new registration.)"""
    with Serve("--preset", "kamailio-tsilo", "--listen", "udp:127.0.0.1:0",
               "--listen", "tcp:127.0.0.1:0") as serve:
        device = StreamUA(serve.addresses["tcp"])
        caller = DatagramUA()
        try:
            device.send(register(device, "dev", "<sip:dev@192.0.2.9:5060;transport=tcp>" + FLOW))
            assert device.receive_final().status == 200
            device.close()
            time.sleep(0.3)
            started = time.monotonic()
            caller.send(invite(caller, "dev"), serve.addresses["udp"])
            final = caller.receive_final()
            waited = time.monotonic() - started
        finally:
            caller.close()
        serve.stop()
    assert (final.status, final.reason, final.call_id) == (430, "Flow Failed", "call-1")
    assert waited < 2.0
    assert "430 Flow Failed for sip:dev@192.0.2.9:5060;transport=tcp: its connection is gone" \
        in serve.stderr
