"""Write messages as a real IPv4 capture (libpcap format) through Scapy: one writer for the
simulator and the live shell.

A UDP message is one datagram. A TCP or TLS message (the live shell's connections) is one TCP
segment with PSH and ACK set; each direction of a connection counts its sequence numbers from 1,
which the capture decoder accepts as a connection whose handshake was not captured. TLS is
written as the plain SIP it carries (the shell records messages, not the encrypted records), so
the capture can be decoded and checked.

Byte-identical output is the rule: the same trace always gives the same file. So timestamps are
the clock plus a fixed epoch (`EPOCH` for the simulator), counted in whole microseconds; the
IPv4 identification field counts packets from 1; MAC addresses are derived from the IPv4
address; checksums are computed by Scapy from those fixed fields. Nothing reads the wall clock
or draws random numbers.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from pushinject.sim.trace import Wire

__all__ = ["EPOCH", "PcapStream", "pcap_bytes", "write_pcap"]

#: the virtual clock's 0.0 in the capture: 2024-01-01T00:00:00Z
EPOCH = 1_704_067_200

Address = tuple[str, int]

_PSH_ACK = "PA"


def _mac(ip: str) -> str:
    """A locally administered MAC address made from an IPv4 address: 02:00:a.b.c.d."""
    return "02:00:" + ":".join(f"{int(part):02x}" for part in ip.split("."))


class PcapStream:
    """Writes packets one at a time to an open binary file (Ethernet link type).

    `epoch` is added to every time given to `write` (seconds since the epoch of time 0.0).
    """

    def __init__(self, out: BinaryIO, epoch: float = EPOCH) -> None:
        from scapy.utils import PcapWriter

        self.epoch = epoch
        self._epoch_us = round(epoch * 1_000_000)
        self.packets = 0
        self._writer = PcapWriter(out, linktype=1, sync=True)
        self._writer.write_header(None)
        #: next sequence number of each TCP direction (source, destination)
        self._seq: dict[tuple[Address, Address], int] = {}

    def write(self, time: float, source: Address, destination: Address, data: bytes,
              transport: str = "UDP") -> None:
        """One message sent at `time` from `source` to `destination` over `transport`."""
        from scapy.layers.inet import IP, TCP, UDP
        from scapy.layers.l2 import Ether
        from scapy.packet import Raw

        self.packets += 1
        (src, sport), (dst, dport) = source, destination
        ip = IP(src=src, dst=dst, id=self.packets & 0xFFFF, ttl=64, flags="DF")
        if transport.upper() == "UDP":
            layer4 = UDP(sport=sport, dport=dport)
        else:
            seq = self._seq.get((source, destination), 1)
            ack = self._seq.get((destination, source), 1)
            self._seq[(source, destination)] = (seq + len(data)) & 0xFFFFFFFF
            layer4 = TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=_PSH_ACK,
                         window=65535)
        packet = Ether(src=_mac(src), dst=_mac(dst)) / ip / layer4 / Raw(load=data)
        micros = self._epoch_us + round(time * 1_000_000)
        self._writer.write_packet(bytes(packet), sec=micros // 1_000_000,
                                  usec=micros % 1_000_000)

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
