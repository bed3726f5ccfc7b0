"""Header names: case-insensitive matching, compact forms, and which values may be comma-split.

RFC 3261 §7.3: header names are case-insensitive; §7.3.3 and §20 list the compact forms; §7.3.1
allows several values of one header in one line, comma-separated, only where the header's
grammar is a comma-separated list (not for e.g. WWW-Authenticate, whose values contain commas).
"""

from __future__ import annotations

__all__ = ["COMPACT_FORMS", "COMMA_LISTS", "SINGLE_VALUED", "KEY_CACHE", "header_key",
           "display_name", "split_commas"]

#: compact form -> full name in lower case (RFC 3261 §7.3.3 and later RFCs' registrations)
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",  # RFC 3841
    "b": "referred-by",  # RFC 3892
    "c": "content-type",
    "d": "request-disposition",  # RFC 3841
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",  # RFC 3841
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",  # RFC 4474
    "o": "event",  # RFC 6665
    "r": "refer-to",  # RFC 3515
    "s": "subject",
    "t": "to",
    "u": "allow-events",  # RFC 6665
    "v": "via",
    "x": "session-expires",  # RFC 4028
    "y": "identity",  # RFC 8224
}

#: headers whose grammar is `name: value *(COMMA value)` (RFC 3261 §7.3.1, §20; RFC 3327 Path;
#: RFC 3326 Reason; RFC 6809 Feature-Caps; RFC 3608 Service-Route; RFC 6665 Allow-Events)
COMMA_LISTS: frozenset[str] = frozenset({
    "accept", "accept-contact", "accept-encoding", "accept-language", "alert-info", "allow",
    "allow-events", "call-info", "contact", "content-encoding", "content-language",
    "error-info", "feature-caps", "in-reply-to", "path", "proxy-require", "reason",
    "record-route", "reject-contact", "request-disposition", "require", "route",
    "security-client", "security-server", "security-verify", "service-route", "supported",
    "unsupported", "via", "warning", "p-associated-uri",
})

#: headers that may appear at most once in a message (RFC 3261 §7.3.1, §20)
SINGLE_VALUED: frozenset[str] = frozenset({
    "call-id", "content-length", "content-type", "cseq", "date", "expires", "from",
    "max-forwards", "to",
})

#: spelling used when pushinject itself writes a header name
_CANONICAL: dict[str, str] = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version", "rack": "RAck", "rseq": "RSeq",
    "sip-etag": "SIP-ETag", "sip-if-match": "SIP-If-Match",
}

#: header name as written -> `header_key(name)`, filled as names are met (bounded)
KEY_CACHE: dict[str, str] = {}
_KEYS = KEY_CACHE


def header_key(name: str) -> str:
    """The lookup key of a header name: lower case, compact form expanded (RFC 3261 §7.3.3).

    >>> header_key("v"), header_key("VIA"), header_key("Call-Id"), header_key("l")
    ('via', 'via', 'call-id', 'content-length')
    """
    key = _KEYS.get(name)
    if key is None:
        lower = name.lower()
        key = COMPACT_FORMS.get(lower, lower)
        if len(_KEYS) < 4096:
            _KEYS[name] = key
    return key


def display_name(name: str) -> str:
    """The conventional spelling of a header name (for headers pushinject writes itself).

    >>> display_name("m"), display_name("call-id"), display_name("record-route")
    ('Contact', 'Call-ID', 'Record-Route')
    """
    key = header_key(name)
    return _CANONICAL.get(key) or "-".join(part.capitalize() for part in key.split("-"))


def split_commas(value: str) -> list[str]:
    """Split a header value at commas outside quoted strings and angle brackets (RFC 3261 §7.3.1).

    >>> split_commas('"Doe, J" <sip:a@b>;q=1 , <sip:c@d>')
    ['"Doe, J" <sip:a@b>;q=1', '<sip:c@d>']
    """
    if "," not in value:
        return [value.strip()]
    if '"' in value:
        return _split_quoted(value)
    if "<" not in value:  # every comma separates
        return [part.strip() for part in value.split(",")]
    parts: list[str] = []
    start = 0
    at = value.find(",")
    while at >= 0:  # a comma separates unless the last bracket before it opens
        if value.rfind("<", 0, at) <= value.rfind(">", 0, at):
            parts.append(value[start:at].strip())
            start = at + 1
        at = value.find(",", at + 1)
    parts.append(value[start:].strip())
    return parts


def _split_quoted(value: str) -> list[str]:
    """`split_commas` character by character, for any value (quoted strings included)."""
    parts: list[str] = []
    start = 0
    quoted = False
    angle = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == "," and not angle:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    return parts
