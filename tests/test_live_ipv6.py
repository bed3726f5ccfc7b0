"""`pushinject serve --pcap` on an IPv6 loopback listener: the exchange is recorded as IPv6
frames that `pushinject decode`, tshark and `pushinject check` all read.

The test starts `pushinject serve` on an ephemeral port of [::1] and stops it by its PID.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from pushinject.sip import Request
from tests.conftest import require, require_tool
from tests.live_clients import DatagramUA, Serve, answer, hostport, invite, register
from tests.tshark_rows import decoder_rows, tshark_rows


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _register_and_call(proxy: tuple[str, int], device: DatagramUA, caller: DatagramUA,
                       contact_host: str, ringing: bool) -> Request:
    """`device` registers ``sip:dev@contact_host`` through `proxy`, `caller` calls dev, the
    device (ringing first if asked) answers 200 and the caller gets it; the INVITE the device
    got. Both agents are closed."""
    try:
        device.send(register(device, "dev", f"<sip:dev@{contact_host}>", proxy=proxy), proxy)
        assert device.receive_final().status == 200
        caller.send(invite(caller, "dev"), proxy)
        call = device.receive()
        assert isinstance(call, Request) and call.method == "INVITE"
        if ringing:
            device.send(answer(call, 180), proxy)
        device.send(answer(call, 200), proxy)
        assert caller.receive_final().status == 200
        return call
    finally:
        device.close()
        caller.close()


def test_serve_on_ipv6_records_a_register_and_a_call_that_decode_and_check_read(
        tmp_path: Path) -> None:
    require(_ipv6_loopback(), "no IPv6 loopback address (::1) on this machine")
    pcap = tmp_path / "serve6.pcap"
    with Serve("--listen", "udp:[::1]:0", "--pcap", str(pcap)) as serve:
        proxy = serve.addresses["udp"]
        device, caller = DatagramUA("::1"), DatagramUA("::1")
        call = _register_and_call(proxy, device, caller, hostport(*device.local), ringing=True)
    # RFC 3261 §25.1: the proxy names itself as an IPv6reference
    assert (call.get("Via") or "").startswith(f"SIP/2.0/UDP [::1]:{proxy[1]};branch=")
    assert call.get("Record-Route") == f"<sip:[::1]:{proxy[1]};lr>"
    assert serve.proc.returncode == 0, serve.stderr

    done = subprocess.run([sys.executable, "-m", "pushinject", "decode", "--json", str(pcap)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    names = {f"[::1]:{proxy[1]}": "P", f"[::1]:{device.local[1]}": "D",
             f"[::1]:{caller.local[1]}": "C"}
    *messages, last = [json.loads(line) for line in done.stdout.splitlines()]
    assert last["summary"]["frames"] == last["summary"]["messages"] == len(messages)
    seen: list[tuple[str, ...]] = []
    for row in messages:
        key = (names[row["source"]], names[row["destination"]], row["transport"],
               row["method"] or str(row["status"]), row["call_id"])
        if key not in seen:  # a retransmission on a loaded machine is the same row again
            seen.append(key)
    assert seen == [
        ("D", "P", "UDP", "REGISTER", "reg-1"), ("P", "D", "UDP", "200", "reg-1"),
        ("C", "P", "UDP", "INVITE", "call-1"), ("P", "C", "UDP", "100", "call-1"),
        ("P", "D", "UDP", "INVITE", "call-1"), ("D", "P", "UDP", "180", "call-1"),
        ("P", "C", "UDP", "180", "call-1"), ("D", "P", "UDP", "200", "call-1"),
        ("P", "C", "UDP", "200", "call-1")]

    tshark = require_tool("tshark")
    rows, decoder = decoder_rows(pcap)
    assert rows == tshark_rows(tshark, pcap)
    assert len(rows) == decoder.summary.frames == decoder.summary.sip_frames

    done = subprocess.run(
        [sys.executable, "-m", "pushinject", "check", "--preset", "opensips", str(pcap)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert lines[:2] == ["call call-1: final 200, 1 branch(es), conformant",
                         f"branch 0 sip:dev@[::1]:{device.local[1]} -> 200"]
    assert f"serve6.pcap: {len(rows)} frames, {len(rows)} SIP messages; proxy [::1]:{proxy[1]}" \
        in lines
    assert lines[-1].startswith("verdict: conformant (1 capture(s), 1 call(s), 0 violation(s)")


def test_serve_records_a_branch_to_a_host_name_contact_as_its_address(tmp_path: Path) -> None:
    """A Contact naming a host (``localhost``) is sent to and written to the capture as the
    address the name resolves to, with no error on stderr."""
    pcap = tmp_path / "serve-name.pcap"
    with Serve("--listen", "udp:127.0.0.1:0", "--pcap", str(pcap)) as serve:
        proxy = serve.addresses["udp"]
        device, caller = DatagramUA(), DatagramUA()
        _register_and_call(proxy, device, caller, f"localhost:{device.local[1]}", ringing=False)
    assert serve.proc.returncode == 0, serve.stderr
    assert "Traceback" not in serve.stderr and "not written" not in serve.stderr
    done = subprocess.run([sys.executable, "-m", "pushinject", "decode", "--json", str(pcap)],
                          capture_output=True, text=True, timeout=60, check=False)
    rows = [json.loads(line) for line in done.stdout.splitlines()][:-1]
    invites = {row["destination"] for row in rows if row["method"] == "INVITE"
               and row["source"] == f"127.0.0.1:{proxy[1]}"}
    assert invites == {f"127.0.0.1:{device.local[1]}"}
