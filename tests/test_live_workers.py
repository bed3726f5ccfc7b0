"""`pushinject serve --workers 2`: the partition rule (WORK-1 to WORK-3) on bytes, then calls,
push with injection and CANCEL races through two workers on loopback (WORK-5, WORK-6).

Every test starts `pushinject serve` on an ephemeral loopback port and stops it by its PID;
serve stops its workers by theirs, which the tests check are gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pushinject.capture.records import read_records
from pushinject.core.ids import RandomIds
from pushinject.live.partition import (
    REMEMBER, Partition, WorkerIds, owner_of_key, worker_of_branch,
)
from pushinject.lab.runner import scenario_file
from pushinject.live.proxy_shell import parse_push_body
from pushinject.live.workers import merge_pcaps
from pushinject.presets import get_preset
from pushinject.sim.pcap import PcapStream
from pushinject.sip import Request, Response, make_request
from tests.conftest import require_tool
from tests.live_clients import DatagramUA, Serve, ack, answer, cancel, invite, register

PN = ";pn-provider=fcm;pn-prid=tok-{user};pn-param=app"
#: two callees whose AoRs two workers own: crc32("bob") is even, crc32("alice") odd
OWNERS = {"bob": 0, "alice": 1}


def _partition(use_domain: bool = False) -> Partition:
    driver = get_preset("kamailio-tsilo").build(RandomIds(), None)
    driver.proxy.location.config = type(driver.proxy.location.config)(use_domain=use_domain)
    return Partition(2, driver.proxy.location.aor_of)


def _bytes(method: str, ruri: str, to: str, via: str = "SIP/2.0/UDP 127.0.0.2:5070;"
           "branch=z9hG4bK-c1", call_id: str = "c1") -> bytes:
    return bytes(make_request(method, ruri, via=via, from_="<sip:alice@a.example>;tag=a",
                              to=to, call_id=call_id, cseq=1))


def test_the_owners_of_keys_are_fixed() -> None:
    assert [owner_of_key(user, 2) for user in OWNERS] == list(OWNERS.values())
    assert owner_of_key("bob", 1) == 0


def test_a_callees_invite_cancel_ack_and_register_meet_at_its_aor_owner() -> None:
    """WORK-1, WORK-7: the registrar's key decides (case of the host, URI parameters, display
    names and compact forms do not move a request to another worker); the ACK of a non-2xx
    response follows its INVITE."""
    part = _partition()
    for user, owner in OWNERS.items():
        messages = [
            _bytes("INVITE", f"sip:{user}@b.example", f"<sip:{user}@b.example>"),
            _bytes("CANCEL", f"sip:{user}@b.example", f"<sip:{user}@b.example>"),
            _bytes("ACK", f"sip:{user}@b.example", f"<sip:{user}@b.example>;tag=487"),
            _bytes("REGISTER", "sip:b.example", f'"{user.title()}" <sip:{user}@B.EXAMPLE>'),
            _bytes("REGISTER", "sip:b.example", f"sip:{user}@b.example;foo=x"),
            _bytes("REGISTER", "sip:b.example", f"<sip:{user}@b.example>").replace(
                b"\r\nTo:", b"\r\nt :"),
        ]
        assert [part.owner(m) for m in messages] == [owner] * len(messages)


def test_in_a_dialog_the_ack_of_a_2xx_and_the_bye_go_by_call_id() -> None:
    """WORK-3: a To tag marks a dialog; the ACK of a 2xx (a new branch) and the BYE after it
    meet at the owner of their Call-ID, whoever the remote target is."""
    part = _partition()
    to = "<sip:carol@b.example>;tag=dev"
    owners = set()
    for call_id in ("x1", "x2", "x3", "x4"):
        for user in OWNERS:
            for method in ("ACK", "BYE"):
                request = _bytes(method, f"sip:{user}@10.0.0.9:5071", to,
                                 via=f"SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-{method}",
                                 call_id=call_id)
                assert part.owner(request) == owner_of_key(call_id, 2)
                owners.add(part.owner(request))
    assert owners == {0, 1}


def test_the_ack_of_a_non_2xx_meets_its_invite_until_it_is_forgotten() -> None:
    """WORK-7: the ACK of a non-2xx response has the INVITE's branch and Call-ID (RFC 3261
    §17.1.1.3) and goes to the INVITE's worker even when its Call-ID's owner is another; after
    two periods of `REMEMBER` seconds the INVITE is forgotten."""
    now = [0.0]
    driver = get_preset("kamailio-tsilo").build(RandomIds(), None)
    part = Partition(2, driver.proxy.location.aor_of, clock=lambda: now[0])
    assert owner_of_key("x1", 2) != OWNERS["bob"]
    invite = _bytes("INVITE", "sip:bob@b.example", "<sip:bob@b.example>", call_id="x1")
    in_dialog = _bytes("ACK", "sip:bob@b.example", "<sip:bob@b.example>;tag=gw", call_id="x1")
    other_call = in_dialog.replace(b"Call-ID: x1", b"Call-ID: x2")
    assert part.owner(invite) == OWNERS["bob"]
    now[0] = REMEMBER + 1  # a new period: the INVITE is still remembered from the last one
    part.owner(_bytes("INVITE", "sip:alice@b.example", "<sip:alice@b.example>",
                      via="SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-c2"))
    assert [part.owner(in_dialog), part.owner(other_call)] == [OWNERS["bob"], owner_of_key("x2", 2)]
    assert [OWNERS["bob"], owner_of_key("x2", 2)] == [0, 1]
    now[0] = 2 * REMEMBER + 2  # one more period: forgotten
    part.owner(_bytes("INVITE", "sip:alice@b.example", "<sip:alice@b.example>",
                      via="SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-c3"))
    assert part.owner(in_dialog) == owner_of_key("x1", 2)


def test_with_use_domain_the_domain_is_part_of_the_key() -> None:
    part = _partition(use_domain=True)
    register = _bytes("REGISTER", "sip:c.example", "<sip:bob@C.example>")
    assert part.owner(register) == owner_of_key("bob@c.example", 2) == 1
    assert part.owner(_bytes("INVITE", "sip:bob@c.example", "<sip:bob@c.example>")) == 1
    assert owner_of_key("bob", 2) == 0


def test_a_response_goes_to_the_worker_its_branch_names() -> None:
    """WORK-2; a response whose branch names no worker goes by its Call-ID (WORK-3)."""
    part = _partition()
    branch = WorkerIds(1).branch()
    assert worker_of_branch(branch) == 1
    for call_id in ("x1", "x2", "x3", "x4"):
        response = (f"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}, "
                    f"SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKw0-a\r\nCall-ID: {call_id}\r\n"
                    "Content-Length: 0\r\n\r\n").encode()
        assert part.owner(response) == 1
        foreign = response.replace(branch.encode(), b"z9hG4bK-other")
        assert part.owner(foreign) == owner_of_key(call_id, 2)
    assert part.owner(response.replace(b"w1-", b"w7-")) == owner_of_key("x4", 2)


def test_datagrams_without_a_key_go_by_call_id_else_by_their_bytes() -> None:
    """WORK-3: the same bytes always go to the same worker."""
    part = _partition()
    odd = b"INVITE <bad> SIP/2.0\r\nCall-ID: k9\r\n\r\n"
    assert part.owner(odd) == owner_of_key("k9", 2)
    for junk in (b"\r\n\r\n", b"hello", b"\xff\xfe"):
        assert part.owner(junk) == owner_of_key(junk, 2)
    assert Partition(1, part.aor_of).owner(b"hello") == 0


def _silent(ua: DatagramUA, timeout: float) -> bool:
    """Whether nothing arrives at `ua` within `timeout` seconds."""
    try:
        ua.receive(timeout)
    except AssertionError:
        return True
    return False


def _udp_ports(frame: bytes) -> tuple[int, int]:
    """The UDP source and destination ports of an Ethernet frame holding IPv4."""
    start = 14 + (frame[14] & 0x0F) * 4
    return int.from_bytes(frame[start:start + 2], "big"), int.from_bytes(
        frame[start + 2:start + 4], "big")


def _gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie waiting to be reaped has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_gone(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return all(_gone(pid) for pid in pids)


def _serve(*args: str) -> Serve:
    return Serve("--preset", "kamailio-tsilo", "--listen", "udp:127.0.0.1:0", "--workers", "2",
                 *args, duration=30.0)


def _pids(serve: Serve) -> list[int]:
    """The workers' PIDs, from serve's first line."""
    return [int(word) for word in serve.banner.rstrip(")\n").split("pids ")[1].split()]


class _Parties:
    """A caller, a push gateway and one device per callee, on loopback."""

    def __init__(self) -> None:
        self.proxy = ("127.0.0.1", 0)
        self.caller, self.gateway = DatagramUA(), DatagramUA()
        self.devices = {user: DatagramUA() for user in OWNERS}

    def register(self, user: str, cseq: int) -> Response:
        device = self.devices[user]
        contact = f"<sip:{user}@{device.local[0]}:{device.local[1]}{PN.format(user=user)}>"
        device.send(register(device, user, contact, cseq=cseq, call_id=f"reg-{user}",
                             proxy=self.proxy), self.proxy)
        return device.receive_final()

    def call(self, user: str) -> Request:
        """The caller's INVITE to `user`, once the proxy said 100."""
        request = invite(self.caller, user, call_id=f"call-{user}")
        self.caller.send(request, self.proxy)
        assert self.caller.receive().status == 100  # type: ignore[union-attr]
        return request

    def push(self, user: str) -> Request:
        """The push MESSAGE for `user`'s call, answered 200."""
        message = self.gateway.receive()
        assert isinstance(message, Request) and message.method == "MESSAGE"
        assert parse_push_body(message.body)["pn-prid"] == f"tok-{user}"
        self.gateway.send(answer(message, 200, tag="gw"), self.proxy)
        return message

    def close(self) -> None:
        for ua in (self.caller, self.gateway, *self.devices.values()):
            ua.close()


