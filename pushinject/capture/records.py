"""Capture records: classic pcap files read directly, pcapng files through Scapy's raw reader.

A record is one captured frame before any dissection: its 1-based frame number, its timestamp
(seconds since the epoch, float), the link type of its interface (LINKTYPE_* numbers of the
tcpdump.org registry), the captured bytes, and the original length on the wire. A record whose
captured length is shorter than its wire length was cut by the snapshot length.

Reading never raises on a damaged file: a record cut short by the end of the file (or a partial
record header) ends the iteration and is reported through `RecordReader.truncated`, so the decoder
can count it instead of printing a traceback.

A pcapng file may also say how many packets its recording lost: the last Interface Statistics
Block of each interface counts the packets the interface (``isb_ifdrop``) and the operating
system (``isb_osdrop``) dropped since the capture began, as dumpcap and tshark write them when
they stop. `RecordReader.dropped` is their sum over the interfaces of every section, once read
(CAP-8); a classic pcap file has no such count, and says 0.

Classic pcap (the libpcap format: a 24-byte file header, then a 16-byte header per record) is read
here in large blocks with `struct.unpack_from`, giving exactly the records Scapy's `RawPcapReader`
gives (tests compare both on every corpus capture and on damaged files); pcapng, with its many
block types and options, stays with Scapy's `RawPcapNgReader`.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from typing import Any, NamedTuple

from pushinject.capture.compression import CaptureFile
from pushinject.errors import UsageError

__all__ = ["Record", "RecordReader", "isb_drops", "read_records", "MAX_RECORD"]

#: largest record kept in full (bigger ones are cut and count as truncated)
MAX_RECORD = 262144
#: the most data Scapy's pcap reader takes from one record (4 x its MTU of 65535): a record
#: claiming more ends the reading as truncated, as it does with Scapy
_PCAP_MAX_CAPLEN = 4 * 65535
#: bytes read from the file at a time by the pcap reader
_BLOCK = 1 << 20

_PCAP_MAGICS = {b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1"}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
#: pcapng Interface Statistics Block type, and its options that count packets lost:
#: isb_ifdrop (by the interface) and isb_osdrop (by the operating system)
_ISB = 5
_DROP_OPTIONS = (5, 7)


def isb_drops(body: bytes, endian: str) -> tuple[int, int | None]:
    """The interface an Interface Statistics Block body (after type and length) speaks of,
    and the packets it says were dropped (``isb_ifdrop`` + ``isb_osdrop``; None when it says
    neither, or its options break their layout), pcapng draft-ietf-opsawg-pcapng §4.6.

    >>> body = struct.pack("<III", 0, 0, 0) + struct.pack("<HHQ", 5, 8, 14) + bytes(4)
    >>> isb_drops(body, "<")
    (0, 14)
    >>> isb_drops(struct.pack(">III", 1, 0, 0), ">")
    (1, None)
    """
    if len(body) < 12:
        return -1, None
    interface = struct.unpack_from(endian + "I", body)[0]
    dropped: int | None = None
    at = 12
    while at + 4 <= len(body):
        code, length = struct.unpack_from(endian + "HH", body, at)
        if code == 0:
            break
        value = body[at + 4 : at + 4 + length]
        if len(value) < length:
            return interface, None
        if code in _DROP_OPTIONS and length == 8:
            dropped = (dropped or 0) + struct.unpack(endian + "Q", value)[0]
        at += 4 + (length + 3) // 4 * 4
    return interface, dropped


class Record(NamedTuple):
    """One captured frame as stored in the file (pcap record or pcapng packet block)."""

    frame: int
    time: float
    linktype: int
    data: bytes
    wirelen: int


class RecordReader:
    """Iterate the records of a pcap or pcapng file (format chosen by the file's magic number).

    After iteration, `truncated` is True when the file ended inside a record, and `dropped`
    is how many packets the file says its recording lost (see the module docstring).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.truncated = False
        self.frames = 0
        #: (section, interface) -> packets its last statistics say were dropped (pcapng)
        self._drops: dict[tuple[int, int], int] = {}
        self._section = 0
        #: bytes of the file read so far (for progress bars)
        self.position = 0
        with CaptureFile(self.path) as handle:
            self.compression = handle.compression
            magic = handle.stream.read(4)
            if handle.damaged:
                raise UsageError(f"{self.path}: unreadable {self.compression} stream")
        if magic in _PCAP_MAGICS:
            self.format = "pcap"
        elif magic == _PCAPNG_MAGIC:
            self.format = "pcapng"
        elif not magic:
            raise UsageError(f"{self.path} is empty, not a pcap or pcapng file")
        else:
            held = f"holds {self.compression} data that " if self.compression else ""
            raise UsageError(f"{self.path} {held}is not a pcap or pcapng file "
                             f"(magic {magic.hex()})")
        self.size = os.path.getsize(self.path)

    @property
    def dropped(self) -> int:
        """Packets the file says its recording dropped (CAP-8): 0 when it says nothing."""
        return sum(self._drops.values())

    def __iter__(self) -> Iterator[Record]:
        if self.format == "pcap":
            return self._pcap_records()
        return self._scapy_records()

    def _pcap_records(self) -> Iterator[Record]:
        """Classic pcap records: file header (magic, version, zone, accuracy, snapshot length,
        link type), then per record seconds, micro- or nanoseconds, captured and wire lengths
        (pcap format, draft-ietf-opsawg-pcap §4-§5)."""
        with CaptureFile(self.path) as opened:
            plain = opened.compression is None
            read = opened.stream.read
            at = opened.position if not plain else 0  # file on disk read to, last refill
            header = read(24)
            if len(header) < 24:
                raise UsageError(f"{self.path}: unreadable capture header "
                                 "(Invalid pcap file (too short))")
            magic = header[:4]
            endian = ">" if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d") else "<"
            scale = 1e9 if magic in (b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1") else 1e6
            linktype = struct.unpack(endian + "I", header[20:24])[0]
            unpack = struct.Struct(endian + "IIII").unpack_from
            new = tuple.__new__  # builds the NamedTuple without its Python-level __new__
            buf = read(_BLOCK)
            have = len(buf)
            pos = 0  # offset in buf of the next record header
            base = 24  # file offset of buf[0]
            frame = 0
            while True:
                if pos + 16 > have:
                    buf = buf[pos:] + read(_BLOCK)
                    at = at if plain else opened.position
                    base += pos
                    pos, have = 0, len(buf)
                    if have < 16:
                        self.truncated = have > 0
                        break
                sec, frac, caplen, wirelen = unpack(buf, pos)
                if caplen > _PCAP_MAX_CAPLEN:
                    self.truncated = True
                    break
                end = pos + 16 + caplen
                if end > have:
                    buf = buf[pos:] + read(max(_BLOCK, end - have))
                    at = at if plain else opened.position
                    base += pos
                    end -= pos
                    pos, have = 0, len(buf)
                    if end > have:
                        self.truncated = True
                        break
                frame += 1
                self.position = base + pos if plain else at
                yield new(Record, (frame, sec + frac / scale, linktype, buf[pos + 16 : end],
                                   wirelen))
                pos = end
            self.frames = frame
            self.truncated = self.truncated or opened.damaged

    def _scapy_records(self) -> Iterator[Record]:
        from scapy.error import Scapy_Exception
        from scapy.utils import RawPcapNgReader

        quiet = logging.getLogger("scapy.runtime")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            with CaptureFile(self.path) as opened:
                stream: Any = opened.stream  # Scapy's reader takes a file object too
                try:
                    reader: Any = RawPcapNgReader(stream)
                except (Scapy_Exception, EOFError) as exc:
                    raise UsageError(f"{self.path}: unreadable capture header ({exc})"
                                     ) from None
                yield from self._pcapng_records(reader, opened)
        finally:
            quiet.setLevel(level)

    def _follow_blocks(self, reader: Any) -> list[int]:
        """Have Scapy's reader tell us where each whole block ends (a file may end with
        blocks that are no packets: statistics, name resolution), hand us each Interface
        Statistics Block (which it skips) and each new section (whose interfaces are
        numbered anew). Returns a one-item list: the end of the last whole block."""
        handle = reader.f
        whole = [handle.tell()]
        read_section, read_tail = reader._read_block_shb, reader._read_block_tail

        def section() -> None:
            self._section += 1
            read_section()

        def tail(length: int) -> None:
            read_tail(length)
            whole[0] = handle.tell()

        def statistics(body: bytes, _size: int) -> None:
            interface, dropped = isb_drops(body, reader.endian)
            if dropped is not None:
                self._drops[self._section, interface] = dropped

        reader._read_block_shb = section
        reader._read_block_tail = tail
        reader.blocktypes[_ISB] = statistics
        return whole

    def _pcapng_records(self, reader: Any, opened: CaptureFile) -> Iterator[Record]:
        handle = reader.f
        read = reader._read_packet
        whole = self._follow_blocks(reader)
        frame = 0
        while True:
            start = handle.tell()
            try:
                data, meta = read(MAX_RECORD)
            except EOFError:
                # a file cut inside a block (CAP-4); a compressed one also when its stream
                # ended cut or corrupt (CAP-6): the reading stopped past the last whole block
                self.truncated = handle.tell() > whole[0] or opened.damaged
                break
            frame += 1
            self.position = start if opened.compression is None else opened.position
            stamp = ((meta.tshigh or 0) << 32 | (meta.tslow or 0)) / meta.tsresol
            yield Record(frame, stamp, meta.linktype, data, meta.wirelen)
        self.frames = frame


def read_records(path: str | os.PathLike[str]) -> Iterator[Record]:
    """The records of a capture file, in file order.

    >>> import tempfile, os
    >>> from scapy.utils import RawPcapWriter
    >>> name = os.path.join(tempfile.mkdtemp(), "one.pcap")
    >>> with RawPcapWriter(name, linktype=101) as w:
    ...     w.write_header(None)
    ...     w.write_packet(b"\\x45" + bytes(19), sec=1, usec=500000)
    >>> [(r.frame, r.time, r.linktype, len(r.data)) for r in read_records(name)]
    [(1, 1.5, 101, 20)]
    """
    return iter(RecordReader(path))
