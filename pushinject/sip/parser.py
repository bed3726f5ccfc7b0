"""Bytes to `Request`/`Response` (RFC 3261 §7, §18.3, §25), strict or lenient.

The header block is split into lines once; folding is undone (§7.3.1). In strict mode the
values whose grammar the transaction and proxy layers rely on (Via, From, To, Call-ID, CSeq,
Max-Forwards, Contact, Expires, Date, Route, ...) are checked against their grammar without
building their typed form, which is built only when read (but for Via and for name-addrs in
angle brackets, whose checking match gives their parts anyway), and a value that passed once is
not checked again. In lenient mode every recoverable fault becomes an entry of `defects`
instead of an exception.

A message without a fault (the common case) takes a plain path first (`_parse_plain`): a header
line or start line already seen costs one lookup, each new line one match and its check; at the
first fault it gives up and the step-by-step path (`_parse_any`) parses the message again,
finding and reporting what is wrong, so both paths give the same message or the same error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pushinject.sip.abnf import SIP_VERSION, TOKEN
from pushinject.sip.errors import SIPParseError
from pushinject.sip.headers import COMMA_LISTS, KEY_CACHE, SINGLE_VALUED, header_key, split_commas
from pushinject.sip.memo import Memo
from pushinject.sip.message import Index, Request, Response
from pushinject.sip.uri import check_uri
from pushinject.sip.values import (
    MAX_DELTA_SECONDS, check_contact, check_cseq, check_name_addr, check_via, parse_callid,
    parse_date, parse_int, parse_media_type,
)

__all__ = ["parse_message", "check_header", "VALIDATORS"]

_KEY = KEY_CACHE.get

_TOKEN_RE = re.compile(TOKEN)
#: option-tag lists checked in one match: option-tag *(COMMA option-tag) (RFC 3261 §20.37)
_TOKEN_LIST_RE = re.compile(rf"{TOKEN}(?:[ \t]*,[ \t]*{TOKEN})*")
#: Request-Line = Method SP Request-URI SP SIP-Version; the version is case-insensitive (§7.1)
_REQUEST_LINE_RE = re.compile(rf"({TOKEN}) (\S+) ((?i:{SIP_VERSION}))")
#: Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2)
_STATUS_LINE_RE = re.compile(rf"((?i:{SIP_VERSION})) ([0-9]{{3}})(?: (.*))?", re.S)
_LENIENT_REQUEST_RE = re.compile(rf"[ \t]*({TOKEN})[ \t]+(.+?)[ \t]+(SIP/\S+)[ \t]*", re.I)
_LENIENT_STATUS_RE = re.compile(r"[ \t]*(SIP/\S+)[ \t]+([0-9]+)(?:[ \t](.*))?", re.S | re.I)


def _check_int(limit: int, kind: str) -> Callable[[str], object]:
    return lambda value: parse_int(value, limit, kind)


def _check_tokens(value: str) -> None:
    if _TOKEN_LIST_RE.fullmatch(value) is None:
        raise SIPParseError(f"malformed option-tag list {value!r}")


#: list headers whose items are checked one by one (option-tag lists are checked whole)
_SPLIT_FIRST = COMMA_LISTS - {"require", "proxy-require", "supported"}


#: header key -> strict checker of one (comma-split) value; raises SIPParseError when malformed.
#: Checkers match the grammar without building typed values (those are built when read).
VALIDATORS: dict[str, Callable[[str], object]] = {
    "via": check_via,
    "from": check_name_addr,
    "to": check_name_addr,
    "route": check_name_addr,
    "record-route": check_name_addr,
    "path": check_name_addr,
    "contact": check_contact,
    "call-id": parse_callid,
    "cseq": check_cseq,
    "max-forwards": _check_int(255, "Max-Forwards"),
    "expires": _check_int(MAX_DELTA_SECONDS, "Expires"),
    "content-length": _check_int(2**63, "Content-Length"),
    "date": parse_date,
    "content-type": parse_media_type,
    "require": _check_tokens,
    "proxy-require": _check_tokens,
    "supported": _check_tokens,
}
#: option-tag lists that may be empty (RFC 3261 §20.37 `Supported: [option-tag ...]`)
_MAY_BE_EMPTY = frozenset({"supported"})
#: header key -> the values of that header already found to follow its grammar (bounded, see
#: `pushinject.sip.memo`): a checker is a pure function of the text, so a value that passed
#: once passes again, and the many lines a call repeats (From, To, Call-ID, a Via on each
#: response) are checked once; a value that fails is never kept, so it fails as before
_PASSED: dict[str, Memo[bool]] = {key: Memo(1024) for key in VALIDATORS}


def check_header(key: str, value: str) -> None:
    """Check one header line's value against its grammar, as strict parsing does (each item of
    a list header on its own); raises `SIPParseError`. `key` is the header's lookup key
    (`header_key`); a header without a checker passes.

    >>> check_header("cseq", "1 INVITE")
    >>> check_header("max-forwards", "ten")
    Traceback (most recent call last):
    ...
    pushinject.sip.errors.SIPParseError: malformed Max-Forwards value 'ten' (at byte 0)
    """
    passed = _PASSED.get(key)
    if passed is None or value in passed or (not value and key in _MAY_BE_EMPTY):
        return
    check = VALIDATORS[key]
    if key in _SPLIT_FIRST and "," in value:
        for item in split_commas(value):
            check(item)
    else:
        check(value)
    passed.remember(value, True)


class _Faults:
    """Collects faults: raises the first one in strict mode, records them all otherwise."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.items: list[str] = []

    def __call__(self, message: str, offset: int) -> None:
        if self.strict:
            raise SIPParseError(message, offset)
        self.items.append(message)


