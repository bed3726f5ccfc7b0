"""Recognising SIP by content, and reading the few fields a capture listing shows, fast.

`find_start(data)` says where a SIP message starts in a payload: at 0 for a clean message, later
when junk precedes it (the junk is reported, the message kept), or -1 when the payload is not SIP.
Recognition is by content only, on any port: a request line `Method SP Request-URI SP SIP/2.0`
(RFC 3261 §7.1) or a status line `SIP/2.0 SP 3DIGIT` (§7.2).

`scan(data)` reads the listing fields (method or status, Call-ID, CSeq, top Via branch, From and
To tags, whether Content-Length matches the body) without building a message, so the decoder can
list millions of messages quickly: canonical header names on CRLF lines are read in one regular
expression pass, with what was read from recently seen Via, From, To, CSeq and Content-Length
values remembered (bounded), and any other message (folding, compact forms, other letter case,
bare LF) goes to the general reading, which a property test holds equal. `fields_of(message)`
reads the same fields from a message parsed by `pushinject.sip.parse_message`, and tests check
that both agree on every message of the corpus. Folded header lines (§7.3.1) and compact forms
(§7.3.3) are understood by both.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

__all__ = ["Fields", "find_start", "scan", "fields_of", "METHODS"]

#: request methods recognised after junk (RFC 3261 §27.4 registry, common extensions)
METHODS = (
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
    "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
)
_TOKEN = rb"[A-Za-z0-9.!%*_+`'~\-]+"
_START = re.compile(
    rb"(?:" + _TOKEN + rb" [^ \r\n]+ SIP/2\.0|SIP/2\.0 [0-9]{3}(?: [^\r\n]*)?)\r?\n"
)
_JUNK = re.compile(
    rb"(?:(?:" + "|".join(METHODS).encode() + rb") [^ \r\n]+ SIP/2\.0|SIP/2\.0 [0-9]{3}[ \r])"
)
_FIRST = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\r\n")
_KNOWN = frozenset(m.encode() for m in METHODS)
_LOOK = 512


class Fields(NamedTuple):
    """The fields of one SIP message shown in a listing (None when absent or unreadable)."""

    method: str | None
    status: int | None
    call_id: str | None
    cseq_number: int | None
    cseq_method: str | None
    branch: str | None
    from_tag: str | None
    to_tag: str | None
    length_ok: bool


def find_start(data: bytes) -> int:
    """Offset where a SIP message starts in `data`, or -1.

    >>> find_start(b"OPTIONS sip:a@b SIP/2.0\\r\\n\\r\\n"), find_start(b"\\x80\\x00rtp")
    (0, -1)
    >>> find_start(b"DBREGISTER sip:1.1.1.1 SIP/2.0\\r\\n")
    2
    """
    if not data:
        return -1
    if data[0] not in _FIRST:
        if b"SIP/2.0" not in data[:_LOOK]:
            return -1
        j = _JUNK.search(data, 0, _LOOK)
        return j.start() if j is not None else -1
    skip = 0
    if data[0] in (13, 10):
        skip = len(data) - len(data.lstrip(b"\r\n"))
    line = data[skip : data.find(b"\n", skip) + 1]
    if line in _STARTS or _start_line(line):
        return skip
    j = _JUNK.search(data, skip, skip + _LOOK)
    return j.start() if j is not None else -1


#: lines recently found to be start lines (bounded; captures repeat them)
_STARTS: set[bytes] = set()


def _start_line(line: bytes) -> bool:
    """Whether `line` (up to and with its LF) is a request or status line and not junk glued to
    a known method (RFC 3261 §7.1, §7.2); remembered in `_STARTS` when it is."""
    if _START.match(line) is None:
        return False
    if line[:8] != b"SIP/2.0 ":
        method = line[: line.index(b" ")]
        if method not in _KNOWN and any(method.endswith(k) for k in _KNOWN):
            return False
    if len(_STARTS) >= 4096:
        _STARTS.clear()
    _STARTS.add(line)
    return True


#: header names read by `scan` -> slot (lower case, canonical spelling, and the compact forms of
#: RFC 3261 §7.3.3): Call-ID 0, CSeq 1, Via 2, From 3, To 4, Content-Length 5
_SLOTS = {"call-id": 0, "i": 0, "cseq": 1, "via": 2, "v": 2, "from": 3, "f": 3, "to": 4, "t": 4,
          "content-length": 5, "l": 5, "Call-ID": 0, "CSeq": 1, "Via": 2, "From": 3, "To": 4,
          "Content-Length": 5}
_CANONICAL = frozenset(("Call-ID", "CSeq", "Via", "From", "To", "Content-Length"))


def _any_case(name: str) -> str:
    """A pattern matching `name` in any ASCII letter case (header names are case-insensitive,
    RFC 3261 §7.3.1; ASCII only, so no other letter folds into a name)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in name)


