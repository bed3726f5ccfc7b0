"""SIP inside a JSON object in HEPv3 (HEP-6), as OpenSIPS's proto_hep sends it with `homer5_on`
0: the exact layout seen from the lab's OpenSIPS 3.6.8, round trips of any bytes, every
malformation as a one-line `HEPError`, and captures of it giving the messages and verdicts of
the plain capture."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.utils import wrpcap

from pushinject.capture import Decoder, decode
from pushinject.capture.hep import HEPError, HEPPacket, decode_hep, encode_hep
from pushinject.capture.samples import eth
from pushinject.conformance.capture import load_capture
from pushinject.conformance.check import CheckOptions, check_messages
from tests.conftest import DATA
from tests.hep_samples import AGENT, COLLECTOR, write_hep_capture

S1 = DATA / "kamailio" / "S1.pcap"

#: the REGISTER of the lab's scenario O1 as OpenSIPS sent it in chunk 15 with homer5_on 0
#: (cJSON's printer: a newline and a tab around the member, CR and LF escaped)
OPENSIPS_PAYLOAD = (
    b'{\n\t"payload":\t"REGISTER sip:127.0.0.1:5060 SIP/2.0\\r\\nVia: SIP/2.0/UDP 127.0.0.1:5081'
    b';branch=z9hG4bK-reg-5081-1\\r\\nFrom: <sip:bob@127.0.0.1:5060>;tag=reg-5081\\r\\nTo: '
    b'<sip:bob@127.0.0.1:5060>\\r\\nCall-ID: O1-dev1-register@127.0.0.1\\r\\nCSeq: 1 REGISTER'
    b'\\r\\nContact: <sip:dev1@127.0.0.1:5071>\\r\\nExpires: 300\\r\\nMax-Forwards: 70\\r\\n'
    b'Content-Length: 0\\r\\n\\r\\n"\n}')
REGISTER = (
    b"REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5081"
    b";branch=z9hG4bK-reg-5081-1\r\nFrom: <sip:bob@127.0.0.1:5060>;tag=reg-5081\r\nTo: "
    b"<sip:bob@127.0.0.1:5060>\r\nCall-ID: O1-dev1-register@127.0.0.1\r\nCSeq: 1 REGISTER"
    b"\r\nContact: <sip:dev1@127.0.0.1:5071>\r\nExpires: 300\r\nMax-Forwards: 70\r\n"
    b"Content-Length: 0\r\n\r\n")


def _packet(payload: bytes, **more: object) -> HEPPacket:
    return HEPPacket(("127.0.0.1", 5081), ("127.0.0.1", 5060), 1_796_695_239, 643_929,
                     payload=payload, agent_id=1, **more)  # type: ignore[arg-type]


def _raw(payload: bytes, proto_type: int = 1) -> bytes:
    """A HEPv3 packet whose chunk 15 holds `payload` as it is."""
    return encode_hep(_packet(payload, proto_type=proto_type))


def test_opensips_json_payload_is_the_message_it_holds() -> None:
    packet = decode_hep(_raw(OPENSIPS_PAYLOAD))
    assert (packet.payload, packet.json_payload) == (REGISTER, True)
    assert encode_hep(packet) == _raw(OPENSIPS_PAYLOAD)
    plain = decode_hep(_raw(REGISTER))
    assert (plain.payload, plain.json_payload) == (REGISTER, False)


def test_escapes_and_bytes_that_are_not_utf8_come_back_as_sent() -> None:
    message = b'MESSAGE sip:a SIP/2.0\r\nSubject: "q" \\ \x01\x7f\xc3\xa9\xff\tx\r\n\r\n'
    data = encode_hep(_packet(message, json_payload=True))
    assert (b'\\"q\\" \\\\ \\u0001\x7f\xc3\xa9\xff\\tx\\r\\n\\r\\n"\n}') in data
    assert decode_hep(data).payload == message
    escaped = b'{"payload": "A\\u00e9\\u4e2d\\/\\b\\f", "other": [1, {"x": null}]}'
    assert decode_hep(_raw(escaped)).payload == "Aé中/\b\f".encode()


def test_compressed_json_payload_is_inflated_then_read() -> None:
    packet = _packet(REGISTER, json_payload=True, compressed=True)
    assert decode_hep(encode_hep(packet, compress=True)) == packet


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=400))
def test_any_message_round_trips_through_json(message: bytes) -> None:
    packet = _packet(message, json_payload=True)
    assert decode_hep(encode_hep(packet)) == packet


@pytest.mark.parametrize(("payload", "message"), [
    (b"{", "HEP SIP payload starts with { but is not a JSON document"),
    (b'{"payload": "a"} x', "HEP SIP payload starts with { but is not a JSON document"),
    (b'{"payload": "a\x01"}', "HEP SIP payload starts with { but is not a JSON document"),
    (b"{" * 3000 + b"}" * 3000, "HEP SIP payload starts with { but is not a JSON document"),
    (b'{"message": "INVITE"}', 'HEP SIP payload in JSON form without a "payload" string'),
    (b'{"payload": 5}', 'HEP SIP payload in JSON form without a "payload" string'),
    (b'{"payload": ""}', 'HEP SIP payload in JSON form without a "payload" string'),
    (b'{"payload": "\\ud800x"}',
     'HEP SIP payload in JSON form whose "payload" string is not text'),
])
def test_a_broken_json_payload_is_a_one_line_hep_error(payload: bytes, message: str) -> None:
    with pytest.raises(HEPError) as caught:
        decode_hep(_raw(payload))
    assert (caught.value.reason, str(caught.value)) == ("json", message)


def test_a_payload_of_another_protocol_is_left_as_it_is() -> None:
    packet = decode_hep(_raw(b'{"payload": 1}', proto_type=100))
    assert (packet.payload, packet.json_payload) == (b'{"payload": 1}', False)


def test_json_hep_capture_gives_the_messages_and_verdicts_of_the_wire(tmp_path: Path) -> None:
    plain = write_hep_capture(S1, tmp_path / "plain.pcap")
    wrapped = write_hep_capture(S1, tmp_path / "json.pcap", json_payload=True)
    for tcp in (False, True):
        path = write_hep_capture(S1, tmp_path / f"json-{tcp}.pcap", json_payload=True, tcp=tcp)
        assert [(m.time, m.source, m.destination, m.raw) for m in decode(path)] == [
            (m.time, m.source, m.destination, m.raw) for m in decode(S1)]
    options = CheckOptions(preset="kamailio-tsilo")
    verdicts = [c.to_json() for c in check_messages(load_capture(S1), options).calls]
    for path in (plain, wrapped):
        assert [c.to_json() for c in check_messages(load_capture(path), options).calls] == (
            verdicts)
    full, fast = Decoder(full=True), Decoder()
    assert [m.json_line() for m in full.decode_file(wrapped)] == list(fast.json_lines(wrapped))


def test_broken_json_datagrams_are_counted_as_malformed(tmp_path: Path) -> None:
    path = tmp_path / "broken.pcap"
    datagrams = [_raw(OPENSIPS_PAYLOAD), _raw(b'{"payload": 5}'), _raw(b"{not json")]
    wrpcap(str(path), [eth() / IP(src=AGENT[0], dst=COLLECTOR[0])
                       / UDP(sport=AGENT[1], dport=COLLECTOR[1]) / data for data in datagrams])
    decoder = Decoder()
    assert [m.raw for m in decoder.decode_file(path)] == [REGISTER]
    assert dict(decoder.summary.skipped) == {"hep-malformed": 2}