def _split_head(data: bytes, start: int, faults: _Faults) -> tuple[bytes, int, str]:
    """The header block, where the body starts, and the line separator used (§7, §7.5)."""
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        return data[start:end], end + 4, "\r\n"
    end = data.find(b"\n\n", start)
    if end >= 0:
        faults("lines end with a bare LF instead of CRLF", end)
        return data[start:end], end + 2, "\n"
    faults("no empty line ends the header block", len(data))
    return data[start:].rstrip(b"\r\n"), len(data), "\r\n"


def _start_line(line: str, faults: _Faults, at: int) -> tuple[str, str, str, bool]:
    """(method or version, uri or status, version or reason, is_request) of the start line."""
    status_like = line[:4].upper() == "SIP/"  # never a Request-Line: "/" is not in a token
    if not status_like:
        m = _REQUEST_LINE_RE.fullmatch(line)
        if m is not None:
            return m.group(1), m.group(2), m.group(3), True
    s = _STATUS_LINE_RE.fullmatch(line)
    if s is not None:
        return s.group(1), s.group(2), s.group(3) or "", False
    lm = _LENIENT_REQUEST_RE.fullmatch(line)
    if lm is not None and not status_like:
        faults(f"request line does not follow RFC 3261 §7.1 spacing: {line!r}", at)
        uri = "".join(lm.group(2).split())
        if uri.startswith("<") and uri.endswith(">"):
            uri = uri[1:-1]
        return lm.group(1), uri, lm.group(3), True
    ls = _LENIENT_STATUS_RE.fullmatch(line)
    if ls is not None and len(ls.group(2)) == 3:
        faults(f"status line does not follow RFC 3261 §7.2: {line!r}", at)
        return ls.group(1), ls.group(2), (ls.group(3) or "").strip(), False
    raise SIPParseError(f"not a SIP request or status line: {line[:80]!r}", at)


def parse_message(data: bytes, *, strict: bool = True) -> Request | Response:
    """Parse one SIP message (RFC 3261 §7); see the module docstring for strict vs lenient.

    Leading CRLFs are skipped (§7.5). The body is framed by Content-Length; bytes after it are
    ignored and reported as a defect (RFC 4475 §3.1.1.12).
    """
    if type(data) is bytes and data[:1] not in b"\r\n":
        message = _parse_plain(data, strict)
        if message is not None:
            return message
    return _parse_any(data, strict)


