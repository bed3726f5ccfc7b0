"""The pcap writer: real UDP/IPv4 through Scapy, byte-identical run to run."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pushinject.sim.pcap import EPOCH, pcap_bytes, write_pcap
from pushinject.sim.trace import Wire
from tests.conftest import require_tool

WIRES = [
    Wire(time=1.0, source="alice", destination="proxy", source_address=("127.0.0.2", 5060),
         destination_address=("127.0.0.1", 5060), data=b"INVITE sip:bob@example.com SIP/2.0\r\n"
         b"Content-Length: 0\r\n\r\n"),
    Wire(time=2.6000004, source="proxy", destination="B", source_address=("127.0.0.1", 5060),
         destination_address=("127.0.0.11", 5062), data=b"SIP/2.0 100 Trying\r\n\r\n"),
]


def test_same_trace_gives_the_same_bytes() -> None:
    assert pcap_bytes(WIRES) == pcap_bytes(list(WIRES))


def test_packets_carry_addresses_fixed_ids_and_virtual_time(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.utils import rdpcap

    path = tmp_path / "t.pcap"
    write_pcap(path, WIRES)
    packets = rdpcap(str(path))
    assert len(packets) == 2
    first, second = packets
    assert (first[IP].src, first[IP].dst, first[UDP].sport, first[UDP].dport) == (
        "127.0.0.2", "127.0.0.1", 5060, 5060)
    assert (first[IP].id, second[IP].id) == (1, 2)
    assert bytes(first[UDP].payload) == WIRES[0].data
    assert (second[UDP].sport, second[UDP].dport) == (5060, 5062)
    assert float(first.time) == EPOCH + 1.0
    assert round(float(second.time) - EPOCH, 6) == 2.6  # whole microseconds


def test_tshark_decodes_the_capture_as_sip(tmp_path: Path) -> None:
    tshark = require_tool("tshark")
    path = tmp_path / "t.pcap"
    write_pcap(path, WIRES)
    done = subprocess.run([tshark, "-r", str(path), "-T", "fields", "-e", "ip.src",
                           "-e", "sip.Method"], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[0].split("\t") == ["127.0.0.2", "INVITE"]
    assert "malformed" not in done.stdout.lower() + done.stderr.lower()
