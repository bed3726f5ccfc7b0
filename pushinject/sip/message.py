"""Immutable SIP requests and responses with header access on demand (RFC 3261 §7).

A message keeps its headers as the ordered `(name, value)` pairs of the wire (folding undone);
typed values (Via, CSeq, From, ...) are parsed the first time they are read and cached.
Derivation methods return new messages; nothing changes a message in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any, TypeVar

from pushinject.errors import LocalProtocolError
from pushinject.sip.abnf import TOKEN
from pushinject.sip.errors import SIPParseError
from pushinject.sip.headers import COMMA_LISTS, KEY_CACHE, header_key, split_commas
from pushinject.sip.uri import URI, parse_uri
from pushinject.sip.values import (
    MAX_DELTA_SECONDS, Contact, CSeq, FeatureCap, NameAddr, Reason, Via, parse_contact,
    parse_cseq, parse_feature_cap, parse_int, parse_name_addr, parse_reason, parse_via,
)

__all__ = [
    "Message", "Request", "Response", "SIP_VERSION", "checked_header", "Index", "index_positions",
]

SIP_VERSION = "SIP/2.0"
_M = TypeVar("_M", bound="Message")
_T = TypeVar("_T")
Headers = tuple[tuple[str, str], ...]


_NAME_RE = re.compile(TOKEN)
#: header names already found to be tokens (bounded; spares a grammar match per header)
_GOOD_NAMES: set[str] = set()
_KEY = KEY_CACHE.get
_NO_POSITIONS: tuple[int, ...] = ()
#: what a message's cache of typed values gives for a header not read yet
_UNREAD: Any = object()


#: a header index: lookup key -> the position of its line, or the list of positions (in wire
#: order) of a header written on several lines (most are written once: no list for those)
Index = dict[str, "int | list[int]"]


def _index_of(headers: Sequence[tuple[str, str]], index: Index | None = None, start: int = 0
              ) -> Index:
    """Header key -> position of its line (an int), or positions of its lines in wire order
    (a list) when it has several; `index` (already holding the lines before `start`) is
    completed with the lines from `start` on."""
    if index is None:
        if not start:  # most headers are written once: an index built by one dict call
            keys = [_KEY(name) or header_key(name) for name, _ in headers]
            index = dict(zip(keys, range(len(keys))))
            if len(index) == len(keys):
                return index
        index = {}
    get = index.get
    for i, (name, _) in enumerate(headers[start:] if start else headers, start):
        key = _KEY(name) or header_key(name)
        positions = get(key)
        if positions is None:
            index[key] = i
        elif isinstance(positions, int):
            index[key] = [positions, i]
        else:
            positions.append(i)
    return index


def index_positions(index: Index, key: str) -> Sequence[int]:
    """The positions an index holds for a lookup key, in wire order (empty when absent)."""
    positions = index.get(key)
    if positions is None:
        return _NO_POSITIONS
    if isinstance(positions, int):
        return (positions,)
    return positions


def _shifted(index: Index, key: str) -> Index:
    """The index of a message's lines once a line with lookup key `key` is placed first."""
    out: Index = {k: p + 1 if isinstance(p, int) else [i + 1 for i in p] for k, p in index.items()}
    positions = out.get(key)
    out[key] = 0 if positions is None else [0, positions] if isinstance(positions, int) else [
        0, *positions]
    return out


def _cache_without(cache: dict[str, Any], key: str) -> dict[str, Any]:
    """The typed values of `cache` still valid once the header with lookup key `key` changed
    (the cache is keyed by header key; "top-via" belongs to "via")."""
    kept = cache.copy()
    if kept:
        kept.pop(key, None)
        if key == "via":
            kept.pop("top-via", None)
    return kept


