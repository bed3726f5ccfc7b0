"""Editing real captures with Scapy for the conformance tests: drop, rewrite, copy, insert.

Captures are read from the repository (the committed Kamailio captures) or made by the
simulator in `tmp_path`, edited as lists of Scapy packets, and written back with `wrpcap`.
Lengths and checksums are recomputed by Scapy for every edited packet.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether  # noqa: F401 - registers the Ethernet link type
from scapy.packet import Packet, Raw
from scapy.utils import rdpcap, wrpcap

__all__ = ["read", "sip", "find", "with_sip", "write", "drop", "replace", "forwarded_copy",
           "split", "later"]


def read(path: Path) -> list[Packet]:
    return list(rdpcap(str(path)))


def sip(pkt: Packet) -> bytes:
    """The UDP payload of a packet."""
    return bytes(pkt[UDP].payload)


def find(pkts: list[Packet], start: str, *, contains: str = "", sport: int | None = None,
         dport: int | None = None, nth: int = 0) -> int:
    """The index of the `nth` packet whose SIP start line begins with `start` and whose text
    contains `contains` (and with these ports)."""
    hits = [i for i, p in enumerate(pkts)
            if sip(p).startswith(start.encode()) and contains.encode() in sip(p)
            and (sport is None or p[UDP].sport == sport)
            and (dport is None or p[UDP].dport == dport)]
    return hits[nth]


def with_sip(pkt: Packet, data: bytes, *, time: float | None = None, sport: int | None = None,
             dport: int | None = None) -> Packet:
    """A copy of `pkt` carrying `data`, optionally at another time or between other ports."""
    new = pkt.copy()
    udp = new[UDP]
    udp.remove_payload()
    udp.add_payload(Raw(load=data))
    if sport is not None:
        udp.sport = sport
    if dport is not None:
        udp.dport = dport
    del new[IP].len, new[IP].chksum, udp.len, udp.chksum
    new = new.__class__(bytes(new))
    new.time = pkt.time if time is None else time
    return new


def replace(pkts: list[Packet], old: str, new: str,
            where: Callable[[Packet], bool] = lambda p: True) -> list[Packet]:
    """Every packet with `old` replaced by `new` in its SIP text (where `where` holds)."""
    return [with_sip(p, sip(p).replace(old.encode(), new.encode())) if where(p) else p
            for p in pkts]


def later(pkts: list[Packet], start: int, by: float) -> list[Packet]:
    """The packets with the one at index `start` and every one after it `by` seconds later
    (negative: earlier)."""
    return pkts[:start] + [with_sip(p, sip(p), time=float(p.time) + by) for p in pkts[start:]]


def drop(pkts: list[Packet], *indexes: int) -> list[Packet]:
    return [p for i, p in enumerate(pkts) if i not in indexes]


def forwarded_copy(invite: Packet, target: str, branch: str, *, dport: int, time: float,
                   sport: int = 5060) -> Packet:
    """The caller's INVITE as a proxy would forward it: Request-URI `target`, the proxy's Via
    (branch `branch`) on top, sent from the proxy's port to `dport`."""
    text = sip(invite).decode()
    first, rest = text.split("\r\n", 1)
    method, _, version = first.split(" ")
    data = (f"{method} {target} {version}\r\nVia: SIP/2.0/UDP 127.0.0.1;branch={branch}\r\n"
            + rest).encode()
    return with_sip(invite, data, time=time, sport=sport, dport=dport)


def write(pkts: list[Packet], path: Path) -> Path:
    wrpcap(str(path), pkts)
    return path


def split(path: Path, cuts: list[int], names: list[str], out_dir: Path) -> list[Path]:
    """Cut a classic pcap into the parts `names` in `out_dir`, as a rotating ``tcpdump`` would
    (`pushinject.capture.recording.split_capture`)."""
    from pushinject.capture.recording import split_capture

    return split_capture(path, cuts, [out_dir / name for name in names])
