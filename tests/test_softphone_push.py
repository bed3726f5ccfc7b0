"""A real push client wakes up for a call: linphone against `pushinject serve`, and against the
lab's real Kamailio and OpenSIPS (marker ``lab``).

`linphonec` (Debian's `linphone-cli`, liblinphone 5.1, the SIP stack of Linphone's mobile apps)
registers bob over UDP as a mobile app does, sleeps, and is woken by the proxy's push on another
port with the same `+sip.instance` (`tests/wake_call.py`). Under every preset the woken contact
is injected into the waiting INVITE, linphone answers 200 with its SDP, alice acknowledges and
hangs up, and `check` finds the call conformant. The registrars differ in what the woken
REGISTER does to bob's old binding, and so in the branches the call has:

- `opensips`: the Contact URI alone identifies a binding (OSIPS-33), so the woken contact is a
  second binding and raises `E_UL_CONTACT_INSERT`, which the seed injects; the branch the seed
  relayed to the old contact never answered and is given up at the 200 (OSIPS-26);
- `kamailio-tsilo`: the instance identifies the device (KAM-18): the woken contact replaces the
  old one, and tsilo appends it;
- `rfc8599`: the pn-* parameters identify the push binding (PUSH-4): replaced too.

The real proxies are held to their presets: in a private network namespace, the lab's OpenSIPS
(the seed's script) and Kamailio (tsilo) take the same call, their registrars keep the bindings
their presets' do, and their captures are conformant under the proxy's preset. The lab's
Kamailio also relays the call to bob's old contact, as the preset does with `relay_pn`.

Needs `linphone-cli` (`.ci/run` installs it); without it the tests skip, saying so, or fail
under PUSHINJECT_REQUIRE_TOOLS=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pushinject.capture.decoder import DecodedMessage, decode
from pushinject.commands.lab import BUILD_HINT
from pushinject.lab.proxies import KAMAILIO, OPENSIPS, LabProxy
from pushinject.lab.runner import namespaces_available
from pushinject.lab.softphone import linphone_path
from tests.conftest import ROOT, require, require_tool
from tests.live_clients import DatagramUA, Serve, free_udp_port
from tests.wake_call import CALL_ID, PUSH, wake_call

ANSWERED = [(100, "INVITE"), (180, "INVITE"), (200, "INVITE"), (200, "BYE")]
#: per preset of `serve`: how many bindings the 200 to the woken REGISTER lists, and whether
#: the call had a branch to the old contact before the woken one
SERVED = {"opensips": (2, True), "kamailio-tsilo": (1, False), "rfc8599": (1, False)}
#: the same for the lab's proxies, whose Kamailio configuration also relays to a contact with
#: push parameters (the preset's `relay_pn` knob, off by default)
REAL = {"opensips": (2, True), "kamailio": (1, True)}


def _linphone() -> None:
    require(linphone_path() is not None,
            "linphonec is not installed (Debian package linphone-cli)")


def _registered(pcap: Path) -> list[DecodedMessage]:
    """The registrar's 200s to REGISTER, in order."""
    return [m for m in decode(pcap) if getattr(m.message, "status", None) == 200
            and m.message.cseq.method == "REGISTER"]


def _check(pcap: Path, options: list[str]) -> list[str]:
    """`pushinject check OPTIONS PCAP`'s lines about the call and its verdict."""
    done = subprocess.run([sys.executable, "-m", "pushinject", "check", *options, str(pcap)],
                          capture_output=True, text=True, timeout=120)
    return [line for line in done.stdout.splitlines()
            if line.startswith(("  call ", "    branch ", "    VIOLATION ", "verdict: "))]


def _branch(index: int, port: int, outcome: str) -> str:
    """The start of `check`'s line for branch `index` to bob at `port`."""
    return f"    branch {index} sip:bob@127.0.0.1:{port};{PUSH};transport=udp -> {outcome}"


