"""Several capture files that are parts of one recording, read as one stream of records.

Long captures are rotated into many files: ``tcpdump -C`` appends a counter to the file name
(``cap.pcap``, ``cap.pcap1``, ``cap.pcap2``; with ``-W`` from ``0``), ``tcpdump -G`` writes a
new file per period named by a strftime pattern (``cap-20261206-0930.pcap``), dumpcap's ring
buffer writes ``cap_00001_20261206093000.pcapng``. A call can start in one part and end in the
next, so the parts must be judged together.

Rule (`group_inputs` in ``auto`` mode): input files are parts of one recording when they lie in
the same folder, their names are equal once the digits such tools write are blanked (a number
at the very end of the name, or any run of at least four digits: counters and timestamps; a
name without a trailing number counts as the first part), and they share the capture format,
link type and snapshot length. Names that differ in a short run of digits inside the name
(``S1.pcap``, ``S2.pcap``) are separate captures. A part compressed when it was rotated
(``tcpdump -z gzip``: ``cap.pcap1.gz``) is read as the capture it holds (CAP-6) and named as
without the compression's ending, so the part still being written (``cap.pcap2``) joins the
compressed ones. ``merge`` makes all inputs one recording, ``separate`` keeps each file alone.

A recording's records are the parts' records merged by timestamp (a stable merge: equal times
keep the order of the parts, which are ordered by their first timestamp, and each part keeps its
own order), numbered again from 1 in that order, as ``mergecap`` would write them. Nothing is
read ahead: the merge holds one record per part.

`split_capture` writes such parts from one classic pcap, as a rotating ``tcpdump`` would have
written them: the book and the tests use it to show that the parts judged together give the
whole's verdicts.
"""

from __future__ import annotations

import heapq
import os
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pushinject.capture.compression import CaptureFile, plain_name
from pushinject.capture.records import Record, RecordReader
from pushinject.errors import UsageError

__all__ = ["MODES", "Part", "Recording", "probe", "rotation_stem", "group_inputs",
           "open_records", "split_capture"]

#: how `group_inputs` treats several inputs
MODES = ("auto", "merge", "separate")

_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Part:
    """What `probe` reads of one file without decoding it: format, link type, snapshot length
    (None for pcapng) and the first record's timestamp (None when it has no record)."""

    path: Path
    format: str
    linktype: int
    snaplen: int | None
    first_time: float | None


