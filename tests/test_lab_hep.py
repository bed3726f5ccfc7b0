"""Kamailio's HEP mirror against the wire: the committed run in data/hep (fast), and a fresh lab
run of every scenario with the mirror on (marker ``lab``): the tcpdump capture, the recorded HEP
stream and the live collector's verdicts agree call for call."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pushinject.capture import decode
from pushinject.capture.decoder import DecodedMessage
from pushinject.capture.hep import decode_hep
from pushinject.capture.records import read_records
from pushinject.cli import main
from pushinject.conformance.capture import load_capture
from pushinject.conformance.check import CheckOptions, check_messages
from pushinject.lab.hep_mirror import (
    HEP_PORT, TRANSPORTS, Mirror, capture_filter, hep_files, kamailio_defines,
)
from pushinject.lab.proxies import KAMAILIO, OPENSIPS, LabProxy
from pushinject.lab.runner import namespaces_available, render_config
from pushinject.lab.scenarios import SCENARIOS
from tests.conftest import DATA, require, require_tool

HEP = DATA / "hep"
MANIFEST = tomllib.loads((HEP / "manifest.toml").read_text(encoding="utf-8"))


def _judged(path: Path, proxy: LabProxy, tm: tuple[tuple[str, int], ...] = (),
            ) -> list[dict[str, Any]]:
    """The calls of `path` judged as the lab's collector judges them (`tm`: a scenario's own
    tm timers)."""
    options = CheckOptions(preset=proxy.preset, knobs={**proxy.lab_knobs, **proxy.knobs(tm)})
    return [c.to_json() for c in check_messages(load_capture(path), options).calls]


def live_verdicts(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [c for line in lines[:-1] for c in line["calls"]], lines[-1]["summary"]


def three_views(folder: Path, name: str, proxy: LabProxy = KAMAILIO) -> list[dict[str, Any]]:
    """The calls of the wire capture, asserted equal to those of the HEP capture and of the
    live verdicts, and both captures holding the same SIP messages (OpenSIPS's HEP capture
    also its `absorbed_acks`). Their order may differ:
    the proxy's processes mirror what each receives or sends on their own, so the HEP copy of a
    forwarded INVITE can reach the collector after the device's quick 180 to it."""
    scenario = proxy.scenarios[name]
    wire = folder / scenario.file
    hep, jsonl = hep_files(wire.parent, name)
    calls = _judged(wire, proxy, scenario.tm)
    live, summary = live_verdicts(jsonl)
    assert _judged(hep, proxy, scenario.tm) == calls
    assert live == calls
    assert summary["verdict"] == ("conformant" if not any(c["violations"] for c in calls)
                                  else "violations")
    assert absorbed_acks(wire, hep) == [] or proxy.name == "opensips"
    return calls


def absorbed_acks(wire: Path, hep: Path) -> list[DecodedMessage]:
    """The messages of the HEP capture that the wire lacks, each asserted to be what OpenSIPS's
    tracer adds: a second copy of the caller's ACK to a non-2xx final, as the proxy changed it
    (Max-Forwards one less) before absorbing it, though it was never sent on. Every message of
    the wire is asserted to be in the HEP capture."""
    sent = Counter((m.source, m.destination, m.raw) for m in decode(wire))
    extra = []
    for message in decode(hep):
        key = (message.source, message.destination, message.raw)
        if sent[key]:
            sent[key] -= 1
            continue
        as_received = re.sub(rb"\r\nMax-Forwards: (\d+)\r\n",
                             lambda m: b"\r\nMax-Forwards: %d\r\n" % (int(m[1]) + 1),
                             message.raw)
        assert message.raw.startswith(b"ACK ") and (
            message.source, message.destination, as_received) in sent, message
        extra.append(message)
    assert +sent == Counter()
    return extra


#: the committed runs: (folder, proxy, its HEP manifest)
RUNS = [(HEP, KAMAILIO, MANIFEST)] + [(HEP / run, OPENSIPS, tomllib.loads(
    (HEP / run / "manifest.toml").read_text(encoding="utf-8"))) for run in (
        "opensips", "opensips-json")]


@pytest.mark.parametrize(("folder", "proxy", "name"), [
    (folder, proxy, name) for folder, proxy, manifest in RUNS for name in sorted(manifest)])
