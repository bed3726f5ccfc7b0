"""Write messages as a real IPv4 or IPv6 capture (libpcap format): one writer for the simulator
and the live shell.

A UDP message is one datagram. A TCP or TLS message (the live shell's connections) is one TCP
segment with PSH and ACK set; each direction of a connection counts its sequence numbers from 1,
which the capture decoder accepts as a connection whose handshake was not captured. TLS is
written as the plain SIP it carries (the shell records messages, not the encrypted records), so
the capture can be decoded and checked.

Byte-identical output is the rule: the same trace always gives the same file. So timestamps are
the clock plus a fixed epoch (`EPOCH` for the simulator), counted in whole microseconds; the
IPv4 identification field counts packets from 1; MAC addresses are derived from the IP
address; checksums are computed from those fixed fields. Nothing reads the wall clock or draws
random numbers.

The frames are packed here field by field (a capture of the simulator holds hundreds of
thousands): Ethernet II, then an IPv4 header of 20 bytes (TTL 64, Don't Fragment) or an IPv6
header of 40 bytes (RFC 8200 §3: traffic class and flow label 0, hop limit 64, no extension
headers), then UDP (RFC 768) or a TCP header of 20 bytes without options (RFC 793). Each
checksum is the ones' complement of the ones' complement sum of 16-bit words (RFC 1071) over the
IPv4 header, or for UDP and TCP over the pseudo-header and the segment: addresses, protocol and
length for IPv4, addresses, 32-bit length and next header for IPv6 (RFC 8200 §8.1). A UDP
checksum that comes out 0 is sent as 0xFFFF (RFC 768; over IPv6 the checksum is mandatory and
0xFFFF the only way to write a computed 0, RFC 8200 §8.1). Both ends of a packet are of one
family: an IPv4 source with an IPv6 destination is refused (`ValueError`). The file is
little-endian, version 2.4, snapshot length 65535, link type 1 (Ethernet). These are the bytes
Scapy builds for the same packets (tests/test_sim_pcap.py holds the two side by side).
"""

from __future__ import annotations

import io
import ipaddress
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from pushinject.sim.trace import Wire

__all__ = ["EPOCH", "PcapStream", "pcap_bytes", "write_pcap"]

#: the virtual clock's 0.0 in the capture: 2024-01-01T00:00:00Z
EPOCH = 1_704_067_200

Address = tuple[str, int]

#: the file header: magic, version 2.4, zone 0, sigfigs 0, snapshot length, Ethernet
_FILE_HEADER = struct.pack("<IHHIIII", 0xA1B2C3D4, 2, 4, 0, 0, 0xFFFF, 1)
#: a record header: seconds, microseconds, captured length, length on the wire
_RECORD = struct.Struct("<IIII")
#: IPv4 header (version 4, 5 words, TOS 0) up to the checksum: length, id, DF, TTL 64, protocol
_IP = struct.Struct("!BBHHHBB")
_UDP, _TCP = 17, 6
#: the TCP header's data offset (5 words, no options) and flags: PSH and ACK
_TCP_OFFSET_FLAGS = (5 << 12) | 0x18
_TCP_WINDOW = 65535
_ETHER_IPV4 = b"\x08\x00"
_ETHER_IPV6 = b"\x86\xdd"
#: IPv6 header (RFC 8200 §3) up to the addresses: version 6 with traffic class and flow label 0,
#: payload length, next header, hop limit 64
_IPV6 = struct.Struct("!IHBB")


def _packed(ip: str) -> bytes:
    """The 4 bytes of an IPv4 address or the 16 of an IPv6 one (brackets and a zone index
    allowed: `[fe80::1%eth0]`); `ValueError` for anything else."""
    return ipaddress.ip_address(ip.strip("[]").partition("%")[0]).packed


def _sum(data: bytes) -> int:
    """The 16-bit words of `data` (a 0 byte added to an odd length) summed modulo 0xFFFF, which
    is their ones' complement sum with 0xFFFF written 0 (RFC 1071 §2: 2**16 is 1 modulo 0xFFFF,
    so the end-around carry is the modulo)."""
    if len(data) & 1:
        data += b"\x00"
    return int.from_bytes(data, "big") % 0xFFFF


