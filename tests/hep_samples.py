"""HEP captures made from the committed captures for the tests: every SIP message of a capture,
wrapped in HEPv3 by `pushinject.capture.hep.encode_hep` and sent from the proxy to a collector,
over UDP (one packet per datagram) or over one TCP stream."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import RawPcapWriter

from pushinject.capture import decode
from pushinject.capture.hep import HEPPacket, encode_hep, encode_legacy_hep
from pushinject.capture.samples import eth

__all__ = ["COLLECTOR", "AGENT", "hep_packets", "write_hep_capture"]

#: where the wrapped messages are sent, and from where
COLLECTOR = ("127.0.0.9", 9060)
AGENT = ("127.0.0.1", 40000)

_PROTOCOLS = {"UDP": 17, "TCP": 6, "SCTP": 132}


def hep_packets(source: Path, *, compress: bool = False, version: int = 3,
                json_payload: bool = False) -> list[tuple[float, bytes]]:
    """(capture time, HEP bytes) for every SIP message of `source`, in capture order, in HEP
    `version` 3, 2 or 1; with `json_payload` each message inside a JSON object, as OpenSIPS's
    proto_hep sends it with homer5_on 0 (HEP-6)."""
    out = []
    for msg in decode(source):
        micros = round(msg.time * 1_000_000)
        packet = HEPPacket(source=msg.source, destination=msg.destination,
                           seconds=micros // 1_000_000, microseconds=micros % 1_000_000,
                           payload=msg.raw, protocol=_PROTOCOLS[msg.transport], agent_id=2001,
                           correlation_id=(msg.fields.call_id or "").encode(),
                           hep_version=version, json_payload=json_payload)
        out.append((msg.time, encode_hep(packet, compress=compress) if version == 3
                    else encode_legacy_hep(packet)))
    return out


def write_hep_capture(source: Path, out: Path, *, compress: bool = False, tcp: bool = False,
                      delay: float = 0.003, coalesce: float = 0.0, version: int = 3,
                      json_payload: bool = False) -> Path:
    """A pcap of `source`'s SIP messages mirrored as HEP to `COLLECTOR`, each arriving `delay`
    seconds after its HEP timestamp (over UDP, or in order over one TCP stream). Over TCP,
    `coalesce` > 0 puts the packets stamped within that many seconds of the first of a segment
    into that segment, sent with the last of them, as a mirror's socket does under load.
    `version`: the HEP version (1 and 2 only in datagrams); `json_payload`: see `hep_packets`."""
    groups: list[list[tuple[float, bytes]]] = []
    for time, data in hep_packets(source, compress=compress, version=version,
                                  json_payload=json_payload):
        if tcp and coalesce > 0 and groups and time - groups[-1][0][0] <= coalesce:
            groups[-1].append((time, data))
        else:
            groups.append([(time, data)])
    segments = [(group[-1][0], b"".join(data for _, data in group)) for group in groups]
    writer = RawPcapWriter(str(out), linktype=1)
    writer.write_header(None)
    seq = 1000
    for time, data in segments:
        ip = IP(src=AGENT[0], dst=COLLECTOR[0])
        if tcp:
            frame = eth() / ip / TCP(sport=AGENT[1], dport=COLLECTOR[1], seq=seq, flags="PA") / data
            seq += len(data)
        else:
            frame = eth() / ip / UDP(sport=AGENT[1], dport=COLLECTOR[1]) / data
        at = round((time + delay) * 1_000_000)
        writer.write_packet(bytes(frame), sec=at // 1_000_000, usec=at % 1_000_000)
    writer.close()
    return out
