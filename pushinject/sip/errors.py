"""The one error the SIP message layer raises for bad input."""

from __future__ import annotations

from pushinject.errors import PushInjectError

__all__ = ["SIPParseError"]


class SIPParseError(PushInjectError, ValueError):
    """Bytes that are not a SIP message (RFC 3261 §7, §25).

    `offset` is the byte offset in the parsed data where the fault was found (0 when the fault
    belongs to a value parsed on its own, such as a URI given as text).

    >>> err = SIPParseError("bad start line", offset=3)
    >>> err.offset, str(err), isinstance(err, ValueError)
    (3, 'bad start line (at byte 3)', True)
    """

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.reason = message
        self.offset = offset
