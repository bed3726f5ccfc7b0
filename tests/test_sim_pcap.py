"""The pcap writer: real UDP/IPv4 and TCP/IPv4 frames, byte-identical run to run and to the
frames Scapy builds."""

from __future__ import annotations

import ipaddress
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


def test_tshark_reads_ipv6_frames_with_good_checksums(tmp_path: Path) -> None:
    """tshark, checking the UDP and TCP checksums itself (1 is its "good"), reads the IPv6
    addresses, hop limit 64 and the SIP messages."""
    import io

    from pushinject.sim.pcap import PcapStream

    tshark = require_tool("tshark")
    buffer = io.BytesIO()
    stream = PcapStream(buffer)
    stream.write(1.0, ("2001:db8::2", 5060), ("::1", 5060), WIRES[0].data)
    stream.write(1.5, ("::1", 5060), ("2001:db8::2", 5062), WIRES[1].data, "TCP")
    path = tmp_path / "t6.pcap"
    path.write_bytes(buffer.getvalue())
    done = subprocess.run(
        [tshark, "-r", str(path), "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
         "-T", "fields", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.hlim",
         "-e", "udp.checksum.status", "-e", "tcp.checksum.status", "-e", "sip.Method",
         "-e", "sip.Status-Code"], capture_output=True, text=True, check=True)
    assert [line.split("\t") for line in done.stdout.splitlines()] == [
        ["2001:db8::2", "::1", "64", "1", "", "INVITE", ""],
        ["::1", "2001:db8::2", "64", "", "1", "", "100"]]


