"""Recipes of the purpose-made captures in data/captures/ (tests rebuild them byte for byte).

`encapsulations.pcap`: one call through a proxy, each message carried differently: 802.1ad +
802.1Q tags, IPv4 fragments (out of order), GRE, TCP split over out-of-order segments with a
retransmission, SIP over WebSocket (the server's frames plain, the client's masked), SCTP DATA
chunks, and RTP over IPv6 around it. Timestamps are fixed, so the bytes never change.
"""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import GRE, IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.packet import Packet
from scapy.utils import RawPcapWriter

from pushinject.capture.websocket import unmask


#: fixed MAC addresses (an Ether() without them makes Scapy look the address up)
MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def eth() -> Ether:
    """An Ethernet header with fixed addresses."""
    return Ether(src=MAC_A, dst=MAC_B)


CALLER, PROXY, PHONE = "192.0.2.10", "192.0.2.1", "192.0.2.20"
CALL = "enc-1@192.0.2.10"


def _sip(start: str, cseq: str, vias: list[str], to_tag: str = "", body: bytes = b"") -> bytes:
    via = "".join(f"Via: SIP/2.0/UDP {v}\r\n" for v in vias)
    text = (f"{start}\r\n{via}From: <sip:alice@example.com>;tag=a1\r\n"
            f"To: <sip:bob@example.com>{to_tag}\r\nCall-ID: {CALL}\r\nCSeq: {cseq}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return text.encode() + body


UP = f"{CALLER}:5060;branch=z9hG4bK-up"
DOWN = f"{PROXY}:5060;branch=z9hG4bK-down"


def frames() -> list[tuple[float, bytes]]:
    """(time, frame bytes) of encapsulations.pcap, in file order."""
    out: list[tuple[float, Packet | bytes]] = []
    t = 1_700_000_000.0
    invite = _sip("INVITE sip:bob@example.com SIP/2.0", "1 INVITE", [UP], body=b"v=0\r\n" * 300)
    # 1-3: the INVITE in three IPv4 fragments, the last one first; QinQ tags on every one
    pieces = fragment(IP(src=CALLER, dst=PROXY, id=77) / UDP(sport=5060, dport=5060) / invite,
                      fragsize=600)
    for i, piece in enumerate([pieces[2], pieces[0], pieces[1]]):
        out.append((t + 0.001 * i, eth() / Dot1AD(vlan=100) / Dot1Q(vlan=200) / piece))
    # 4: 100 Trying to the caller, plain UDP
    out.append((t + 0.01, eth() / IP(src=PROXY, dst=CALLER) / UDP(sport=5060, dport=5060)
                / _sip("SIP/2.0 100 Trying", "1 INVITE", [UP])))
    # 5: the INVITE forwarded to the phone inside a GRE tunnel
    fwd = _sip("INVITE sip:bob@192.0.2.20 SIP/2.0", "1 INVITE", [DOWN, UP])
    out.append((t + 0.02, eth() / IP(src="198.51.100.1", dst="198.51.100.2") / GRE()
                / IP(src=PROXY, dst=PHONE) / UDP(sport=5060, dport=5060) / fwd))
    # 6-9: 180 from the phone over TCP: SYN, two out-of-order segments, a retransmission
    ringing = _sip("SIP/2.0 180 Ringing", "1 INVITE", [DOWN, UP], ";tag=b1")

    def tcp(seq: int, data: bytes = b"", flags: str = "PA") -> Packet:
        return (eth() / IP(src=PHONE, dst=PROXY)
                / TCP(sport=40000, dport=5060, seq=seq, flags=flags) / data)

    out.append((t + 0.03, tcp(999, flags="S")))
    out.append((t + 0.031, tcp(1000 + 50, ringing[50:])))
    out.append((t + 0.032, tcp(1000, ringing[:50])))
    out.append((t + 0.033, tcp(1000, ringing[:50])))
    # 10-11: 180 to the caller over WebSocket: the upgrade answer, then one unmasked frame
    ws_ringing = _sip("SIP/2.0 180 Ringing", "1 INVITE", [UP], ";tag=b1")
    upgrade = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
    frame = bytes([0x81, 126]) + len(ws_ringing).to_bytes(2, "big") + ws_ringing

    def ws(seq: int, data: bytes) -> Packet:
        return (eth() / IP(src=PROXY, dst=CALLER)
                / TCP(sport=8080, dport=50000, seq=seq, flags="PA") / data)

    out.append((t + 0.04, ws(1, upgrade)))
    out.append((t + 0.041, ws(1 + len(upgrade), frame)))
    # 12-13: 200 from the phone over SCTP in two DATA chunks
    ok = _sip("SIP/2.0 200 OK", "1 INVITE", [DOWN, UP], ";tag=b1")
    for i, (flags, part) in enumerate([((1, 0), ok[:80]), ((0, 1), ok[80:])]):
        out.append((t + 1.0 + 0.001 * i, eth() / IP(src=PHONE, dst=PROXY)
                    / SCTP(sport=5060, dport=5060)
                    / SCTPChunkData(tsn=10 + i, beginning=flags[0], ending=flags[1], data=part)))
    # 14: 200 to the caller; 15: ACK from the caller as a masked WebSocket frame
    out.append((t + 1.01, eth() / IP(src=PROXY, dst=CALLER) / UDP(sport=5060, dport=5060)
                / _sip("SIP/2.0 200 OK", "1 INVITE", [UP], ";tag=b1")))
    ack = _sip("ACK sip:bob@192.0.2.20 SIP/2.0", "1 ACK", [f"{CALLER}:5060;branch=z9hG4bK-ack"],
               ";tag=b1")
    key = b"\x11\x22\x33\x44"
    masked = bytes([0x81, 0x80 | 126]) + len(ack).to_bytes(2, "big") + key + unmask(key, ack)
    out.append((t + 1.02, eth() / IP(src=CALLER, dst=PROXY)
                / TCP(sport=50001, dport=8080, seq=1, flags="PA")
                / (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n" + masked)))
    # 16-18: RTP over IPv6 between the media addresses
    for i in range(3):
        out.append((t + 1.1 + 0.02 * i, eth() / IPv6(src="2001:db8::10", dst="2001:db8::20")
                    / UDP(sport=40000, dport=40002) / (b"\x80\x00" + bytes(170))))
    return [(when, bytes(pkt)) for when, pkt in out]


def write(path: Path) -> None:
    """Write encapsulations.pcap to `path`."""
    with RawPcapWriter(str(path), linktype=1) as writer:
        writer.write_header(None)
        for when, data in frames():
            sec = int(when)
            writer.write_packet(data, sec=sec, usec=round((when - sec) * 1e6))
