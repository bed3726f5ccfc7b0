"""HEPv1 and HEPv2 (HEP-5), as Kamailio's siptrace sends them with `hep_version` 1 (its default)
and 2: the headers the lab's Kamailio 5.6 wrote, decoded field by field; captures of them giving
the messages they carry, never SIP with junk in front; and damaged ones counted."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.utils import wrpcap

from pushinject.capture import Decoder, decode
from pushinject.capture.hep import (
    HEPError, HEPPacket, decode_legacy_hep, encode_legacy_hep, is_legacy_hep,
)
from pushinject.capture.samples import eth
from pushinject.conformance import CheckOptions
from pushinject.conformance.capture import load_capture
from pushinject.conformance.check import check_messages
from tests.conftest import DATA
from tests.hep_samples import AGENT, COLLECTOR, write_hep_capture

S1 = DATA / "kamailio" / "S1.pcap"

OPTIONS = (b"OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-hv1"
           b"\r\nCall-ID: hv-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")

#: the header Kamailio 5.6 wrote for an OPTIONS from 127.0.0.1:5999 to its port 5060, with
#: hep_version 1: version, header length 16, AF_INET, UDP, ports, addresses
V1_HEADER = bytes.fromhex("01 10 02 11 176f 13c4 7f000001 7f000001".replace(" ", ""))
#: the same with hep_version 2: then seconds 1796668646 and microseconds 836701 little-endian,
#: agent 2001 (d1 07) and two bytes of padding
V2_HEADER = bytes.fromhex(
    "02 10 02 11 176f 13c4 7f000001 7f000001 e6fc166b 5dc40c00 d107 0000".replace(" ", ""))


def test_kamailio_hepv1_header_decodes_to_its_fields() -> None:
    p = decode_legacy_hep(V1_HEADER + OPTIONS)
    assert (p.hep_version, p.source, p.destination, p.transport, p.stamped, p.agent_id,
            p.payload) == (1, ("127.0.0.1", 5999), ("127.0.0.1", 5060), "UDP", False, None,
                           OPTIONS)


def test_kamailio_hepv2_header_decodes_to_its_fields() -> None:
    p = decode_legacy_hep(V2_HEADER + OPTIONS)
    assert (p.hep_version, p.source, p.destination, p.seconds, p.microseconds, p.agent_id,
            p.payload) == (2, ("127.0.0.1", 5999), ("127.0.0.1", 5060), 1796668646, 836701,
                           2001, OPTIONS)
    assert encode_legacy_hep(p) == V2_HEADER + OPTIONS
    assert encode_legacy_hep(decode_legacy_hep(V1_HEADER + OPTIONS)) == V1_HEADER + OPTIONS


def test_a_packed_hepv2_time_header_of_10_bytes_is_read_too() -> None:
    """A sender whose C struct is packed writes no padding: the message starts right after."""
    packed = V2_HEADER[:-2] + OPTIONS
    assert decode_legacy_hep(packed).payload == OPTIONS


#: the header OpenSIPS 3.6.8's proto_hep wrote with version 2 for the caller's INVITE from
#: 127.0.0.1:5070 to its port 5060: Kamailio's layout, agent 1 (its default hep_capture_id)
OPENSIPS_V2_HEADER = bytes.fromhex(
    "02 10 02 11 13ce 13c4 7f000001 7f000001 b22e176b ef0c0300 0100 0000".replace(" ", ""))


@pytest.mark.parametrize("header", [OPENSIPS_V2_HEADER, b"\x01" + OPENSIPS_V2_HEADER[1:16]])
def test_opensips_pads_its_legacy_datagrams_with_zeros_that_are_no_message(header: bytes) -> None:
    """OpenSIPS counts its 8 bytes of IPv4 addresses twice in the datagram's length: 8 zero
    bytes follow the message it carries (32 over IPv6), and are dropped (HEP-5)."""
    packet = decode_legacy_hep(header + OPTIONS + bytes(8))
    assert (packet.source, packet.payload) == (("127.0.0.1", 5070), OPTIONS)
    assert decode_legacy_hep(header + OPTIONS + bytes(9)).payload == OPTIONS + bytes(9)
    six = encode_legacy_hep(HEPPacket(("2001:db8::1", 5060), ("2001:db8::2", 5070), 1, 0,
                                      payload=OPTIONS, hep_version=2))
    assert decode_legacy_hep(six + bytes(32)).payload == OPTIONS
    assert decode_legacy_hep(six + bytes(8)).payload == OPTIONS + bytes(8)


def test_ipv6_hepv2_round_trip() -> None:
    packet = HEPPacket(("2001:db8::1", 5060), ("2001:db8::2", 5070), 1700000000, 999999,
                       payload=OPTIONS, protocol=6, agent_id=7, hep_version=2)
    raw = encode_legacy_hep(packet)
    assert raw[:4] == bytes([2, 40, 10, 6]) and is_legacy_hep(raw)
    back = decode_legacy_hep(raw)
    assert (back.source, back.destination, back.time, back.transport, back.payload) == (
        packet.source, packet.destination, packet.time, "TCP", OPTIONS)


@pytest.mark.parametrize(("data", "message"), [
    (V2_HEADER[:20], "HEPv2 packet of 20 bytes ends inside its 26-byte header"),
    (bytes([1, 40, 10, 17]) + bytes(20), "HEPv1 packet of 24 bytes ends inside its 40-byte "
     "header"),
    (V2_HEADER[:20] + bytes.fromhex("40420f00") + V2_HEADER[24:] + OPTIONS,
     "HEP timestamp microseconds 1000000 is not below 1000000"),
    (b"OPTIONS sip:a SIP/2.0\r\n\r\n", "not a HEPv1 or HEPv2 packet (starts b'OPTI')"),
])
def test_damaged_legacy_packets_are_one_line_errors(data: bytes, message: str) -> None:
    with pytest.raises(HEPError) as caught:
        decode_legacy_hep(data)
    assert str(caught.value) == message


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 2]), st.sampled_from([2, 10]), st.binary(max_size=80))
def test_any_bytes_after_a_legacy_header_start_give_a_packet_or_a_hep_error(
        version: int, family: int, rest: bytes) -> None:
    """A hostile datagram that starts like HEPv1/v2 never raises anything but `HEPError`."""
    data = bytes([version, 16 if family == 2 else 40, family, 17]) + rest
    try:
        decode_legacy_hep(data)
    except HEPError as exc:
        assert exc.reason and "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(V2_HEADER) + 9), st.integers(0, 255))
def test_one_changed_byte_of_a_legacy_packet_gives_a_packet_or_a_hep_error(
        index: int, value: int) -> None:
    data = bytearray(V2_HEADER + OPTIONS[:10])
    data[index] = value
    try:
        decode_legacy_hep(bytes(data))
    except HEPError as exc:
        assert exc.reason


def test_what_is_not_a_legacy_header() -> None:
    """Version 3 or 0, an unknown family, or a header length that does not fit the family."""
    assert not any(is_legacy_hep(data) for data in (
        bytes([3, 16, 2, 17]) + bytes(12), bytes([1, 16, 7, 17]) + bytes(12),
        bytes([1, 40, 2, 17]) + bytes(36), bytes([2, 16, 10, 17]) + bytes(36),
        bytes([1, 16, 2, 17]) + bytes(11)))


def _rows(path: Path) -> list[tuple[tuple[str, int], tuple[str, int], str, bytes]]:
    return [(m.source, m.destination, m.transport, m.raw) for m in decode(path)]


@pytest.mark.parametrize("version", [1, 2])
def test_a_legacy_hep_capture_carries_the_messages(tmp_path: Path, version: int) -> None:
    """S1 mirrored as HEPv1 or HEPv2, each datagram 3 ms after the message: the messages of S1
    with their own addresses, no junk; HEPv2 with the mirror's times, HEPv1 with the times its
    datagrams were captured; both decoders agree (CAP-5)."""
    hep = write_hep_capture(S1, tmp_path / f"s1-hepv{version}.pcap", version=version)
    assert _rows(hep) == _rows(S1)
    decoder = Decoder()
    times = [m.time for m in decoder.decode_file(hep)]
    shift = 0.003 if version == 1 else 0.0
    assert times == pytest.approx([m.time + shift for m in decode(S1)], abs=1e-6)
    assert decoder.summary.anomalies == {} and decoder.summary.skipped == {}
    full = Decoder(full=True)
    assert [m.json_line() for m in full.decode_file(hep)] == list(Decoder().json_lines(hep))


@pytest.mark.parametrize("version", [1, 2])
def test_a_legacy_hep_capture_gets_the_verdicts_of_the_wire(tmp_path: Path,
                                                            version: int) -> None:
    hep = write_hep_capture(S1, tmp_path / f"s1-hepv{version}.pcap", version=version)
    options = CheckOptions(preset="kamailio-tsilo")
    wire = check_messages(load_capture(S1), options)
    mirrored = check_messages(load_capture(hep), options)
    assert [c.to_json() for c in mirrored.calls] == [c.to_json() for c in wire.calls]
    assert mirrored.calls and not mirrored.calls[0].violations


def test_a_damaged_legacy_datagram_is_counted(tmp_path: Path) -> None:
    def datagram(data: bytes) -> object:
        return (eth() / IP(src=AGENT[0], dst=COLLECTOR[0])
                / UDP(sport=AGENT[1], dport=COLLECTOR[1]) / data)

    path = tmp_path / "damaged.pcap"
    wrpcap(str(path), [datagram(V2_HEADER[:20]), datagram(V1_HEADER + OPTIONS)])
    decoder = Decoder()
    [message] = decoder.decode_file(path)
    assert (message.source, message.frame) == (("127.0.0.1", 5999), 2)
    assert decoder.summary.skipped == {"hep-malformed": 1}
