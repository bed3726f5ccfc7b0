"""Calls through a proxy, rebuilt from captures as `CallSummary` values (RFC 3261 §16.6)."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from pushinject.capture import Decoder
from pushinject.capture.calls import calls
from pushinject.capture.samples import eth


CALLER, PROXY, OLD, NEW = "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"


def frame(t: float, src: str, dst: str, start: str, cseq: str, vias: list[str],
          to_tag: str = "", to: str = "sip:bob@x", contact: str = "") -> Ether:
    via_lines = "".join(f"Via: SIP/2.0/UDP {v.split('/')[0]};branch={v.split('/')[1]}\r\n"
                        for v in vias)
    text = (f"{start}\r\n{via_lines}From: <sip:alice@x>;tag=a\r\nTo: <{to}>{to_tag}\r\n"
            f"Call-ID: call-1\r\nCSeq: {cseq}\r\n"
            + (f"Contact: <{contact}>\r\n" if contact else "") + "Content-Length: 0\r\n\r\n")
    pkt = eth() / IP(src=src, dst=dst) / UDP(sport=5060, dport=5060) / text.encode()
    pkt.time = t
    return pkt


def test_injected_branch_after_register_wins_and_the_old_one_is_cancelled(tmp_path: Path) -> None:
    """The push flow: INVITE forked to a stale contact, the woken device's REGISTER adds its
    contact, the branch injected to that contact answers (INJ-1)."""
    up = f"{CALLER}/z9hG4bKup"
    b1, b2 = f"{PROXY}/z9hG4bKb1", f"{PROXY}/z9hG4bKb2"
    path = tmp_path / "push.pcap"
    wrpcap(str(path), [
        frame(0.0, CALLER, PROXY, "INVITE sip:bob@x SIP/2.0", "1 INVITE", [up]),
        frame(0.1, PROXY, CALLER, "SIP/2.0 100 Trying", "1 INVITE", [up]),
        frame(0.2, PROXY, OLD, "INVITE sip:bob@10.0.0.3 SIP/2.0", "1 INVITE", [b1, up]),
        frame(2.0, NEW, PROXY, "REGISTER sip:x SIP/2.0", "5 REGISTER", [f"{NEW}/z9hG4bKr"],
              contact="sip:bob@10.0.0.4"),
        frame(2.1, PROXY, NEW, "INVITE sip:bob@10.0.0.4 SIP/2.0", "1 INVITE", [b2, up]),
        frame(2.2, NEW, PROXY, "SIP/2.0 180 Ringing", "1 INVITE", [b2, up], ";tag=n"),
        frame(2.2, NEW, PROXY, "SIP/2.0 180 Ringing", "1 INVITE", [b2, up], ";tag=n"),
        frame(3.0, NEW, PROXY, "SIP/2.0 200 OK", "1 INVITE", [b2, up], ";tag=n"),
        frame(3.0, PROXY, CALLER, "SIP/2.0 200 OK", "1 INVITE", [up], ";tag=n"),
        frame(3.1, PROXY, OLD, "CANCEL sip:bob@10.0.0.3 SIP/2.0", "1 CANCEL", [b1]),
        frame(3.2, OLD, PROXY, "SIP/2.0 487 Request Terminated", "1 INVITE", [b1, up], ";tag=o"),
    ])
    [call] = calls(Decoder().decode_file(path))
    assert (call.call_id, call.caller, call.callee) == ("call-1", "sip:alice@x", "sip:bob@x")
    assert (call.final_status, call.final_at, call.cancelled_by_caller) == (200, 3.0, False)
    old, new = call.branches
    assert (old.target, old.via_branch, old.injected, old.final_status) == (
        "sip:bob@10.0.0.3", "z9hG4bKb1", False, 487)
    assert (old.cancelled, old.cancelled_at) == (True, 3.1)
    assert (new.index, new.injected, new.provisional, new.final_status, new.opened_at) == (
        1, True, (180,), 200, 2.1)


