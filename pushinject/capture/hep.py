"""HEPv3, the encapsulation of captured packets that Kamailio's and OpenSIPS's siptrace modules
and Homer capture agents send to a collector: a strict decoder, and the encoder that tests and
the lab's collector share with it; and the older HEPv1 and HEPv2, which Kamailio's siptrace
still sends by default (`hep_version` 1), read by `decode_legacy_hep` (HEP-5).

A HEPv3 packet (HEPv3 specification) is the four ASCII bytes ``HEP3``, a 16-bit total length
(the whole packet, these six bytes included), then chunks. Each chunk is a 16-bit vendor id, a
16-bit type id, a 16-bit length (the chunk's six header bytes included) and the value. Every
number is in network byte order. Vendor 0 holds the generic chunks read here:

====  ==============================  =======================================
type  meaning                         value
====  ==============================  =======================================
1     IP family                       1 byte: 2 IPv4, 10 IPv6
2     IP protocol                     1 byte: 17 UDP, 6 TCP, 132 SCTP, ...
3/4   IPv4 source / destination       4 bytes
5/6   IPv6 source / destination       16 bytes
7/8   source / destination port       2 bytes
9     timestamp, seconds              4 bytes (Unix time)
10    timestamp, microseconds         4 bytes
11    protocol type                   1 byte: 1 SIP (others: RTCP, logs, ...)
12    capture agent id                4 bytes
14    authentication key              any length
15    captured payload                any length
16    captured payload, compressed    zlib or gzip data
17    correlation id                  any length
====  ==============================  =======================================

OpenSIPS's proto_hep with `homer5_on` 0 (the "HOMER 6" format) sends a SIP message's payload as
a JSON object whose "payload" member holds the message as a string (HEP-6): a SIP payload
whose first byte is ``{`` is read so, and the message is that string's bytes.

Rules of this decoder (HEP-1): the length field must equal the packet's length (a datagram
holds one packet; a stream is cut into packets by `HEPFramer`); a chunk shorter than its six
header bytes or longer than what is left is an error; a fixed-size chunk of the wrong size, a
generic chunk given twice, or both payload kinds, is an error; family, protocol, both addresses
of the family, both ports, the seconds, the protocol type and a payload are mandatory (the
microseconds default to 0, the agent id to none). Chunks of other vendors and unknown generic
types are kept, undecoded, in `HEPPacket.extra`. Every error is a `HEPError` with a one-line
message and a short `reason`; nothing else escapes.

HEPv1 and HEPv2 (HEP-5) have no magic and no chunks: a version byte (1 or 2), the header length
(8 plus the addresses: 16 for IPv4, 40 for IPv6), the IP family, the IP protocol, both ports
(network byte order), both addresses; HEPv2 then has a time header as Kamailio's C struct lays
it out: seconds and microseconds as little-endian 32-bit numbers, the 16-bit capture agent id
(little-endian too) and two bytes of padding (a sender whose struct is packed leaves them out:
the padding is read only when both bytes are 0). The carried packet fills the rest of the
datagram. HEPv1 carries no time: its message takes the time the datagram was captured or
received. Neither has a length field, so neither can be framed in a stream: over TCP only
HEPv3 is read.
"""

from __future__ import annotations

import ipaddress
import json
import struct
import zlib
from dataclasses import dataclass, field

from pushinject.errors import PushInjectError
from pushinject.sip.errors import SIPParseError
from pushinject.sip.framer import StreamFramer

__all__ = ["HEP_MAGIC", "SIP", "HEPError", "HEPPacket", "HEPFramer", "decode_hep", "encode_hep",
           "transport_name", "is_legacy_hep", "decode_legacy_hep", "encode_legacy_hep"]

#: the first four bytes of every HEPv3 packet
HEP_MAGIC = b"HEP3"
#: protocol type (chunk 11) of a SIP payload
SIP = 1
#: largest packet the 16-bit length field can describe
MAX_PACKET = 0xFFFF

