"""The values that flow between the decoding stages, and the reasons a frame is skipped.

A frame goes link layer -> IP packet (`IPPacket`, perhaps a fragment) -> transport segment
(`UDPSegment`, `TCPSegment`, `SCTPPacket`) -> SIP messages. Both slicers (the hand-written fast
path in `pushinject.capture.layers` and the Scapy path in `pushinject.capture.scapy_path`) produce
these same values, so everything after slicing is shared and the two paths can be compared.
A stage that cannot go on returns a reason string from `REASONS` instead.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "IPPacket",
    "UDPSegment",
    "TCPSegment",
    "SCTPChunk",
    "SCTPPacket",
    "FALLBACK",
    "REASONS",
]


class IPPacket(NamedTuple):
    """An IPv4 or IPv6 packet: addresses as text, upper protocol number, payload.

    `fragment` is None for a whole packet, else `(identification, offset, more_fragments)`
    (RFC 791 §3.2, RFC 8200 §4.5).
    """

    version: int
    src: str
    dst: str
    proto: int
    payload: bytes
    fragment: tuple[int, int, bool] | None = None


class UDPSegment(NamedTuple):
    """A UDP datagram (RFC 768)."""

    sport: int
    dport: int
    payload: bytes


class TCPSegment(NamedTuple):
    """A TCP segment (RFC 9293 §3.1): sequence number, flag bits, payload."""

    sport: int
    dport: int
    seq: int
    flags: int
    payload: bytes


class SCTPChunk(NamedTuple):
    """An SCTP DATA chunk (RFC 9260 §3.3.1): TSN, stream, flags (U=4, B=2, E=1), user data."""

    tsn: int
    stream: int
    flags: int
    data: bytes


class SCTPPacket(NamedTuple):
    """An SCTP packet reduced to its ports and DATA chunks (RFC 9260 §3)."""

    sport: int
    dport: int
    chunks: tuple[SCTPChunk, ...]


#: returned by the fast slicer for encapsulations it leaves to the Scapy path
FALLBACK = "fallback"

#: every reason a frame can be skipped for, with its meaning (the summary counts by these)
REASONS: dict[str, str] = {
    "unknown-linktype": "the capture's link type is not one a decoder knows",
    "not-ip": "a link-layer frame that carries no IP packet (ARP, LLDP, ...)",
    "not-sip": "an IP packet whose payload is not SIP (RTP, DNS, HTTP, ...)",
    "other-transport": "an IP protocol other than UDP, TCP, SCTP or a tunnel (ICMP, ESP, ...)",
    "no-payload": "a TCP segment without data (handshake, acknowledgement, keep-alive)",
    "keep-alive": "a CRLF keep-alive between SIP messages (RFC 5626 §3.5.1)",
    "truncated": "a packet cut short (snapshot length, or shorter than its headers say)",
    "malformed": "a header that contradicts itself (bad lengths)",
    "fragment-incomplete": "an IP fragment whose datagram never completed",
    "tcp-retransmission": "a TCP segment whose data was already seen",
    "tcp-gap": "TCP data buffered behind a missing segment that never arrived",
    "tcp-incomplete": "TCP data of a SIP message that was still incomplete at the end",
    "tcp-overflow": "TCP data dropped because a stream buffer hit its limit",
    "sctp-incomplete": "an SCTP message whose remaining chunks never arrived",
    "websocket-control": "a WebSocket control frame (ping, pong, close) or handshake",
    "bad-content-length": "a SIP message whose Content-Length disagrees with its data",
    "unparsable": "data that starts like SIP but cannot be parsed even leniently",
    "truncated-file": "the file ends in the middle of a record",
    "hep-malformed": "a HEP packet that breaks the HEPv3 layout (HEP-1), or a JSON payload "
                     "without its message (HEP-6)",
    "hep-not-sip": "a HEP packet carrying something other than SIP (RTCP, logs, ...)",
}