def probe(path: str | os.PathLike[str]) -> Part:
    """The file's header facts and first timestamp (`UsageError` if it is not a capture)."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{p} is a directory, not a capture file")
    if not p.is_file():
        raise UsageError(f"no such capture file: {p}")
    reader = RecordReader(p)
    if reader.format == "pcap":
        with CaptureFile(p) as handle:
            head = handle.stream.read(40)
        if len(head) < 24:
            raise UsageError(f"{p}: unreadable capture header (Invalid pcap file (too short))")
        endian = ">" if head[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d") else "<"
        scale = 1e9 if head[:4] in (b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1") else 1e6
        snaplen, linktype = struct.unpack(endian + "II", head[16:24])
        first = None
        if len(head) >= 32:
            sec, frac = struct.unpack(endian + "II", head[24:32])
            first = sec + frac / scale
        return Part(p, "pcap", linktype, snaplen, first)
    records = iter(reader)
    record = next(records, None)
    records.close()  # type: ignore[attr-defined]
    if record is None:
        return Part(p, "pcapng", -1, None, None)
    return Part(p, "pcapng", record.linktype, None, record.time)


def rotation_stem(name: str) -> str:
    """The file name, less the ending a compression tool added, with the digits a rotating
    capture tool writes blanked as ``#`` (see the module docstring); a name without a trailing
    number gets a trailing ``#``.

    >>> rotation_stem("cap.pcap"), rotation_stem("cap.pcap12"), rotation_stem("cap.pcap3.gz")
    ('cap.pcap#', 'cap.pcap#', 'cap.pcap#')
    >>> rotation_stem("cap-20261206-0930.pcap"), rotation_stem("S1.pcap")
    ('cap-#-#.pcap#', 'S1.pcap#')
    """
    pieces = _DIGITS.split(plain_name(name))
    last = len(pieces) - 2 if pieces[-1] == "" else -1
    out = [("#" if (i == last or len(piece) >= 4) else piece) if i % 2 else piece
           for i, piece in enumerate(pieces)]
    stem = "".join(out)
    return stem if stem.endswith("#") else stem + "#"


class Recording:
    """One recording made of one or more parts (see the module docstring); iterating gives its
    records. Quacks like `RecordReader` for the decoder: `path`, `truncated`, `frames`,
    `dropped` (by the recording of every part), `position` and `size` (bytes read of all
    parts, for progress bars)."""

    def __init__(self, parts: Sequence[Part]) -> None:
        if not parts:
            raise ValueError("a recording needs at least one part")
        self.parts = tuple(sorted(parts, key=lambda p: (p.first_time is None,
                                                         p.first_time or 0.0, p.path.name)))
        self.path = str(self.parts[0].path)
        self.truncated = False
        self.frames = 0
        self.size = sum(p.path.stat().st_size for p in self.parts)
        self._readers: list[RecordReader] = []

    @property
    def name(self) -> str:
        """The file name, or ``first..last (N parts)`` for several."""
        if len(self.parts) == 1:
            return self.parts[0].path.name
        return f"{self.parts[0].path.name}..{self.parts[-1].path.name} ({len(self.parts)} parts)"

    @property
    def position(self) -> int:
        return sum(r.position for r in self._readers)

    @property
    def dropped(self) -> int:
        return sum(r.dropped for r in self._readers)

    def __iter__(self) -> Iterator[Record]:
        self._readers = [RecordReader(p.path) for p in self.parts]
        if len(self._readers) == 1:
            reader = self._readers[0]
            yield from reader
            self.frames, self.truncated = reader.frames, reader.truncated
            return
        frame = 0
        for record in heapq.merge(*self._readers, key=lambda r: r.time):
            frame += 1
            yield record._replace(frame=frame)
        self.frames = frame
        self.truncated = any(r.truncated for r in self._readers)

    def __repr__(self) -> str:
        return f"<Recording {self.name}>"


def group_inputs(paths: Sequence[str | os.PathLike[str]], mode: str = "auto"
                 ) -> list[Recording]:
    """The recordings the input files make under `mode` (``auto``, ``merge`` or ``separate``),
    in the order of their first file on the command line. `UsageError` for a file that is
    missing or not a capture, or an unknown mode."""
    if mode not in MODES:
        raise UsageError(f"unknown grouping {mode!r} (known: {', '.join(MODES)})")
    parts = [probe(p) for p in paths]
    if mode == "merge":
        return [Recording(parts)] if parts else []
    if mode == "separate":
        return [Recording([p]) for p in parts]
    groups: dict[tuple[object, ...], list[Part]] = {}
    for part in parts:
        key = (part.path.resolve().parent, rotation_stem(part.path.name), part.format,
               part.linktype, part.snaplen)
        group = groups.setdefault(key, [])
        if all(other.path.resolve() != part.path.resolve() for other in group):
            group.append(part)
    return [Recording(group) for group in groups.values()]


def open_records(source: str | os.PathLike[str] | Recording) -> RecordReader | Recording:
    """A reader of `source`: the recording itself, or a `RecordReader` of a file."""
    return source if isinstance(source, Recording) else RecordReader(source)


def split_capture(path: str | os.PathLike[str], cuts: Sequence[int],
                  parts: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Cut the classic pcap `path` into the files `parts`, as ``tcpdump -C``/``-G`` writes a
    recording: part i holds the records before ``cuts[i]`` (the frame number, from 1, of the
    first record of part i + 1), each file starts with the original file header (format, time
    resolution, link type and snapshot length unchanged) and every record keeps its bytes. A
    record cut short at the end of the file is left out, and a part whose cut lies past the
    last record holds no record (a period in which nothing was captured). Returns the parts'
    paths; `UsageError` for a pcapng or unreadable file, or cuts that are not increasing frame
    numbers from 2, one fewer than the parts.
    """
    source = Path(path)
    data = source.read_bytes() if source.is_file() else b""
    magic = data[:4]
    if len(data) < 24 or magic not in (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1",
                                       b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1"):
        raise UsageError(f"{source}: split_capture reads classic pcap files only")
    endian = ">" if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d") else "<"
    records = []
    pos = 24
    while pos + 16 <= len(data):
        (length,) = struct.unpack_from(endian + "I", data, pos + 8)
        if pos + 16 + length > len(data):
            break
        records.append(data[pos : pos + 16 + length])
        pos += 16 + length
    bounds = [1, *cuts, max(len(records) + 1, *cuts)]
    if len(parts) != len(cuts) + 1 or any(b >= c for b, c in zip(bounds, bounds[1:-1])):
        raise UsageError(f"{source}: {len(parts)} parts need {len(parts) - 1} increasing "
                         f"cuts (frame numbers from 2), got {list(cuts)}")
    out = []
    for first, end, name in zip(bounds, bounds[1:], parts):
        target = Path(name)
        target.write_bytes(data[:24] + b"".join(records[first - 1 : end - 1]))
        out.append(target)
    return out