#: header lines by their text, each that is a plain line (`name: value`, see `_LINE_RES`)
#: whose value passed its check (`check_header`) -> ((name as written, value), lookup key)
#: (bounded, see `pushinject.sip.memo`): the lines of a message mostly repeat lines of earlier
#: messages of its call, and then cost one lookup each (and share one (name, value) pair)
_LINES: Memo[tuple[tuple[str, str], str]] = Memo(4096)
_LINE_GET = _LINES.get
#: Request-Lines that parse without a fault (a valid Request-URI without URI headers, version
#: SIP/2.0), by their text -> (method, Request-URI, version) (bounded)
_REQUEST_LINES: Memo[tuple[str, str, str]] = Memo(1024)
#: Status-Lines that parse without a fault, by their text -> (version, status, reason)
_STATUS_LINES: Memo[tuple[str, int, str]] = Memo(1024)


def _parse_plain(data: bytes, strict: bool) -> Request | Response | None:
    """`parse_message` of a message in which the plain path finds no fault, whatever the mode,
    or None (the plain path then parses it, finding what is wrong): no leading CRLF, lines
    ending in CRLF, UTF-8 header bytes, every header line `name: value`, every checked value
    following its grammar, no single-valued header twice, a Content-Length within the body, a
    Request-URI without URI headers and a CSeq of the request's method. Each step gives what
    the matching step of `_parse_any` gives; known lines and start lines cost a lookup."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    try:
        lines = data[:end].decode().split("\r\n")
    except UnicodeDecodeError:
        return None
    count = len(lines) - 1
    if not count:
        return None
    line = lines[0]
    del lines[0]
    known = list(map(_LINE_GET, lines))
    if None in known:
        for i, entry in enumerate(known):
            if entry is None:
                text = lines[i]
                m = _PLAIN_LINE_RE.fullmatch(text)
                if m is None:
                    return None
                name, value = m.groups()
                key = _KEY(name) or header_key(name)
                try:
                    check_header(key, value)
                except SIPParseError:
                    return None
                known[i] = _LINES.remember(text, ((name, value), key))
    headers, keys = zip(*known)
    index: Index = dict(zip(keys, range(count)))
    if len(index) != count:  # a header on several lines
        several = _index_of_keys(keys)
        if several is None:
            return None
        index = several
    body = data[end + 4 :]
    defects: tuple[str, ...] = ()
    length_at = index.get("content-length")
    if length_at is not None:  # an int: a Content-Length twice is a fault
        length_text = headers[length_at][1]
        if length_text.isdigit():
            length = int(length_text)
            if length > len(body):
                return None
            if length < len(body):
                defects = (f"{len(body) - length} bytes after the Content-Length body ignored",)
                body = body[:length]
    if line[:4].upper() == "SIP/":
        status_line = _STATUS_LINES.get(line)
        if status_line is None:
            s = _STATUS_LINE_RE.fullmatch(line)
            if s is None:
                return None
            status = int(s.group(2))
            if not 100 <= status <= 699 or s.group(1).upper() != "SIP/2.0":
                return None
            status_line = _STATUS_LINES.remember(line, (s.group(1), status, s.group(3) or ""))
        version, status, reason = status_line
        if reason and not strict:
            reason = reason.strip()
        return Response(status, reason, headers, body, defects, version=version, strict=strict,
                        _index=index)
    request_line = _REQUEST_LINES.get(line)
    if request_line is None:
        m = _REQUEST_LINE_RE.fullmatch(line)
        if m is None:
            return None
        method, uri_text, version = m.groups()
        if version.upper() != "SIP/2.0" or uri_text.startswith("<") and uri_text.endswith(">"):
            return None
        try:
            if check_uri(uri_text):  # URI headers: a fault
                return None
        except SIPParseError:
            return None
        request_line = _REQUEST_LINES.remember(line, (method, uri_text, version))
    method, uri_text, version = request_line
    cseq_at = index.get("cseq")
    if cseq_at is not None:
        parts = headers[cseq_at][1].split()
        if len(parts) == 2 and parts[1] != method:
            return None
    return Request(method, uri_text, headers, body, defects, version=version, strict=strict,
                   _index=index)


def _index_of_keys(keys: Sequence[str]) -> Index | None:
    """The header index of lines with these lookup keys, or None when a single-valued header
    is among them twice (a fault)."""
    index: Index = {}
    for i, key in enumerate(keys):
        positions = index.get(key)
        if positions is None:
            index[key] = i
        elif key in SINGLE_VALUED:
            return None
        elif isinstance(positions, int):
            index[key] = [positions, i]
        else:
            positions.append(i)
    return index


def _parse_any(data: bytes, strict: bool) -> Request | Response:
    """`parse_message` step by step, for any input (faults found, reported or raised)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_message needs bytes, not {type(data).__name__}")
    data = bytes(data)
    faults = _Faults(strict)
    start = len(data) - len(data.lstrip(b"\r\n")) if data[:1] in b"\r\n" else 0
    head, body_start, sep = _split_head(data, start, faults)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        faults("header bytes are not UTF-8", start + exc.start)
        text = head.decode("utf-8", "surrogateescape")
    if sep == "\n":  # lenient only: a bare-LF message, maybe with some CRLF lines
        text = text.replace("\r\n", "\n")
    first_end = text.find(sep)
    all_lines: list[list[str]] = []

    def offset(line_no: int) -> int:
        if not all_lines:
            all_lines.append(text.split(sep))
        lines = all_lines[0]
        return start + len(sep.join(lines[:line_no]).encode("utf-8", "surrogateescape")) + (
            len(sep) if line_no else 0)

    first, second, third, is_request = _start_line(
        text if first_end < 0 else text[:first_end], faults, start)
    headers, line_of = _header_lines(text, first_end, sep, faults, offset)

    index: Index = {}
    passed_for = _PASSED.get
    cached_key = KEY_CACHE.get
    for i, (name, value) in enumerate(headers):
        key = cached_key(name) or header_key(name)
        positions = index.get(key)
        if positions is None:
            index[key] = i
        else:
            if isinstance(positions, int):
                index[key] = [positions, i]
            else:
                positions.append(i)
            if key in SINGLE_VALUED:
                faults(f"{name} appears more than once", offset(line_of[i]))
        passed = passed_for(key)
        if passed is None or value in passed:  # no checker, or `check_header` passed it
            continue
        try:
            check_header(key, value)
        except SIPParseError as exc:
            faults(f"{name}: {exc.reason}", offset(line_of[i]))

    body = _frame_body(data, body_start, headers, index, faults)
    if is_request:
        method, uri_text, version = first, second, third
        cseq = _first(index, "cseq")
        uri_text = _check_request(method, uri_text, version, headers, cseq, faults, start,
                                  lambda: start if cseq is None else offset(line_of[cseq]))
        return Request(method, uri_text, headers, body, faults.items, version=version,
                       strict=strict, _index=index)
    if third and not strict:
        third = third.strip()
    status = int(second)
    if not 100 <= status <= 699:
        raise SIPParseError(f"status code {status} is outside 100-699", start)
    if first.upper() != "SIP/2.0":
        faults(f"unsupported SIP version {first}", start)
    return Response(status, third, headers, body, faults.items, version=first, strict=strict,
                    _index=index)


