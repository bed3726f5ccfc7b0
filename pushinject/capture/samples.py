"""Recipes of the purpose-made captures in `data/captures/`; tests rebuild each byte for byte.

Each recipe returns (time, frame bytes) pairs with fixed timestamps and addresses, so the bytes
never change; `write(name, path)` writes one capture, `RECIPES` names them all.

- ``encapsulations.pcap`` (Ethernet): one call through a proxy, each message carried
  differently: 802.1ad + 802.1Q tags, IPv4 fragments (out of order), GRE, TCP split over
  out-of-order segments with a retransmission, SIP over WebSocket (the server's frames plain,
  the client's masked), SCTP DATA chunks, and RTP over IPv6 around it.
- ``cooked-ipv6.pcap`` (Linux cooked capture v1, link type 113): one call through a proxy over
  IPv6; both INVITEs are larger than the link and travel in IPv6 fragments (RFC 8200 §4.5), the
  forwarded one out of order; the phone's side forks, so two early dialogs (two To tags in
  183s, RFC 3261 §12.1) reach the caller before the 200 confirms the first.
- ``damaged.pcap`` (raw IP, link type 101: no link header at all): an INVITE and its 200 whose
  Content-Length values are not numbers; a decoder keeps both and reports the fault.
- ``dropped.pcapng`` (Ethernet, pcapng): one call through a proxy whose relayed 200 the
  recording lost; the file's Interface Statistics Block says so, as dumpcap writes it (CAP-8).
- ``mirrored.pcap`` (Ethernet): one call through a proxy recorded by a port mirror that sees
  the proxy's leg to the phone twice, each packet again 0.3 ms later, among them the INVITE
  retransmitted T1 after it; the checker sets the copies aside and keeps the retransmission
  (CAP-11).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import GRE, CookedLinux, Dot1AD, Dot1Q, Ether
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.packet import Packet
from scapy.utils import RawPcapWriter

from pushinject.capture.websocket import unmask

__all__ = ["RECIPES", "STATISTICS", "write", "frames", "cooked_ipv6_frames", "damaged_frames",
           "dropped_frames", "mirrored_frames"]

#: fixed MAC addresses (an Ether() without them makes Scapy look the address up)
MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def eth() -> Ether:
    """An Ethernet header with fixed addresses."""
    return Ether(src=MAC_A, dst=MAC_B)


CALLER, PROXY, PHONE = "192.0.2.10", "192.0.2.1", "192.0.2.20"
CALL = "enc-1@192.0.2.10"


def _sip(start: str, cseq: str, vias: list[str], to_tag: str = "", body: bytes = b"",
         call: str = CALL) -> bytes:
    via = "".join(f"Via: SIP/2.0/UDP {v}\r\n" for v in vias)
    text = (f"{start}\r\n{via}From: <sip:alice@example.com>;tag=a1\r\n"
            f"To: <sip:bob@example.com>{to_tag}\r\nCall-ID: {call}\r\nCSeq: {cseq}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return text.encode() + body


UP = f"{CALLER}:5060;branch=z9hG4bK-up"
DOWN = f"{PROXY}:5060;branch=z9hG4bK-down"


# ----------------------------------------------------------------------- encapsulations.pcap

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


# -------------------------------------------------------------------------- cooked-ipv6.pcap

C6_CALLER, C6_PROXY, C6_PHONE = "2001:db8::10", "2001:db8::1", "2001:db8::20"
C6_CALL = "c6-1@[2001:db8::10]"


def _sip6(start: str, cseq: str, vias: list[str], to_tag: str = "", body: bytes = b"") -> bytes:
    via = "".join(f"Via: SIP/2.0/UDP {v}\r\n" for v in vias)
    kind = "Content-Type: application/sdp\r\n" if body else ""
    text = (f"{start}\r\n{via}Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=c6a\r\n"
            f"To: <sip:bob@example.com>{to_tag}\r\nCall-ID: {C6_CALL}\r\nCSeq: {cseq}\r\n"
            f"{kind}Content-Length: {len(body)}\r\n\r\n")
    return text.encode() + body


def _sdp(host: str) -> bytes:
    """An offer long enough (many codecs) not to fit a 1280-byte IPv6 link MTU."""
    lines = ["v=0", f"o=- 1 1 IN IP6 {host}", "s=-", f"c=IN IP6 {host}", "t=0 0",
             "m=audio 40000 RTP/AVP " + " ".join(str(n) for n in range(96, 128))]
    lines += [f"a=rtpmap:{n} codec{n}/48000/2" for n in range(96, 128)]
    return ("\r\n".join(lines) + "\r\n").encode()


def _cooked(src: str, dst: str, sport: int, dport: int, payload: bytes | Packet,
            ) -> list[Packet]:
    """Linux cooked v1 frames of one UDP datagram over IPv6: one frame, or IPv6 fragments
    (1280-byte pieces, the IPv6 minimum MTU) when it does not fit."""
    udp = IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(id=0x6C6) / UDP(sport=sport,
                                                                    dport=dport) / payload
    if len(bytes(udp)) <= 1280:
        pieces = [IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload]
    else:
        pieces = list(fragment6(udp, 1280))
    link = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=MAC_A.encode()[:8],
                       proto=0x86DD)
    return [link / piece for piece in pieces]


def cooked_ipv6_frames() -> list[tuple[float, bytes]]:
    """(time, frame bytes) of cooked-ipv6.pcap, in file order."""
    up = f"[{C6_CALLER}]:5060;branch=z9hG4bK-c6-up"
    down = f"[{C6_PROXY}]:5060;branch=z9hG4bK-c6-down"
    uri, contact = "sip:bob@example.com", f"sip:bob@[{C6_PHONE}]:5062"
    caller = (C6_CALLER, 5060)
    proxy = (C6_PROXY, 5060)
    phone = (C6_PHONE, 5062)
    steps: list[tuple[tuple[str, int], tuple[str, int], bytes, bool]] = [
        (caller, proxy, _sip6(f"INVITE {uri} SIP/2.0", "1 INVITE", [up], body=_sdp(C6_CALLER)),
         False),
        (proxy, caller, _sip6("SIP/2.0 100 Trying", "1 INVITE", [up]), False),
        (proxy, phone, _sip6(f"INVITE {contact} SIP/2.0", "1 INVITE", [down, up],
                             body=_sdp(C6_CALLER)), True),
    ]
    for tag in ("t1", "t2"):  # a forking element behind the phone's address: two early dialogs
        ringing = ("SIP/2.0 183 Session Progress", "1 INVITE")
        steps.append((phone, proxy, _sip6(*ringing, [down, up], f";tag={tag}"), False))
        steps.append((proxy, caller, _sip6(*ringing, [up], f";tag={tag}"), False))
    steps += [
        (phone, proxy, _sip6("SIP/2.0 200 OK", "1 INVITE", [down, up], ";tag=t1"), False),
        (proxy, caller, _sip6("SIP/2.0 200 OK", "1 INVITE", [up], ";tag=t1"), False),
        (caller, proxy, _sip6(f"ACK {contact} SIP/2.0", "1 ACK",
                              [f"[{C6_CALLER}]:5060;branch=z9hG4bK-c6-ack"], ";tag=t1"), False),
        (proxy, phone, _sip6(f"ACK {contact} SIP/2.0", "1 ACK",
                             [f"[{C6_PROXY}]:5060;branch=z9hG4bK-c6-ack2",
                              f"[{C6_CALLER}]:5060;branch=z9hG4bK-c6-ack"], ";tag=t1"), False),
    ]
    out: list[tuple[float, bytes]] = []
    t = 1_700_000_100.0
    for (src, sport), (dst, dport), payload, reverse in steps:
        frames_ = _cooked(src, dst, sport, dport, payload)
        for frame in reversed(frames_) if reverse else frames_:
            out.append((t, bytes(frame)))
            t += 0.001
        t += 0.1
    return out


# ----------------------------------------------------------------------------- damaged.pcap

def damaged_frames() -> list[tuple[float, bytes]]:
    """(time, frame bytes) of damaged.pcap: raw IPv4 packets, an INVITE with
    ``Content-Length: bad`` and its 200 with ``Content-Length: xyz``."""
    a, b = "192.0.2.30", "192.0.2.31"
    vias = [f"{a}:5060;branch=z9hG4bK-dmg"]
    invite = _sip("INVITE sip:bob@example.com SIP/2.0", "1 INVITE", vias).replace(
        b"Content-Length: 0", b"Content-Length: bad")
    ok = _sip("SIP/2.0 200 OK", "1 INVITE", vias, ";tag=d1").replace(
        b"Content-Length: 0", b"Content-Length: xyz")
    t = 1_700_000_200.0
    return [(t, bytes(IP(src=a, dst=b, id=1) / UDP(sport=5060, dport=5060) / invite)),
            (t + 0.05, bytes(IP(src=b, dst=a, id=2) / UDP(sport=5060, dport=5060) / ok))]


# ------------------------------------------------------------------------------ dropped.pcapng

def dropped_frames() -> list[tuple[float, bytes]]:
    """(time, frame bytes) of dropped.pcapng: a call through the proxy, every message over
    UDP but the 200 the proxy relayed to the caller, which the recording lost."""
    call = "drop-1@192.0.2.10"
    up, down = f"{CALLER}:5060;branch=z9hG4bK-dup", f"{PROXY}:5060;branch=z9hG4bK-ddown"
    ack_up = f"{CALLER}:5060;branch=z9hG4bK-dack"
    ack_down = f"{PROXY}:5060;branch=z9hG4bK-dackdown"
    steps = [
        (CALLER, PROXY, _sip("INVITE sip:bob@example.com SIP/2.0", "1 INVITE", [up], call=call)),
        (PROXY, CALLER, _sip("SIP/2.0 100 Trying", "1 INVITE", [up], call=call)),
        (PROXY, PHONE, _sip("INVITE sip:bob@192.0.2.20 SIP/2.0", "1 INVITE", [down, up],
                            call=call)),
        (PHONE, PROXY, _sip("SIP/2.0 180 Ringing", "1 INVITE", [down, up], ";tag=b1", call=call)),
        (PROXY, CALLER, _sip("SIP/2.0 180 Ringing", "1 INVITE", [up], ";tag=b1", call=call)),
        (PHONE, PROXY, _sip("SIP/2.0 200 OK", "1 INVITE", [down, up], ";tag=b1", call=call)),
        # the 200 relayed to the caller: on the wire, not in the file
        (CALLER, PROXY, _sip("ACK sip:bob@192.0.2.20 SIP/2.0", "1 ACK", [ack_up], ";tag=b1",
                             call=call)),
        (PROXY, PHONE, _sip("ACK sip:bob@192.0.2.20 SIP/2.0", "1 ACK", [ack_down, ack_up],
                            ";tag=b1", call=call)),
    ]
    t = 1_700_000_300.0
    times = [0.0, 0.001, 0.002, 0.05, 0.051, 2.0, 2.06, 2.061]
    return [(t + dt, bytes(eth() / IP(src=a, dst=b, id=i + 1) / UDP(sport=5060, dport=5060)
                           / data))
            for i, (dt, (a, b, data)) in enumerate(zip(times, steps, strict=True))]


# ------------------------------------------------------------------------------ mirrored.pcap

def mirrored_frames() -> list[tuple[float, bytes]]:
    """(time, frame bytes) of mirrored.pcap: a call through the proxy recorded by a port
    mirror that sees the proxy's leg to the phone twice (each of its packets again, the same
    bytes, 0.3 ms later); the proxy's INVITE is retransmitted once, T1 (500 ms) after it."""
    call = "mirror-1@192.0.2.10"
    up, down = f"{CALLER}:5060;branch=z9hG4bK-mup", f"{PROXY}:5060;branch=z9hG4bK-mdown"
    ack_up = f"{CALLER}:5060;branch=z9hG4bK-mack"
    ack_down = f"{PROXY}:5060;branch=z9hG4bK-mackdown"
    invite = _sip("INVITE sip:bob@192.0.2.20 SIP/2.0", "1 INVITE", [down, up], call=call)
    steps = [  # (seconds, sender, receiver, message): the phone's leg is recorded twice
        (0.000, CALLER, PROXY,
         _sip("INVITE sip:bob@example.com SIP/2.0", "1 INVITE", [up], call=call)),
        (0.001, PROXY, CALLER, _sip("SIP/2.0 100 Trying", "1 INVITE", [up], call=call)),
        (0.002, PROXY, PHONE, invite),
        (0.502, PROXY, PHONE, invite),
        (0.600, PHONE, PROXY,
         _sip("SIP/2.0 180 Ringing", "1 INVITE", [down, up], ";tag=m1", call=call)),
        (0.601, PROXY, CALLER, _sip("SIP/2.0 180 Ringing", "1 INVITE", [up], ";tag=m1",
                                    call=call)),
        (2.000, PHONE, PROXY,
         _sip("SIP/2.0 200 OK", "1 INVITE", [down, up], ";tag=m1", call=call)),
        (2.001, PROXY, CALLER, _sip("SIP/2.0 200 OK", "1 INVITE", [up], ";tag=m1", call=call)),
        (2.060, CALLER, PROXY, _sip("ACK sip:bob@192.0.2.20 SIP/2.0", "1 ACK", [ack_up],
                                    ";tag=m1", call=call)),
        (2.061, PROXY, PHONE, _sip("ACK sip:bob@192.0.2.20 SIP/2.0", "1 ACK",
                                   [ack_down, ack_up], ";tag=m1", call=call)),
    ]
    t = 1_700_000_400.0
    out = []
    for i, (dt, a, b, data) in enumerate(steps):
        frame = bytes(eth() / IP(src=a, dst=b, id=i + 1) / UDP(sport=5060, dport=5060) / data)
        out.append((t + dt, frame))
        if PHONE in (a, b):
            out.append((t + dt + 0.0003, frame))
    return out