def test_committed_hep_run_shows_its_manifest(folder: Path, proxy: LabProxy, name: str) -> None:
    """Kamailio's siptrace (data/hep) and OpenSIPS's tracer (data/hep/opensips, and with each
    message inside JSON in data/hep/opensips-json): the wire, the HEP stream and the live
    verdicts agree, as the manifest says."""
    table = next(manifest for f, _, manifest in RUNS if f == folder)[name]
    assert (table["wire"], table["hep"], table["verdicts"]) == (
        f"{name}.pcap", f"{name}-hep.pcap", f"{name}-hep.jsonl")
    (call,) = three_views(folder, name, proxy)
    assert call["call_id"] == table["call_id"] == proxy.scenarios[name].call_id
    assert call["final_status"] == table["final_status"]
    assert [{k: b[k] for k in ("target", "injected", "cancelled", "final_status")}
            for b in call["branches"]] == table["branches"]
    assert (call["violations"] == []) == (table["expected_verdict"] == "conformant")
    packets = [decode_hep(r.data[42:]) for r in read_records(folder / table["hep"])]
    assert len(packets) == table["hep_datagrams"]
    assert {(p.agent_id, p.proto_type, p.transport, p.json_payload) for p in packets} == {
        (table["agent_id"], 1, "UDP", table.get("json_payload", False))}
    assert len(list(decode(folder / table["wire"]))) == table["sip_messages"]
    absorbed = absorbed_acks(folder / table["wire"], folder / table["hep"])
    assert len(absorbed) == table.get("absorbed_acks", 0)
    assert table["hep_datagrams"] == table["sip_messages"] + len(absorbed)
    _, summary = live_verdicts(folder / table["verdicts"])
    assert (summary["datagrams"], summary["sip_messages"], summary["calls"]) == (
        table["hep_datagrams"], table["hep_datagrams"], 1)


def test_hep_times_are_the_proxys_and_precede_their_arrival() -> None:
    """HEP-2: a message's time is the HEP header's (the proxy's clock when it traced it), a few
    microseconds before the HEP packet reached the collector's tcpdump."""
    for folder, _, manifest in RUNS:
        for name, table in manifest.items():
            records = list(read_records(folder / table["hep"]))
            times = [m.time for m in decode(folder / table["hep"])]
            lags = [r.time - t for r, t in zip(records, times)]
            assert all(0 < lag < 0.01 for lag in lags), name


def test_mirror_config_is_off_unless_defined() -> None:
    text = render_config(log_prefix="T")
    block = text[text.index("#!ifdef WITH_HEP\n#!ifdef WITH_HEP_TCP\nmodparam"):]
    assert block.startswith(
        "#!ifdef WITH_HEP\n#!ifdef WITH_HEP_TCP\n"
        'modparam("siptrace", "duplicate_uri", "sip:127.0.0.1:9060;transport=tcp")\n#!else\n'
        'modparam("siptrace", "duplicate_uri", "sip:127.0.0.1:9060")\n#!endif\n')
    assert 'modparam("siptrace", "trace_mode", 1)' in block
    assert "#!ifdef WITH_HEP_TCP\nlisten=tcp:127.0.0.1:5060\n#!endif\n" in text
    assert text.count("#!ifdef WITH_HEP\n") == 2 and text.count("#!ifdef WITH_HEP_TCP\n") == 2
    assert ('#!ifndef HEP_VERSION\n#!define HEP_VERSION 3\n#!endif\n'
            'modparam("siptrace", "hep_version", HEP_VERSION)\n') in block
    assert text.count("#!endif") == 5
    assert (capture_filter(None), capture_filter(Mirror("udp")), capture_filter(Mirror("tcp"))) == (
        "udp", f"udp and not port {HEP_PORT}", f"udp and not port {HEP_PORT}")


