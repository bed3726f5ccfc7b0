"""A pcapng file that says its recording dropped packets is reported so (CAP-8): the last
Interface Statistics Block of each interface counts them, summed over interfaces, sections and
the parts of a recording, the same whatever the number of jobs; a pcap file says nothing."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from scapy.utils import PcapNgWriter, rdpcap

from pushinject.capture.decoder import Decoder
from pushinject.capture.records import RecordReader
from pushinject.cli import main
from tests.conftest import DATA

S1 = DATA / "kamailio" / "S1.pcap"


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)


def statistics_block(interface: int, *options: tuple[int, int]) -> bytes:
    """An Interface Statistics Block (little-endian) with 64-bit counter `options`."""
    body = struct.pack("<III", interface, 0, 0) + b"".join(
        _option(code, struct.pack("<Q", value)) for code, value in options)
    if options:
        body += bytes(4)  # opt_endofopt
    return struct.pack("<II", 5, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def as_pcapng(source: Path, path: Path, *blocks: bytes, frames: slice = slice(None)) -> Path:
    """The frames of `source` written as pcapng, then `blocks` after them."""
    with PcapNgWriter(str(path)) as writer:
        for pkt in rdpcap(str(source))[frames]:
            writer.write(pkt)
    path.write_bytes(path.read_bytes() + b"".join(blocks))
    return path


@pytest.mark.parametrize(("blocks", "dropped"), [
    ((), 0),
    ((statistics_block(0, (4, 26), (5, 0)),), 0),
    ((statistics_block(0, (4, 20), (5, 3)), statistics_block(0, (4, 40), (5, 14))), 14),
    ((statistics_block(0, (5, 2), (7, 5)),), 7),
    ((statistics_block(0, (5, 2)), statistics_block(1, (5, 9))), 11),
    ((statistics_block(0),), 0),
])
def test_last_statistics_of_each_interface_summed(tmp_path: Path, blocks: tuple[bytes, ...],
                                                  dropped: int) -> None:
    """Counters run from the capture's start: the last block of an interface stands, the
    interfaces add up, ``isb_ifdrop`` and ``isb_osdrop`` both count; no block, no drop."""
    reader = RecordReader(as_pcapng(S1, tmp_path / "s1.pcapng", *blocks))
    assert len(list(reader)) == 26
    assert reader.dropped == dropped
    assert not reader.truncated  # a file ending in whole blocks that hold no packet


def test_file_cut_inside_its_last_statistics_is_truncated(tmp_path: Path) -> None:
    """dumpcap writes its statistics last: a file cut inside them keeps its frames and
    counts a cut (CAP-4), and the cut block says nothing."""
    path = as_pcapng(S1, tmp_path / "s1.pcapng", statistics_block(0, (5, 14)))
    path.write_bytes(path.read_bytes()[:-6])
    reader = RecordReader(path)
    assert len(list(reader)) == 26
    assert reader.truncated and reader.dropped == 0


def test_statistics_block_with_broken_options_is_ignored(tmp_path: Path) -> None:
    """An option longer than its block says nothing; the frames are all read."""
    good = statistics_block(0, (5, 4))
    broken = bytearray(statistics_block(0, (5, 9)))
    broken[22:24] = struct.pack("<H", 200)  # the option claims 200 bytes
    reader = RecordReader(as_pcapng(S1, tmp_path / "s1.pcapng", good, bytes(broken)))
    assert len(list(reader)) == 26
    assert reader.dropped == 4


def test_pcap_says_nothing_and_decoder_tells_the_count(tmp_path: Path) -> None:
    reader = RecordReader(S1)
    list(reader)
    assert reader.dropped == 0
    decoder = Decoder()
    list(decoder.decode_file(as_pcapng(S1, tmp_path / "s1.pcapng",
                                       statistics_block(0, (5, 14)))))
    assert decoder.summary.dropped == 14
    assert decoder.summary.to_json()["dropped"] == 14
    assert decoder.summary.line() == (
        "26 frames: 26 SIP messages in 26 frames, 0 frames carried parts of them; the file "
        "says 14 packet(s) were dropped while recording")
    assert "dropped" not in Decoder().summary.to_json()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_check_reports_the_drop_once(tmp_path: Path, jobs: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = as_pcapng(S1, tmp_path / "S1.pcapng", statistics_block(0, (4, 40), (5, 14)))
    assert main(["check", "--jobs", jobs, str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = lines.index("S1.pcapng: 26 frames, 26 SIP messages; proxy 127.0.0.1:5060")
    assert lines[at + 1] == (
        "  the file says 14 packet(s) were dropped while recording: a call may lack messages "
        "the proxy did send (CAP-8)")
    assert lines[-1] == ("verdict: conformant (1 capture(s), 1 call(s), 0 violation(s), 14 "
                         "packet(s) dropped while recording; replayed capture-driven)")
    assert main(["check", "--jobs", jobs, "--json", str(path)]) == 0
    capture = json.loads(capsys.readouterr().out)["captures"][0]
    assert capture["dropped"] == 14 and list(capture)[:5] == [
        "file", "frames", "sip_messages", "skipped", "dropped"]
    assert main(["check", "--jobs", jobs, "--jsonl", str(path)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["captures"][0]["dropped"] == 14


def test_parts_of_a_recording_add_their_drops(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Each part of a rotated recording counts its own file's drops."""
    first = as_pcapng(S1, tmp_path / "ring_00001_20261206093000.pcapng",
                      statistics_block(0, (5, 3)), frames=slice(0, 12))
    second = as_pcapng(S1, tmp_path / "ring_00002_20261206093010.pcapng",
                       statistics_block(0, (5, 4)), frames=slice(12, None))
    assert main(["check", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    assert "  the file says 7 packet(s) were dropped while recording" in out
    assert out.splitlines()[-1].endswith(", 7 packet(s) dropped while recording; replayed capture-driven)")


def test_a_capture_without_drops_reads_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json", str(S1)]) == 0
    assert "dropped" not in json.loads(capsys.readouterr().out)["captures"][0]