def _run(body: Callable[[_Parties], None], *args: str) -> tuple[Serve, list[int]]:
    """`body(parties)` against serve with two workers; serve stopped by its PID whatever
    happens; returns serve (its log read) and its workers' PIDs."""
    parties = _Parties()
    serve = None
    try:
        serve = _serve("--push-gateway", f"127.0.0.1:{parties.gateway.local[1]}", *args)
        parties.proxy = serve.addresses["udp"]
        pids = _pids(serve)
        body(parties)
    finally:
        if serve is not None:
            serve.stop()
        parties.close()
    assert len(pids) == 2 and all(_gone(pid) for pid in pids)  # WORK-5
    return serve, pids


def _inputs(serve: Serve) -> list[str]:
    """The `inputs:` lines of worker 0, worker 1, then the sum."""
    lines = serve.stderr.splitlines()
    return [next(line.split(": ", 1)[1] for line in lines if f" worker {n}: inputs:" in line)
            for n in (0, 1)] + [lines[-1].split(None, 1)[1]]


def test_push_with_injection_through_two_workers(tmp_path: Path) -> None:
    """Each callee's INVITE waits at the worker owning its AoR, which pushes (its branch names
    it, WORK-2); the phone's REGISTER goes to the same worker (WORK-1) and is injected; the
    counters and the captures of both workers come back as one (WORK-6)."""
    pcap = tmp_path / "serve.pcap"
    finals: dict[str, Response] = {}

    def body(parties: _Parties) -> None:
        for user, owner in OWNERS.items():
            assert parties.register(user, 1).status == 200
            parties.call(user)
            push = parties.push(user)
            assert str(push.vias[0].branch).startswith(f"z9hG4bKw{owner}-")
            assert parties.register(user, 2).status == 200
            call = parties.devices[user].receive()
            assert isinstance(call, Request) and call.method == "INVITE"
            assert call.call_id == f"call-{user}"
            assert str(call.vias[0].branch).startswith(f"z9hG4bKw{owner}-")
            parties.devices[user].send(answer(call, 200), parties.proxy)
            finals[user] = parties.caller.receive_final()

    serve, _ = _run(body, "--pcap", str(pcap))
    assert {user: (r.status, r.call_id) for user, r in finals.items()} == {
        "bob": (200, "call-bob"), "alice": (200, "call-alice")}
    # at each worker: 2 REGISTERs, the INVITE and the phone's 200 (the gateway's 200 answers
    # the shell's push, not the core)
    assert _inputs(serve) == ["inputs: 4 received, 4 processed, 0 answered, 0 dropped"] * 2 + [
        "inputs: 8 received, 8 processed, 0 answered, 0 dropped"]
    # and the push's 200 at each; each worker sent 2 200s, 100, MESSAGE, INVITE and 200
    assert serve.stderr.splitlines()[-2].split(None, 1)[1] == (
        "dispatched 10 datagrams (worker 0: 5, worker 1: 5), 0 undelivered; the workers sent "
        "12, 0 unsent")
    times = [record.time for record in read_records(pcap)]
    # per callee: 2 REGISTERs and their 200s, INVITE, 100, MESSAGE, its 200, INVITE, 200, 200
    assert len(times) == 2 * 11
    assert times == sorted(times)