#: separator -> every header line after it that is `token [blanks] ":" [blanks] value`, where
#: the value holds no CR (CRLF separator) and ends in no blank, as (name, value); runs of
#: characters are matched possessively (nothing given back: one pass over each line)
_LINE_RES = {
    "\r\n": re.compile(rf"\r\n({TOKEN}+)[ \t]*+:[ \t]*+([^\r]*+)(?<![ \t])(?=\r\n|\Z)"),
    "\n": re.compile(rf"\n({TOKEN}+)[ \t]*+:[ \t]*+([^\n]*+)(?<![ \t])"),
}
#: one plain header line, as `_LINE_RES` finds it between CRLFs
_PLAIN_LINE_RE = re.compile(rf"({TOKEN}+)[ \t]*+:[ \t]*+([^\r]*+)(?<![ \t])")


def _plain_lines(text: str, first_end: int, sep: str) -> list[tuple[str, str]] | None:
    """Header lines when each is such a line (the common case: not folded, not malformed, no
    blanks to cut at the end), found with one match per line, else None."""
    found = _LINE_RES[sep].findall(text, first_end)
    return found if len(found) == text.count(sep) else None


def _header_lines(
    text: str, first_end: int, sep: str, faults: _Faults, offset: Callable[[int], int],
) -> tuple[list[tuple[str, str]], Sequence[int]]:
    """(name, value) pairs with folding undone (§7.3.1), and the line number of each."""
    if first_end < 0:
        return [], ()
    found = _plain_lines(text, first_end, sep)
    if found is not None:
        return found, range(1, len(found) + 1)
    return _any_lines(text.split(sep), faults, offset)