def _checksum(total: int) -> int:
    """The checksum for a sum of words that is not all zeros (`_sum`, added modulo 0xFFFF):
    the complement of its ones' complement sum (a sum of 0xFFFF, written 0, gives 0)."""
    return 0xFFFF - total if total else 0


class PcapStream:
    """Writes packets one at a time to an open binary file (Ethernet link type), flushing it
    after each one (a live capture is whole up to its last packet).

    `epoch` is added to every time given to `write` (seconds since the epoch of time 0.0).
    """

    def __init__(self, out: BinaryIO, epoch: float = EPOCH) -> None:
        self.epoch = epoch
        self._epoch_us = round(epoch * 1_000_000)
        self.packets = 0
        self._out = out
        out.write(_FILE_HEADER)
        out.flush()
        #: next sequence number of each TCP direction (source, destination)
        self._seq: dict[tuple[Address, Address], int] = {}
        #: each IP address seen: packed, and the locally administered MAC address made from its
        #: last 4 bytes (02:00:a.b.c.d for IPv4)
        self._hosts: dict[str, tuple[bytes, bytes]] = {}

    def _host(self, ip: str) -> tuple[bytes, bytes]:
        host = self._hosts.get(ip)
        if host is None:
            packed = _packed(ip)
            host = self._hosts[ip] = (packed, b"\x02\x00" + packed[-4:])
        return host

    def write(self, time: float, source: Address, destination: Address, data: bytes,
              transport: str = "UDP") -> None:
        """One message sent at `time` from `source` to `destination` over `transport`."""
        (src, sport), (dst, dport) = source, destination
        src_ip, src_mac = self._host(src)
        dst_ip, dst_mac = self._host(dst)
        if len(src_ip) != len(dst_ip):
            raise ValueError(f"a packet from {src} to {dst} mixes IPv4 and IPv6")
        self.packets += 1
        if transport.upper() == "UDP":
            protocol = _UDP
            length = 8 + len(data)
            total = (_sum(src_ip + dst_ip) + protocol + length + sport + dport + length
                     + _sum(data))
            checksum = _checksum(total % 0xFFFF) or 0xFFFF  # RFC 768: 0 means "none"
            layer4 = struct.pack("!HHHH", sport, dport, length, checksum)
        else:
            protocol = _TCP
            seq = self._seq.get((source, destination), 1)
            ack = self._seq.get((destination, source), 1)
            self._seq[(source, destination)] = (seq + len(data)) & 0xFFFFFFFF
            length = 20 + len(data)
            header = struct.pack("!HHIIHHHH", sport, dport, seq, ack, _TCP_OFFSET_FLAGS,
                                 _TCP_WINDOW, 0, 0)
            total = _sum(src_ip + dst_ip) + protocol + length + _sum(header) + _sum(data)
            layer4 = header[:16] + _checksum(total % 0xFFFF).to_bytes(2, "big") + header[18:]
        addresses = src_ip + dst_ip
        if len(src_ip) == 4:
            ip = _IP.pack(0x45, 0, 20 + length, self.packets & 0xFFFF, 0x4000, 64, protocol)
            ip += _checksum(_sum(ip + addresses)).to_bytes(2, "big") + addresses
            ether = _ETHER_IPV4
        else:
            ip = _IPV6.pack(6 << 28, length, protocol, 64) + addresses
            ether = _ETHER_IPV6
        frame = b"".join((dst_mac, src_mac, ether, ip, layer4, data))
        micros = self._epoch_us + round(time * 1_000_000)
        out = self._out
        out.write(_RECORD.pack(micros // 1_000_000, micros % 1_000_000, len(frame), len(frame)))
        out.write(frame)
        out.flush()

    def forget(self, source: Address, destination: Address) -> None:
        """A connection ended: a new one between the same addresses counts from 1 again."""
        self._seq.pop((source, destination), None)
        self._seq.pop((destination, source), None)


def pcap_bytes(wires: Iterable[Wire]) -> bytes:
    """The libpcap file holding one UDP datagram per `Wire`."""
    buffer = io.BytesIO()
    stream = PcapStream(buffer)
    for wire in wires:
        stream.write(wire.time, wire.source_address, wire.destination_address, wire.data)
    return buffer.getvalue()


def write_pcap(path: str | Path, wires: Iterable[Wire]) -> None:
    """Write `pcap_bytes(wires)` to `path`."""
    Path(path).write_bytes(pcap_bytes(wires))
