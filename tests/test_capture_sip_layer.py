"""The Scapy SIP layer: bound to 5060/5061, parsing delegated to `pushinject.sip`."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.utils import rdpcap

from pushinject.capture import Decoder
from pushinject.capture.sip_layer import SIP
from pushinject.paths import data_path


def test_summary_names_the_response_and_call_id() -> None:
    raw = b"SIP/2.0 180 Ringing\r\nCall-ID: abc\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    pkt = IP(bytes(IP() / UDP(sport=5061, dport=40000) / raw))
    assert pkt[SIP].summary() == "SIP SIP/2.0 180 Ringing (Call-ID abc)"
    assert pkt[SIP].message.status == 180


def test_other_ports_are_not_claimed() -> None:
    pkt = IP(bytes(IP() / UDP(sport=4000, dport=4001) / b"OPTIONS sip:a SIP/2.0\r\n\r\n"))
    assert SIP not in pkt


def test_rdpcap_decodes_the_same_udp_messages_as_the_decoder() -> None:
    """S1.pcap of the capture lab: every message is on UDP 5060 (Kamailio's port), so Scapy's
    layer finds each one the decoder finds, in the same order."""
    path = data_path("kamailio", "S1.pcap")
    layered = [pkt[SIP].message for pkt in rdpcap(str(path)) if SIP in pkt]
    decoded = [m.message for m in Decoder().decode_file(path)]
    assert len(layered) == len(decoded) == 26
    assert [(m.call_id, m.cseq.number) for m in layered] == [
        (m.call_id, m.cseq.number) for m in decoded]
