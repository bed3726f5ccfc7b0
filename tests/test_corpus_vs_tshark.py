"""Every corpus capture decodes to the SIP messages tshark finds (count, method/status, Call-ID,
CSeq per message), and the fast path agrees with the full Scapy path.

Differences with tshark that are not disagreements, handled explicitly below:

- `ntop__nDPI/http_on_sip_port.pcap`: tshark's SIP dissector claims the two HTTP frames on TCP
  port 5060 as SIP "Continuation" rows with no method, status, Call-ID or CSeq; they are not SIP
  messages (no request or status line, RFC 3261 §7), so rows without a method and without a
  status are not counted as messages. The decoder must find none there.
- `sip_ipv4_tcp_fragmented.pcap` is SIP on TCP port 6060: tshark needs `-d tcp.port==6060,sip`;
  the decoder recognises SIP by content on any port.
- tshark reports a message split over several TCP segments (or IP fragments, WebSocket frames)
  in the frame that completes it; so does the decoder, so frame numbers are compared as well.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pushinject.capture import Decoder
from tests.conftest import require_tool

DECODE_AS = {"sip_ipv4_tcp_fragmented.pcap": ["-d", "tcp.port==6060,sip"]}


def corpus(pcaps_dir: Path) -> list[Path]:
    return sorted(p for p in pcaps_dir.rglob("*") if p.suffix in (".pcap", ".pcapng"))


def tshark_rows(tshark: str, path: Path) -> list[tuple[str, ...]]:
    done = subprocess.run(
        [tshark, "-r", str(path), *DECODE_AS.get(path.name, []), "-Y", "sip", "-T", "fields",
         "-e", "frame.number", "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.Call-ID",
         "-e", "sip.CSeq"],
        capture_output=True, text=True, check=True,
    )
    rows = [tuple(line.split("\t")) for line in done.stdout.splitlines()]
    return [r for r in rows if r[1] or r[2]]  # continuation rows are not messages


def decoder_rows(path: Path, *, full: bool = False) -> tuple[list[tuple[str, ...]], Decoder]:
    decoder = Decoder(full=full)
    rows = []
    for m in decoder.decode_file(path):
        f = m.fields
        cseq = f"{f.cseq_number} {f.cseq_method}" if f.cseq_number is not None else ""
        rows.append((str(m.frame), f.method or "", str(f.status or ""), f.call_id or "", cseq))
    return rows, decoder


@pytest.mark.tshark
def test_every_corpus_capture_agrees_with_tshark(pcaps_dir: Path) -> None:
    tshark = require_tool("tshark")
    files = corpus(pcaps_dir)
    assert len(files) == 30
    total = 0
    for path in files:
        ours, _ = decoder_rows(path)
        assert ours == tshark_rows(tshark, path), path.name
        total += len(ours)
    assert total == 744  # the sum of the "SIP msgs" column of PROVENANCE.md


def test_fast_and_full_paths_agree_on_every_corpus_capture(pcaps_dir: Path) -> None:
    for path in corpus(pcaps_dir):
        fast, fast_decoder = decoder_rows(path)
        full, full_decoder = decoder_rows(path, full=True)
        assert fast == full, path.name
        assert fast_decoder.summary == full_decoder.summary, path.name


def test_every_frame_of_the_corpus_is_accounted_for(pcaps_dir: Path) -> None:
    for path in corpus(pcaps_dir):
        _, decoder = decoder_rows(path)
        s = decoder.summary
        assert s.frames == s.accounted, (path.name, s.line())


def test_http_on_the_sip_port_yields_no_sip(pcaps_dir: Path) -> None:
    rows, decoder = decoder_rows(pcaps_dir / "ntop__nDPI" / "http_on_sip_port.pcap")
    assert rows == []
    assert decoder.summary.skipped == {"no-payload": 2, "not-sip": 2}


def test_port_6060_capture_reassembles_406_messages(pcaps_dir: Path) -> None:
    """RFC 3261 §18.3: TCP messages framed by Content-Length, on a non-standard port."""
    rows, decoder = decoder_rows(pcaps_dir / "sipcapture__heplify" / "sip_ipv4_tcp_fragmented.pcap")
    assert len(rows) == 406
    assert len({r[3] for r in rows}) == 70
    assert decoder.summary.carried == 522


def test_websocket_capture_marks_ws_transport(pcaps_dir: Path) -> None:
    """RFC 7118: SIP messages carried in WebSocket frames."""
    decoder = Decoder()
    msgs = list(decoder.decode_file(pcaps_dir / "sipcapture__heplify" / "sip_tcp_websocket.pcap"))
    assert len(msgs) == 39
    assert sorted({m.transport for m in msgs}) == ["UDP", "WS"]
    assert decoder.summary.skipped["websocket-control"] == 2