def test_a_cancel_before_the_phone_wakes_and_one_after_it_was_injected() -> None:
    """CANCEL races at the owner of the callee: cancelled while the INVITE waits for the push,
    the phone's REGISTER injects nothing; cancelled once injected, the CANCEL follows the
    injected branch and the caller gets its 487."""
    outcome: dict[str, object] = {}

    def body(parties: _Parties) -> None:
        user = "alice"
        device = parties.devices[user]
        assert parties.register(user, 1).status == 200
        waiting = parties.call(user)
        parties.push(user)
        parties.caller.send(cancel(waiting), parties.proxy)
        first = parties.caller.receive_final()
        second = parties.caller.receive_final()
        outcome["cancelled"] = sorted((r.status, r.cseq.method) for r in (first, second))
        parties.caller.send(ack(waiting, max((first, second), key=lambda r: r.status)),
                            parties.proxy)
        assert parties.register(user, 2).status == 200
        outcome["silent"] = _silent(device, 0.5)
        again = invite(parties.caller, user, call_id="call-again")
        parties.caller.send(again, parties.proxy)
        assert parties.caller.receive().status == 100  # type: ignore[union-attr]
        parties.push(user)
        assert parties.register(user, 3).status == 200
        call = device.receive()
        assert isinstance(call, Request) and call.method == "INVITE"
        device.send(answer(call, 180), parties.proxy)
        assert parties.caller.receive().status == 180  # type: ignore[union-attr]
        parties.caller.send(cancel(again), parties.proxy)
        relayed = device.receive()
        assert isinstance(relayed, Request) and relayed.method == "CANCEL"
        outcome["cancel-branch"] = relayed.vias[0].branch == call.vias[0].branch
        device.send(answer(relayed, 200), parties.proxy)
        device.send(answer(call, 487), parties.proxy)
        finals = [parties.caller.receive_final(), parties.caller.receive_final()]
        outcome["injected-cancelled"] = sorted((r.status, r.cseq.method) for r in finals)
        parties.caller.send(ack(again, max(finals, key=lambda r: r.status)), parties.proxy)
        own_ack = device.receive()  # the proxy's own ACK of the phone's 487 (RFC 3261 §17.1.1.3)
        outcome["device-ack"] = (own_ack.method, own_ack.vias[0].branch == call.vias[0].branch)
        outcome["caller-silent"] = _silent(parties.caller, 0.5)

    _run(body)
    assert outcome == {
        "cancelled": [(200, "CANCEL"), (487, "INVITE")], "silent": True, "cancel-branch": True,
        "injected-cancelled": [(200, "CANCEL"), (487, "INVITE")],
        "device-ack": ("ACK", True), "caller-silent": True}