_NAMES = "|".join(_any_case(n) for n in (
    "call-id", "i", "cseq", "via", "v", "from", "f", "to", "t", "content-length", "l"))
_BRANCH = re.compile(r";[ \t]*branch[ \t]*=[ \t]*([^;, \t]+)", re.I)
_TAG = re.compile(r";[ \t]*tag[ \t]*=[ \t]*([^;, \t>]+)", re.I)
_HEADER = re.compile(r"\n(" + _NAMES + r")[ \t]*:[ \t]*([^\r\n]*)")
#: the common case in one pass over the header block and its final CRLF: canonical names, the
#: value up to the last CR of its line (`scan` reads it up to its first CR, as the general reading
#: does). Any other
#: spelling of a name read here (compact form, other case, space before the colon, no CR on its
#: line) and a folded line come back as `("", "")`, so `scan` leaves the message to the general
#: reading
_USUAL = re.compile(
    r"\n(?:(Via|From|To|Call-ID|CSeq|Content-Length):[ \t]*(.*)\r|[ \t]"
    r"|(?=[CcIiVvFfTtLl])(?:" + _NAMES + r")[ \t]*:)"
)
_FOLDED = re.compile(rb"\n[ \t]")
_FOLD = re.compile(r"[ \t]*\r?\n[ \t]+")


_new = tuple.__new__


def scan(data: bytes) -> Fields:
    """The listing fields of one SIP message (which starts at offset 0, after optional CRLFs).

    Headers with canonical names, CRLF line ends and no folding are read in one regular
    expression pass; anything else goes through the general reading (`_scan_general`), which
    gives the same fields in every case (a property test checks it).

    >>> f = scan(b"INVITE sip:b@x SIP/2.0\\r\\nv: SIP/2.0/UDP h;branch=z9hG4bK1\\r\\n"
    ...          b"f: <sip:a@x>;tag=1\\r\\nt: sip:b@x\\r\\ni: c1\\r\\nCSeq: 7 INVITE\\r\\n"
    ...          b"l: 0\\r\\n\\r\\n")
    >>> f.method, f.call_id, f.cseq_number, f.branch, f.from_tag, f.to_tag, f.length_ok
    ('INVITE', 'c1', 7, 'z9hG4bK1', '1', None, True)
    """
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return _scan_general(data)
    text = data[: end + 2].decode("utf-8", "replace")
    found = dict(reversed(_USUAL.findall(text)))  # the first of each name wins
    if "" in found:
        return _scan_general(data)
    if text[:8] == "SIP/2.0 ":
        if len(text) < 13:  # the status code would run into the final CRLF
            return _scan_general(data)
        code = text[8:11]
        method, status = None, int(code) if code.isdigit() else None
    else:
        space = text.find(" ")  # within the header block, whose final CRLF has none
        if space < 0:
            return _scan_general(data)
        method, status = text[:space], None
    get = found.get
    cseq_value, via, from_, to = get("CSeq"), get("Via"), get("From"), get("To")
    # each read is remembered, a None value (header absent) too: a miss is a present header
    cseq, branch = _CSEQS.get(cseq_value, _UNREAD), _BRANCHES.get(via, _UNREAD)
    from_tag, to_tag = _TAGS.get(from_, _UNREAD), _TAGS.get(to, _UNREAD)
    if cseq is _UNREAD and cseq_value is not None:
        cseq = _remember(_CSEQS, _cseq, cseq_value)
    if branch is _UNREAD and via is not None:
        branch = _remember(_BRANCHES, _branch, via)
    if from_tag is _UNREAD and from_ is not None:
        from_tag = _remember(_TAGS, _tag, from_)
    if to_tag is _UNREAD and to is not None:
        to_tag = _remember(_TAGS, _tag, to)
    value = get("Content-Length")
    length_ok = True
    if value is not None:
        declared = _LENGTHS.get(value, _UNREAD)
        if declared is _UNREAD:
            declared = _remember(_LENGTHS, _length, value)
        length_ok = declared is not None and declared <= len(data) - end - 4
    value = get("Call-ID")
    if value is not None:
        if "\r" in value:  # a bare CR ends it
            value = value[: value.index("\r")]
        value = value.rstrip(" \t")
    return _new(Fields, (  # the NamedTuple built without its Python-level __new__
        method, status, value, cseq[0], cseq[1],
        branch, from_tag, to_tag, length_ok,
    ))


