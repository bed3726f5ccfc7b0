"""`pushinject bench decode`: the generated capture is realistic and the run prints its ratio."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pushinject.bench.decode import generate
from pushinject.capture import Decoder
from tests.conftest import require_tool


def test_generated_capture_holds_calls_registers_and_rtp(tmp_path: Path) -> None:
    path = tmp_path / "gen.pcap"
    frames = generate(str(path), 100)
    decoder = Decoder()
    labels = [m.label for m in decoder.decode_file(path)]
    # 14 calls of 7 messages, 2 REGISTER/200 pairs (every 5th call), 3 RTP packets per call
    assert len(labels) == 14 * 7 + 2 * 2 == 102
    assert frames == 102 + 14 * 3
    assert labels[:7] == ["INVITE", "100", "180", "200", "ACK", "BYE", "200"]
    assert labels.count("REGISTER") == 2
    assert decoder.summary.skipped == {"not-sip": 42}


def test_tshark_finds_the_same_messages_in_the_generated_capture(tmp_path: Path) -> None:
    tshark = require_tool("tshark")
    path = tmp_path / "gen.pcap"
    generate(str(path), 50)
    done = subprocess.run([tshark, "-r", str(path), "-Y", "sip", "-T", "fields",
                           "-e", "sip.Call-ID"], capture_output=True, text=True, check=True)
    ours = [m.fields.call_id for m in Decoder().decode_file(path)]
    assert done.stdout.split() == ours


def test_bench_prints_both_figures_and_the_ratio_last() -> None:
    require_tool("tshark")
    done = subprocess.run([sys.executable, "-m", "pushinject", "bench", "decode",
                           "--packets", "400", "--runs", "1"],
                          capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("generated ") and "400+ SIP packets" in lines[0]
    assert any(line.startswith("tshark -Y sip -T fields:") for line in lines)
    assert any(line.startswith("memory flatness: peak ") for line in lines)
    assert any(re.fullmatch(r"gzip-compressed \(\d+\.\d MiB, CAP-6\): pushinject decode "
                            r"--json \d+\.\d\d s, tshark \d+\.\d\d s, throughput ratio "
                            r"\d+\.\dx; \d+\.\d\dx the plain file's time", line)
               for line in lines)
    assert re.fullmatch(r"decode: \d+ packets/s \(\d+\.\d× tshark\)", lines[-1])