def test_a_plain_call_and_its_dialog_through_two_workers() -> None:
    """A registered phone without push: INVITE, 180, 200, then the caller's ACK and BYE reach
    the phone whichever worker takes them (they need no state, RFC 3261 §16.11)."""
    seen: list[tuple[str, int | str]] = []

    def body(parties: _Parties) -> None:
        for user in OWNERS:
            device = parties.devices[user]
            contact = f"<sip:{user}@{device.local[0]}:{device.local[1]}>"
            device.send(register(device, user, contact, call_id=f"plain-{user}",
                                 proxy=parties.proxy), parties.proxy)
            assert device.receive_final().status == 200
            parties.call(user)
            call = device.receive()
            assert isinstance(call, Request)
            device.send(answer(call, 180), parties.proxy)
            device.send(answer(call, 200), parties.proxy)
            ringing, ok = parties.caller.receive(), parties.caller.receive()
            assert isinstance(ringing, Response) and isinstance(ok, Response)
            seen.extend([("INVITE", ringing.status), ("INVITE", ok.status)])
            route = ok.get("Record-Route") or ""
            target = contact.strip("<>")  # the phone's Contact (its answer here has none)
            for method, cseq in (("ACK", 1), ("BYE", 2)):
                host, port = parties.caller.local
                request = make_request(
                    method, target, via=f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK-{method}"
                    f"-{user}", from_="<sip:alice@example.com>;tag=a1",
                    to=ok.get("To") or "", call_id=ok.call_id, cseq=cseq,
                    extra=[("Route", route)] if route else [])
                parties.caller.send(request, parties.proxy)
                arrived = device.receive()
                assert isinstance(arrived, Request)
                seen.append((method, arrived.method))
            bye = arrived
            device.send(answer(bye, 200), parties.proxy)
            closing = parties.caller.receive_final()
            seen.append(("BYE", closing.status))

    _run(body)
    assert seen == [("INVITE", 180), ("INVITE", 200), ("ACK", "ACK"), ("BYE", "BYE"),
                    ("BYE", 200)] * 2