def _scapy_frame(ident: int, source: tuple[str, int], destination: tuple[str, int],
                 data: bytes, tcp: tuple[int, int] | None) -> bytes:
    """The frame Scapy builds for one packet of the writer (the reference it must match)."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    def mac(ip: str) -> str:
        return "02:00:" + ":".join(f"{byte:02x}" for byte in ipaddress.ip_address(ip).packed[-4:])

    (src, sport), (dst, dport) = source, destination
    ip = (IPv6(src=src, dst=dst, hlim=64) if ":" in src else
          IP(src=src, dst=dst, id=ident, ttl=64, flags="DF"))
    layer4 = (UDP(sport=sport, dport=dport) if tcp is None else
              TCP(sport=sport, dport=dport, seq=tcp[0], ack=tcp[1], flags="PA", window=65535))
    return bytes(Ether(src=mac(src), dst=mac(dst)) / ip / layer4 / Raw(load=data))


def _payload_with_sum(prefix: bytes, source: tuple[str, int], destination: tuple[str, int],
                      tcp: tuple[int, int] | None) -> bytes:
    """`prefix` and two more bytes chosen so that the words the UDP or TCP checksum covers
    add up to 0xFFFF (ones' complement), the case where the checksum comes out 0. The
    pseudo-header's words are the addresses', the protocol and the length, for IPv4 and IPv6
    alike (RFC 768, RFC 8200 §8.1: the 32-bit length's upper word and the padding are 0)."""
    packed = b"".join(ipaddress.ip_address(host).packed for host, _ in (source, destination))
    words = [int.from_bytes(packed[i:i + 2], "big") for i in range(0, len(packed), 2)]
    length = (8 if tcp is None else 20) + len(prefix) + 2
    header = [source[1], destination[1], length] if tcp is None else [
        source[1], destination[1], tcp[0] >> 16, tcp[0] & 0xFFFF, tcp[1] >> 16, tcp[1] & 0xFFFF,
        (5 << 12) | 0x18, 65535]
    total = (sum(words) + (17 if tcp is None else 6) + length + sum(header)
             + int.from_bytes(prefix, "big") % 0xFFFF)  # prefix: an even number of bytes
    return prefix + ((-total) % 0xFFFF or 0xFFFF).to_bytes(2, "big")


HOSTS = {4: [("127.0.0.1", 5060), ("10.1.0.1", 5060), ("192.0.2.200", 65535), ("10.255.3.7", 1)],
         6: [("::1", 5060), ("2001:db8::10", 5060), ("fe80::1:ffff:ffff", 65535),
             ("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", 1)]}


def test_frames_are_the_ones_scapy_builds(tmp_path: Path) -> None:
    """IPv4 and IPv6 packets in one stream, each frame the one Scapy builds; checksums that come
    out 0 for UDP and TCP over both."""
    import io
    import random

    from pushinject.capture.records import read_records
    from pushinject.sim.pcap import PcapStream

    rng = random.Random(7)
    packets = []
    for _ in range(400):
        source, destination = rng.sample(HOSTS[rng.choice([4, 6])], 2)
        size = rng.choice([0, 1, 2, 3, rng.randrange(1, 1500), rng.randrange(1, 9000)])
        packets.append((rng.random() * 1000, source, destination,
                        bytes(rng.randrange(256) for _ in range(size)), rng.choice(["UDP", "TCP"])))
    assert {len(ipaddress.ip_address(p[1][0]).packed) for p in packets} == {4, 16}
    buffer = io.BytesIO()
    stream = PcapStream(buffer)
    expected = []
    seq: dict[tuple[object, object], int] = {}

    def write(time: float, source: tuple[str, int], destination: tuple[str, int],
              data: bytes | None, transport: str, zero_prefix: bytes = b"") -> None:
        tcp = None
        if transport == "TCP":
            tcp = (seq.get((source, destination), 1), seq.get((destination, source), 1))
        if data is None:  # a payload whose checksum comes out 0
            data = _payload_with_sum(zero_prefix, source, destination, tcp)
        if tcp is not None:
            seq[(source, destination)] = tcp[0] + len(data)
        expected.append(_scapy_frame(len(expected) + 1, source, destination, data, tcp))
        stream.write(time, source, destination, data, transport)

    for packet in packets:
        write(*packet)
    # checksums of 0: a UDP one is sent as 0xFFFF (RFC 768, RFC 8200 §8.1), a TCP one stays 0
    for family in (4, 6):
        hosts = HOSTS[family]
        write(1.0, hosts[0], hosts[1], None, "UDP", b"abcd")
        write(2.0, hosts[2], hosts[3], None, "TCP", b"SIP/")
    path = tmp_path / "t.pcap"
    path.write_bytes(buffer.getvalue())
    assert [record.data for record in read_records(path)] == expected
    assert expected[-4][40:42] == b"\xff\xff"  # the UDP checksum over IPv4
    assert expected[-3][50:52] == b"\x00\x00"  # the TCP checksum over IPv4
    assert expected[-2][12:14] + expected[-2][60:62] == b"\x86\xdd\xff\xff"  # UDP over IPv6
    assert expected[-1][12:14] + expected[-1][70:72] == b"\x86\xdd\x00\x00"  # TCP over IPv6
    assert buffer.getvalue()[:24] == bytes.fromhex(
        "d4c3b2a1" "0200" "0400" "00000000" "00000000" "ffff0000" "01000000")


def test_an_ipv6_frame_field_by_field() -> None:
    """RFC 8200 §3: version 6, payload length, next header 17, hop limit 64, then addresses;
    Ethernet type 0x86DD; MAC addresses from the last 4 bytes of the address."""
    wire = Wire(time=0.0, source="a", destination="b", source_address=("2001:db8::a", 5060),
                destination_address=("::1", 5062), data=b"OPTIONS")
    frame = pcap_bytes([wire])[24 + 16:]
    assert frame[:14].hex() == "020000000001" "02000000000a" "86dd"
    assert frame[14:54].hex() == ("60000000" "000f" "11" "40"
                                  "20010db800000000000000000000000a"
                                  "00000000000000000000000000000001")
    assert frame[54:60].hex() == "13c4" "13c6" "000f"
    assert frame[62:] == b"OPTIONS"


@pytest.mark.parametrize(("source", "destination", "message"), [
    (("::1", 5060), ("127.0.0.1", 5060), "a packet from ::1 to 127.0.0.1 mixes IPv4 and IPv6"),
    (("127.0.0.1", 5060), ("2001:db8::1", 5060),
     "a packet from 127.0.0.1 to 2001:db8::1 mixes IPv4 and IPv6"),
    (("proxy.example.com", 5060), ("127.0.0.1", 5060),
     "'proxy.example.com' does not appear to be an IPv4 or IPv6 address"),
])
def test_a_packet_the_writer_cannot_frame_is_refused_before_anything_is_written(
        source: tuple[str, int], destination: tuple[str, int], message: str) -> None:
    import io

    from pushinject.sim.pcap import PcapStream

    buffer = io.BytesIO()
    stream = PcapStream(buffer)
    with pytest.raises(ValueError) as error:
        stream.write(1.0, source, destination, b"x")
    assert str(error.value) == message
    assert (stream.packets, len(buffer.getvalue())) == (0, 24)


def test_an_ipv6_address_in_brackets_or_with_a_zone_is_the_same_address() -> None:
    """`[::1]` as SIP writes it and `fe80::1%lo` as a socket names a link-local peer give the
    frames of the bare addresses (the zone is not on the wire, RFC 4007 §6)."""
    def frame(source: str, destination: str) -> bytes:
        return pcap_bytes([Wire(time=0.0, source="a", destination="b", data=b"x",
                                source_address=(source, 5060),
                                destination_address=(destination, 5060))])

    assert frame("[::1]", "fe80::1%lo") == frame("::1", "fe80::1") != frame("::1", "fe80::2")
