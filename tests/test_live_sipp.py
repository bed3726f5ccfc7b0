"""SIPp through `pushinject serve` over TCP, and serve's own capture judged by `pushinject check`.

SIPp's usual recipe: one SIPp registers a user with a Contact naming another SIPp that answers
(`-t t1`: TCP, one connection per instance), a third calls. The proxy must route the INVITE to
the Contact (a new connection to the answering SIPp, CONN-3), take the in-dialog ACK and BYE
there, and send every response back on the connection its request came on (CONN-1).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pushinject.lab.runner import scenario_file
from tests.conftest import require_tool
from tests.live_clients import DatagramUA, Serve, StreamUA, answer, invite, register


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sipp(scenario: str, *args: str) -> list[str]:
    return ["sipp", "-sf", str(scenario_file(scenario)), "-i", "127.0.0.1", "-nostdin",
            "-timeout", "20s", "-timeout_error", "-trace_err", *args]


def test_sipp_over_tcp_registers_and_completes_calls_through_serve(tmp_path: Path) -> None:
    require_tool("sipp")
    device_port = _free_port()
    users = tmp_path / "users.csv"
    users.write_text("".join(f"load{n};127.0.0.1:{device_port};\n" for n in range(3)))
    users.write_text("SEQUENTIAL\n" + users.read_text())
    with Serve("--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0") as serve:
        host, port = serve.addresses["tcp"]
        target = f"{host}:{port}"
        device = subprocess.Popen(
            _sipp("load_device", "-t", "t1", "-p", str(device_port), "-m", "3"),
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            reg = subprocess.run(
                _sipp("load_register", "-t", "t1", "-inf", str(users), "-key", "params", "",
                      "-m", "3", target),
                cwd=tmp_path, capture_output=True, timeout=30, check=False)
            assert reg.returncode == 0, reg.stdout[-2000:]
            calls = subprocess.run(
                _sipp("load_caller", "-t", "t1", "-inf", str(users), "-m", "3", "-d", "100",
                      "-r", "3", target),
                cwd=tmp_path, capture_output=True, timeout=60, check=False)
            assert calls.returncode == 0, (calls.stdout[-3000:], serve.stderr)
            assert device.wait(timeout=30) == 0
        finally:
            if device.poll() is None:
                device.terminate()
                device.wait(timeout=10)


def test_serve_capture_of_calls_over_udp_and_tcp_is_conformant(tmp_path: Path) -> None:
    """CONN-10: serve --pcap writes what it sends and receives, and `pushinject check` judges
    the calls in it conformant (callers over UDP, a device on TCP). UDP and TCP share one port,
    as on 5060: the checker takes the proxy to be one address."""
    pcap = tmp_path / "serve.pcap"
    port = _free_port()
    with Serve("--preset", "kamailio-tsilo", "--listen", f"udp:127.0.0.1:{port}",
               "--listen", f"tcp:127.0.0.1:{port}", "--pcap", str(pcap)) as serve:
        device = StreamUA(serve.addresses["tcp"])
        caller = DatagramUA()
        try:
            flow = ';+sip.instance="<urn:uuid:00000000-0000-0000-0000-00000000000e>";reg-id=1'
            device.send(register(device, "dev", f"<sip:dev@127.0.0.1:9;transport=tcp>{flow}"))
            assert device.receive_final().status == 200
            for call_id, status in (("call-1", 200), ("call-2", 486)):
                caller.send(invite(caller, "dev", call_id), serve.addresses["udp"])
                call = device.receive()
                device.send(answer(call, 180))  # type: ignore[arg-type]
                device.send(answer(call, status))  # type: ignore[arg-type]
                final = caller.receive_final()
                assert (final.call_id, final.status) == (call_id, status)
                if status >= 300:
                    assert device.receive().method == "ACK"  # type: ignore[union-attr]
        finally:
            device.close()
            caller.close()
    done = subprocess.run(
        [sys.executable, "-m", "pushinject", "check", "--preset", "kamailio-tsilo", str(pcap)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.strip() for line in lines if line.startswith("  call ")] == [
        "call call-1: final 200, 1 branch(es), conformant",
        "call call-2: final 486, 1 branch(es), conformant"]
    assert lines[-1].startswith("verdict: conformant (1 capture(s), 2 call(s), 0 violation(s)")


@pytest.mark.parametrize("proxy_args", [[], ["--proxy", "UDP,TCP"], ["--proxy", "TCP", "--proxy", "UDP"]])
def test_a_proxy_on_two_ports_is_judged_as_one(tmp_path: Path, proxy_args: list[str]) -> None:
    """CONN-12: serve listens on UDP and on TCP at another port; one call comes in over each.
    Found from the capture, or named with --proxy (repeated or a comma list), both addresses
    are the one proxy's: both calls are judged, conformant."""
    pcap = tmp_path / "serve.pcap"
    with Serve("--preset", "kamailio-tsilo", "--listen", "udp:127.0.0.1:0",
               "--listen", "tcp:127.0.0.1:0", "--pcap", str(pcap)) as serve:
        udp, tcp = serve.addresses["udp"], serve.addresses["tcp"]
        device = StreamUA(tcp)
        caller = DatagramUA()
        tcp_caller = StreamUA(tcp)
        try:
            flow = ';+sip.instance="<urn:uuid:00000000-0000-0000-0000-00000000000f>";reg-id=1'
            device.send(register(device, "dev", f"<sip:dev@127.0.0.1:9;transport=tcp>{flow}"))
            assert device.receive_final().status == 200
            for call_id, ua in (("call-1", caller), ("call-2", tcp_caller)):
                request = invite(caller, "dev", call_id)
                if ua is tcp_caller:
                    host, port = tcp_caller.local
                    request = request.without_top_via().with_header_prepended(
                        "Via", f"SIP/2.0/TCP {host}:{port};branch=z9hG4bK-{call_id}")
                    tcp_caller.send(request)
                else:
                    caller.send(request, udp)
                call = device.receive()
                device.send(answer(call, 486))  # type: ignore[arg-type]
                final = ua.receive_final()
                assert (final.call_id, final.status) == (call_id, 486)
                assert device.receive().method == "ACK"  # type: ignore[union-attr]
        finally:
            for ua in (device, caller, tcp_caller):
                ua.close()
    names = {"UDP": "{}:{}".format(*udp), "TCP": "{}:{}".format(*tcp)}
    args = [",".join(names[p] for p in a.split(",")) if a != "--proxy" else a
            for a in proxy_args]
    done = subprocess.run(
        [sys.executable, "-m", "pushinject", "check", "--preset", "kamailio-tsilo", *args,
         str(pcap)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.strip() for line in lines if line.startswith("  call ")] == [
        "call call-1: final 486, 1 branch(es), conformant",
        "call call-2: final 486, 1 branch(es), conformant"]
    assert lines[-1].startswith("verdict: conformant (1 capture(s), 2 call(s), 0 violation(s)")


def _stats(path: Path) -> dict[str, str]:
    from pushinject.bench.live import read_stats

    return read_stats(path)


def test_sipp_usual_recipe_completes_900_of_900_calls_through_serve(tmp_path: Path) -> None:
    """ROUTE-1 with SIPp's usual recipe: 900 users are registered from one port with a Contact
    on another (the answering SIPp), then called once each at 50 calls/s over UDP: every call
    completes (INVITE, 180, 200, ACK, BYE), none fails."""
    require_tool("sipp")
    n = 900
    device_port, register_port, caller_port = _free_port(), _free_port(), _free_port()
    users = tmp_path / "users.csv"
    users.write_text("SEQUENTIAL\n" + "".join(f"recipe{k};127.0.0.1:{device_port};\n"
                                              for k in range(n)))
    common = ["-t", "u1", "-default_behaviors", "all,-bye", "-buff_size", str(4 << 20),
              "-trace_stat", "-fd", "3600"]
    with Serve("--listen", "udp:127.0.0.1:0") as serve:
        target = "{}:{}".format(*serve.addresses["udp"])
        device = subprocess.Popen(
            _sipp("load_device", *common, "-p", str(device_port), "-m", str(n), "-timeout",
                  "120s", "-stf", "device.csv"),
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            reg = subprocess.run(
                _sipp("load_register", *common, "-p", str(register_port), "-inf", str(users),
                      "-key", "params", "", "-r", "100", "-m", str(n), "-stf", "register.csv",
                      target),
                cwd=tmp_path, capture_output=True, timeout=60, check=False)
            assert reg.returncode == 0, reg.stdout[-2000:]
            calls = subprocess.run(
                _sipp("load_caller", *common, "-p", str(caller_port), "-inf", str(users),
                      "-m", str(n), "-d", "100", "-r", "50", "-timeout", "120s",
                      "-stf", "caller.csv", target),
                cwd=tmp_path, capture_output=True, timeout=180, check=False)
            assert device.wait(timeout=60) == 0
        finally:
            if device.poll() is None:
                device.terminate()
                device.wait(timeout=10)
    caller, answered = _stats(tmp_path / "caller.csv"), _stats(tmp_path / "device.csv")
    assert calls.returncode == 0, (calls.stdout[-3000:], serve.stderr[-3000:])
    assert (caller["SuccessfulCall(C)"], caller["FailedCall(C)"]) == (str(n), "0")
    assert (answered["SuccessfulCall(C)"], answered["FailedCall(C)"]) == (str(n), "0")