def test_a_worker_that_ends_by_itself_stops_serve_with_its_reason() -> None:
    """WORK-5: a worker killed from outside takes serve down (its part of the state is gone):
    the other worker is stopped by its PID, serve says why and ends with status 1."""
    serve = _serve()
    try:
        pids = _pids(serve)
        os.kill(pids[0], signal.SIGKILL)
        status = serve.proc.wait(timeout=15)
    finally:
        serve.stop()
    assert status == 1
    assert _wait_gone(pids, 5.0)
    lines = serve.stderr.splitlines()
    assert any(line.split(None, 1)[1] == f"stopped: worker 0 (pid {pids[0]}) ended by itself "
               "(exit code -9)" for line in lines), lines
    assert [line.split(None, 1)[1] for line in lines[-2:]] == [
        "dispatched 0 datagrams (worker 0: 0, worker 1: 0), 0 undelivered; the workers sent 0, "
        "0 unsent",
        "inputs: 0 received, 0 processed, 0 answered, 0 dropped; 1 worker(s) gave no report"]


def test_workers_end_when_serve_is_killed() -> None:
    """WORK-5: serve killed outright (no clean stop): its workers see their socket pairs close
    (and the kernel signals them) and end; none is left behind."""
    serve = _serve()
    try:
        pids = _pids(serve)
        serve.proc.kill()
        serve.proc.wait(timeout=10)
    finally:
        serve.stop()
    assert _wait_gone(pids, 10.0)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_uvloop_answers_a_register(workers: str) -> None:
    """`--event-loop uvloop`: the same shell on uvloop's event loop, in one process or in
    each worker."""
    ua = DatagramUA()
    try:
        with Serve("--listen", "udp:127.0.0.1:0", "--workers", workers, "--event-loop",
                   "uvloop") as serve:
            proxy = serve.addresses["udp"]
            ua.send(register(ua, "bob", f"<sip:bob@127.0.0.1:{ua.local[1]}>", proxy=proxy),
                    proxy)
            final = ua.receive_final()
    finally:
        ua.close()
    assert (final.status, final.cseq.method, len(final.contacts)) == (200, "REGISTER", 1)


