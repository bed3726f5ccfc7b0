"""HEPv3: the decoder's exact fields, every malformation as a `HEPError`, the encoder, stream
framing, fuzzing, and HEP inside captures (UDP and TCP) giving the SIP messages it carries."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import wrpcap

from pushinject.capture import Decoder, decode
from pushinject.capture.hep import HEPError, HEPFramer, HEPPacket, decode_hep, encode_hep
from pushinject.capture.samples import eth
from tests.conftest import DATA
from tests.hep_samples import AGENT, COLLECTOR, hep_packets, write_hep_capture

S1 = DATA / "kamailio" / "S1.pcap"

#: a HEPv3 packet written byte by byte: IPv4 UDP 10.1.2.3:5060 -> 10.9.8.7:5080 at
#: 1700000000.123456, SIP, agent 2001, correlation id "c-1", payload "hi"
HAND = bytes.fromhex(
    "48455033" "006e"                 # HEP3, total length 110
    "0000 0001 0007 02"               # IP family: IPv4
    "0000 0002 0007 11"               # IP protocol: UDP (17)
    "0000 0003 000a 0a010203"         # source 10.1.2.3
    "0000 0004 000a 0a090807"         # destination 10.9.8.7
    "0000 0007 0008 13c4"             # source port 5060
    "0000 0008 0008 13d8"             # destination port 5080
    "0000 0009 000a 6553f100"         # seconds 1700000000
    "0000 000a 000a 0001e240"         # microseconds 123456
    "0000 000b 0007 01"               # protocol type: SIP
    "0000 000c 000a 000007d1"         # capture agent 2001
    "0000 0011 0009 632d31"           # correlation id "c-1"
    "0000 000f 0008 6869"             # payload "hi"
    .replace(" ", ""))


def test_hand_written_packet_decodes_to_exact_fields() -> None:
    p = decode_hep(HAND)
    assert p == HEPPacket(source=("10.1.2.3", 5060), destination=("10.9.8.7", 5080),
                          seconds=1_700_000_000, microseconds=123_456, payload=b"hi",
                          protocol=17, proto_type=1, agent_id=2001, correlation_id=b"c-1")
    assert p.time == 1_700_000_000.123456
    assert (p.version, p.transport, p.compressed, p.auth_key) == (4, "UDP", False, None)


def test_encoder_writes_the_hand_written_bytes() -> None:
    assert encode_hep(decode_hep(HAND)) == HAND


def test_ipv6_compressed_auth_key_and_foreign_chunks() -> None:
    packet = HEPPacket(source=("2001:db8::1", 5060), destination=("2001:db8::2", 5061),
                       seconds=5, microseconds=999_999, payload=b"INVITE" * 50, protocol=6,
                       auth_key=b"secret", extra=((0x0002, 0x0020, b"kamailio"),
                                                   (0, 0x0013, b"group")))
    data = encode_hep(packet, compress=True)
    assert data[6:14] == bytes.fromhex("0000000100070a00")[:8]
    back = decode_hep(data)
    assert back == HEPPacket(source=("2001:db8::1", 5060), destination=("2001:db8::2", 5061),
                             seconds=5, microseconds=999_999, payload=b"INVITE" * 50,
                             protocol=6, auth_key=b"secret", compressed=True,
                             extra=((2, 32, b"kamailio"), (0, 19, b"group")))
    assert (back.version, back.transport) == (6, "TCP")


def test_gzip_payload_is_inflated_too() -> None:
    plain = decode_hep(HAND)
    body = HAND[:-8]  # without the payload chunk
    chunk = gzip.compress(b"hello", mtime=0)
    data = bytearray(body + bytes.fromhex("00000010") + (6 + len(chunk)).to_bytes(2, "big")
                     + chunk)
    data[4:6] = len(data).to_bytes(2, "big")
    assert decode_hep(bytes(data)).payload == b"hello"
    assert plain.payload == b"hi"


def _set_length(data: bytes) -> bytes:
    return data[:4] + len(data).to_bytes(2, "big") + data[6:]


def _without(kind: int) -> bytes:
    """HAND without its generic chunk of type `kind`."""
    pos, out = 6, HAND[:6]
    while pos < len(HAND):
        length = int.from_bytes(HAND[pos + 4 : pos + 6], "big")
        if int.from_bytes(HAND[pos + 2 : pos + 4], "big") != kind:
            out += HAND[pos : pos + length]
        pos += length
    return _set_length(out)


@pytest.mark.parametrize(("data", "reason", "message"), [
    (b"HEP", "truncated", "HEP packet of 3 bytes, shorter than its 6-byte header"),
    (b"HEP2" + HAND[4:], "magic", "not a HEPv3 packet (starts b'HEP2', not b'HEP3')"),
    (b"\x02\x10\x02\x11" + HAND[4:], "magic",
     "not a HEPv3 packet (starts b'\\x02\\x10\\x02\\x11', not b'HEP3')"),
    (HAND[:-1], "length", "HEP length field says 110 bytes, the packet has 109"),
    (HAND + b"x", "length", "HEP length field says 110 bytes, the packet has 111"),
    (_set_length(HAND + b"\0\0\0"), "truncated",
     "HEP chunk at byte 110: 3 bytes left, a chunk header needs 6"),
    (_set_length(HAND + bytes.fromhex("0000000f0005")), "chunk-length",
     "HEP chunk 0/15 at byte 110 has length 5, less than its 6-byte header"),
    (_set_length(HAND + bytes.fromhex("0000000f0010aa")), "truncated",
     "HEP chunk 0/15 at byte 110 has length 16, only 7 bytes are left"),
    (_set_length(HAND[:6] + bytes.fromhex("000000010008 0202") + HAND[13:]), "chunk-length",
     "HEP chunk type 1 holds 2 bytes, it must hold 1"),
    (_set_length(HAND + bytes.fromhex("0000000b000701")), "duplicate",
     "HEP chunk type 11 appears twice"),
    (_set_length(HAND + bytes.fromhex("000000100008") + b"zz"), "duplicate",
     "HEP packet with both a payload and a compressed payload"),
    (_set_length(_without(15) + bytes.fromhex("000000100008") + b"zz"), "compression",
     "HEP compressed payload does not inflate (Error -3 while decompressing data: "
     "incorrect header check)"),
    (_without(1), "missing", "HEP packet without chunk type 1 (IP family)"),
    (_without(2), "missing", "HEP packet without chunk type 2 (IP protocol)"),
    (_without(3), "missing", "HEP packet without chunk type 3 (IPv4 source address)"),
    (_without(4), "missing", "HEP packet without chunk type 4 (IPv4 destination address)"),
    (_without(7), "missing", "HEP packet without chunk type 7 (source port)"),
    (_without(8), "missing", "HEP packet without chunk type 8 (destination port)"),
    (_without(9), "missing", "HEP packet without chunk type 9 (timestamp seconds)"),
    (_without(11), "missing", "HEP packet without chunk type 11 (protocol type)"),
    (_without(15), "missing", "HEP packet without chunk type 15 or 16 (payload)"),
    (HAND.replace(bytes.fromhex("0000000100070" + "2"), bytes.fromhex("0000000100070" + "7")),
     "family", "HEP IP family 7 is neither 2 (IPv4) nor 10 (IPv6)"),
    (_set_length(HAND + bytes.fromhex("000000050016") + bytes(16)), "family",
     "HEP chunk type 5 holds an IPv6 address in an IPv4 packet"),
    (HAND.replace(bytes.fromhex("0001e240"), bytes.fromhex("000f4240")), "timestamp",
     "HEP timestamp microseconds 1000000 is not below 1000000"),
])
def test_every_malformation_is_a_one_line_hep_error(data: bytes, reason: str,
                                                     message: str) -> None:
    with pytest.raises(HEPError) as caught:
        decode_hep(data)
    assert (caught.value.reason, str(caught.value)) == (reason, message)


def test_missing_microseconds_and_agent_default() -> None:
    p = decode_hep(_without(12))
    assert p.agent_id is None
    q = decode_hep(_without(10))
    assert (q.seconds, q.microseconds, q.time) == (1_700_000_000, 0, 1_700_000_000.0)


def test_encoder_refuses_what_cannot_be_written() -> None:
    with pytest.raises(HEPError, match="different IP versions"):
        encode_hep(HEPPacket(("10.0.0.1", 1), ("::1", 2), 0))
    with pytest.raises(HEPError, match="^HEP chunk type 15 of 70006 bytes does not fit"):
        encode_hep(HEPPacket(("10.0.0.1", 1), ("10.0.0.2", 2), 0, payload=bytes(70_000)))
    with pytest.raises(HEPError, match="^HEP packet of 65569 bytes does not fit"):
        encode_hep(HEPPacket(("10.0.0.1", 1), ("10.0.0.2", 2), 0, payload=bytes(65_480)))


def test_framer_cuts_a_stream_at_any_split() -> None:
    stream = HAND + encode_hep(decode_hep(HAND), compress=True) + HAND
    for cut in range(len(stream) + 1):
        framer = HEPFramer()
        got = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert [decode_hep(p).payload for p in got] == [b"hi", b"hi", b"hi"]
        assert framer.pending == b""
    framer = HEPFramer()
    with pytest.raises(HEPError) as caught:
        framer.feed(HAND + b"SIP/2.0 200 OK\r\n")
    assert str(caught.value) == ("HEP stream out of step at byte 110: b'SIP/2.' does not start "
                                 "a packet")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_a_packet_or_a_hep_error(data: bytes) -> None:
    for candidate in (data, b"HEP3" + len(data).to_bytes(2, "big")[-2:] + data):
        try:
            decode_hep(candidate)
        except HEPError as exc:
            assert exc.reason and "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(HAND) - 1), st.integers(0, 255))
def test_one_changed_byte_gives_a_packet_or_a_hep_error(index: int, value: int) -> None:
    data = bytearray(HAND)
    data[index] = value
    try:
        decode_hep(bytes(data))
    except HEPError as exc:
        assert exc.reason


addresses = st.one_of(
    st.tuples(st.ip_addresses(v=4).map(str), st.ip_addresses(v=4).map(str)),
    st.tuples(st.ip_addresses(v=6).map(str), st.ip_addresses(v=6).map(str)))


@settings(max_examples=200, deadline=None)
@given(addresses, st.integers(0, 65535), st.integers(0, 65535), st.integers(0, 2**32 - 1),
       st.integers(0, 999_999), st.binary(max_size=300), st.integers(0, 255),
       st.integers(0, 255), st.none() | st.integers(0, 2**32 - 1), st.none() | st.binary(max_size=20),
       st.none() | st.binary(max_size=20), st.booleans())
def test_encode_then_decode_gives_the_packet_back(
        pair: tuple[str, str], sport: int, dport: int, seconds: int, micro: int, payload: bytes,
        protocol: int, proto_type: int, agent: int | None, key: bytes | None,
        correlation: bytes | None, compress: bool) -> None:
    packet = HEPPacket(source=(pair[0], sport), destination=(pair[1], dport), seconds=seconds,
                       microseconds=micro, payload=payload, protocol=protocol,
                       proto_type=proto_type, agent_id=agent, auth_key=key,
                       correlation_id=correlation, compressed=compress)
    assert decode_hep(encode_hep(packet, compress=compress)) == packet


# -- HEP inside captures ----------------------------------------------------------------------

def _rows(path: Path) -> list[tuple[float, tuple[str, int], tuple[str, int], str, bytes]]:
    return [(m.time, m.source, m.destination, m.transport, m.raw) for m in decode(path)]


@pytest.mark.parametrize("compress", [False, True])
def test_hep_over_udp_carries_the_messages_with_their_hep_times(tmp_path: Path,
                                                                 compress: bool) -> None:
    hep = write_hep_capture(S1, tmp_path / "s1-hep.pcap", compress=compress)
    assert _rows(hep) == _rows(S1)
    decoder = Decoder()
    frames = [m.frame for m in decoder.decode_file(hep)]
    assert frames == list(range(1, 27))
    assert decoder.summary.to_json() == {
        "frames": 26, "messages": 26, "sip_frames": 26, "carried": 0, "skipped": {},
        "anomalies": {}, "truncated_file": False}


def test_hep_over_udp_same_through_scapy_and_json_lines(tmp_path: Path) -> None:
    hep = write_hep_capture(S1, tmp_path / "s1-hep.pcap")
    plain = [m.json_line() for m in decode(S1)]
    full = Decoder(full=True)
    assert [m.json_line() for m in full.decode_file(hep)] == plain
    fast = Decoder()
    assert list(fast.json_lines(hep)) == plain
    assert fast.summary == full.summary


def test_hep_over_tcp_is_framed_by_its_lengths(tmp_path: Path) -> None:
    hep = write_hep_capture(S1, tmp_path / "s1-hep-tcp.pcap", tcp=True)
    assert _rows(hep) == _rows(S1)


def test_bad_and_foreign_hep_datagrams_are_counted(tmp_path: Path) -> None:
    rtcp = encode_hep(HEPPacket(("10.0.0.1", 5004), ("10.0.0.2", 5004), 1, payload=b"\x80\xc8",
                                proto_type=5))
    keepalive = encode_hep(HEPPacket(("10.0.0.1", 5060), ("10.0.0.2", 5060), 1,
                                     payload=b"\r\n\r\n"))
    junk = encode_hep(HEPPacket(("10.0.0.1", 5060), ("10.0.0.2", 5060), 1, payload=b"\x00ab"))
    path = tmp_path / "bad.pcap"

    def frame(data: bytes):  # type: ignore[no-untyped-def]
        return eth() / IP(src=AGENT[0], dst=COLLECTOR[0]) / UDP(sport=AGENT[1],
                                                                dport=COLLECTOR[1]) / data

    wrpcap(str(path), [frame(HAND), frame(HAND[:-1]), frame(b"HEP3\x00\x06"), frame(rtcp),
                       frame(keepalive), frame(junk), frame(_without(9))])
    decoder = Decoder()
    assert [(m.frame, m.source, m.raw) for m in decoder.decode_file(path)] == []
    assert dict(decoder.summary.skipped) == {"hep-malformed": 3, "hep-not-sip": 1,
                                             "keep-alive": 1, "not-sip": 2}


def test_payload_hand_checked_sip_inside_hep(tmp_path: Path) -> None:
    sip = (b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1"
           b"\r\nFrom: <sip:a@example.com>;tag=f\r\nTo: <sip:bob@example.com>\r\n"
           b"Call-ID: hep-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    data = encode_hep(HEPPacket(("2001:db8::5", 5061), ("2001:db8::6", 5060), 1_700_000_001,
                                 500_000, payload=sip, protocol=6), compress=True)
    path = tmp_path / "one.pcap"
    wrpcap(str(path), [eth() / IP(src=AGENT[0], dst=COLLECTOR[0])
                       / UDP(sport=AGENT[1], dport=COLLECTOR[1]) / data])
    (msg,) = decode(path)
    assert msg.json_line() == (
        '{"frame": 1, "time": 1700000001.5, "source": "[2001:db8::5]:5061", '
        '"destination": "[2001:db8::6]:5060", "transport": "TCP", "method": "OPTIONS", '
        '"status": null, "call_id": "hep-1", "cseq": "1 OPTIONS", "branch": "z9hG4bK1", '
        '"from_tag": "f", "to_tag": null}')
    assert zlib.decompress(zlib.compress(sip)) == msg.raw


def test_hep_over_tcp_counts_foreign_packets_and_a_broken_stream(tmp_path: Path) -> None:
    """Segment 1: a SIP packet and an RTCP one (one message); segment 2: an RTCP packet alone
    (hep-not-sip); segment 3: bytes that start no HEP packet (the framing breaks: hep-malformed);
    then the stream is not SIP."""
    sip = next(data for _, data in hep_packets(S1))
    rtcp = encode_hep(HEPPacket(("10.0.0.1", 5004), ("10.0.0.2", 5004), 1, payload=b"\x80\xc8",
                                proto_type=5))
    segments = [sip + rtcp, rtcp, b"GARBAGE-NOT-HEP", b"more"]
    frames, seq = [], 1
    for data in segments:
        frames.append(eth() / IP(src=AGENT[0], dst=COLLECTOR[0])
                      / TCP(sport=AGENT[1], dport=COLLECTOR[1], seq=seq, flags="PA") / data)
        seq += len(data)
    path = tmp_path / "tcp-hep.pcap"
    wrpcap(str(path), frames)
    decoder = Decoder()
    assert [(m.frame, m.transport, m.label) for m in decoder.decode_file(path)] == [
        (1, "UDP", "REGISTER")]
    assert dict(decoder.summary.skipped) == {"hep-not-sip": 1, "hep-malformed": 1,
                                             "not-sip": 1}
    assert decoder.summary.frames == decoder.summary.accounted == 4
