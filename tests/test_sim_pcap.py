"""The pcap writer: real UDP/IPv4 and TCP/IPv4 frames, byte-identical run to run and to the
frames Scapy builds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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


def _scapy_frame(ident: int, source: tuple[str, int], destination: tuple[str, int],
                 data: bytes, tcp: tuple[int, int] | None) -> bytes:
    """The frame Scapy builds for one packet of the writer (the reference it must match)."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    def mac(ip: str) -> str:
        return "02:00:" + ":".join(f"{int(part):02x}" for part in ip.split("."))

    (src, sport), (dst, dport) = source, destination
    ip = IP(src=src, dst=dst, id=ident, ttl=64, flags="DF")
    layer4 = (UDP(sport=sport, dport=dport) if tcp is None else
              TCP(sport=sport, dport=dport, seq=tcp[0], ack=tcp[1], flags="PA", window=65535))
    return bytes(Ether(src=mac(src), dst=mac(dst)) / ip / layer4 / Raw(load=data))


def _payload_with_sum(prefix: bytes, source: tuple[str, int], destination: tuple[str, int],
                      tcp: tuple[int, int] | None) -> bytes:
    """`prefix` and two more bytes chosen so that the words the UDP or TCP checksum covers
    add up to 0xFFFF (ones' complement), the case where the checksum comes out 0."""
    words = [int.from_bytes(bytes(int(p) for p in ip.split(".")), "big")
             for ip in (source[0], destination[0])]
    length = (8 if tcp is None else 20) + len(prefix) + 2
    header = [source[1], destination[1], length] if tcp is None else [
        source[1], destination[1], tcp[0] >> 16, tcp[0] & 0xFFFF, tcp[1] >> 16, tcp[1] & 0xFFFF,
        (5 << 12) | 0x18, 65535]
    total = (sum(w >> 16 for w in words) + sum(w & 0xFFFF for w in words)
             + (17 if tcp is None else 6) + length + sum(header)
             + int.from_bytes(prefix, "big") % 0xFFFF)  # prefix: an even number of bytes
    return prefix + ((-total) % 0xFFFF or 0xFFFF).to_bytes(2, "big")


def test_frames_are_the_ones_scapy_builds(tmp_path: Path) -> None:
    import io
    import random

    from pushinject.capture.records import read_records
    from pushinject.sim.pcap import PcapStream

    rng = random.Random(7)
    hosts = [("127.0.0.1", 5060), ("10.1.0.1", 5060), ("192.0.2.200", 65535), ("10.255.3.7", 1)]
    packets = []
    for _ in range(200):
        source, destination = rng.sample(hosts, 2)
        size = rng.choice([0, 1, 2, 3, rng.randrange(1, 1500), rng.randrange(1, 9000)])
        packets.append((rng.random() * 1000, source, destination,
                        bytes(rng.randrange(256) for _ in range(size)), rng.choice(["UDP", "TCP"])))
    # checksums of 0: a UDP one is sent as 0xFFFF (RFC 768), a TCP one stays 0
    packets.append((1.0, hosts[0], hosts[1], _payload_with_sum(b"abcd", hosts[0], hosts[1], None),
                    "UDP"))
    buffer = io.BytesIO()
    stream = PcapStream(buffer)
    expected = []
    seq: dict[tuple[object, object], int] = {}
    for time, source, destination, data, transport in packets:
        tcp = None
        if transport == "TCP":
            tcp = (seq.get((source, destination), 1), seq.get((destination, source), 1))
            seq[(source, destination)] = tcp[0] + len(data)
        expected.append(_scapy_frame(len(expected) + 1, source, destination, data, tcp))
        stream.write(time, source, destination, data, transport)
    zero_tcp = (seq.get((hosts[2], hosts[3]), 1), seq.get((hosts[3], hosts[2]), 1))
    data = _payload_with_sum(b"SIP/", hosts[2], hosts[3], zero_tcp)
    expected.append(_scapy_frame(len(expected) + 1, hosts[2], hosts[3], data, zero_tcp))
    stream.write(2.0, hosts[2], hosts[3], data, "TCP")
    path = tmp_path / "t.pcap"
    path.write_bytes(buffer.getvalue())
    assert [record.data for record in read_records(path)] == expected
    assert expected[-2][40:42] == b"\xff\xff"  # the UDP checksum
    assert expected[-1][50:52] == b"\x00\x00"  # the TCP checksum
    assert buffer.getvalue()[:24] == bytes.fromhex(
        "d4c3b2a1" "0200" "0400" "00000000" "00000000" "ffff0000" "01000000")


def test_an_address_that_is_not_ipv4_is_refused_before_anything_is_written() -> None:
    import io

    from pushinject.sim.pcap import PcapStream

    buffer = io.BytesIO()
    stream = PcapStream(buffer)
    with pytest.raises(ValueError, match="Expected 4 octets in '::1'"):
        stream.write(1.0, ("::1", 5060), ("127.0.0.1", 5060), b"x")
    assert (stream.packets, len(buffer.getvalue())) == (0, 24)