@pytest.mark.parametrize(("argv", "message"), [
    (["--hep-transport", "tcp", "S1"], "--hep-transport says how --hep mirrors: add --hep"),
    (["--load", "--hep-transport", "tcp"],
     "--load runs the lab's Kamailio, OpenSIPS or serve alone: no scenario, --hep or --list"),
    (["--hep-version", "1", "S1"], "--hep-version says how --hep mirrors: add --hep"),
    (["--hep", "--hep-version", "2", "--hep-transport", "tcp", "S1"],
     "HEPv2 has no length field to frame a TCP stream: --hep-version 1 and 2 mirror in UDP "
     "datagrams only"),
    (["--load", "--hep-version", "1"],
     "--load runs the lab's Kamailio, OpenSIPS or serve alone: no scenario, --hep or --list"),
    (["--proxy", "opensips", "--hep-json", "O1"], "--hep-json says how --hep mirrors: add --hep"),
    (["--hep", "--hep-json", "S1"],
     "--hep-json is OpenSIPS's proto_hep homer5_on 0: Kamailio's siptrace has no JSON form"),
    (["--proxy", "opensips", "--hep", "--hep-json", "--hep-version", "2", "O1"],
     "HEPv2 has no payload chunk to hold JSON: --hep-json needs HEPv3"),
    (["--load", "--hep-json"],
     "--load runs the lab's Kamailio, OpenSIPS or serve alone: no scenario, --hep or --list"),
])
def test_hep_transport_needs_the_mirror(argv: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", *argv]) == 2
    assert capsys.readouterr().err == f"pushinject lab: error: {message}\n"


@pytest.mark.parametrize(("transport", "version"),
                         [(transport, 3) for transport in TRANSPORTS] + [("udp", 1), ("udp", 2)])
def test_kamailio_accepts_the_mirror_config(tmp_path: Path, transport: str,
                                            version: int) -> None:
    """``kamailio -c -A WITH_HEP`` (and ``-A WITH_HEP_TCP``, or ``-A HEP_VERSION=N``) loads
    siptrace with the lab's settings."""
    kamailio = require_tool("kamailio")
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(render_config())
    done = subprocess.run([kamailio, "-c", *kamailio_defines(Mirror(transport, version)), "-f",
                           str(cfg)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_older_hep_versions_only_in_datagrams_and_json_only_in_hepv3() -> None:
    with pytest.raises(ValueError, match="^HEPv1 has no length field to frame a tcp stream$"):
        Mirror("tcp", 1)
    with pytest.raises(ValueError, match="^HEPv2 has no payload chunk to hold JSON$"):
        Mirror("udp", 2, json=True)
    with pytest.raises(ValueError, match="^Kamailio's siptrace sends no JSON payload$"):
        kamailio_defines(Mirror(json=True))
    assert Mirror("tcp", 3, json=True).argv() == [
        "--hep", "tcp", "--hep-version", "3", "--hep-json"]


@pytest.mark.lab
def test_lab_with_mirror_gives_the_same_verdicts_from_hep_as_from_the_wire(
        tmp_path: Path) -> None:
    """``pushinject lab --hep``: every scenario's calls judged from the tcpdump capture, from
    the recorded HEP stream, and live by the collector are the same (about 50 s)."""
    for tool in ("kamailio", "sipp", "tcpdump", "unshare", "ip"):
        require_tool(tool)
    require(os.geteuid() == 0, "the lab needs root (unshare -n, tcpdump)")
    require(namespaces_available(), "this machine refuses network namespaces (unshare -n)")
    assert main(["lab", "--hep", "--out", str(tmp_path)]) == 0
    for name, scenario in SCENARIOS.items():
        (call,) = three_views(tmp_path, name)
        assert (call["call_id"], call["final_status"], call["violations"]) == (
            scenario.call_id, scenario.final_status, []), name


@pytest.mark.lab
def test_lab_with_mirror_over_tcp_gives_the_same_verdicts(tmp_path: Path) -> None:
    """``pushinject lab --hep --hep-transport tcp``: Kamailio's siptrace sends the mirror over
    one TCP connection; the collector cuts the stream into packets (HEP-4), and its verdicts,
    those of the recorded TCP stream and those of the wire are the same (about 10 s)."""
    for tool in ("kamailio", "sipp", "tcpdump", "unshare", "ip"):
        require_tool(tool)
    require(os.geteuid() == 0, "the lab needs root (unshare -n, tcpdump)")
    require(namespaces_available(), "this machine refuses network namespaces (unshare -n)")
    assert main(["lab", "--hep", "--hep-transport", "tcp", "--out", str(tmp_path),
                 "S1", "S5"]) == 0
    for name in ("S1", "S5"):
        (call,) = three_views(tmp_path, name)
        assert call["violations"] == [], name
        hep, jsonl = hep_files(tmp_path, name)
        _, summary = live_verdicts(jsonl)
        assert (summary["datagrams"], summary["tcp"]["connections"]) == (0, 1)
        assert summary["tcp"]["packets"] == summary["sip_messages"] == len(list(decode(hep)))


@pytest.mark.lab
@pytest.mark.parametrize("version", [1, 2])
def test_lab_with_an_older_hep_version_gives_the_same_verdicts(tmp_path: Path,
                                                               version: int) -> None:
    """``pushinject lab --hep --hep-version 1`` (siptrace's default) or ``2``: the collector and
    the recorded stream read the older headers (HEP-5) and give the wire's verdicts; HEPv1
    carries no time, so its messages take the times they reached the collector (about 10 s)."""
    for tool in ("kamailio", "sipp", "tcpdump", "unshare", "ip"):
        require_tool(tool)
    require(os.geteuid() == 0, "the lab needs root (unshare -n, tcpdump)")
    require(namespaces_available(), "this machine refuses network namespaces (unshare -n)")
    assert main(["lab", "--hep", "--hep-version", str(version), "--out", str(tmp_path),
                 "S1", "S5"]) == 0
    for name in ("S1", "S5"):
        (call,) = three_views(tmp_path, name)
        assert call["violations"] == [], name
        hep, _ = hep_files(tmp_path, name)
        assert {r.data[42] for r in read_records(hep)} == {version}  # each UDP payload's first
