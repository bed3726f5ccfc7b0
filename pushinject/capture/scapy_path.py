"""The full path: the same slicing as `pushinject.capture.layers`, done by Scapy's dissectors.

It handles every link type and encapsulation Scapy knows (PPPoE, 802.3/LLC, exotic link types),
is used by the decoder whenever the fast path answers `FALLBACK`, and can be forced for a whole
capture (`Decoder(full=True)`), so tests can check that both paths give identical results.
Header fields come from Scapy's dissection; payload bytes are cut from the original record with
the lengths Scapy read, so no field is rebuilt.
"""

from __future__ import annotations

from typing import Any

from pushinject.capture.packets import IPPacket, SCTPChunk, SCTPPacket, TCPSegment, UDPSegment

__all__ = ["link", "ip", "tunnel", "transport"]


def _ip_layer(pkt: Any) -> Any:
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    layer = pkt
    while layer is not None and layer.__class__.__name__ not in ("NoPayload", "Raw", "Padding"):
        if isinstance(layer, (IP, IPv6)) and layer.__class__ in (IP, IPv6):
            return layer
        layer = layer.payload
    return None


def _from_layer(layer: Any, data: bytes) -> IPPacket | str:
    """Turn a dissected IP/IPv6 layer whose wire bytes start `data` into an `IPPacket`."""
    from scapy.layers.inet6 import IPv6ExtHdrFragment

    if layer.version == 4:
        ihl = layer.ihl * 4
        total = layer.len or len(data)
        if ihl < 20 or total < ihl:
            return "malformed"
        if total > len(data):
            return "truncated"
        fragment = None
        if layer.frag or layer.flags.MF:
            fragment = (layer.id, layer.frag * 8, bool(layer.flags.MF))
        return IPPacket(4, layer.src, layer.dst, layer.proto, data[ihl:total], fragment)
    end = 40 + layer.plen
    if end > len(data):
        return "truncated"
    proto, offset, ext = layer.nh, 40, layer.payload
    fragment = None
    while proto in (0, 43, 60, 44):
        if isinstance(ext, IPv6ExtHdrFragment):
            proto, offset = ext.nh, offset + 8
            if ext.offset or ext.m:
                fragment = (ext.id, ext.offset * 8, bool(ext.m))
            break
        proto, offset = ext.nh, offset + (ext.len + 1) * 8
        ext = ext.payload
    if offset > end:
        return "truncated"
    return IPPacket(6, layer.src, layer.dst, proto, data[offset:end], fragment)


def _dissect(cls: Any, data: bytes) -> IPPacket | str:
    if len(data) < 1:
        return "truncated"
    try:
        pkt = cls(data)
    except Exception:  # Scapy raises many kinds on short or odd input
        return "truncated"
    layer = _ip_layer(pkt)
    if layer is None:
        return "not-ip"
    raw = bytes(pkt)
    start = len(raw) - len(bytes(layer))
    if layer.version == 4 and (len(data) - start < 20):
        return "truncated"
    if layer.version == 6 and (len(data) - start < 40):
        return "truncated"
    return _from_layer(layer, data[start:])


def _load_layers() -> None:
    """Import the Scapy layer modules that register link types and bindings."""
    import scapy.layers.inet  # noqa: F401
    import scapy.layers.inet6  # noqa: F401
    import scapy.layers.l2  # noqa: F401
    import scapy.layers.ppp  # noqa: F401
    import scapy.layers.sctp  # noqa: F401


def link(linktype: int, data: bytes) -> IPPacket | str:
    """The first IP packet of a frame as Scapy dissects it, or a skip reason."""
    from scapy.config import conf

    _load_layers()

    cls = conf.l2types.num2layer.get(linktype)
    if cls is None:
        return "unknown-linktype"
    return _dissect(cls, data)


def ip(data: bytes) -> IPPacket | str:
    """An IPv4 or IPv6 packet dissected by Scapy (`IPv46` picks the version)."""
    from scapy.layers.inet6 import IPv46

    if not data or data[0] >> 4 not in (4, 6):
        return "malformed" if data else "truncated"
    return _dissect(IPv46, data)


def tunnel(proto: int, payload: bytes) -> IPPacket | str:
    """The inner IP packet of an IP-in-IP or GRE payload, dissected by Scapy."""
    if proto != 47:
        return ip(payload)
    from scapy.layers.l2 import GRE

    if len(payload) < 4:
        return "truncated"
    return _dissect(GRE, payload)


def transport(proto: int, payload: bytes) -> UDPSegment | TCPSegment | SCTPPacket | str:
    """UDP, TCP and SCTP headers read by Scapy's dissectors."""
    if proto == 17:
        from scapy.layers.inet import UDP

        if len(payload) < 8:
            return "truncated"
        udp = UDP(payload[:8])
        length = udp.len or len(payload)
        if length < 8:
            return "malformed"
        if length > len(payload):
            return "truncated"
        return UDPSegment(udp.sport, udp.dport, payload[8:length])
    if proto == 6:
        from scapy.layers.inet import TCP

        if len(payload) < 20:
            return "truncated"
        tcp = TCP(payload[:20])
        offset = tcp.dataofs * 4
        if offset < 20:
            return "malformed"
        if offset > len(payload):
            return "truncated"
        return TCPSegment(tcp.sport, tcp.dport, tcp.seq, int(tcp.flags), payload[offset:])
    if proto == 132:
        return _sctp(payload)
    return "other-transport"


def _sctp(payload: bytes) -> SCTPPacket | str:
    from scapy.layers.sctp import SCTP, SCTPChunkData

    if len(payload) < 12:
        return "truncated"
    try:
        pkt = SCTP(payload)
    except Exception:
        return "truncated"
    chunks = []
    layer = pkt.payload
    used = 12
    while layer is not None and layer.__class__.__name__ not in ("NoPayload", "Raw", "Padding"):
        length = getattr(layer, "len", None)
        if length is None or length < 4:
            return "malformed"
        if used + length > len(payload):
            return "truncated"
        if isinstance(layer, SCTPChunkData) and length >= 16:
            flags = layer.unordered << 2 | layer.beginning << 1 | layer.ending
            chunks.append(SCTPChunk(layer.tsn, layer.stream_id, flags,
                                    payload[used + 16 : used + length]))
        used += (length + 3) & ~3
        layer = layer.payload
    if used < len(payload) and len(payload) - used >= 4:
        return "truncated"
    return SCTPPacket(pkt.sport, pkt.dport, tuple(chunks))
