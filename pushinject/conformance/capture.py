"""A capture as the checker sees it: the parsed SIP messages and the decoder's frame accounting.

The streaming decoder (`pushinject.capture.Decoder`) finds the SIP messages on any transport;
each is parsed leniently with `pushinject.sip.parse_message`. A message that cannot be parsed,
or one of whose headers the checker reads (Call-ID, CSeq, Via, From, To, Contact, Expires,
Path, Route, the Request-URI) is malformed, is counted under ``skipped["unparsable-sip"]``
rather than stopping the check.

A UDP transaction sends a request again, byte for byte, until it is answered (Timer A and E,
RFC 3261 §17.1.1.2, §17.1.2.2), and a server its responses (Timer G, §17.2.1; a 2xx until the
ACK, §13.3.1.4): in a capture of phones asleep most INVITEs are such copies. What a message's
bytes decide (its parse, its headers read, its kind, label, status and top Via branch: a
`Parsed`) is worked out once for the bytes of the last `RECENT` distinct messages or more and
shared by every copy (`to_wire`). Sharing is exact: parsing and reading headers depend on the
bytes alone (the parser's lenient mode is the same for all; the tables of parsed values keep
only what the same text always gives), a message never changes once parsed (its typed values
are cached as they would be made, its accessors hand out copies), and no reader of a
`WireMessage` tells two equal messages apart by identity; the frame, time, addresses and
transport stay each copy's own. Bytes that cannot be parsed are remembered as such, and each
copy is counted again as ``unparsable-sip``.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pushinject.conformance.duplicates import DUPLICATE, DUPLICATES_WITHIN, Duplicates
from pushinject.errors import UsageError
from pushinject.sip.memo import Recent

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pushinject.capture.decoder import DecodedMessage, Decoder
    from pushinject.capture.recording import Recording
    from pushinject.sip import URI, Request, Response

__all__ = ["Address", "Order", "Ordered", "Parsed", "WireMessage", "Capture", "load_capture",
           "address_text", "to_wire", "screened", "wire_messages", "capture_name",
           "all_skipped", "REORDERED_WITHIN", "UNPARSABLE"]

Address = tuple[str, int]

#: where a message is in capture order: (frame number, place among the messages of that frame),
#: CAP-9
Order = tuple[int, int]


class Ordered:
    """What records one message with its `frame` and its place `within` it shares: `order`,
    where the message is in capture order (CAP-9)."""

    __slots__ = ()
    frame: int
    within: int

    @property
    def order(self) -> Order:
        return self.frame, self.within


def address_text(address: Address) -> str:
    """``host:port`` (IPv6 hosts in brackets).

    >>> address_text(("127.0.0.1", 5060)), address_text(("::1", 5060))
    ('127.0.0.1:5060', '[::1]:5060')
    """
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    return f"{host}:{address[1]}"


class Parsed:
    """What the bytes of one SIP message alone decide, worked out once for all its copies (see
    the module docstring): the parsed message, whether it is a request, its label (the method
    of a request, the status code of a response as text), its status code (0 for a request),
    its top Via branch ("" when absent), and `facts`, the part of its digest that comes from
    the message (`pushinject.conformance.digest.Digest.of` fills it in on first use)."""

    __slots__ = ("message", "is_request", "label", "status", "branch", "facts")

    def __init__(self, message: Request | Response) -> None:
        vias = message.vias
        method: str | None = getattr(message, "method", None)  # a request's is a str
        status: int | None = getattr(message, "status", None)  # a response's is an int
        self.message = message
        self.is_request = method is not None
        self.label = str(method if method is not None and method else
                         "" if status is None else status)
        self.status = 0 if status is None else int(status)
        self.branch = str(vias[0].branch or "") if vias else ""
        self.facts: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True)
class WireMessage(Ordered):
    """One SIP message of a capture: frame number, time, both addresses, the parsed message,
    the transport it came over ("UDP", "TCP", "WS", "SCTP") and its place among the messages
    of its frame (`within`); what every rule reads of it (its kind, label, status and top Via
    branch) is worked out once for its bytes (`Parsed`). `order` is its place in the capture
    (CAP-9)."""

    frame: int
    time: float
    source: Address
    destination: Address
    message: Request | Response
    transport: str = "UDP"
    #: its place among the messages of its frame (0 for the first)
    within: int = 0
    #: a request (else a response)
    is_request: bool = field(init=False, repr=False, compare=False)
    #: the method of a request, the status code (as text) of a response
    label: str = field(init=False, repr=False, compare=False)
    #: the status code of a response, 0 for a request
    status: int = field(init=False, repr=False, compare=False)
    #: the top Via branch parameter ("" when absent)
    branch: str = field(init=False, repr=False, compare=False)
    #: what the message's bytes decide, shared by its copies
    parsed: Parsed = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _fill(self, Parsed(self.message))

    @property
    def request_uri(self) -> URI:
        """The Request-URI of a request (RFC 3261 §7.1); read only where `is_request`."""
        return cast("Request", self.message).uri

    @classmethod
    def of(cls, parsed: Parsed, frame: int, time: float, source: Address,
           destination: Address, transport: str = "UDP", within: int = 0) -> WireMessage:
        """The message `parsed` seen at `frame` (what `WireMessage(...)` gives, with what its
        bytes decide already worked out)."""
        wire = _new(cls)
        put = _put
        put(wire, "frame", frame)
        put(wire, "time", time)
        put(wire, "source", source)
        put(wire, "destination", destination)
        put(wire, "message", parsed.message)
        put(wire, "transport", transport)
        put(wire, "within", within)
        _fill(wire, parsed)
        return wire


def _fill(wire: WireMessage, parsed: Parsed) -> None:
    put = _put
    put(wire, "is_request", parsed.is_request)
    put(wire, "label", parsed.label)
    put(wire, "status", parsed.status)
    put(wire, "branch", parsed.branch)
    put(wire, "parsed", parsed)


_new = object.__new__
_put = object.__setattr__


@dataclass(frozen=True)
class Capture:
    """A capture file read for checking (`counted`: how many SIP messages it had, when
    `messages` does not hold them: a capture judged as a stream)."""

    file: str
    frames: int
    messages: tuple[WireMessage, ...]
    skipped: dict[str, int] = field(default_factory=dict)
    counted: int | None = None
    #: packets the file says its recording dropped (CAP-8)
    dropped: int = 0

    @property
    def sip_messages(self) -> int:
        return len(self.messages) if self.counted is None else self.counted


#: how much earlier a message may be recorded or stamped than one that caused it: a HEP
#: mirror's processes each send and stamp their own copies, so the copy of an INVITE a proxy
#: injected may come, and be stamped, after the device's answers to it (HEP-2)
REORDERED_WITHIN = 1.0

#: how many distinct messages' bytes at least `to_wire` remembers (see the module docstring):
#: a copy comes at most 16 s after the one before it (Timer A doubles up to Timer B, 32 s),
#: a few thousand messages at the rates of the captures checked
RECENT = 2048
#: bytes -> what they decide (None: they cannot be parsed), for the last messages seen
_SEEN: Recent[Parsed | None] = Recent(RECENT)
_UNSEEN: Any = object()


def to_wire(decoded: DecodedMessage) -> WireMessage | None:
    """The decoded message parsed for checking, or None when it, or a header the checker
    reads (Call-ID, CSeq, Via, To, From, Contact, Expires, Path, Route, the Request-URI:
    `Message.prime`), cannot be parsed (the caller counts it as ``unparsable-sip``). A copy of
    a message seen lately shares what its bytes decide (see the module docstring)."""
    raw = decoded.raw
    parsed = _SEEN.get(raw, _UNSEEN)
    if parsed is _UNSEEN:
        try:
            message = decoded.message
            message.prime()
        except (ValueError, AttributeError):  # SIPParseError is a ValueError
            parsed = None
        else:
            parsed = Parsed(message)
        _SEEN.put(raw, parsed)
    if parsed is None:
        return None
    return WireMessage.of(parsed, decoded.frame, decoded.time, decoded.source,
                          decoded.destination, decoded.transport, decoded.within)


#: how a message that cannot be parsed is counted among the skipped messages
UNPARSABLE = "unparsable-sip"


def screened(decoded: DecodedMessage, duplicates: Duplicates) -> WireMessage | str:
    """The decoded message parsed for judging (`to_wire`), or why it is left out: a copy of
    one the capture recorded twice (``duplicate``, CAP-11), or bytes that cannot be parsed
    (``unparsable-sip``). The step every reader of a capture or a stream takes."""
    if duplicates.is_duplicate(decoded):
        return DUPLICATE
    wire = to_wire(decoded)
    return UNPARSABLE if wire is None else wire


def wire_messages(path: str | os.PathLike[str] | Recording, decoder: Decoder,
                  skipped: Counter[str], duplicates_within: float = DUPLICATES_WITHIN
                  ) -> Iterator[WireMessage]:
    """Decode and parse the SIP messages of a pcap/pcapng file, or of a recording made of
    several (`pushinject.capture.recording`), one at a time: a message that cannot be parsed
    is counted in `skipped` as ``unparsable-sip``, a copy of one recorded twice (within
    `duplicates_within` seconds, `pushinject.conformance.duplicates`, CAP-11) as ``duplicate``;
    `decoder.summary` accounts for the frames once the iterator is exhausted.

    Raises `UsageError` when the file is missing or is not a capture.
    """
    from pushinject.capture.recording import Recording

    duplicates = Duplicates(duplicates_within)

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
            wire = screened(decoded, duplicates)
            if isinstance(wire, str):
                skipped[wire] += 1
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


def load_capture(path: str | os.PathLike[str] | Recording,
                 duplicates_within: float = DUPLICATES_WITHIN) -> Capture:
    """Decode and parse every SIP message of a pcap/pcapng file, or of a recording made of
    several (`wire_messages`; its name stands for the file), the copies of a message recorded
    twice within `duplicates_within` seconds set aside (CAP-11).

    Raises `UsageError` when the file is missing or is not a capture.
    """
    from pushinject.capture.decoder import Decoder

    decoder = Decoder(anomalies=False)  # the report counts skips, not anomalies
    skipped: Counter[str] = Counter()
    out = tuple(wire_messages(path, decoder, skipped, duplicates_within))
    return Capture(file=capture_name(path), frames=decoder.summary.frames, messages=out,
                   skipped=all_skipped(decoder, skipped), dropped=decoder.summary.dropped)
