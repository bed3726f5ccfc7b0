"""What the core accepts from the wire, and what it does with the rest (INPUT-1 to INPUT-8).

Theory of operation
-------------------
`Proxy.handle` runs these checks on every message before anything else, so that a message is
either processed whole or changes nothing but the counters (INPUT-8):

1. `unreadable(message)`: the first of Via (top value), From, To, Call-ID and CSeq that cannot
   be read, or None. A request lacking one cannot be answered (RFC 3261 §8.2.6 copies them into
   the response): it is dropped. So is a response lacking one (INPUT-2, INPUT-6).
2. `request_defect(request)`: what else makes the request unusable, as a `Defect` naming it:
   a header value holding a bare CR or LF, a header the core reads that breaks its grammar
   (Via, From, To, Call-ID, CSeq, Max-Forwards, Route, Record-Route, Path, Contact, Expires,
   Content-Length), a header that may appear once appearing twice, a CSeq method other than
   the request's, a body shorter than its Content-Length (RFC 3261 §8.2, §18.3, INPUT-3), a
   Request-URI scheme other than sip or sips (416, RFC 3261 §16.3 step 2, INPUT-4). Messages
   parsed without faults (`defects` empty) skip the grammar checks: strict parsing already
   enforced them.
3. `response_defect(response)`: the same for a response, which is dropped, never answered
   (RFC 3261 §18.3: a truncated response is discarded; INPUT-6).
4. `salvage(data)`: bytes the parser rejected (a broken request line or Request-URI) whose
   header block can still be read, as a request that can be answered 400 (INPUT-7).

`InputCounts` counts every input by outcome; they add up (INPUT-1).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING

from pushinject.core.messages import top_via_text
from pushinject.sip import SIPParseError, header_key, make_response, parse_message, parse_via
from pushinject.sip.abnf import TOKEN
from pushinject.sip.headers import SINGLE_VALUED, display_name
from pushinject.sip.parser import check_header

if TYPE_CHECKING:
    from pushinject.sip import Message, Request, Response

__all__ = [
    "ESSENTIAL", "DROP_REASONS", "Defect", "InputCounts", "printable", "unreadable",
    "request_defect", "response_defect", "salvage", "rejection",
]

#: the headers a response copies from its request (RFC 3261 §8.2.6.2)
ESSENTIAL = ("Via", "From", "To", "Call-ID", "CSeq")

_ESSENTIAL_KEYS = frozenset(header_key(name) for name in ESSENTIAL)
_VALUE = itemgetter(1)

#: why an input is dropped without an answer (INPUT-2, INPUT-5 to INPUT-7; INPUT-1 for the last)
DROP_REASONS = ("unreadable-request", "malformed-ack", "malformed-response",
                "truncated-response", "unparsable", "internal-error")

#: header keys whose grammar the core relies on (checked again when parsing found faults)
_CHECKED = frozenset({"via", "from", "to", "call-id", "cseq", "max-forwards", "route",
                      "record-route", "path", "contact", "expires", "content-length"})
_ANSWERABLE_SCHEMES = frozenset({"sip", "sips"})
_REQUEST_LINE = re.compile(rf"[ \t]*({TOKEN})[ \t]+\S.*?[ \t]+SIP/\S*[ \t]*", re.I)
_PRINTABLE = re.compile(r"[^ !#-\[\]-~]")  # what may stand in a Warning's quoted text


@dataclass(frozen=True)
class Defect:
    """Why a request is refused: `kind` names the part at fault (a header name, "Request-URI"),
    `detail` says what is wrong in one line, `status` is the answer (400, or 416)."""

    kind: str
    detail: str
    status: int = 400

    @property
    def reason(self) -> str:
        """The reason phrase naming the defect (RFC 3261 §21.4: the phrase is free text)."""
        return "Unsupported URI Scheme" if self.status == 416 else f"Bad {self.kind}"


@dataclass
class InputCounts:
    """Every input `Proxy.handle` took, by outcome (INPUT-1).

    ``received == processed + sum(answered.values()) + sum(dropped.values())`` always holds.
    `answered` is keyed ``"<status> <kind>"``, `dropped` by a `DROP_REASONS` entry; `last`
    keeps the last detail of each, for a driver's log line.
    """

    received: int = 0
    processed: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    last: dict[str, str] = field(default_factory=dict)
    #: answered plus dropped: a driver compares it to see whether anything was refused
    refused: int = 0

    def answer(self, defect: Defect) -> None:
        key = f"{defect.status} {defect.kind}"
        self.answered[key] += 1
        self.last[key] = printable(defect.detail)
        self.refused += 1

    def drop(self, reason: str, detail: str) -> None:
        self.dropped[reason] += 1
        self.last[reason] = printable(detail)
        self.refused += 1

    def balanced(self) -> bool:
        """The counters add up (INPUT-1)."""
        refused = sum(self.answered.values()) + sum(self.dropped.values())
        return self.received == self.processed + refused and refused == self.refused


def printable(text: str) -> str:
    """`text` cut to 160 characters of printable ASCII, without quotes or backslashes (each
    other character becomes "?"), so that it can stand in a Warning or a log line.

    >>> printable('bad "Via"\\r\\nX: 1')
    'bad ?Via???X: 1'
    """
    return _PRINTABLE.sub("?", text[:160])


def unreadable(message: Message) -> str | None:
    """The first essential header that is missing or cannot be read, else None.

    >>> from pushinject.sip import parse_message
    >>> m = parse_message(b"OPTIONS sip:a@b SIP/2.0\\r\\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\\r\\n"
    ...                   b"From: <sip:x@y>;tag=1\\r\\nTo: <sip:a@b>\\r\\n"
    ...                   b"CSeq: 1 OPTIONS\\r\\n\\r\\n", strict=False)
    >>> unreadable(m)
    'Call-ID'
    """
    if not message.defects:
        # parsed without a fault (strict parsing, or lenient parsing that found none, checked
        # each essential header's grammar, which admits no CR or LF) or built by the project
        # (whose builders refuse them): present is readable
        get = message.get
        for name in ESSENTIAL:
            if not get(name):
                return name
        return None
    for name, value in message.headers:  # a line an answer would copy as it is
        if ("\r" in value or "\n" in value) and header_key(name) in _ESSENTIAL_KEYS:
            return display_name(name)
    for name in ESSENTIAL:
        try:
            if name == "Via":
                parse_via(top_via_text(message), strict=message.strict)
            elif name == "From":
                _ = message.from_
            elif name == "To":
                _ = message.to
            elif name == "Call-ID":
                if not message.call_id.strip():
                    return name
            else:
                _ = message.cseq
        except SIPParseError:
            return name
    return None


def _line_break(message: Message) -> Defect | None:
    """A header value holding a bare CR or LF, which a copy of it would turn into a line of
    its own (RFC 3261 §7.3.1 allows line breaks in a value only as folding, undone by then)."""
    headers = message.headers
    values = "".join(map(_VALUE, headers))  # nearly always clean: no line looked at alone
    if "\r" not in values and "\n" not in values:
        return None
    for name, value in headers:
        if "\r" in value or "\n" in value:
            # the kind is fixed: header names come from the wire, kinds are counter keys
            return Defect("Header", f"{printable(name)[:40]} holds a bare CR or LF")
    return None


def _faults(message: Message) -> Defect | None:
    """Grammar and repetition faults of the headers the core reads (INPUT-3)."""
    seen: set[str] = set()
    for name, value in message.headers:
        key = header_key(name)
        if key in SINGLE_VALUED:
            if key in seen:
                return Defect(display_name(key), f"{display_name(key)} appears more than once")
            seen.add(key)
        if key in _CHECKED:
            try:
                check_header(key, value)
            except SIPParseError as exc:
                return Defect(display_name(key), f"{display_name(key)}: {exc.reason}")
    length = message.content_length
    if length is not None and length > len(message.body):  # RFC 3261 §18.3
        return Defect("Content-Length", f"Content-Length {length} but {len(message.body)} "
                      "bytes of body")
    return None


def request_defect(request: Request) -> Defect | None:
    """Why the request must be refused, or None (see the module docstring; INPUT-3, INPUT-4).
    Call it once `unreadable` found nothing."""
    broken = _line_break(request)
    if broken is not None:
        return broken
    if request.defects:
        found = _faults(request)
        if found is not None:
            return found
        method = request.cseq.method
        if method != request.method:
            return Defect("CSeq", f"CSeq method {method} is not the request's {request.method}")
    scheme = getattr(request.uri, "scheme", "")
    if scheme not in _ANSWERABLE_SCHEMES:
        return Defect("Request-URI", f"the proxy does not route {scheme or 'that'}: URIs", 416)
    return None


def response_defect(response: Response) -> tuple[str, str] | None:
    """(drop reason, detail) for a response the core must discard, or None (INPUT-6)."""
    missing = unreadable(response)
    if missing is not None:
        return "malformed-response", f"its {missing} cannot be read"
    broken = _line_break(response)
    if broken is not None:
        return "malformed-response", broken.detail
    if response.defects:
        found = _faults(response)
        if found is not None:
            reason = ("truncated-response" if found.kind == "Content-Length"
                      else "malformed-response")
            return reason, found.detail
    return None


def salvage(data: bytes) -> Request | None:
    """The request in bytes the parser rejected, with a placeholder Request-URI, when its first
    line is a request line (method, something, SIP version) and the rest parses leniently;
    None otherwise (INPUT-7). Only the headers a 400 copies are needed from it.

    >>> req = salvage(b"INVITE sip:bob@[::1 SIP/2.0\\r\\nCall-ID: c\\r\\n\\r\\n")
    >>> req.method, req.call_id
    ('INVITE', 'c')
    >>> salvage(b"\\x00\\x01 garbage") is None
    True
    """
    start = len(data) - len(data.lstrip(b"\r\n"))
    end = data.find(b"\n", start)
    first = data[start:] if end < 0 else data[start:end]
    line = first.rstrip(b"\r").decode("utf-8", "replace")
    match = _REQUEST_LINE.fullmatch(line)
    if match is None or line.upper().startswith("SIP/"):
        return None
    rest = b"" if end < 0 else data[end + 1:]
    try:
        message = parse_message(f"{match.group(1)} sip:invalid SIP/2.0\r\n".encode() + rest,
                                strict=False)
    except SIPParseError:
        return None
    return message if hasattr(message, "method") else None  # type: ignore[return-value]


def rejection(request: Request, defect: Defect, warn_agent: str, to_tag: str) -> Response:
    """The answer to a refused request: the defect's status and reason phrase, and a Warning
    399 (RFC 3261 §20.43) whose text names the defect in printable ASCII."""
    return make_response(request, defect.status, defect.reason, to_tag=to_tag,
                         extra=[("Warning", f'399 {warn_agent} "{printable(defect.detail)}"')])
