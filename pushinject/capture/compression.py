"""Compressed capture files, opened as the capture they hold (CAP-6).

Rotated captures are often compressed as they are closed (``tcpdump -G 3600 -z gzip``,
``logrotate``'s ``compress``), and archives keep them so; Wireshark reads a gzip-compressed
capture as it reads the plain file. A file's compression is found by the magic number at its
start, never by its name: gzip (RFC 1952, ``1f 8b``), bzip2 (``BZh``) and xz (``fd 37 7a 58 5a
00``) are read through the standard library, a stream at a time; zstd and lz4 are named in a
one-line error that says how to decompress them. What a damaged stream ends with (a cut
file, a corrupt block) is a truncation, as a plain capture's cut record is (CAP-4).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zlib
from collections.abc import Callable
from typing import IO

from pushinject.errors import UsageError

__all__ = ["CaptureFile", "STREAM_ERRORS", "compression_of", "plain_name"]

#: what reading a damaged compressed stream raises: a cut stream (EOFError), a bad gzip
#: header or CRC (OSError: gzip.BadGzipFile), a corrupt deflate, bzip2 or xz block
STREAM_ERRORS: tuple[type[Exception], ...] = (EOFError, OSError, zlib.error, lzma.LZMAError)

#: magic number -> (name, opener of a decompressing stream over the raw file)
_READABLE: dict[bytes, tuple[str, Callable[[IO[bytes]], io.BufferedIOBase]]] = {
    b"\x1f\x8b": ("gzip", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),
    b"BZh": ("bzip2", lambda raw: bz2.BZ2File(raw, mode="rb")),
    b"\xfd7zXZ\x00": ("xz", lambda raw: lzma.LZMAFile(raw, mode="rb")),
}

#: magic number -> (name, the command that decompresses it) of compressions not read here
_UNREADABLE = {b"\x28\xb5\x2f\xfd": ("zstd", "zstd -d"), b"\x04\x22\x4d\x18": ("lz4", "lz4 -d")}

#: file name endings that compression tools add
_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".lz4")


def compression_of(head: bytes) -> str | None:
    """The compression that a file starting with `head` uses, None for none.

    >>> compression_of(b"\\x1f\\x8b\\x08\\x00"), compression_of(b"\\xd4\\xc3\\xb2\\xa1")
    ('gzip', None)
    >>> compression_of(b"\\x28\\xb5\\x2f\\xfd")
    'zstd'
    """
    for table in (_READABLE, _UNREADABLE):
        for magic, entry in table.items():
            if head.startswith(magic):
                return entry[0]
    return None


def plain_name(name: str) -> str:
    """The file name without the ending a compression tool added.

    >>> plain_name("cap.pcap3.gz"), plain_name("cap.pcapng.xz"), plain_name("cap.pcap")
    ('cap.pcap3', 'cap.pcapng', 'cap.pcap')
    """
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class _Decompressed:
    """A decompressing stream that ends, instead of raising, where its data turns out cut or
    corrupt, and then says so (`damaged`): every record before that point is kept (CAP-6).
    Reads collect what the stream gives a piece at a time (``read1``), so an error loses no
    data already decompressed."""

    def __init__(self, stream: io.BufferedIOBase) -> None:
        self._stream = stream
        self._read1 = stream.read1
        self.damaged = False

    def read(self, size: int = -1) -> bytes:
        pieces: list[bytes] = []
        got = 0
        while not self.damaged and (size < 0 or got < size):
            try:
                piece = self._read1(size - got if size >= 0 else 1 << 20)
            except STREAM_ERRORS:
                self.damaged = True
                break
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return b"".join(pieces)

    def tell(self) -> int:
        return self._stream.tell()

    def close(self) -> None:
        self._stream.close()


class CaptureFile:
    """A capture file opened for reading: `stream` gives the capture's bytes (decompressed
    when the file is compressed, `compression` then naming how, and `damaged` telling whether
    the stream ended cut or corrupt), `position` how far into the file on disk reading has come
    (for progress bars, against its size on disk). A context manager; closing closes both the
    stream and the file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._raw: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 (closed in close())
        except IsADirectoryError:
            raise UsageError(f"{self.path} is a directory, not a capture file") from None
        head = self._raw.read(6)
        self._raw.seek(0)
        self.compression = compression_of(head)
        self._decompressed: _Decompressed | None = None
        if self.compression is None:
            self.stream: IO[bytes] | _Decompressed = self._raw
            return
        for magic, (name, command) in _UNREADABLE.items():
            if head.startswith(magic):
                self._raw.close()
                raise UsageError(f"{self.path} is {name}-compressed, which is not read here: "
                                 f"decompress it first ({command} {self.path})")
        opener = next(o for m, (_, o) in _READABLE.items() if head.startswith(m))
        self._decompressed = self.stream = _Decompressed(opener(self._raw))

    @property
    def damaged(self) -> bool:
        return self._decompressed is not None and self._decompressed.damaged

    @property
    def position(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        if self._decompressed is not None:
            self._decompressed.close()
        self._raw.close()

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
