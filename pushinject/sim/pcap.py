"""Write a simulation's messages as a real UDP/IPv4 capture (libpcap format) through Scapy.

Byte-identical output is the rule: the same trace always gives the same file. So timestamps are
the virtual clock plus the fixed `EPOCH`, counted in whole microseconds; the IPv4 identification
field counts packets from 1; MAC addresses are derived from the IPv4 address; checksums are
computed by Scapy from those fixed fields. Nothing reads the wall clock or draws random numbers.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from pushinject.sim.trace import Wire

__all__ = ["EPOCH", "pcap_bytes", "write_pcap"]

#: the virtual clock's 0.0 in the capture: 2024-01-01T00:00:00Z
EPOCH = 1_704_067_200


def _mac(ip: str) -> str:
    """A locally administered MAC address made from an IPv4 address: 02:00:a.b.c.d."""
    return "02:00:" + ":".join(f"{int(part):02x}" for part in ip.split("."))


def pcap_bytes(wires: Iterable[Wire]) -> bytes:
    """The libpcap file (Ethernet link type) holding one UDP datagram per `Wire`."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import PcapWriter

    buffer = io.BytesIO()
    writer = PcapWriter(buffer, linktype=1, sync=True)
    writer.write_header(None)
    for number, wire in enumerate(wires, start=1):
        (src, sport), (dst, dport) = wire.source_address, wire.destination_address
        packet = (
            Ether(src=_mac(src), dst=_mac(dst))
            / IP(src=src, dst=dst, id=number & 0xFFFF, ttl=64, flags="DF")
            / UDP(sport=sport, dport=dport)
            / Raw(load=wire.data)
        )
        micros = round(wire.time * 1_000_000)
        writer.write_packet(bytes(packet), sec=EPOCH + micros // 1_000_000,
                            usec=micros % 1_000_000)
    return buffer.getvalue()


def write_pcap(path: str | Path, wires: Iterable[Wire]) -> None:
    """Write `pcap_bytes(wires)` to `path`."""
    Path(path).write_bytes(pcap_bytes(wires))
