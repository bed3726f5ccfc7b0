"""What tshark and the decoder list for a capture, row for row: (frame, method, status,
Call-ID, CSeq) per SIP message, for tests that compare the two."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pushinject.capture import Decoder

#: captures whose SIP runs on a port tshark does not dissect as SIP by itself
DECODE_AS = {"sip_ipv4_tcp_fragmented.pcap": ["-d", "tcp.port==6060,sip"]}


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