# --------------------------------------------------------------------------------- writing

#: every capture of data/captures/ by file name: (link type, recipe)
RECIPES: dict[str, tuple[int, Callable[[], list[tuple[float, bytes]]]]] = {
    "encapsulations.pcap": (1, frames),
    "cooked-ipv6.pcap": (113, cooked_ipv6_frames),
    "damaged.pcap": (101, damaged_frames),
    "dropped.pcapng": (1, dropped_frames),
    "mirrored.pcap": (1, mirrored_frames),
}

#: the pcapng captures' statistics: (packets the interface received, packets it dropped)
STATISTICS: dict[str, tuple[int, int]] = {"dropped.pcapng": (9, 1)}


def write(name: str, path: Path) -> None:
    """Write the capture `name` of `RECIPES` to `path` (pcap, or pcapng for a ``.pcapng``
    name; microsecond stamps)."""
    linktype, recipe = RECIPES[name]
    if name.endswith(".pcapng"):
        path.write_bytes(_pcapng(linktype, recipe(), *STATISTICS[name]))
        return
    with RawPcapWriter(str(path), linktype=linktype) as writer:
        writer.write_header(None)
        for when, data in recipe():
            sec = int(when)
            writer.write_packet(data, sec=sec, usec=round((when - sec) * 1e6))


def _block(kind: int, body: bytes) -> bytes:
    """A little-endian pcapng block: type, total length, body padded to 32 bits, length."""
    body += bytes(-len(body) % 4)
    return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def _pcapng(linktype: int, records: list[tuple[float, bytes]], received: int,
            dropped: int) -> bytes:
    """One section, one interface (microsecond stamps), an Enhanced Packet Block per record,
    then the interface's statistics as a capturing program writes them when it stops
    (``isb_ifrecv``, ``isb_ifdrop``): draft-ietf-opsawg-pcapng §4.1-§4.3, §4.6."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           _block(1, struct.pack("<HHI", linktype, 0, 262144))]
    stamp = 0
    for when, data in records:
        stamp = round(when * 1e6)
        out.append(_block(6, struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF,
                                         len(data), len(data)) + data))
    counters = struct.pack("<HHQHHQ", 4, 8, received, 5, 8, dropped) + bytes(4)
    out.append(_block(5, struct.pack("<III", 0, stamp >> 32, stamp & 0xFFFFFFFF) + counters))
    return b"".join(out)
