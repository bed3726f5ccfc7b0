"""Transactions from captures: RFC 3261 §17.1.3/§17.2.3 matching, ACK/CANCEL, retransmissions."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from pushinject.capture import Decoder
from pushinject.capture.samples import eth
from pushinject.capture.transactions import dialogs, transactions
from pushinject.paths import data_path


def msg(start: str, method: str, src: str, to_tag: str = "") -> Ether:
    text = (f"{start}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:a@x>;tag=a\r\n"
            f"To: <sip:b@x>{to_tag}\r\nCall-ID: c\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n")
    dst = "10.0.0.2" if src == "10.0.0.1" else "10.0.0.1"
    return eth() / IP(src=src, dst=dst) / UDP(sport=5060, dport=5060) / text.encode()


def test_cancel_ack_and_retransmissions(tmp_path: Path) -> None:
    """§9.1 CANCEL has its own transaction; §17.1.1.3 non-2xx ACK joins the INVITE's."""
    a, b = "10.0.0.1", "10.0.0.2"
    path = tmp_path / "cancel.pcap"
    wrpcap(str(path), [
        msg("INVITE sip:b@x SIP/2.0", "INVITE", a),
        msg("INVITE sip:b@x SIP/2.0", "INVITE", a),              # retransmission (Timer A)
        msg("SIP/2.0 100 Trying", "INVITE", b),
        msg("CANCEL sip:b@x SIP/2.0", "CANCEL", a),
        msg("SIP/2.0 200 OK", "CANCEL", b, ";tag=t"),
        msg("SIP/2.0 487 Request Terminated", "INVITE", b, ";tag=t"),
        msg("SIP/2.0 487 Request Terminated", "INVITE", b, ";tag=t"),  # retransmission
        msg("ACK sip:b@x SIP/2.0", "ACK", a),
    ])
    invite, cancel = transactions(Decoder().decode_file(path))
    assert (invite.method, invite.request_frames, invite.responses) == (
        "INVITE", [1, 2], [(3, 100), (6, 487)])
    assert (invite.ack_frame, invite.retransmissions, invite.final_status) == (8, 2, 487)
    assert cancel.cancels is invite and invite.cancel is cancel
    assert (cancel.request_frames, cancel.responses) == ([4], [(5, 200)])


def test_challenges_create_no_dialog(tmp_path: Path) -> None:
    """§12.1: only 101-299 responses to an INVITE create dialogs; a 407 does not."""
    a, b = "10.0.0.1", "10.0.0.2"
    path = tmp_path / "challenge.pcap"
    wrpcap(str(path), [
        msg("INVITE sip:b@x SIP/2.0", "INVITE", a),
        msg("SIP/2.0 407 Proxy Authentication Required", "INVITE", b, ";tag=p"),
        msg("ACK sip:b@x SIP/2.0", "ACK", a, ";tag=p"),
    ])
    assert dialogs(Decoder().decode_file(path)) == []


def test_two_early_dialogs_on_one_branch() -> None:
    """RFC 3261 §12.1/§13.2.2.4: each To tag in a 1xx is its own early dialog. cooked-ipv6.pcap:
    183s with To tags t1 and t2 reach the proxy (frames 6 and 8); the 200 confirms t1, t2 stays
    early."""
    found = dialogs(Decoder().decode_file(data_path("captures", "cooked-ipv6.pcap")))
    assert [(d.remote_tag, d.state, d.frames[0]) for d in found] == [
        ("t1", "confirmed", 6), ("t2", "early", 8)]


def test_lab_capture_transactions() -> None:
    """S4.pcap (the caller CANCELs): the INVITE ends 487 and its ACK joins it (§17.1.1.3);
    the CANCEL is a transaction of its own answered 200 (§9.1)."""
    txns = transactions(Decoder().decode_file(data_path("kamailio", "S4.pcap")))
    invites = [t for t in txns if t.method == "INVITE"]
    assert not any(t.method == "ACK" for t in txns)
    assert all(t.ack_frame is not None for t in invites if t.final_status == 487)
    cancels = [t for t in txns if t.method == "CANCEL"]
    assert cancels and all(c.cancels is not None and c.responses[0][1] == 200 for c in cancels)
