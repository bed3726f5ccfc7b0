"""3,000 mutated INVITEs through `pushinject serve` on loopback (INPUT-1, INPUT-7, INPUT-9): no
traceback on stderr, and each one is processed, answered 400/416 or counted as dropped; the
refusals are logged one line per reason, not one per datagram."""

from __future__ import annotations

import random
import re
import socket
import subprocess
import sys
import time

from pushinject.sip import parse_message
from test_proxy_hostile import mutate, random_mutations

COUNT = 3000


def _invite(n: int, port: int) -> bytes:
    return (f"INVITE sip:bob@example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-h{n};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:mallory@example.com>;tag=h{n}\r\n"
            f"To: <sip:bob@example.com>\r\nCall-ID: hostile-{n}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:mallory@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n").encode()


def _probe(n: int, port: int) -> bytes:
    """A valid REGISTER whose 200 tells that everything sent before it was handled (the shell
    handles datagrams in order)."""
    return (f"REGISTER sip:example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-p{n};rport\r\n"
            f"From: <sip:probe@example.com>;tag=p\r\nTo: <sip:probe@example.com>\r\n"
            f"Call-ID: probe\r\nCSeq: {n} REGISTER\r\n"
            f"Contact: <sip:probe@127.0.0.1:{port}>\r\nExpires: 60\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def test_three_thousand_mutated_invites_through_the_live_udp_shell() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pushinject", "serve", "--listen", "127.0.0.1:0",
         "--duration", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answers: dict[int, int] = {}
    probes = 0
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on udp:127.0.0.1:"), line
        target = ("127.0.0.1", int(line.split()[2].rsplit(":", 1)[1]))
        rng = random.Random(3000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            port = sock.getsockname()[1]
            for n in range(COUNT):
                data = mutate(_invite(n, port), random_mutations(rng, rng.randrange(1, 4)))
                sock.sendto(data, target)
                if n % 25 == 24:  # no more than 25 in flight: no datagram lost in a buffer
                    probes += 1
                    sock.sendto(_probe(probes, port), target)
                    _await_probe(sock, answers, probes)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err and "Exception" not in err, err[-2000:]
    summary = re.search(r"inputs: (\d+) received, (\d+) processed, (\d+) answered, "
                        r"(\d+) dropped", err)
    assert summary is not None, err[-2000:]
    received, processed, answered, dropped = map(int, summary.groups())
    assert received == COUNT + probes and processed + answered + dropped == received
    assert "internal-error" not in err
    refusals = answers.get(400, 0) + answers.get(416, 0)
    assert 0 < refusals <= answered  # a 400 may go to a mutated Via's address instead
    # one log line per reason at most every 10 s: far fewer lines than refused datagrams
    lines = [x for x in err.splitlines() if "refused input:" in x]
    assert 0 < len(lines) <= 40 < answered + dropped


def _await_probe(sock: socket.socket, answers: dict[int, int], n: int) -> None:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if _drain(sock, answers, f"CSeq: {n} REGISTER".encode()):
            return
        time.sleep(0.002)
    raise AssertionError(f"no answer to probe {n}")


def _drain(sock: socket.socket, answers: dict[int, int], probe: bytes = b"\x00") -> bool:
    """Read every waiting answer into `answers` (by status, probes apart); True when the
    probe's 200 was among them."""
    seen = False
    while True:
        try:
            data = sock.recv(65535)
        except BlockingIOError:
            return seen
        if probe in data and b"Call-ID: probe" in data:
            seen = True
        elif data.startswith(b"SIP/2.0 ") and data[8:11].isdigit():
            status = int(data[8:11])
            answers[status] = answers.get(status, 0) + 1


def test_refusals_are_logged_one_line_per_reason_at_most_every_ten_seconds() -> None:
    """INPUT-9 with explicit times: the first refusal of a reason is logged at once, later ones
    wait for the reason's ten seconds and say how many came meanwhile."""
    from pushinject.core.ids import CountingIds
    from pushinject.live.proxy_shell import ProxyShell
    from pushinject.presets import get_preset

    lines: list[tuple[float, str]] = []
    driver = get_preset("opensips").build(CountingIds("px"))
    shell = ProxyShell(driver, None, CountingIds("shell"),  # type: ignore[arg-type]
                       address=("127.0.0.1", 5060),
                       log=lambda now, text: lines.append((now, text)))
    sent: list[tuple[bytes, tuple[str, int]]] = []

    class Socket:  # the shell sends what the core answers at once, in order
        def sendto(self, data: bytes, destination: tuple[str, int]) -> None:
            sent.append((data, destination))

        def is_closing(self) -> bool:
            return False

    shell.transport = Socket()  # type: ignore[assignment]
    garbage = b"\x00\x01 not SIP"
    for now in (0.0, 1.0, 2.0, 11.0):
        shell.on_unparsable(garbage, ("192.0.2.1", 5060), "no start line", now)
    assert sent == []
    bad = _invite(1, 5099).replace(b"Max-Forwards: 70", b"Max-Forwards: x")
    shell.on_message(parse_message(bad, strict=False), ("127.0.0.1", 5099), 12.0)
    [(data, destination)] = sent
    answer = parse_message(data)
    assert (answer.status, destination) == (400, ("127.0.0.1", 5099))  # type: ignore[union-attr]
    assert lines == [
        (0.0, "refused input: dropped (unparsable), 1 since the last line, 1 in all; "
              "last: no start line"),
        (11.0, "refused input: dropped (unparsable), 3 since the last line, 4 in all; "
               "last: no start line"),
        (12.0, "refused input: answered 400 Max-Forwards, 1 since the last line, 1 in all; "
               "last: Max-Forwards: malformed Max-Forwards value 'x'"),
    ]
    assert shell.input_summary() == ("inputs: 5 received, 0 processed, 1 answered, 4 dropped "
                                     "(400 Max-Forwards 1, unparsable 4)")