#: what `scan` read from recent header values (captures repeat them: a dialog's From, a
#: transaction's Via, CSeq and Content-Length values), absent headers (None) included; each holds
#: at most `_REMEMBER` entries
_CSEQS: dict[str | None, Any] = {None: (None, None)}
_BRANCHES: dict[str | None, Any] = {None: None}
_TAGS: dict[str | None, Any] = {None: None}
_LENGTHS: dict[str | None, Any] = {}
_REMEMBER = 4096
_UNREAD = object()


def _remember(memo: dict[str | None, Any], read: Any, value: str) -> Any:
    """`read` of `value` up to its first CR, kept in `memo` (emptied when full, so memory stays
    bounded)."""
    if len(memo) >= _REMEMBER:
        none = memo.get(None, _UNREAD)
        memo.clear()
        if none is not _UNREAD:
            memo[None] = none
    result = memo[value] = read(value.partition("\r")[0])  # a bare CR ends a value
    return result


def _cseq(value: str) -> tuple[int | None, str | None]:
    """CSeq sequence number and method (RFC 3261 §20.16), (None, None) if unreadable."""
    parts = value.split()
    if len(parts) == 2 and parts[0].isdigit():
        return int(parts[0]), parts[1]
    return None, None


def _branch(value: str) -> str | None:
    """The branch parameter of the first Via value (RFC 3261 §20.42, §8.1.1.7)."""
    comma = value.find(",")
    b = _BRANCH.search(value, 0, comma if comma >= 0 else len(value))
    return b.group(1) if b else None


def _tag(value: str) -> str | None:
    """The tag parameter of a From or To value, after the URI (RFC 3261 §19.3)."""
    m = _TAG.search(value, value.rfind(">") + 1)
    return m.group(1) if m else None


def _length(value: str) -> int | None:
    """A Content-Length value (RFC 3261 §20.14), None if not a number."""
    value = value.rstrip()
    return int(value) if value.isdigit() else None


def _scan_general(data: bytes) -> Fields:
    """`scan` for any message: folded lines, compact forms, any case, bare LF line ends.

    >>> _scan_general(b"SIP/2.0 180 Ringing\\ni: x\\nCSeq: 1 INVITE\\n\\n").call_id
    'x'
    """
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    if _FOLDED.search(head) is not None:
        text = _FOLD.sub(" ", head.decode("utf-8", "replace"))
    else:
        text = head.decode("utf-8", "replace")
    method = status = None
    if text[:8] == "SIP/2.0 ":
        code = text[8:11]
        status = int(code) if code.isdigit() else None
    else:
        method = text[: text.find(" ")]
    found: list[str | None] = [None] * 6
    get = _SLOTS.get
    for name, value in _HEADER.findall(text, text.find("\n")):
        slot = get(name)
        if slot is None:
            slot = _SLOTS[name.lower()]
        if found[slot] is None:
            found[slot] = value
    call_id, cseq, via, from_, to, declared = found
    cseq_number = cseq_method = None
    if cseq is not None:
        parts = cseq.split()
        if len(parts) == 2 and parts[0].isdigit():
            cseq_number, cseq_method = int(parts[0]), parts[1]
    branch = None
    if via is not None:
        comma = via.find(",")
        b = _BRANCH.search(via, 0, comma if comma >= 0 else len(via))
        branch = b.group(1) if b else None
    length_ok = end >= 0
    if length_ok and declared is not None:
        declared = declared.rstrip()
        length_ok = declared.isdigit() and int(declared) <= len(data) - end - 4
    from_tag = to_tag = None
    if from_ is not None:
        m = _TAG.search(from_, from_.rfind(">") + 1)
        from_tag = m.group(1) if m else None
    if to is not None:
        m = _TAG.search(to, to.rfind(">") + 1)
        to_tag = m.group(1) if m else None
    return _new(Fields, (
        method, status, call_id.rstrip(" \t\r") if call_id is not None else None,
        cseq_number, cseq_method, branch, from_tag, to_tag, length_ok,
    ))


def fields_of(message: Any) -> Fields:
    """The same fields read from a parsed `Request`/`Response` (None where a header is unusable)."""

    def attempt(read: Any) -> Any:
        try:
            return read()
        except ValueError:
            return None

    cseq = attempt(lambda: message.cseq)
    return Fields(
        getattr(message, "method", None),
        getattr(message, "status", None),
        message.get("Call-ID"),
        cseq.number if cseq is not None else None,
        cseq.method if cseq is not None else None,
        attempt(lambda: message.top_via.branch),
        attempt(lambda: message.from_.tag),
        attempt(lambda: message.to.tag),
        not any(d.startswith(("Content-Length", "no empty line")) for d in message.defects),
    )
