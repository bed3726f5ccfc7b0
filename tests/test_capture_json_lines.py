"""`Decoder.json_lines` (what `decode --json` writes) gives the lines and frame accounting of
`decode_file` + `DecodedMessage.json_line`: on every capture in data/ (and of the external
corpus, tests/test_corpus_vs_tshark.py) and on a capture mixing the
inline Ethernet/IPv4/UDP case with everything it leaves to `feed`."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.l2 import Dot1Q
from scapy.utils import wrpcap

from pushinject.capture import Decoder
from pushinject.capture.samples import eth
from pushinject.paths import DATA
from tests.test_capture_decoder import sip


def both(path: Path, call_id: str | None = None) -> tuple[list[str], Decoder]:
    """The lines of `json_lines`, checked against `decode_file`'s, and that decoder."""
    slow = Decoder()
    expected = [m.json_line() for m in slow.decode_file(path)
                if call_id is None or m.fields.call_id == call_id]
    fast = Decoder()
    lines = list(fast.json_lines(path, call_id))
    assert lines == expected
    assert fast.summary == slow.summary
    return lines, fast


def test_inline_and_general_frames_mixed(tmp_path: Path) -> None:
    """Keep-alives, RTP, junk before a message, a wrong Content-Length, a VLAN tag, IP options
    and fragments: only the plain frames are decoded inline, the accounting is the same."""
    path = tmp_path / "mixed.pcap"
    big = sip(call_id="frag", body=b"x" * 1400)
    wrpcap(str(path), [
        eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5060, dport=5060) / sip("INVITE"),
        eth() / IP() / UDP() / b"\r\n\r\n",
        eth() / IP() / UDP(sport=4000, dport=4002) / (b"\x80\x00" + bytes(170)),
        eth() / IP() / UDP() / (b"\x00junk" + sip(call_id="junk")),
        eth() / IP() / UDP() / sip(call_id="short").replace(b"Length: 0", b"Length: 9"),
        eth() / Dot1Q(vlan=7) / IP() / UDP() / sip(call_id="vlan"),
        eth() / IP(options=b"\x01\x01\x01\x01") / UDP() / sip(call_id="options"),
        *[eth() / f for f in fragment(IP() / UDP() / big, fragsize=600)],
        eth() / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=5060, dport=5060)
        / sip(call_id="c1", cseq=2),
    ])
    lines, decoder = both(path)
    assert len(lines) == 7
    s = decoder.summary
    assert (s.frames, s.messages, s.sip_frames, s.carried) == (11, 7, 7, 2)
    assert dict(s.skipped) == {"keep-alive": 1, "not-sip": 1}
    assert dict(s.anomalies) == {"junk-before-message": 1, "bad-content-length": 1}
    assert lines[0].startswith('{"frame": 1, "time": ')
    assert '"source": "10.0.0.1:5060", "destination": "10.0.0.2:5060"' in lines[0]
    only, _ = both(path, "c1")
    assert len(only) == 2


def test_every_project_capture() -> None:
    counts = {path.name: len(both(path)[0]) for path in sorted(DATA.rglob("*.pcap"))}
    assert counts["S1.pcap"] == 26 and counts["cooked-ipv6.pcap"] == 11
    assert counts["damaged.pcap"] == 2