def _any_lines(
    lines: list[str], faults: _Faults, offset: Callable[[int], int],
) -> tuple[list[tuple[str, str]], list[int]]:
    """`_header_lines` line by line, for any header block (folded lines, faults)."""
    headers: list[tuple[str, str]] = []
    line_of: list[int] = []
    for no in range(1, len(lines)):
        line = lines[no]
        if line[:1] in (" ", "\t"):
            if not headers:
                faults("continuation line before any header", offset(no))
                continue
            name, value = headers[-1]
            more = line.strip(" \t")
            if more:
                headers[-1] = (name, f"{value} {more}" if value else more)
            continue
        colon = line.find(":")
        name = line[:colon].rstrip(" \t")
        if colon < 0 or _TOKEN_RE.fullmatch(name) is None:
            faults(f"not a header line: {line[:60]!r}", offset(no))
            continue
        headers.append((name, line[colon + 1 :].strip(" \t")))
        line_of.append(no)
    return headers, line_of


def _first(index: Index, key: str) -> int | None:
    """The position of the first line of a header in a header index, or None."""
    positions = index.get(key)
    if positions is None or isinstance(positions, int):
        return positions
    return positions[0]


def _frame_body(
    data: bytes, body_start: int, headers: list[tuple[str, str]],
    index: Index, faults: _Faults,
) -> bytes:
    """The body per Content-Length (RFC 3261 §18.3, §20.14)."""
    rest = data[body_start:]
    first = _first(index, "content-length")
    if first is None:
        return rest
    text = headers[first][1]
    if not text.isdigit():
        return rest
    length = int(text)
    if length > len(rest):
        faults(f"Content-Length {length} exceeds the {len(rest)} bytes of body", body_start)
        return rest
    if length < len(rest):
        # RFC 4475 §3.1.1.12: octets after the body are not part of the message
        faults.items.append(f"{len(rest) - length} bytes after the Content-Length body ignored")
    return rest[:length]


def _check_request(
    method: str, uri_text: str, version: str, headers: list[tuple[str, str]],
    cseq: int | None, faults: _Faults, at: int, cseq_at: Callable[[], int],
) -> str:
    """Check Request-URI, version and CSeq method (RFC 3261 §7.1, §8.1.1.5, §19.1.1);
    returns the Request-URI text to keep. `cseq_at()` gives the CSeq line's offset (counted
    only when a fault names it)."""
    if version.upper() != "SIP/2.0":
        faults(f"unsupported SIP version {version}", at)
    uri_at = at + len(method) + 1
    if uri_text.startswith("<") and uri_text.endswith(">"):
        faults("the Request-URI is enclosed in angle brackets", uri_at)
        uri_text = uri_text[1:-1]
    try:
        has_headers = check_uri(uri_text)
    except SIPParseError as exc:
        raise SIPParseError(f"bad Request-URI: {exc.reason}", uri_at) from None
    if has_headers:
        faults("the Request-URI carries URI headers (RFC 3261 §19.1.1 forbids them)", uri_at)
    if cseq is not None:
        parts = headers[cseq][1].split()
        if len(parts) == 2 and parts[1] != method:
            faults(f"CSeq method {parts[1]} differs from the request method {method}",
                   cseq_at())
    return uri_text
