"""The capture decoder on purpose-made captures: encapsulations, reassembly, damage, accounting.

Captures are generated with Scapy into tmp_path. Every test checks the exact messages found and
the exact frame accounting (`frames == sip_frames + carried + skipped`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scapy.layers.inet import GRE, IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
from scapy.utils import RawPcapWriter, wrpcap

from pushinject.capture import Decoder
from pushinject.capture.samples import eth
from pushinject.capture.websocket import unmask


def sip(method: str = "OPTIONS", call_id: str = "c1", body: bytes = b"", cseq: int = 1) -> bytes:
    head = (f"{method} sip:bob@example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK{cseq}"
            f"\r\nFrom: <sip:a@example.com>;tag=f1\r\nTo: <sip:bob@example.com>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def run(path: Path, *, full: bool = False) -> tuple[list[tuple[int, str, str, str]], Decoder]:
    decoder = Decoder(full=full)
    rows = [(m.frame, m.transport, m.label, m.fields.call_id or "")
            for m in decoder.decode_file(path)]
    s = decoder.summary
    assert s.frames == s.accounted, s.line()
    fast_rows = rows
    if not full:
        full_rows, full_decoder = run(path, full=True)
        assert full_rows == fast_rows
        assert full_decoder.summary == decoder.summary
    return rows, decoder


def test_vlan_qinq_ethernet_and_sip_on_any_port(tmp_path: Path) -> None:
    """IEEE 802.1ad + 802.1Q tags; SIP recognised by content on UDP port 9999."""
    path = tmp_path / "qinq.pcap"
    wrpcap(str(path), [
        eth() / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IP(src="10.0.0.1", dst="10.0.0.2")
        / UDP(sport=9999, dport=9999) / sip(),
        eth() / IP() / UDP(sport=5060, dport=5060) / b"\x80\x00rtp-ish",
    ])
    rows, decoder = run(path)
    assert rows == [(1, "UDP", "OPTIONS", "c1")]
    assert decoder.summary.skipped == {"not-sip": 1}


def test_linux_cooked_v2_and_bsd_loopback(tmp_path: Path) -> None:
    cooked, null = tmp_path / "sll2.pcap", tmp_path / "null.pcap"
    wrpcap(str(cooked), [CookedLinuxV2(proto=0x0800) / IP() / UDP() / sip(call_id="v2")])
    wrpcap(str(null), [Loopback(type=2) / IP() / UDP() / sip(call_id="null")])
    assert run(cooked)[0] == [(1, "UDP", "OPTIONS", "v2")]
    assert run(null)[0] == [(1, "UDP", "OPTIONS", "null")]


def test_gre_with_key_carrying_ipv6(tmp_path: Path) -> None:
    """RFC 2784 / RFC 2890: GRE with a key field around an IPv6 packet."""
    path = tmp_path / "gre.pcap"
    wrpcap(str(path), [eth() / IP() / GRE(key_present=1, key=7, proto=0x86DD)
                       / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP() / sip(call_id="g")])
    rows, decoder = run(path)
    assert rows == [(1, "UDP", "OPTIONS", "g")]
    assert next(decoder.decode_file(path)).source == ("2001:db8::1", 53)


def test_ipv4_fragments_out_of_order_are_reassembled(tmp_path: Path) -> None:
    """RFC 791 §3.2: the datagram is whole once every fragment arrived, in any order."""
    path = tmp_path / "frag.pcap"
    pieces = fragment(IP(src="10.0.0.1", dst="10.0.0.2", id=9) / UDP(sport=5060, dport=5060)
                      / sip(body=b"x" * 1500), fragsize=600)
    assert len(pieces) == 3
    wrpcap(str(path), [eth() / p for p in (pieces[2], pieces[0], pieces[1])])
    rows, decoder = run(path)
    assert rows == [(3, "UDP", "OPTIONS", "c1")]
    assert (decoder.summary.sip_frames, decoder.summary.carried) == (1, 2)


def test_missing_fragment_is_counted_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "lost.pcap"
    pieces = fragment(IP(id=3) / UDP() / sip(body=b"y" * 1200), fragsize=600)
    wrpcap(str(path), [eth() / p for p in pieces[:-1]])
    rows, decoder = run(path)
    assert rows == []
    assert decoder.summary.skipped == {"fragment-incomplete": len(pieces) - 1}


def _tcp(seq: int, data: bytes = b"", flags: str = "PA") -> Ether:
    return (eth() / IP(src="10.0.0.1", dst="10.0.0.2")
            / TCP(sport=40000, dport=5060, seq=seq, flags=flags) / data)


def test_tcp_reordering_retransmission_split_and_joined_messages(tmp_path: Path) -> None:
    """RFC 3261 §18.3: messages framed by Content-Length across and within segments."""
    one, two, three = sip(call_id="a", body=b"hello"), sip(call_id="b"), sip(call_id="c")
    stream = one + two + three
    cut1, cut2 = 40, len(one) + len(two) + 10
    isn = 1000
    path = tmp_path / "tcp.pcap"
    wrpcap(str(path), [
        _tcp(isn, flags="S"),
        _tcp(isn + 1 + cut1, stream[cut1:cut2]),           # out of order: held
        _tcp(isn + 1, stream[:cut1]),                       # fills the gap: a and b complete
        _tcp(isn + 1, stream[:cut1]),                       # retransmission
        _tcp(isn + 1 + cut2, stream[cut2:]),                # c completes
        _tcp(isn + 1 + len(stream), b"\r\n\r\n"),           # keep-alive (RFC 5626 §3.5.1)
        _tcp(isn + 5 + len(stream), flags="FA"),
    ])
    rows, decoder = run(path)
    assert rows == [(3, "TCP", "OPTIONS", "a"), (3, "TCP", "OPTIONS", "b"),
                    (5, "TCP", "OPTIONS", "c")]
    # a and b share frame 3: their places in it keep their order (CAP-9)
    assert [(m.frame, m.within) for m in Decoder().decode_file(path)] == [(3, 0), (3, 1), (5, 0)]
    s = decoder.summary
    assert (s.sip_frames, s.carried) == (2, 1)
    assert s.skipped == {"no-payload": 2, "tcp-retransmission": 1, "keep-alive": 1}


def test_tcp_bad_content_length_skips_the_stream(tmp_path: Path) -> None:
    path = tmp_path / "badlen.pcap"
    bad = sip().replace(b"Content-Length: 0", b"Content-Length: many")
    wrpcap(str(path), [_tcp(1, bad)])
    rows, decoder = run(path)
    assert rows == []
    assert decoder.summary.skipped == {"bad-content-length": 1}


def test_websocket_masked_client_frames(tmp_path: Path) -> None:
    """RFC 6455 §5.3 masking; RFC 7118 §5: one SIP message per WebSocket message."""
    msg = sip(call_id="ws")
    assert len(msg) > 125
    key = b"\x01\x02\x03\x04"
    frame = bytes([0x81, 0x80 | 126]) + len(msg).to_bytes(2, "big") + key + unmask(key, msg)
    handshake = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Protocol: sip\r\n\r\n")
    path = tmp_path / "ws.pcap"
    wrpcap(str(path), [_tcp(1, handshake), _tcp(1 + len(handshake), frame[:50]),
                       _tcp(1 + len(handshake) + 50, frame[50:])])
    rows, decoder = run(path)
    assert rows == [(3, "WS", "OPTIONS", "ws")]
    assert decoder.summary.skipped == {"websocket-control": 1}
    assert decoder.summary.carried == 1


def test_junk_before_a_request_is_counted_and_the_message_kept(tmp_path: Path) -> None:
    path = tmp_path / "junk.pcap"
    wrpcap(str(path), [eth() / IP() / UDP() / (b"\x00\x01DB" + sip(method="REGISTER"))])
    decoder = Decoder()
    msgs = list(decoder.decode_file(path))
    assert [(m.label, m.junk) for m in msgs] == [("REGISTER", b"\x00\x01DB")]
    assert decoder.summary.anomalies == {"junk-before-message": 1}
    assert msgs[0].message.method == "REGISTER"


def test_udp_bad_content_length_is_kept_with_its_defect(tmp_path: Path) -> None:
    path = tmp_path / "udpbad.pcap"
    wrpcap(str(path), [eth() / IP() / UDP() / sip().replace(b"Length: 0", b"Length: 99")])
    decoder = Decoder()
    msgs = list(decoder.decode_file(path))
    assert len(msgs) == 1 and msgs[0].message.defects
    assert decoder.summary.anomalies == {"bad-content-length": 1}


def test_snaplen_cut_packet_and_truncated_file_are_counted(tmp_path: Path) -> None:
    whole = bytes(eth() / IP() / UDP() / sip())
    path = tmp_path / "cut.pcap"
    with RawPcapWriter(str(path), linktype=1, snaplen=100) as writer:
        writer.write_header(None)
        writer.write_packet(whole, sec=1, usec=0)
        writer.write_packet(whole[:100], sec=2, usec=0, wirelen=len(whole))
        writer.write_packet(whole, sec=3, usec=0)
    data = path.read_bytes()
    path.write_bytes(data[:-30])
    decoder = Decoder()
    rows = [m.frame for m in decoder.decode_file(path)]
    assert rows == [1]
    s = decoder.summary
    assert s.truncated_file
    assert s.skipped == {"truncated": 1, "truncated-file": 1}
    assert s.frames + 1 == s.accounted  # the cut record is not a frame, but it is counted


def test_decode_command_lists_json_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "two.pcap"
    wrpcap(str(path), [eth() / IP() / UDP() / sip(call_id="x"),
                       eth() / IP() / UDP() / sip(call_id="y", cseq=2)])
    cmd = [sys.executable, "-m", "pushinject", "decode"]
    done = subprocess.run(cmd + ["--json", "--call-id", "y", str(path)], capture_output=True,
                          text=True, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [d.get("call_id") for d in lines[:-1]] == ["y"]
    assert lines[0]["cseq"] == "2 OPTIONS" and lines[0]["branch"] == "z9hG4bK2"
    assert lines[-1]["summary"]["messages"] == 2
    assert done.stderr == ""
    text = subprocess.run(cmd + [str(path)], capture_output=True, text=True, check=True).stdout
    assert text.splitlines()[-1] == (
        "2 frames: 2 SIP messages in 2 frames, 0 frames carried parts of them")
    bad = subprocess.run(cmd + [__file__], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a pcap or pcapng file" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_tcp_capture_started_mid_message_resynchronises(tmp_path: Path) -> None:
    """No SYN seen: the tail of an earlier message is not SIP; the next segment starts one."""
    tail = b"a=rtpmap:0 PCMU/8000\r\n"
    path = tmp_path / "mid.pcap"
    wrpcap(str(path), [_tcp(500, tail), _tcp(500 + len(tail), sip(call_id="next"))])
    rows, decoder = run(path)
    assert rows == [(2, "TCP", "OPTIONS", "next")]
    assert decoder.summary.skipped == {"not-sip": 1}


def test_tcp_message_cut_by_fin_is_counted_incomplete(tmp_path: Path) -> None:
    data = sip(body=b"0123456789")
    path = tmp_path / "cut-stream.pcap"
    wrpcap(str(path), [_tcp(1, data[:60]), _tcp(61, data[60:-4]), _tcp(len(data) - 3, flags="FA")])
    rows, decoder = run(path)
    assert rows == []
    assert decoder.summary.skipped == {"tcp-incomplete": 2, "no-payload": 1}


def test_sctp_message_in_two_data_chunks(tmp_path: Path) -> None:
    """RFC 9260 §6.9: B and E flags delimit a user message; RFC 4168 SIP over SCTP."""
    from scapy.layers.sctp import SCTP, SCTPChunkData

    data = sip(call_id="sctp")
    path = tmp_path / "sctp.pcap"
    wrpcap(str(path), [
        eth() / IP() / SCTP(sport=5060, dport=5060)
        / SCTPChunkData(tsn=7, beginning=1, ending=0, data=data[:50]),
        eth() / IP() / SCTP(sport=5060, dport=5060)
        / SCTPChunkData(tsn=8, beginning=0, ending=1, data=data[50:]),
    ])
    rows, decoder = run(path)
    assert rows == [(2, "SCTP", "OPTIONS", "sctp")]
    assert (decoder.summary.sip_frames, decoder.summary.carried) == (1, 1)


def test_ipv6_fragments_are_reassembled(tmp_path: Path) -> None:
    """RFC 8200 §4.5: the Fragment header, reassembled by (source, destination, identification)."""
    from scapy.layers.inet6 import IPv6ExtHdrFragment, fragment6

    pkt = (IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(id=5)
           / UDP(sport=5060, dport=5060) / sip(call_id="v6", body=b"z" * 1400))
    pieces = fragment6(pkt, 800)
    assert len(pieces) == 3
    path = tmp_path / "frag6.pcap"
    wrpcap(str(path), [eth() / p for p in pieces])
    rows, decoder = run(path)
    assert rows == [(3, "UDP", "OPTIONS", "v6")]
    assert decoder.summary.carried == 2


def test_progress_bar_goes_to_a_terminal_stderr_only(tmp_path: Path) -> None:
    """With stderr on a terminal the listing on stdout is unchanged; the bar is on stderr."""
    import os
    import pty

    path = tmp_path / "many.pcap"
    wrpcap(str(path), [eth() / IP() / UDP() / sip(call_id=f"c{i}") for i in range(1500)])
    cmd = [sys.executable, "-m", "pushinject", "decode", "--json", str(path)]
    plain = subprocess.run(cmd, capture_output=True, check=True).stdout
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=follower, check=True)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.stdout == plain
    assert plain.count(b"\n") == 1501


def test_unknown_link_type_is_counted(tmp_path: Path) -> None:
    """LINKTYPE_USER0 (147) means nothing to either path: counted, not guessed."""
    path = tmp_path / "user0.pcap"
    with RawPcapWriter(str(path), linktype=147) as writer:
        writer.write_header(None)
        writer.write_packet(bytes(IP() / UDP() / sip()), sec=1, usec=0)
    rows, decoder = run(path)
    assert rows == []
    assert decoder.summary.skipped == {"unknown-linktype": 1}


def test_truncated_pcapng_is_counted(tmp_path: Path) -> None:
    from scapy.utils import PcapNgWriter

    path = tmp_path / "cut.pcapng"
    with PcapNgWriter(str(path)) as writer:
        for i in range(2):
            writer.write(eth() / IP() / UDP() / sip(call_id=f"n{i}"))
    path.write_bytes(path.read_bytes()[:-20])
    decoder = Decoder()
    assert [m.fields.call_id for m in decoder.decode_file(path)] == ["n0"]
    assert decoder.summary.truncated_file
    assert decoder.summary.skipped == {"truncated-file": 1}
