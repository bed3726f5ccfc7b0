"""The fast path: slicing common encapsulations by hand from raw record bytes.

Covers the link types Ethernet (1), BSD loopback/NULL (0, 108), Linux cooked v1 (113) and v2
(276), raw IP (12, 101, 228, 229); IEEE 802.1Q/802.1ad VLAN tags (QinQ included); IPv4 (RFC 791)
and IPv6 with its extension headers (RFC 8200 §4); IP-in-IP (RFC 2003), IPv6-in-IPv4 (RFC 4213)
and GRE (RFC 2784, RFC 2890 key/sequence, RFC 2637 enhanced GRE carrying PPP, RFC 1661); UDP, TCP
and SCTP headers. Anything else is left to the Scapy path (`FALLBACK`), so that the two paths
give the same result on every capture.
"""

from __future__ import annotations

from socket import AF_INET6, inet_ntoa, inet_ntop

from pushinject.capture.packets import (
    FALLBACK,
    IPPacket,
    SCTPChunk,
    SCTPPacket,
    TCPSegment,
    UDPSegment,
)

__all__ = ["link", "ip", "tunnel", "transport", "ether_udp4", "TUNNELS", "LINKTYPES"]

#: IP protocol numbers of tunnels whose payload is another IP packet (or GRE)
TUNNELS = frozenset({4, 41, 47})
#: link types the fast path slices itself
LINKTYPES = frozenset({0, 1, 12, 101, 108, 113, 228, 229, 276})

_VLAN = (0x8100, 0x88A8, 0x9100)
_IPV6_EXTENSIONS = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options


def _ethertype(kind: int, data: bytes, offset: int) -> IPPacket | str:
    while kind in _VLAN:
        if len(data) < offset + 4:
            return "truncated"
        kind = data[offset + 2] << 8 | data[offset + 3]
        offset += 4
    if kind == 0x0800 or kind == 0x86DD:
        return ip(data[offset:])
    if kind <= 1500 or kind in (0x0806, 0x88CC, 0x8035, 0x888E, 0x88E5, 0x88F7):
        return "not-ip"
    return FALLBACK


def ether_udp4(data: bytes) -> tuple[str, int, str, int, bytes] | None:
    """The commonest frame in one step: untagged Ethernet, IPv4 without options or
    fragmentation, UDP with consistent lengths -> (source, source port, destination, destination
    port, payload); None for anything else (the caller then takes the general path, which gives
    the same result for these frames).

    >>> frame = bytes(12) + bytes.fromhex("0800" "4500002000010000401100000a0000010a000002"
    ...                                   "13c413c4000c0000") + b"SIP!"
    >>> ether_udp4(frame[:-4]) is None  # the UDP length says 4 more bytes than were captured
    True
    >>> ether_udp4(frame)
    ('10.0.0.1', 5060, '10.0.0.2', 5060, b'SIP!')
    """
    if (data[12:15] != b"\x08\x00\x45" or data[23] != 17 or data[20] & 0x3F or data[21]
            or len(data) < 42):
        return None
    total = data[16] << 8 | data[17]
    length = data[38] << 8 | data[39]
    if total < 28 or 14 + total > len(data) or length < 8 or length > total - 20:
        return None
    return (inet_ntoa(data[26:30]), data[34] << 8 | data[35], inet_ntoa(data[30:34]),
            data[36] << 8 | data[37], data[42 : 34 + length])


def link(linktype: int, data: bytes) -> IPPacket | str:
    """The first IP packet of a frame, a skip reason, or `FALLBACK`.

    >>> frame = bytes(12) + b"\\x08\\x06" + bytes(28)
    >>> link(1, frame)
    'not-ip'
    """
    if linktype == 1:
        if len(data) < 14:
            return "truncated"
        return _ethertype(data[12] << 8 | data[13], data, 14)
    if linktype == 113:
        if len(data) < 16:
            return "truncated"
        return _ethertype(data[14] << 8 | data[15], data, 16)
    if linktype == 276:
        if len(data) < 20:
            return "truncated"
        return _ethertype(data[0] << 8 | data[1], data, 20)
    if linktype in (101, 12, 228, 229):
        return ip(data)
    if linktype in (0, 108):
        if len(data) < 4:
            return "truncated"
        family = int.from_bytes(data[:4], "big" if linktype == 108 else "little")
        if family > 0xFFFF:
            family = int.from_bytes(data[:4], "big")
        if family == 2:
            return ip(data[4:])
        if family in (10, 24, 28, 30):
            return ip(data[4:])
        return "not-ip"
    return FALLBACK