def _held_to(expected: tuple[int, bool], pcap: Path, asleep: int, woken: int,
             options: list[str]) -> None:
    """The capture's woken REGISTER answered with `expected[0]` bindings, and `check` with
    `options` finding the call conformant, with a branch to the old contact first when
    `expected[1]`, then the injected one."""
    contacts, relayed = expected
    last = _registered(pcap)[-1]
    assert last.destination == ("127.0.0.1", woken)
    assert len(last.message.contacts) == contacts
    lines = _check(pcap, options)
    branches = ([_branch(0, asleep, "-")] if relayed else []) + [
        _branch(int(relayed), woken, "200 (injected ")]
    assert lines[0] == f"  call {CALL_ID}: final 200, {len(branches)} branch(es), conformant"
    assert [line[:len(b)] for line, b in zip(lines[1:], branches)] == branches
    assert lines[-1].startswith("verdict: conformant (1 capture(s), 1 call(s), 0 violation(s)")


@pytest.mark.parametrize("preset", sorted(SERVED))
def test_woken_linphone_is_injected_and_answers(preset: str, tmp_path: Path) -> None:
    _linphone()
    pcap = tmp_path / "serve.pcap"
    gateway, alice = DatagramUA(), DatagramUA()
    try:
        with Serve("--preset", preset, "--listen", "udp:127.0.0.1:0", "--push-gateway",
                   f"127.0.0.1:{gateway.local[1]}", "--pcap", str(pcap)) as serve:
            done = wake_call(serve.addresses["udp"], gateway, alice, tmp_path / "bob",
                             (free_udp_port(), free_udp_port()))
    finally:
        gateway.close()
        alice.close()
    assert done.responses == ANSWERED
    assert (done.push["pn-provider"], done.push["pn-prid"], done.push["call-id"]) == (
        "apns", "00fc13adff785122", CALL_ID)
    registers = [m for m in decode(pcap) if getattr(m.message, "method", "") == "REGISTER"]
    first, second = (str(m.message.get("Contact")) for m in registers)
    assert f"@127.0.0.1:{done.woken_port};{PUSH}" in second
    assert second[second.index(";+sip.instance="):] == first[first.index(";+sip.instance="):]
    _held_to(SERVED[preset], pcap, done.asleep_port, done.woken_port, ["--preset", preset])


def _in_namespace(proxy: LabProxy, folder: Path) -> tuple[dict[str, object], Path]:
    """The wake-up call through the lab's `proxy` in a private network namespace, recorded by
    the lab's tcpdump (`tests.wake_call.main`); (the call's outcome, the capture)."""
    done = subprocess.run(["unshare", "-n", sys.executable, "-m", "tests.wake_call",
                           proxy.name, str(folder)], cwd=ROOT, timeout=120,
                          capture_output=True, text=True)
    logs = folder / "logs" / f"{proxy.name}.log"
    assert done.returncode == 0, (done.stderr[-3000:], logs.exists() and logs.read_text()[-3000:])
    return json.loads(done.stdout), folder / "wake.pcap"


@pytest.mark.lab
@pytest.mark.parametrize("proxy", [OPENSIPS, KAMAILIO], ids=lambda p: p.name)
def test_a_real_proxy_treats_the_woken_linphone_as_its_preset_does(proxy: LabProxy,
                                                                   tmp_path: Path) -> None:
    """OSIPS-33 and KAM-18 as observed: the real proxy injects the woken phone, its registrar
    keeps the bindings its preset's does, and its capture is conformant under that preset
    (about 5 s each)."""
    _linphone()
    if proxy is OPENSIPS and shutil.which("opensips") is None:
        pytest.skip(BUILD_HINT)  # as in tests/test_lab_opensips.py, the skip CI accepts
    for tool in ("tcpdump", "unshare", "ip", proxy.binary):
        require_tool(tool)
    require(os.geteuid() == 0, "the lab needs root (unshare -n, tcpdump)")
    require(namespaces_available(), "this machine refuses network namespaces (unshare -n)")
    outcome, pcap = _in_namespace(proxy, tmp_path)
    assert [tuple(r) for r in outcome["responses"]] == ANSWERED  # type: ignore[union-attr]
    _held_to(REAL[proxy.name], pcap, 5072, 5073, proxy.check_options())
