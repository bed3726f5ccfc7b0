"""Framing SIP messages out of a byte stream (RFC 3261 §18.3; keep-alives RFC 5626 §3.5.1)."""

from __future__ import annotations

import re

from pushinject.sip.abnf import TOKEN
from pushinject.sip.errors import SIPParseError

__all__ = ["StreamFramer", "starts_message"]

#: the shape of a start line (RFC 3261 §7.1, §7.2): a status line, or a method, something, and a
#: SIP version (what is between may be broken: the message layer answers that with a 400)
_START_LINE_RE = re.compile(rf"(?:SIP/|[ \t]*{TOKEN}[ \t]+\S.*?[ \t]+SIP/\S*[ \t]*$)".encode(),
                            re.I)
_CONTENT_LENGTH_RE = re.compile(rb"(?:^|\r\n)(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.I)


def starts_message(data: bytes) -> bool:
    """Whether `data` begins with a request or status line (leading CRLFs skipped): on a stream,
    anything else where a message must begin means the framing is lost (RFC 3261 §18.3).

    >>> starts_message(b"INVITE sip:bob@[::1 SIP/2.0\\r\\nVia: x"), starts_message(b"SIP/2.0 200 OK")
    (True, True)
    >>> starts_message(b"\\x16\\x03\\x01 hello\\r\\n"), starts_message(b"Via: SIP/2.0/TCP h\\r\\n")
    (False, False)
    """
    line = data.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
    return _START_LINE_RE.match(line) is not None


class StreamFramer:
    """Cuts a stream (TCP, TLS, WebSocket payloads) into whole messages.

    A message ends `Content-Length` bytes after its blank line (a missing Content-Length counts
    as 0, RFC 3261 §18.3); CRLFs between messages (keep-alive pings and pongs) are skipped.
    Any chunking of the same stream gives the same messages.

    >>> f = StreamFramer()
    >>> f.feed(b"\\r\\n\\r\\nOPTIONS sip:a SIP/2.0\\r\\nl: 2\\r\\n\\r\\nhi\\r\\n"
    ...        b"SIP/2.0 200 OK\\r\\n")
    [b'OPTIONS sip:a SIP/2.0\\r\\nl: 2\\r\\n\\r\\nhi']
    >>> f.pending
    b'SIP/2.0 200 OK\\r\\n'
    """

    def __init__(self, max_message: int = 1 << 20) -> None:
        self._buffer = bytearray()
        self.max_message = max_message

    @property
    def pending(self) -> bytes:
        """Bytes of a message not complete yet."""
        return bytes(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return every message they complete, in order.

        Raises `SIPParseError` when a Content-Length cannot frame the stream or a message grows
        past `max_message` bytes (the stream cannot be resynchronised then).
        """
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        while True:
            skip = 0
            while skip < len(buffer) and buffer[skip] in (13, 10):
                skip += 1
            if skip:
                del buffer[:skip]
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > self.max_message:
                    raise SIPParseError("header block larger than the limit", 0)
                return out
            m = _CONTENT_LENGTH_RE.search(bytes(buffer[:end]))
            length = 0
            if m is not None:
                text = m.group(1).strip()
                if not text.isdigit():
                    raise SIPParseError(f"Content-Length {text!r} cannot frame the stream", 0)
                length = int(text)
            total = end + 4 + length
            if total > self.max_message:
                raise SIPParseError(f"message of {total} bytes exceeds the limit", 0)
            if len(buffer) < total:
                return out
            out.append(bytes(buffer[:total]))
            del buffer[:total]