def ip(data: bytes) -> IPPacket | str:
    """Parse an IPv4 or IPv6 header (RFC 791 §3.1, RFC 8200 §3-§4).

    >>> pkt = ip(bytes.fromhex("4500001c00010000401100000a0000010a000002") + bytes(8))
    >>> pkt.src, pkt.dst, pkt.proto, len(pkt.payload), pkt.fragment
    ('10.0.0.1', '10.0.0.2', 17, 8, None)
    """
    if not data:
        return "truncated"
    version = data[0] >> 4
    if version == 4:
        if len(data) < 20:
            return "truncated"
        ihl = (data[0] & 15) * 4
        total = data[2] << 8 | data[3]
        if total == 0:
            total = len(data)
        if ihl < 20 or total < ihl:
            return "malformed"
        if total > len(data):
            return "truncated"
        flags = data[6] << 8 | data[7]
        fragment = None
        if flags & 0x3FFF:
            fragment = (data[4] << 8 | data[5], (flags & 0x1FFF) * 8, bool(flags & 0x2000))
        return IPPacket(
            4, inet_ntoa(data[12:16]), inet_ntoa(data[16:20]), data[9], data[ihl:total], fragment
        )
    if version == 6:
        if len(data) < 40:
            return "truncated"
        end = 40 + (data[4] << 8 | data[5])
        if end > len(data):
            return "truncated"
        proto = data[6]
        offset = 40
        fragment = None
        while proto in _IPV6_EXTENSIONS or proto == 44:
            if end < offset + 8:
                return "truncated"
            if proto == 44:
                bits = data[offset + 2] << 8 | data[offset + 3]
                ident = int.from_bytes(data[offset + 4 : offset + 8], "big")
                proto = data[offset]
                offset += 8
                if bits & 0xFFF9:
                    fragment = (ident, bits & 0xFFF8, bool(bits & 1))
                break
            proto, offset = data[offset], offset + (data[offset + 1] + 1) * 8
        if offset > end:
            return "truncated"
        return IPPacket(
            6,
            inet_ntop(AF_INET6, data[8:24]),
            inet_ntop(AF_INET6, data[24:40]),
            proto,
            data[offset:end],
            fragment,
        )
    return "malformed"


def _ppp(data: bytes) -> IPPacket | str:
    if data[:2] == b"\xff\x03":
        data = data[2:]
    if not data:
        return "truncated"
    if data[0] & 1:
        proto, data = data[0], data[1:]
    else:
        proto, data = data[0] << 8 | data[1] if len(data) > 1 else -1, data[2:]
    if proto in (0x21, 0x57):
        return ip(data)
    return "not-ip"


def tunnel(proto: int, payload: bytes) -> IPPacket | str:
    """The IP packet inside an IP-in-IP, IPv6-in-IPv4 or GRE payload (RFC 2003, 4213, 2784).

    >>> inner = bytes.fromhex("4500001c00010000401100000a0000010a000002") + bytes(8)
    >>> tunnel(47, bytes.fromhex("00000800") + inner).dst
    '10.0.0.2'
    """
    if proto != 47:
        return ip(payload)
    if len(payload) < 4:
        return "truncated"
    bits = payload[0] << 8 | payload[1]
    kind = payload[2] << 8 | payload[3]
    offset = 4
    for flag in (0x8000, 0x2000, 0x1000):
        if bits & flag:
            offset += 4
    if bits & 0x4000 and not bits & 0x8000:
        offset += 4
    if bits & 7 == 1 and bits & 0x0080:
        offset += 4
    if offset > len(payload):
        return "truncated"
    inner = payload[offset:]
    if kind == 0x0800 or kind == 0x86DD:
        return ip(inner)
    if kind == 0x880B:
        return _ppp(inner)
    if kind == 0x6558:
        return link(1, inner)
    return FALLBACK


def transport(proto: int, payload: bytes) -> UDPSegment | TCPSegment | SCTPPacket | str:
    """Parse a UDP, TCP or SCTP header (RFC 768, RFC 9293 §3.1, RFC 9260 §3).

    >>> transport(17, bytes.fromhex("13c413c4000c0000") + b"SIP!")
    UDPSegment(sport=5060, dport=5060, payload=b'SIP!')
    """
    if proto == 17:
        if len(payload) < 8:
            return "truncated"
        length = payload[4] << 8 | payload[5]
        if length == 0:
            length = len(payload)
        if length < 8:
            return "malformed"
        if length > len(payload):
            return "truncated"
        return UDPSegment(payload[0] << 8 | payload[1], payload[2] << 8 | payload[3],
                          payload[8:length])
    if proto == 6:
        if len(payload) < 20:
            return "truncated"
        offset = (payload[12] >> 4) * 4
        if offset < 20:
            return "malformed"
        if offset > len(payload):
            return "truncated"
        return TCPSegment(
            payload[0] << 8 | payload[1],
            payload[2] << 8 | payload[3],
            int.from_bytes(payload[4:8], "big"),
            payload[13] | (payload[12] & 1) << 8,
            payload[offset:],
        )
    if proto == 132:
        if len(payload) < 12:
            return "truncated"
        chunks = []
        offset = 12
        while offset + 4 <= len(payload):
            kind, flags = payload[offset], payload[offset + 1]
            length = payload[offset + 2] << 8 | payload[offset + 3]
            if length < 4:
                return "malformed"
            if offset + length > len(payload):
                return "truncated"
            if kind == 0 and length >= 16:
                chunks.append(
                    SCTPChunk(
                        int.from_bytes(payload[offset + 4 : offset + 8], "big"),
                        payload[offset + 8] << 8 | payload[offset + 9],
                        flags & 7,
                        payload[offset + 16 : offset + length],
                    )
                )
            offset += (length + 3) & ~3
        return SCTPPacket(payload[0] << 8 | payload[1], payload[2] << 8 | payload[3],
                          tuple(chunks))
    return "other-transport"