def checked_header(name: str, value: str) -> tuple[str, str]:
    """`(name, value)` when it can be written as one header line (RFC 3261 §7.3): the name a
    token, the value free of CR and LF (which would smuggle in other headers).

    Raises `LocalProtocolError` otherwise.

    >>> checked_header("X-Note", "a\\r\\nVia: forged")
    Traceback (most recent call last):
    ...
    pushinject.errors.LocalProtocolError: header value of X-Note contains CR or LF: ...
    """
    if name not in _GOOD_NAMES:
        if _NAME_RE.fullmatch(name) is None:
            raise LocalProtocolError(f"not a header name: {name!r}")
        if len(_GOOD_NAMES) < 4096:
            _GOOD_NAMES.add(name)
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"header value of {name} contains CR or LF: {value!r}")
    return name, value


class Message:
    """What requests and responses share: headers, body, defects and typed accessors."""

    __slots__ = ("_headers", "_body", "_defects", "_strict", "_index", "_cache", "_wire")

    #: the `(name, value)` pairs in wire order, names as written, folding undone
    headers: Headers = property(attrgetter("_headers"))  # type: ignore[assignment]
    #: the body, framed by Content-Length
    body: bytes = property(attrgetter("_body"))  # type: ignore[assignment]

    def __init__(
        self,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        defects: Iterable[str] = (),
        *,
        strict: bool = True,
        _index: Index | None = None,
        _cache: dict[str, Any] | None = None,
    ) -> None:
        self._fill(headers, body, defects, strict, _index, _cache)

    def _fill(self, headers: Iterable[tuple[str, str]], body: bytes, defects: Iterable[str],
              strict: bool, index: Index | None, cache: dict[str, Any] | None) -> None:
        """Set what every message holds (the subclasses call it rather than `super().__init__`
        with keywords, which costs more on each of the many messages a proxy builds)."""
        # read-only properties over private slots: a message never changes once built.
        # `index` and `cache` may come from a message with the same headers (derivations),
        # as they depend on the headers only.
        self._headers = headers if type(headers) is tuple else tuple(headers)
        self._body = body if type(body) is bytes else bytes(body)
        self._defects = defects if type(defects) is tuple else tuple(defects)
        self._strict = strict
        self._index = index
        self._cache: dict[str, Any] = {} if cache is None else cache
        self._wire: bytes | None = None

    # -- the start line (subclasses) -------------------------------------------------------
    @property
    def start_line(self) -> str:
        raise NotImplementedError

    def _copy(self: _M, headers: Iterable[tuple[str, str]], body: bytes | None = None,
              cache: dict[str, Any] | None = None, index: Index | None = None) -> _M:
        """A message like this one with other lines (and their typed values and header index
        when known) and maybe another body."""
        raise NotImplementedError

    # -- raw header access -----------------------------------------------------------------
    @property
    def strict(self) -> bool:
        """Whether the message was parsed (or built) under strict rules."""
        return self._strict

    @property
    def defects(self) -> list[str]:
        """Faults lenient parsing tolerated, in the order found (empty for a clean message)."""
        return list(self._defects)

    def _header_index(self) -> Index:
        """The header index, built on first use."""
        index = self._index
        if index is None:
            index = self._index = _index_of(self._headers)
        return index

    def _positions(self, name: str) -> Sequence[int]:
        return index_positions(self._header_index(), _KEY(name) or header_key(name))

    def get(self, name: str) -> str | None:
        """The first value of a header (any case, compact forms accepted), or None.

        For list headers written `Via: a, b` this is the whole line; use `get_all` for items.
        """
        index = self._index
        if index is None:
            index = self._index = _index_of(self._headers)
        pos = index.get(_KEY(name) or header_key(name))
        if pos is None:
            return None
        return self._headers[pos if isinstance(pos, int) else pos[0]][1]

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, comma-split where its grammar allows (RFC 3261 §7.3.1)."""
        key = _KEY(name) or header_key(name)
        positions = self._header_index().get(key)
        if positions is None:
            return []
        headers = self._headers
        if isinstance(positions, int):  # written once, as most are
            value = headers[positions][1]
            if key not in COMMA_LISTS:
                return [value]
            return [part for part in split_commas(value) if part]
        values = [headers[i][1] for i in positions]
        if key in COMMA_LISTS:
            return [part for value in values for part in split_commas(value) if part]
        return values

    def has(self, name: str) -> bool:
        return (_KEY(name) or header_key(name)) in self._header_index()

    # -- typed accessors (parsed on first use, cached) -------------------------------------
    def _cached(self, key: str, make: Callable[[], _T]) -> _T:
        """The typed value cached under `key` (the header's lookup key), made on first use."""
        cache = self._cache
        if key not in cache:
            cache[key] = make()
        return cache[key]  # type: ignore[no-any-return]

    def _required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SIPParseError(f"the message has no {name} header")
        return value

    @property
    def call_id(self) -> str:
        """Call-ID (RFC 3261 §20.8)."""
        value: str | None = self._cache.get("call-id")
        if value is None:
            value = self.get("Call-ID")
            if value is None:
                raise SIPParseError("the message has no Call-ID header")
            self._cache["call-id"] = value
        return value

    @property
    def cseq(self) -> CSeq:
        """CSeq (RFC 3261 §20.16)."""
        cseq: CSeq | None = self._cache.get("cseq")
        if cseq is None:
            cseq = self._cache["cseq"] = parse_cseq(self._required("CSeq"))
        return cseq

    def _vias(self) -> list[Via]:
        if self._strict:
            return [parse_via(v) for v in self.get_all("Via")]
        vias = []
        for value in self.get_all("Via"):  # lenient: values with no sent-by are left out
            try:
                vias.append(parse_via(value, strict=False))
            except SIPParseError:
                continue
        return vias

    @property
    def vias(self) -> list[Via]:
        """Every Via value, topmost first (RFC 3261 §20.42)."""
        vias: list[Via] | None = self._cache.get("via")
        if vias is None:
            vias = self._cache["via"] = self._vias()
        return vias.copy()

    @property
    def top_via(self) -> Via:
        """The topmost Via (RFC 3261 §16.7, §8.2.6); raises SIPParseError if there is none.

        Only that value is parsed when the other Via values have not been read yet.
        """
        cache = self._cache
        vias = cache.get("via")
        if vias:
            return vias[0]  # type: ignore[no-any-return]
        if vias is None:
            if not self._strict:
                vias = self._cached("via", self._vias)
            else:
                top = cache.get("top-via")
                if top is not None:
                    return top  # type: ignore[no-any-return]
                first = self.get("Via")
                if first is not None:
                    top = cache["top-via"] = parse_via(split_commas(first)[0])
                    return top
                vias = []
        if not vias:
            raise SIPParseError("the message has no Via header")
        return vias[0]

    @property
    def from_(self) -> NameAddr:
        """From (RFC 3261 §20.20)."""
        value: NameAddr | None = self._cache.get("from")
        if value is None:
            value = self._cache["from"] = parse_name_addr(self._required("From"), self._strict)
        return value

    @property
    def to(self) -> NameAddr:
        """To (RFC 3261 §20.39)."""
        value: NameAddr | None = self._cache.get("to")
        if value is None:
            value = self._cache["to"] = parse_name_addr(self._required("To"), self._strict)
        return value

    @property
    def contacts(self) -> list[Contact]:
        """Every Contact value (RFC 3261 §20.10); `Contact: *` gives one with `.star`."""
        contacts: list[Contact] | None = self._cache.get("contact")
        if contacts is None:
            strict = self._strict
            contacts = self._cache["contact"] = [
                parse_contact(v, strict) for v in self.get_all("Contact")]
        return list(contacts)

    def _name_addrs(self, name: str, key: str) -> list[NameAddr]:
        """The values of a name-addr list header, cached under its lookup key `key`."""
        values: list[NameAddr] | None = self._cache.get(key)
        if values is None:
            strict = self._strict
            values = self._cache[key] = [parse_name_addr(v, strict) for v in self.get_all(name)]
        return list(values)

    @property
    def routes(self) -> list[NameAddr]:
        """Route values in order (RFC 3261 §20.34)."""
        return self._name_addrs("Route", "route")

    @property
    def record_routes(self) -> list[NameAddr]:
        """Record-Route values in order (RFC 3261 §20.30)."""
        return self._name_addrs("Record-Route", "record-route")

    @property
    def paths(self) -> list[NameAddr]:
        """Path values in order (RFC 3327 §4)."""
        return self._name_addrs("Path", "path")

    def _int(self, name: str, key: str, limit: int) -> int | None:
        """A numeric header's value (None when absent), cached under its lookup key `key` once
        read."""
        cache = self._cache
        number: int | None = cache.get(key, _UNREAD)
        if number is _UNREAD:
            value = self.get(name)
            if value is None:
                number = None
            elif not self._strict and value.isdigit():
                number = int(value)
            else:
                number = parse_int(value, limit, name)
            cache[key] = number
        return number

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards, 0 to 255 (RFC 3261 §20.22)."""
        return self._int("Max-Forwards", "max-forwards", 255)

    @property
    def expires(self) -> int | None:
        """Expires in seconds (RFC 3261 §20.19)."""
        return self._int("Expires", "expires", MAX_DELTA_SECONDS)

    @property
    def content_length(self) -> int | None:
        """Content-Length (RFC 3261 §20.14)."""
        return self._int("Content-Length", "content-length", 2**63)

    @property
    def content_type(self) -> str | None:
        return self.get("Content-Type")

    def _tokens(self, name: str) -> list[str]:
        return [t for v in self.get_all(name) for t in [v.strip()] if t]

    @property
    def require(self) -> list[str]:
        """Require option tags (RFC 3261 §20.32)."""
        return self._tokens("Require")

    @property
    def supported(self) -> list[str]:
        """Supported option tags (RFC 3261 §20.37)."""
        return self._tokens("Supported")

    @property
    def proxy_require(self) -> list[str]:
        return self._tokens("Proxy-Require")

    @property
    def feature_caps(self) -> list[FeatureCap]:
        """Feature-Caps values (RFC 6809 §6), e.g. `*;+sip.pns="apns"` (RFC 8599 §5.4, §8.2)."""
        return list(self._cached(
            "feature-caps", lambda: [parse_feature_cap(v) for v in self.get_all("Feature-Caps")]))

    @property
    def reasons(self) -> list[Reason]:
        """Reason values (RFC 3326 §2), e.g. on a CANCEL after another branch answered."""
        return list(self._cached(
            "reason", lambda: [parse_reason(v) for v in self.get_all("Reason")]))

    def prime(self) -> None:
        """Parse and cache now what a capture checker reads of every message: Call-ID, CSeq,
        the Vias, To, From, the Contacts, Expires, the Paths and Routes (and a request's
        Request-URI, see `Request.prime`), in that order, each as its accessor would; raises
        what the first to fail raises. One pass over the header index, without an accessor's
        copy of a list for each read."""
        cache = self._cache
        index = self._index
        if index is None:
            index = self._index = _index_of(self._headers)
        headers = self._headers
        strict = self._strict
        if "call-id" not in cache:
            cache["call-id"] = self._first_of(index, "call-id", "Call-ID")
        if "cseq" not in cache:
            cache["cseq"] = parse_cseq(self._first_of(index, "cseq", "CSeq"))
        if cache.get("via") is None:
            cache["via"] = self._vias()
        if "to" not in cache:
            cache["to"] = parse_name_addr(self._first_of(index, "to", "To"), strict)
        if "from" not in cache:
            cache["from"] = parse_name_addr(self._first_of(index, "from", "From"), strict)
        if "contact" not in cache:
            cache["contact"] = [parse_contact(v, strict) for v in self.get_all("Contact")]
        if "expires" not in cache:
            pos = index.get("expires")
            if pos is None:
                cache["expires"] = None
            else:
                value = headers[pos if isinstance(pos, int) else pos[0]][1]
                cache["expires"] = (int(value) if not strict and value.isdigit() else
                                    parse_int(value, MAX_DELTA_SECONDS, "Expires"))
        for key, name in (("path", "Path"), ("route", "Route")):
            if key not in cache:
                cache[key] = ([parse_name_addr(v, strict) for v in self.get_all(name)]
                              if key in index else [])

    def _first_of(self, index: Index, key: str, name: str) -> str:
        """The first value of a header that must be present (`_required`)."""
        pos = index.get(key)
        if pos is None:
            raise SIPParseError(f"the message has no {name} header")
        return self._headers[pos if isinstance(pos, int) else pos[0]][1]

    # -- derivation --------------------------------------------------------------------------
    def with_header_prepended(self: _M, name: str, value: str) -> _M:
        """A copy with `name: value` placed before every other header (e.g. a new Via)."""
        checked_header(name, value)
        key = _KEY(name) or header_key(name)
        index = self._index
        return self._copy(((name, value), *self._headers), None, _cache_without(self._cache, key),
                          None if index is None else _shifted(index, key))

    def with_header_appended(self: _M, name: str, value: str) -> _M:
        """A copy with `name: value` added after the existing headers."""
        checked_header(name, value)
        return self._copy((*self._headers, (name, value)), None,
                          _cache_without(self._cache, _KEY(name) or header_key(name)))

    def with_header(self: _M, name: str, value: str) -> _M:
        """A copy where `name` has the single value `value`: it replaces the first occurrence
        (and drops the others), or is appended when absent."""
        checked_header(name, value)
        key = header_key(name)
        out: list[tuple[str, str]] = []
        done = False
        for n, v in self.headers:
            if header_key(n) == key:
                if not done:
                    out.append((n, value))
                    done = True
            else:
                out.append((n, v))
        if not done:
            out.append((name, value))
        return self._copy(out, None, _cache_without(self._cache, key))

    def without_header(self: _M, name: str) -> _M:
        """A copy without any occurrence of `name` (compact form included)."""
        key = header_key(name)
        return self._copy([(n, v) for n, v in self._headers if header_key(n) != key], None,
                          _cache_without(self._cache, key))

    def without_top_via(self: _M) -> _M:
        """A copy without the topmost Via value (RFC 3261 §16.7 step 3 on responses)."""
        index = self._header_index()
        pos = index.get("via")
        if pos is None:
            raise SIPParseError("the message has no Via header")
        first = pos if isinstance(pos, int) else pos[0]
        headers = self._headers
        name, value = headers[first]
        rest = split_commas(value)[1:] if "," in value else None
        if rest:  # the line stays, shorter: the index stays too
            kept = (*headers[:first], (name, ", ".join(rest)), *headers[first + 1 :])
            return self._copy(kept, None, _cache_without(self._cache, "via"), index)
        kept = headers[:first] + headers[first + 1 :]  # (its index is made if it is read)
        return self._copy(kept, None, _cache_without(self._cache, "via"))

    def with_top_via(self: _M, value: str) -> _M:
        """`without_top_via().with_header_prepended("Via", value)` in one copy when the top
        Via is alone on the first line (as on nearly every message): that line is replaced,
        and the header index stays."""
        checked_header("Via", value)
        index = self._header_index()
        headers = self._headers
        if index.get("via") == 0 and "," not in headers[0][1]:
            return self._copy((("Via", value), *headers[1:]), None,
                              _cache_without(self._cache, "via"), index)
        return self.without_top_via().with_header_prepended("Via", value)

    def with_body(self: _M, body: bytes, content_type: str | None = None) -> _M:
        """A copy with a new body and a matching Content-Length (and Content-Type if given)."""
        msg = self.with_header("Content-Length", str(len(body)))
        if content_type is not None:
            msg = msg.with_header("Content-Type", content_type)
        return msg._copy(msg.headers, bytes(body))

    # -- wire form -----------------------------------------------------------------------------
    def __bytes__(self) -> bytes:
        wire = self._wire
        if wire is None:
            lines = [self.start_line, *[f"{n}: {v}" for n, v in self._headers], "", ""]
            wire = "\r\n".join(lines).encode("utf-8", "surrogateescape") + self._body
            self._wire = wire
        return wire

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Message)
        return (self.start_line, self.headers, self.body) == (
            other.start_line, other.headers, other.body)

    def __hash__(self) -> int:
        return hash((self.start_line, self.headers, self.body))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle and copy as the wire form (parsed again, same strictness)."""
        return (_from_wire, (bytes(self), self._strict, self._defects))

    def __copy__(self: _M) -> _M:
        return self

    def __deepcopy__(self: _M, memo: dict[int, object]) -> _M:
        return self  # immutable


def _from_wire(data: bytes, strict: bool, defects: tuple[str, ...] = ()) -> Message:
    from pushinject.sip.parser import parse_message

    msg = parse_message(data, strict=strict)
    msg._defects = defects  # what the original parse found
    return msg


class Request(Message):
    """A SIP request (RFC 3261 §7.1).

    >>> from pushinject.sip import parse_message
    >>> req = parse_message(b"OPTIONS sip:bob@example.com SIP/2.0\\r\\nv: SIP/2.0/UDP h;branch=z9"
    ...                     b"\\r\\nCall-ID: x\\r\\nCSeq: 1 OPTIONS\\r\\nl: 0\\r\\n\\r\\n")
    >>> req.method, str(req.uri), req.top_via.branch, req.get("via") == req.get("v")
    ('OPTIONS', 'sip:bob@example.com', 'z9', True)
    """

    __slots__ = ("_method", "_uri", "_version")

    #: the method, as written (RFC 3261 §7.1)
    method: str = property(attrgetter("_method"))  # type: ignore[assignment]
    version: str = property(attrgetter("_version"))  # type: ignore[assignment]

    def __init__(
        self,
        method: str,
        uri: URI | str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        defects: Iterable[str] = (),
        *,
        version: str = SIP_VERSION,
        strict: bool = True,
        _index: Index | None = None,
        _cache: dict[str, Any] | None = None,
    ) -> None:
        self._fill(headers, body, defects, strict, _index, _cache)
        self._method = method
        self._uri = uri
        self._version = version

    @property
    def uri(self) -> URI:
        """The Request-URI (RFC 3261 §7.1, §19.1)."""
        uri = self._uri
        if isinstance(uri, str):
            uri = parse_uri(uri)
            self._uri = uri
        return uri

    @property
    def start_line(self) -> str:
        return f"{self._method} {self._uri} {self._version}"

    def prime(self) -> None:
        """`Message.prime`, then the Request-URI."""
        Message.prime(self)
        if isinstance(self._uri, str):
            self._uri = parse_uri(self._uri)

    def _copy(self, headers: Iterable[tuple[str, str]], body: bytes | None = None,
              cache: dict[str, Any] | None = None, index: Index | None = None) -> Request:
        return Request(self._method, self._uri, headers, self._body if body is None else body,
                       version=self._version, strict=self._strict, _index=index, _cache=cache)

    def with_uri(self, uri: URI | str) -> Request:
        """A copy with a new Request-URI (RFC 3261 §16.6 step 2); the headers, and what was
        parsed from them, are shared."""
        return Request(self._method, uri, self._headers, self._body, version=self._version,
                       strict=self._strict, _index=self._index, _cache=self._cache)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self._uri}>"


class Response(Message):
    """A SIP response (RFC 3261 §7.2)."""

    __slots__ = ("_status", "_reason", "_version")

    #: the status code (RFC 3261 §7.2)
    status: int = property(attrgetter("_status"))  # type: ignore[assignment]
    #: the reason phrase
    reason: str = property(attrgetter("_reason"))  # type: ignore[assignment]
    version: str = property(attrgetter("_version"))  # type: ignore[assignment]

    def __init__(
        self,
        status: int,
        reason: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        defects: Iterable[str] = (),
        *,
        version: str = SIP_VERSION,
        strict: bool = True,
        _index: Index | None = None,
        _cache: dict[str, Any] | None = None,
    ) -> None:
        self._fill(headers, body, defects, strict, _index, _cache)
        self._status = status
        self._reason = reason
        self._version = version

    @property
    def start_line(self) -> str:
        return f"{self._version} {self._status} {self._reason}"

    def _copy(self, headers: Iterable[tuple[str, str]], body: bytes | None = None,
              cache: dict[str, Any] | None = None, index: Index | None = None) -> Response:
        return Response(self._status, self._reason, headers,
                        self._body if body is None else body, version=self._version,
                        strict=self._strict, _index=index, _cache=cache)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


