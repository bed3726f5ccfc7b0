"""A capture as the checker sees it: the parsed SIP messages and the decoder's frame accounting.

The streaming decoder (`pushinject.capture.Decoder`) finds the SIP messages on any transport;
each is parsed leniently with `pushinject.sip.parse_message`. A message that cannot be parsed,
or one of whose headers the checker reads (Call-ID, CSeq, Via, From, To, Contact, Expires,
Path, Route, the Request-URI) is malformed, is counted under ``skipped["unparsable-sip"]``
rather than stopping the check.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pushinject.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pushinject.capture.decoder import DecodedMessage, Decoder
    from pushinject.capture.recording import Recording
    from pushinject.sip import Request, Response

__all__ = ["Address", "WireMessage", "Capture", "load_capture", "address_text", "to_wire",
           "wire_messages", "capture_name", "all_skipped"]

Address = tuple[str, int]


def address_text(address: Address) -> str:
    """``host:port`` (IPv6 hosts in brackets).

    >>> address_text(("127.0.0.1", 5060)), address_text(("::1", 5060))
    ('127.0.0.1:5060', '[::1]:5060')
    """
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    return f"{host}:{address[1]}"


@dataclass(frozen=True, slots=True)
class WireMessage:
    """One SIP message of a capture: frame number, time, both addresses, the parsed message and
    the transport it came over ("UDP", "TCP", "WS", "SCTP"); what every rule reads of it (its
    kind, label, status and top Via branch) is worked out once, when it is made."""

    frame: int
    time: float
    source: Address
    destination: Address
    message: Request | Response
    transport: str = "UDP"
    #: a request (else a response)
    is_request: bool = field(init=False, repr=False, compare=False)
    #: the method of a request, the status code (as text) of a response
    label: str = field(init=False, repr=False, compare=False)
    #: the status code of a response, 0 for a request
    status: int = field(init=False, repr=False, compare=False)
    #: the top Via branch parameter ("" when absent)
    branch: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        msg = self.message
        vias = msg.vias
        put = object.__setattr__
        method = getattr(msg, "method", _NONE)
        status = getattr(msg, "status", _NONE)
        put(self, "is_request", method is not _NONE)
        put(self, "label", str(method if method is not _NONE and method else
                               "" if status is _NONE else status))
        put(self, "status", 0 if status is _NONE else int(status))
        put(self, "branch", str(vias[0].branch or "") if vias else "")


#: what `getattr` gives for an attribute a message does not have
_NONE = object()


@dataclass(frozen=True)
class Capture:
    """A capture file read for checking (`counted`: how many SIP messages it had, when
    `messages` does not hold them: a capture judged as a stream)."""

    file: str
    frames: int
    messages: tuple[WireMessage, ...]
    skipped: dict[str, int] = field(default_factory=dict)
    counted: int | None = None

    @property
    def sip_messages(self) -> int:
        return len(self.messages) if self.counted is None else self.counted


def _touch(message: Request | Response) -> None:
    """Parse every header the checker reads (Call-ID, CSeq, Via, To, From, Contact, Expires,
    Path, Route, the Request-URI), so a malformed one is found here (the values are cached on
    the message: `Message.prime`)."""
    message.prime()


def to_wire(decoded: DecodedMessage) -> WireMessage | None:
    """The decoded message parsed for checking, or None when it, or a header the checker
    reads, cannot be parsed (the caller counts it as ``unparsable-sip``)."""
    try:
        message = decoded.message
        _touch(message)
    except (ValueError, AttributeError):  # SIPParseError is a ValueError
        return None
    return WireMessage(decoded.frame, decoded.time, decoded.source, decoded.destination,
                       message, decoded.transport)


def wire_messages(path: str | os.PathLike[str] | Recording, decoder: Decoder,
                  skipped: Counter[str]) -> Iterator[WireMessage]:
    """Decode and parse the SIP messages of a pcap/pcapng file, or of a recording made of
    several (`pushinject.capture.recording`), one at a time: a message that cannot be parsed
    is counted in `skipped` as ``unparsable-sip``; `decoder.summary` accounts for the frames
    once the iterator is exhausted.

    Raises `UsageError` when the file is missing or is not a capture.
    """
    from pushinject.capture.recording import Recording

    source: Path | Recording
    if isinstance(path, Recording):
        source, where = path, path.name
    else:
        source = Path(path)
        where = str(source)
        if not source.is_file():
            raise UsageError(f"no such capture file: {source}")
    try:
        for decoded in decoder.decode_file(source):
            wire = to_wire(decoded)
            if wire is None:
                skipped["unparsable-sip"] += 1
            else:
                yield wire
    except UsageError:
        raise
    except (OSError, ValueError) as exc:
        raise UsageError(f"{where}: cannot read the capture ({exc})") from None


def capture_name(path: str | os.PathLike[str] | Recording) -> str:
    """The name a report gives a capture: the file's name, or the recording's."""
    from pushinject.capture.recording import Recording

    return path.name if isinstance(path, Recording) else Path(path).name


def all_skipped(decoder: Decoder, skipped: Counter[str]) -> dict[str, int]:
    """The decoder's skipped frames and the unparsable messages, sorted by reason."""
    total = Counter(skipped)
    total.update(decoder.summary.skipped)
    return dict(sorted(total.items()))


def load_capture(path: str | os.PathLike[str] | Recording) -> Capture:
    """Decode and parse every SIP message of a pcap/pcapng file, or of a recording made of
    several (`wire_messages`; its name stands for the file).

    Raises `UsageError` when the file is missing or is not a capture.
    """
    from pushinject.capture.decoder import Decoder

    decoder = Decoder(anomalies=False)  # the report counts skips, not anomalies
    skipped: Counter[str] = Counter()
    out = tuple(wire_messages(path, decoder, skipped))
    return Capture(file=capture_name(path), frames=decoder.summary.frames, messages=out,
                   skipped=all_skipped(decoder, skipped))
