"""The classic pcap reader gives exactly the records of Scapy's `RawPcapReader`: on every pcap of
the project's data (and of the external corpus, tests/test_corpus_vs_tshark.py), and on damaged
or unusual files (byte order, nanosecond stamps, cut records, records
larger than Scapy reads, records straddling the reader's blocks)."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest
from scapy.utils import RawPcapReader

from pushinject.capture import records
from pushinject.capture.records import MAX_RECORD, RecordReader
from pushinject.errors import UsageError
from pushinject.paths import DATA

Row = tuple[float, int, int, bytes, int]


def scapy_rows(path: Path) -> tuple[list[Row], bool]:
    """(time, caplen, wirelen, data, linktype) per record as Scapy reads them, and whether the
    file ended inside a record (a short header or data shorter than the record says)."""
    logging.getLogger("scapy.runtime").setLevel(logging.CRITICAL)
    reader = RawPcapReader(str(path))
    scale = 1e9 if reader.nano else 1e6
    rows: list[Row] = []
    truncated = False
    offset = 24
    size = path.stat().st_size
    while True:
        try:
            data, meta = reader._read_packet(MAX_RECORD)
        except EOFError:
            truncated = offset < size
            break
        if len(data) < meta.caplen:
            truncated = True
            break
        offset += 16 + meta.caplen
        rows.append((meta.sec + meta.usec / scale, meta.caplen, meta.wirelen, data,
                     reader.linktype))
    reader.close()
    return rows, truncated


def our_rows(path: Path) -> tuple[list[Row], bool]:
    reader = RecordReader(path)
    rows = [(r.time, len(r.data), r.wirelen, r.data, r.linktype) for r in reader]
    assert [r.frame for r in RecordReader(path)] == list(range(1, len(rows) + 1))
    return rows, reader.truncated


def pcap(path: Path, body: list[tuple[int, int, int, int, bytes]], *, endian: str = "<",
         nano: bool = False, linktype: int = 1) -> Path:
    """A pcap file: (seconds, fraction, caplen, wirelen, data) per record, data as given."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    blob = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, frac, caplen, wirelen, data in body:
        blob += struct.pack(endian + "IIII", sec, frac, caplen, wirelen) + data
    path.write_bytes(blob)
    return path


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_byte_order_and_nanosecond_stamps(tmp_path: Path, endian: str, nano: bool) -> None:
    """Both byte orders and both stamp resolutions of the file header's magic number."""
    path = pcap(tmp_path / "x.pcap", [(1, 5, 3, 60, b"abc"), (2, 999_999, 0, 0, b"")],
                endian=endian, nano=nano, linktype=113)
    rows, truncated = our_rows(path)
    assert (rows, truncated) == scapy_rows(path)
    scale = 1e9 if nano else 1e6
    assert rows == [(1 + 5 / scale, 3, 60, b"abc", 113), (2 + 999_999 / scale, 0, 0, b"", 113)]
    assert truncated is False


@pytest.mark.parametrize(("tail", "kept"), [
    (b"", 2),                                            # clean end
    (b"\x01\x00", 2),                                    # a partial record header
    (struct.pack("<IIII", 3, 0, 10, 10) + b"short", 2),  # data cut by the end of the file
    (struct.pack("<IIII", 3, 0, 300_000, 300_000) + bytes(300_000), 2),  # more than Scapy reads
    (struct.pack("<IIII", 3, 0, 0xFFFFFFF0, 10), 2),     # an absurd captured length
])
def test_damaged_ends_match_scapy(tmp_path: Path, tail: bytes, kept: int) -> None:
    path = pcap(tmp_path / "x.pcap", [(1, 0, 4, 4, b"abcd"), (2, 0, 4, 4, b"efgh")])
    path.write_bytes(path.read_bytes() + tail)
    rows, truncated = our_rows(path)
    assert (rows, truncated) == scapy_rows(path)
    assert len(rows) == kept
    assert truncated is bool(tail)


def test_records_straddling_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records cut by the reader's block boundaries, and one larger than a block, come out whole."""
    body = [(n, n, size, size + 1, bytes([n]) * size)
            for n, size in enumerate([7, 30, 1, 100, 0, 64, 13] * 5)]
    path = pcap(tmp_path / "x.pcap", body)
    monkeypatch.setattr(records, "_BLOCK", 37)
    rows, truncated = our_rows(path)
    assert (rows, truncated) == scapy_rows(path)
    assert [r[3] for r in rows] == [b[4] for b in body]


def test_position_follows_the_records(tmp_path: Path) -> None:
    """`position` is the file offset of the record being read (for progress bars)."""
    path = pcap(tmp_path / "x.pcap", [(1, 0, 4, 4, b"abcd"), (2, 0, 2, 2, b"ef")])
    reader = RecordReader(path)
    seen = [reader.position for _ in reader]
    assert seen == [24, 24 + 16 + 4]
    assert reader.frames == 2


def test_short_file_header_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(struct.pack("<I", 0xA1B2C3D4) + bytes(10))
    with pytest.raises(UsageError, match="unreadable capture header"):
        list(RecordReader(path))


def test_same_records_as_scapy_on_the_project_captures() -> None:
    """Every pcap in data/ (link types 1, 101 and 113; lab, simulator and purpose-made)."""
    files = sorted(DATA.rglob("*.pcap"))
    assert len(files) >= 20
    assert {RecordReader(p).format for p in files} == {"pcap"}
    for path in files:
        assert our_rows(path) == scapy_rows(path), path.name
