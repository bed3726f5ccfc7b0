"""Compressed captures (CAP-6): gzip, bzip2 and xz files are read as the capture they hold,
found by their magic number; a rotated set whose closed parts were compressed is one
recording; a cut or corrupt stream keeps the records before the damage and counts it; zstd
and lz4 get a one-line error."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pushinject.capture.compression import compression_of, plain_name
from pushinject.capture.recording import Recording, group_inputs, probe
from pushinject.capture.records import RecordReader
from tests.conftest import DATA
from tests.pcap_edit import split

S1 = DATA / "kamailio" / "S1.pcap"
CHECK = ["--preset", "kamailio-tsilo", "--knob", "fr_timeout=8", "--knob", "fr_inv_timeout=10"]

COMPRESS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": (".gz", gzip.compress), "bzip2": (".bz2", bz2.compress),
    "xz": (".xz", lzma.compress)}


def _check(*args: str | Path) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run([sys.executable, "-m", "pushinject", "check", "--json", *CHECK,
                           *map(str, args)], capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout) if done.stdout else {}, done.stderr


def _pcapng(tmp_path: Path) -> Path:
    """S1 as a pcapng file (one section, one interface, enhanced packet blocks)."""
    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 262144))
    for record in RecordReader(S1):
        stamp = round(record.time * 1e6)
        out += block(6, struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF,
                                    len(record.data), record.wirelen) + record.data)
    path = tmp_path / "S1.pcapng"
    path.write_bytes(out)
    return path


@pytest.mark.parametrize("kind", list(COMPRESS))
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_a_compressed_capture_is_judged_as_the_plain_one(tmp_path: Path, kind: str, fmt: str
                                                         ) -> None:
    plain = S1 if fmt == "pcap" else _pcapng(tmp_path)
    suffix, compress = COMPRESS[kind]
    packed = tmp_path / (plain.name + suffix)
    packed.write_bytes(compress(plain.read_bytes()))
    reader = RecordReader(packed)
    assert (reader.format, reader.compression) == (fmt, kind)
    records = [(r.frame, r.time, r.data) for r in reader]
    assert records == [(r.frame, r.time, r.data) for r in RecordReader(plain)]
    assert (reader.frames, reader.truncated, reader.position <= reader.size) == (26, False, True)
    status, report, err = _check(packed)
    plain_status, plain_report, _ = _check(plain)
    assert (status, err, report["captures"][0]["file"]) == (0, "", packed.name)
    assert report["captures"][0]["calls"] == plain_report["captures"][0]["calls"]
    assert report["verdict"] == plain_report["verdict"] == "conformant"


def test_closed_parts_compressed_and_the_open_one_plain_are_one_recording(tmp_path: Path
                                                                           ) -> None:
    """``tcpdump -C 1 -z gzip`` compresses each part it closes; the one being written is
    plain. Together they are the whole, judged as such."""
    parts = split(S1, [8, 17], ["s1.pcap", "s1.pcap1", "s1.pcap2"], tmp_path)
    for part in parts[:2]:
        part.with_name(part.name + ".gz").write_bytes(gzip.compress(part.read_bytes()))
        part.unlink()
    inputs = [tmp_path / "s1.pcap2", tmp_path / "s1.pcap1.gz", tmp_path / "s1.pcap.gz"]
    (recording,) = group_inputs(inputs)
    assert recording.name == "s1.pcap.gz..s1.pcap2 (3 parts)"
    whole = [(r.frame, r.time, r.data) for r in Recording([probe(S1)])]
    assert [(r.frame, r.time, r.data) for r in recording] == whole
    status, report, err = _check(*inputs)
    assert (status, err) == (0, "")
    assert report["captures"][0]["calls"] == _check(S1)[1]["captures"][0]["calls"]


def _complete_records(pcap: bytes) -> int:
    """How many whole records the start of a classic little-endian pcap holds."""
    pos, count = 24, 0
    while pos + 16 <= len(pcap):
        caplen = struct.unpack_from("<I", pcap, pos + 8)[0]
        if pos + 16 + caplen > len(pcap):
            break
        pos, count = pos + 16 + caplen, count + 1
    return count


@pytest.mark.parametrize("cut", [300, 700, 1000, 1400])
def test_a_cut_gzip_stream_keeps_every_record_before_the_cut(tmp_path: Path, cut: int) -> None:
    """A compressed file cut short (copied while written): every record the bytes before the
    cut decompress to is read, and the damage is a counted `truncated-file` (CAP-4, CAP-6)."""
    packed = gzip.compress(S1.read_bytes())
    assert cut < len(packed)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(packed[:cut])
    held = zlib.decompressobj(wbits=31).decompress(packed[:cut])
    reader = RecordReader(path)
    assert (sum(1 for _ in reader), reader.truncated) == (_complete_records(held), True)
    status, report, err = _check(path)
    assert err == "" and status != 2  # judged (what is there), not refused
    capture = report["captures"][0]
    assert (capture["frames"], capture["skipped"]) == (
        _complete_records(held), {"truncated-file": 1})


def test_garbage_after_the_stream_is_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "tail.pcap.gz"
    path.write_bytes(gzip.compress(S1.read_bytes()) + b"\x1f\x8bXXXXnot gzip at all")
    reader = RecordReader(path)
    assert (sum(1 for _ in reader), reader.truncated) == (26, True)


@pytest.mark.parametrize(("magic", "name", "command"), [
    (b"\x28\xb5\x2f\xfd", "zstd", "zstd -d"), (b"\x04\x22\x4d\x18", "lz4", "lz4 -d")])
def test_zstd_and_lz4_are_named_with_the_command_that_opens_them(
        tmp_path: Path, magic: bytes, name: str, command: str) -> None:
    path = tmp_path / "cap.pcap.x"
    path.write_bytes(magic + b"\0" * 60)
    status, _, err = _check(path)
    assert (status, err) == (2, f"pushinject check: error: {path} is {name}-compressed, which "
                                f"is not read here: decompress it first ({command} {path})\n")


def test_bad_inputs_get_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt.gz"
    text.write_bytes(gzip.compress(b"hello, not a capture"))
    header = tmp_path / "header.pcap.gz"
    header.write_bytes(b"\x1f\x8b\x08\x00garbage")
    expected = {
        empty: f"{empty} is empty, not a pcap or pcapng file",
        text: f"{text} holds gzip data that is not a pcap or pcapng file (magic 68656c6c)",
        header: f"{header}: unreadable gzip stream",
        tmp_path: f"{tmp_path} is a directory, not a capture file"}
    for path, message in expected.items():
        status, _, err = _check(path)
        assert (status, err) == (2, f"pushinject check: error: {message}\n")


def test_compression_found_by_magic_and_name_endings() -> None:
    assert [compression_of(m) for m in (b"\x1f\x8b", b"BZh9", b"\xfd7zXZ\x00", b"\xa1\xb2")] == [
        "gzip", "bzip2", "xz", None]
    assert [plain_name(n) for n in ("a.pcap.bz2", "a.pcap1.xz", "b.zst", ".gz")] == [
        "a.pcap", "a.pcap1", "b", ".gz"]
