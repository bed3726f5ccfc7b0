"""WebSocket framing (RFC 6455 §5) for SIP over WebSocket (RFC 7118).

A connection starts with an HTTP/1.1 Upgrade handshake (RFC 6455 §4); after it, each direction
is a sequence of frames. RFC 7118 §5 puts one SIP message in each WebSocket message (text or
binary); a message may be split into a first frame and continuation frames (opcode 0) ending
with FIN. Frames from a client are masked (RFC 6455 §5.3) and unmasked here. Control frames
(close 8, ping 9, pong 10) carry no SIP.
"""

from __future__ import annotations

__all__ = ["unmask", "WebSocketReader", "is_upgrade"]

#: the largest message kept (bigger ones are dropped)
MAX_MESSAGE = 1 << 20


def unmask(key: bytes, data: bytes) -> bytes:
    """XOR `data` with the 4-byte masking key repeated (RFC 6455 §5.3).

    >>> unmask(b"\\x37\\xfa\\x21\\x3d", bytes.fromhex("7f9f4d5158"))
    b'Hello'
    """
    if not data:
        return data
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    value = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(data), "big")


def is_upgrade(head: bytes) -> bool:
    """True when an HTTP head is a WebSocket upgrade request or its 101 answer (RFC 6455 §4).

    >>> is_upgrade(b"GET / HTTP/1.1\\r\\nUpgrade: websocket\\r\\n")
    True
    """
    lower = head.lower()
    return b"upgrade: websocket" in lower or b"sec-websocket-" in lower


class WebSocketReader:
    """Turn one direction of a WebSocket connection into messages.

    `feed(data)` returns `(messages, controls)`: the data messages completed by these bytes and
    how many control frames were read. `pending` is the number of bytes held.

    >>> reader = WebSocketReader()
    >>> reader.feed(b"\\x81\\x05hello\\x89\\x00")
    ([b'hello'], 1)
    """

    __slots__ = ("_buffer", "_parts", "_size", "overflow")

    def __init__(self) -> None:
        self._buffer = b""
        self._parts: list[bytes] = []
        self._size = 0
        self.overflow = False

    @property
    def pending(self) -> int:
        return len(self._buffer) + self._size

    def feed(self, data: bytes) -> tuple[list[bytes], int]:
        buf = self._buffer + data if self._buffer else data
        messages: list[bytes] = []
        controls = 0
        pos = 0
        while len(buf) - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = buf[pos + 2] << 8 | buf[pos + 3]
                head = 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            key = b""
            if second & 0x80:
                key = buf[pos + head : pos + head + 4]
                head += 4
            if length > MAX_MESSAGE:
                self.overflow = True
                self._buffer, self._parts, self._size = b"", [], 0
                return messages, controls
            if len(buf) - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            pos += head + length
            if key:
                payload = unmask(key, payload)
            opcode = first & 0x0F
            if opcode >= 8:
                controls += 1
                continue
            self._parts.append(payload)
            self._size += len(payload)
            if first & 0x80:
                messages.append(b"".join(self._parts))
                self._parts, self._size = [], 0
        self._buffer = buf[pos:]
        return messages, controls