_FAMILIES = {2: 4, 10: 6}  # IP family value -> IP version (AF_INET, AF_INET6 on Linux)
_FIXED = {1: 1, 2: 1, 3: 4, 4: 4, 5: 16, 6: 16, 7: 2, 8: 2, 9: 4, 10: 4, 11: 1, 12: 4}
_KNOWN = set(_FIXED) | {14, 15, 16, 17}
_TRANSPORTS = {17: "UDP", 6: "TCP", 132: "SCTP", 22: "TLS"}
_HEADER = struct.Struct("!4sH")
_CHUNK = struct.Struct("!HHH")
#: HEPv1/v2: version, header length, family, protocol, source port, destination port
_LEGACY = struct.Struct("!BBBBHH")
#: HEPv2's time header: seconds, microseconds, capture agent id (little-endian, as on x86)
_LEGACY_TIME = struct.Struct("<IIH")
#: the bytes of both addresses by IP family
_ADDRESSES = {2: 8, 10: 32}


class HEPError(PushInjectError, ValueError):
    """A packet that is not well-formed HEPv3 (HEP-1); `reason` names the fault in a word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class HEPPacket:
    """One decoded HEPv3 packet: where and when the carried packet was captured, and its bytes.

    `source` and `destination` are (address text, port); `time` is the capture agent's
    timestamp (seconds, microseconds) as a float; `payload` is already decompressed, and
    `compressed` says whether it came in chunk 16; `json_payload`, whether it came inside a
    JSON object (HEP-6). `extra` keeps the chunks not decoded here as
    (vendor, type, value). `hep_version` is 3, or 1 or 2 for the older headers (HEP-5): a
    HEPv1 packet has no time (`stamped` is false, `seconds` 0).
    """

    source: tuple[str, int]
    destination: tuple[str, int]
    seconds: int
    microseconds: int = 0
    payload: bytes = b""
    protocol: int = 17
    proto_type: int = SIP
    agent_id: int | None = None
    auth_key: bytes | None = None
    correlation_id: bytes | None = None
    compressed: bool = False
    extra: tuple[tuple[int, int, bytes], ...] = field(default=())
    hep_version: int = 3
    json_payload: bool = False

    @property
    def stamped(self) -> bool:
        """Does the packet carry the time it was captured (every version but HEPv1)?"""
        return self.hep_version != 1

    @property
    def version(self) -> int:
        """4 or 6: the IP version of both addresses."""
        return ipaddress.ip_address(self.source[0]).version

    @property
    def time(self) -> float:
        """The capture time in seconds since the epoch.

        >>> HEPPacket(("10.0.0.1", 5060), ("10.0.0.2", 5060), 1700000000, 250000).time
        1700000000.25
        """
        return self.seconds + self.microseconds / 1e6

    @property
    def transport(self) -> str:
        return transport_name(self.protocol)


def transport_name(protocol: int) -> str:
    """The transport name of an IP protocol number as the checker uses it: 17 UDP, 6 TCP, 132
    SCTP; 22 is what Kamailio writes for TLS and WebSocket (all reliable), read as TLS.

    >>> transport_name(17), transport_name(6), transport_name(22), transport_name(99)
    ('UDP', 'TCP', 'TLS', 'IP-99')
    """
    return _TRANSPORTS.get(protocol, f"IP-{protocol}")


def _address(value: bytes) -> str:
    return str(ipaddress.ip_address(value))


def decode_hep(data: bytes) -> HEPPacket:
    """Decode exactly one HEPv3 packet (HEP-1); `HEPError` on any fault.

    >>> p = decode_hep(encode_hep(HEPPacket(("10.0.0.1", 5060), ("10.0.0.2", 5070), 7,
    ...                                     payload=b"OPTIONS sip:a SIP/2.0\\r\\n\\r\\n")))
    >>> p.source, p.destination, p.time, p.transport
    (('10.0.0.1', 5060), ('10.0.0.2', 5070), 7.0, 'UDP')
    >>> decode_hep(b"HEP3\\x00\\x07x")
    Traceback (most recent call last):
    ...
    pushinject.capture.hep.HEPError: HEP chunk at byte 6: 1 bytes left, a chunk header needs 6
    """
    if len(data) < 6:
        raise HEPError("truncated", f"HEP packet of {len(data)} bytes, shorter than its 6-byte "
                       "header")
    magic, total = _HEADER.unpack_from(data)
    if magic != HEP_MAGIC:
        raise HEPError("magic", f"not a HEPv3 packet (starts {bytes(magic)!r}, not b'HEP3')")
    if total != len(data):
        raise HEPError("length", f"HEP length field says {total} bytes, the packet has "
                       f"{len(data)}")
    values: dict[int, bytes] = {}
    extra: list[tuple[int, int, bytes]] = []
    pos = 6
    while pos < total:
        if total - pos < 6:
            raise HEPError("truncated", f"HEP chunk at byte {pos}: {total - pos} bytes left, "
                           "a chunk header needs 6")
        vendor, kind, length = _CHUNK.unpack_from(data, pos)
        if length < 6:
            raise HEPError("chunk-length", f"HEP chunk {vendor}/{kind} at byte {pos} has length "
                           f"{length}, less than its 6-byte header")
        if pos + length > total:
            raise HEPError("truncated", f"HEP chunk {vendor}/{kind} at byte {pos} has length "
                           f"{length}, only {total - pos} bytes are left")
        value = bytes(data[pos + 6 : pos + length])
        pos += length
        if vendor != 0 or kind not in _KNOWN:
            extra.append((vendor, kind, value))
            continue
        size = _FIXED.get(kind)
        if size is not None and len(value) != size:
            raise HEPError("chunk-length", f"HEP chunk type {kind} holds {len(value)} bytes, "
                           f"it must hold {size}")
        if kind in values:
            raise HEPError("duplicate", f"HEP chunk type {kind} appears twice")
        values[kind] = value
    return _packet(values, tuple(extra))


def _packet(values: dict[int, bytes], extra: tuple[tuple[int, int, bytes], ...]) -> HEPPacket:
    def need(kind: int, what: str) -> bytes:
        if kind not in values:
            raise HEPError("missing", f"HEP packet without chunk type {kind} ({what})")
        return values[kind]

    family = need(1, "IP family")[0]
    version = _FAMILIES.get(family)
    if version is None:
        raise HEPError("family", f"HEP IP family {family} is neither 2 (IPv4) nor 10 (IPv6)")
    protocol = need(2, "IP protocol")[0]
    src_kind, dst_kind = (3, 4) if version == 4 else (5, 6)
    for other in ((5, 6) if version == 4 else (3, 4)):
        if other in values:
            raise HEPError("family", f"HEP chunk type {other} holds an IPv{10 - version} address "
                           f"in an IPv{version} packet")
    source = _address(need(src_kind, f"IPv{version} source address"))
    destination = _address(need(dst_kind, f"IPv{version} destination address"))
    sport = int.from_bytes(need(7, "source port"), "big")
    dport = int.from_bytes(need(8, "destination port"), "big")
    seconds = int.from_bytes(need(9, "timestamp seconds"), "big")
    micro = int.from_bytes(values.get(10, b"\0\0\0\0"), "big")
    if micro >= 1_000_000:
        raise HEPError("timestamp", f"HEP timestamp microseconds {micro} is not below 1000000")
    proto_type = need(11, "protocol type")[0]
    if 15 in values and 16 in values:
        raise HEPError("duplicate", "HEP packet with both a payload and a compressed payload")
    compressed = 16 in values
    if compressed:
        try:
            # wbits 47: zlib or gzip, told apart by the header
            payload = zlib.decompress(values[16], 47)
        except zlib.error as exc:
            raise HEPError("compression", f"HEP compressed payload does not inflate ({exc})"
                           ) from None
    elif 15 in values:
        payload = values[15]
    else:
        raise HEPError("missing", "HEP packet without chunk type 15 or 16 (payload)")
    in_json = proto_type == SIP and payload[:1] == b"{"
    if in_json:
        payload = _json_message(payload)
    agent = values.get(12)
    return HEPPacket(
        source=(source, sport), destination=(destination, dport), seconds=seconds,
        microseconds=micro, payload=payload, protocol=protocol, proto_type=proto_type,
        agent_id=None if agent is None else int.from_bytes(agent, "big"),
        auth_key=values.get(14), correlation_id=values.get(17), compressed=compressed,
        extra=extra, json_payload=in_json)


def _json_message(payload: bytes) -> bytes:
    r"""The SIP message a JSON payload holds as its "payload" string (HEP-6). Bytes that are not
    UTF-8 pass through unchanged, as OpenSIPS copies them into the string unescaped.

    >>> _json_message(b'{"payload": "OPTIONS sip:a SIP/2.0\\r\\n\\r\\n"}')
    b'OPTIONS sip:a SIP/2.0\r\n\r\n'
    """
    try:
        document = json.loads(payload.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError):
        raise HEPError("json", "HEP SIP payload starts with { but is not a JSON document"
                       ) from None
    message = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(message, str) or not message:
        raise HEPError("json", 'HEP SIP payload in JSON form without a "payload" string')
    try:
        return message.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a \ud800-style escape names half a character
        raise HEPError("json", 'HEP SIP payload in JSON form whose "payload" string is not '
                       "text") from None


def _json_text(message: bytes) -> bytes:
    """`message` as OpenSIPS's proto_hep writes it in JSON form (cJSON's printer: a tab after
    the colon, control characters escaped, other bytes as they are; HEP-6)."""
    out = bytearray()
    for byte in message:
        if byte in _JSON_ESCAPES:
            out += _JSON_ESCAPES[byte]
        elif byte < 0x20:
            out += b"\\u%04x" % byte
        else:
            out.append(byte)
    return b'{\n\t"payload":\t"' + bytes(out) + b'"\n}'


_JSON_ESCAPES = {ord('"'): b'\\"', ord("\\"): b"\\\\", 8: b"\\b", 12: b"\\f", 10: b"\\n",
                 13: b"\\r", 9: b"\\t"}


def _chunk(kind: int, value: bytes, vendor: int = 0) -> bytes:
    if 6 + len(value) > MAX_PACKET:
        raise HEPError("length", f"HEP chunk type {kind} of {6 + len(value)} bytes does not fit "
                       "its 16-bit length field")
    return _CHUNK.pack(vendor, kind, 6 + len(value)) + value


def encode_hep(packet: HEPPacket, *, compress: bool = False) -> bytes:
    """The HEPv3 bytes of `packet`, chunks in the order Kamailio's siptrace writes them; with
    `compress` the payload goes zlib-compressed into chunk 16, and with `json_payload` inside a
    JSON object as OpenSIPS writes it (HEP-6). `HEPError` when the packet would not fit the
    16-bit length field.

    >>> encode_hep(HEPPacket(("10.0.0.1", 1), ("10.0.0.2", 2), 0))[:6]
    b'HEP3\\x00Y'
    """
    src = ipaddress.ip_address(packet.source[0])
    dst = ipaddress.ip_address(packet.destination[0])
    if src.version != dst.version:
        raise HEPError("family", "HEP source and destination of different IP versions")
    v4 = src.version == 4
    parts = [
        _chunk(1, bytes([2 if v4 else 10])),
        _chunk(2, bytes([packet.protocol])),
        _chunk(3 if v4 else 5, src.packed),
        _chunk(4 if v4 else 6, dst.packed),
        _chunk(7, packet.source[1].to_bytes(2, "big")),
        _chunk(8, packet.destination[1].to_bytes(2, "big")),
        _chunk(9, packet.seconds.to_bytes(4, "big")),
        _chunk(10, packet.microseconds.to_bytes(4, "big")),
        _chunk(11, bytes([packet.proto_type])),
    ]
    if packet.agent_id is not None:
        parts.append(_chunk(12, packet.agent_id.to_bytes(4, "big")))
    if packet.correlation_id is not None:
        parts.append(_chunk(17, packet.correlation_id))
    if packet.auth_key is not None:
        parts.append(_chunk(14, packet.auth_key))
    parts.extend(_chunk(kind, value, vendor) for vendor, kind, value in packet.extra)
    payload = _json_text(packet.payload) if packet.json_payload else packet.payload
    if compress:
        parts.append(_chunk(16, zlib.compress(payload)))
    else:
        parts.append(_chunk(15, payload))
    body = b"".join(parts)
    if 6 + len(body) > MAX_PACKET:
        raise HEPError("length", f"HEP packet of {6 + len(body)} bytes does not fit its 16-bit "
                       "length field")
    return _HEADER.pack(HEP_MAGIC, 6 + len(body)) + body


def is_legacy_hep(data: bytes) -> bool:
    """Does the datagram start with a HEPv1 or HEPv2 header (HEP-5): version 1 or 2, an IP
    family of 2 or 10, and the header length that family gives? SIP never starts so.

    >>> is_legacy_hep(bytes([1, 16, 2, 17]) + bytes(12)), is_legacy_hep(b"OPTIONS sip:a")
    (True, False)
    """
    return (len(data) >= 16 and data[0] in (1, 2) and data[2] in _ADDRESSES
            and data[1] == 8 + _ADDRESSES[data[2]])


def decode_legacy_hep(data: bytes) -> HEPPacket:
    """Decode one HEPv1 or HEPv2 datagram (HEP-5); `HEPError` on any fault.

    >>> raw = encode_legacy_hep(HEPPacket(("10.0.0.1", 5060), ("10.0.0.2", 5070), 7, 250000,
    ...                                   payload=b"OPTIONS sip:a SIP/2.0\\r\\n\\r\\n",
    ...                                   agent_id=2001, hep_version=2))
    >>> raw[:4].hex(), len(raw) - 28
    ('02100211', 25)
    >>> p = decode_legacy_hep(raw)
    >>> p.source, p.destination, p.time, p.agent_id, p.transport
    (('10.0.0.1', 5060), ('10.0.0.2', 5070), 7.25, 2001, 'UDP')
    >>> decode_legacy_hep(raw[:20])
    Traceback (most recent call last):
    ...
    pushinject.capture.hep.HEPError: HEPv2 packet of 20 bytes ends inside its 26-byte header
    """
    if not is_legacy_hep(data):
        raise HEPError("magic", f"not a HEPv1 or HEPv2 packet (starts {bytes(data[:4])!r})")
    version, header, family, protocol, sport, dport = _LEGACY.unpack_from(data)
    if len(data) < header:
        raise HEPError("truncated", f"HEPv{version} packet of {len(data)} bytes ends inside its "
                       f"{header}-byte header")
    size = _ADDRESSES[family] // 2
    source = _address(data[8 : 8 + size])
    destination = _address(data[8 + size : header])
    seconds = micro = 0
    agent = None
    start = header
    if version == 2:
        if len(data) < header + _LEGACY_TIME.size:
            raise HEPError("truncated", f"HEPv2 packet of {len(data)} bytes ends inside its "
                           f"{header + _LEGACY_TIME.size}-byte header")
        seconds, micro, agent = _LEGACY_TIME.unpack_from(data, header)
        start = header + _LEGACY_TIME.size
        if data[start : start + 2] == b"\0\0":  # the C struct's padding
            start += 2
        if micro >= 1_000_000:
            raise HEPError("timestamp", f"HEP timestamp microseconds {micro} is not below "
                           "1000000")
    return HEPPacket(source=(source, sport), destination=(destination, dport), seconds=seconds,
                     microseconds=micro, payload=_without_padding(bytes(data[start:]), family),
                     protocol=protocol, agent_id=agent, hep_version=version)


def _without_padding(payload: bytes, family: int) -> bytes:
    """A HEPv1/v2 payload without the zero bytes OpenSIPS's proto_hep sends after the message:
    it counts its address header twice in the datagram's length, so as many zero bytes as that
    header has (8 for IPv4, 32 for IPv6) follow a message that Content-Length frames whole
    before them (HEP-5). Any other payload is the message as sent.

    >>> m = b"OPTIONS sip:a SIP/2.0\\r\\nContent-Length: 2\\r\\n\\r\\nhi"
    >>> _without_padding(m + bytes(8), 2) == m, _without_padding(m + bytes(7), 2) == m
    (True, False)
    >>> body = b"OPTIONS sip:a SIP/2.0\\r\\nContent-Length: 10\\r\\n\\r\\nh" + bytes(9)
    >>> _without_padding(body, 2) == body  # zeros of the body
    True
    """
    pad = _ADDRESSES[family]
    if len(payload) <= pad or any(payload[-pad:]):
        return payload
    try:
        framed = StreamFramer().feed(payload[:-pad])
    except SIPParseError:
        return payload
    return payload[:-pad] if framed == [payload[:-pad]] else payload


def encode_legacy_hep(packet: HEPPacket) -> bytes:
    """The HEPv1 or HEPv2 bytes of `packet` (its `hep_version`) as Kamailio's siptrace writes
    them (HEP-5): a HEPv2 time header of 12 bytes, the agent id 0 when it has none."""
    if packet.hep_version not in (1, 2):
        raise HEPError("version", f"HEP version {packet.hep_version} has no legacy header")
    src = ipaddress.ip_address(packet.source[0])
    dst = ipaddress.ip_address(packet.destination[0])
    if src.version != dst.version:
        raise HEPError("family", "HEP source and destination of different IP versions")
    family = 2 if src.version == 4 else 10
    out = _LEGACY.pack(packet.hep_version, 8 + _ADDRESSES[family], family, packet.protocol,
                       packet.source[1], packet.destination[1]) + src.packed + dst.packed
    if packet.hep_version == 2:
        out += _LEGACY_TIME.pack(packet.seconds, packet.microseconds,
                                 packet.agent_id or 0) + b"\0\0"
    return out + packet.payload


class HEPFramer:
    """Cut a byte stream (HEP over TCP) into whole packets by their length fields.

    `feed(data)` returns the packets completed so far; bytes of an unfinished packet wait in
    `pending`. A stream that does not start a packet with ``HEP3`` and a length of at least 6
    raises `HEPError`: the stream cannot be resynchronised.

    >>> one = encode_hep(HEPPacket(("10.0.0.1", 1), ("10.0.0.2", 2), 0, payload=b"x"))
    >>> framer = HEPFramer()
    >>> [len(p) for p in framer.feed(one + one[:10])], len(framer.pending)
    ([90], 10)
    """

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self.pending + data
        out = []
        pos = 0
        while len(buf) - pos >= 6:
            magic, total = _HEADER.unpack_from(buf, pos)
            if magic != HEP_MAGIC or total < 6:
                self.pending = b""
                raise HEPError("framing", f"HEP stream out of step at byte {pos}: "
                               f"{bytes(buf[pos:pos + 6])!r} does not start a packet")
            if len(buf) - pos < total:
                break
            out.append(buf[pos : pos + total])
            pos += total
        self.pending = buf[pos:]
        return out