@pytest.mark.parametrize(("args", "error"), [
    (["--listen", "tcp:127.0.0.1:0"],
     "pushinject serve: error: --workers above 1 serves UDP only: TCP and TLS connections are "
     "served by one process (leave --workers out to serve them)"),
    (["--workers", "0"], "pushinject serve: error: --workers must be at least 1"),
])
def test_serve_refuses_workers_with_streams_in_one_line(
        args: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    """WORK-4."""
    from pushinject.cli import main

    status = main(["serve", "--workers", "2", *args, "--duration", "0.1"])
    assert status == 2
    assert capsys.readouterr().err.splitlines()[-1] == error


def test_merged_captures_keep_every_packet_in_time_order(tmp_path: Path) -> None:
    """WORK-6: two workers' captures become one, ordered by time."""
    parts = []
    for index, times in enumerate(([0.1, 0.4], [0.2, 0.3, 0.5])):
        part = tmp_path / f"{index}.pcap"
        with open(part, "wb") as out:
            stream = PcapStream(out, epoch=1_700_000_000)
            for at in times:
                stream.write(at, ("127.0.0.1", 5060), ("127.0.0.2", 5070 + index), b"X")
        parts.append(part)
    out = tmp_path / "all.pcap"
    assert merge_pcaps([*parts, tmp_path / "missing.pcap"], out) == 5
    assert [round(r.time - 1_700_000_000, 6) for r in read_records(out)] == [
        0.1, 0.2, 0.3, 0.4, 0.5]


def test_sipp_calls_through_two_workers_and_their_merged_capture_is_conformant(
        tmp_path: Path) -> None:
    """SIPp over UDP: callees owned by both workers are registered and called through serve
    with two workers; the capture the workers' parts merge into (WORK-6) is judged conformant
    by `pushinject check`."""
    require_tool("sipp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        device_port = probe.getsockname()[1]
    users = tmp_path / "users.csv"
    names = ["load0", "load1", "load4", "load5"]
    assert sorted(owner_of_key(name, 2) for name in names) == [0, 0, 1, 1]
    users.write_text("SEQUENTIAL\n" + "".join(f"{n};127.0.0.1:{device_port};\n" for n in names))
    pcap = tmp_path / "serve.pcap"

    def sipp(scenario: str, *args: str) -> list[str]:
        return ["sipp", "-sf", str(scenario_file(scenario)), "-i", "127.0.0.1", "-t", "u1",
                "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err", *args]

    serve = _serve("--pcap", str(pcap))
    device = None
    try:
        host, port = serve.addresses["udp"]
        target = f"{host}:{port}"
        device = subprocess.Popen(sipp("load_device", "-p", str(device_port), "-m", "4"),
                                  cwd=tmp_path, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        reg = subprocess.run(sipp("load_register", "-inf", str(users), "-key", "params", "",
                                  "-m", "4", target),
                             cwd=tmp_path, capture_output=True, timeout=30, check=False)
        assert reg.returncode == 0, reg.stdout[-2000:]
        calls = subprocess.run(sipp("load_caller", "-inf", str(users), "-m", "4", "-d", "100",
                                    "-r", "4", target),
                               cwd=tmp_path, capture_output=True, timeout=60, check=False)
        assert calls.returncode == 0, calls.stdout[-3000:]
        assert device.wait(timeout=30) == 0
    finally:
        if device is not None and device.poll() is None:
            device.terminate()
            device.wait(timeout=10)
        serve.stop()
    passed = serve.stderr.splitlines()[-2].split("(", 1)[1].split(")")[0]
    # the owner of each callee takes at least its REGISTER, INVITE, 180 and 200 (8 at each
    # worker; the ACK, the BYE and the BYE's 200 of a call go by its Call-ID, and SIPp may
    # retransmit); the capture holds every datagram the dispatcher passed on
    counts = [int(part.split(": ")[1]) for part in passed.split(", ")]
    received = sum(1 for record in read_records(pcap) if _udp_ports(record.data)[1] == port)
    assert min(counts) >= 8 and sum(counts) == received >= 28, (counts, received)
    done = subprocess.run(
        [sys.executable, "-m", "pushinject", "check", "--preset", "kamailio-tsilo", str(pcap)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert sum(1 for line in lines if line.strip().endswith("conformant")
               and line.strip().startswith("call ")) == 4, lines
    assert lines[-1].startswith("verdict: conformant (1 capture(s), 4 call(s), 0 violation(s)")
