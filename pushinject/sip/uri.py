"""SIP, SIPS and tel URIs: parsing, printing and RFC 3261 §19.1.4 equality.

Parts are kept as they appear on the wire (escapes included, e.g. `user == "cal%6Cer"`);
comparison undoes the escapes, as §19.1.4 asks. Parameter names are lower-cased (they are
case-insensitive, §19.1.4), their values keep their case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from urllib.parse import unquote
from typing import overload

from pushinject.sip.abnf import (
    HOST, PORT, URI_HEADERS, URI_PARAMS, URI_PATTERN, URI_PASSWORD, URI_USER,
)
from pushinject.sip.errors import SIPParseError
from pushinject.sip.memo import Memo

__all__ = ["URI", "SipURI", "TelURI", "AbsoluteURI", "parse_uri", "check_uri", "URI_PATTERN"]

#: SIP-URI / SIPS-URI (§19.1.1, §25.1)
_SIP_RE = re.compile(
    rf"(?:({URI_USER})(?::({URI_PASSWORD}))?@)?({HOST})(?::({PORT}))?({URI_PARAMS})"
    rf"(?:\?({URI_HEADERS}))?"
)
#: a whole sip: or sips: URI in one match (the scheme is what precedes the first colon)
_SIP_URI_RE = re.compile(rf"([Ss][Ii][Pp][Ss]?):{_SIP_RE.pattern}")
#: telephone-subscriber, loosely (RFC 3966 §3): digits and visual separators, then parameters
_TEL_RE = re.compile(r"(\+?[0-9A-Fa-f*#\-.()]+)((?:;[A-Za-z0-9\-]+(?:=[^;]+)?)*)")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):(.+)", re.S)
#: RFC 3261 §19.1.4: these parameters must match when present in either URI
_ALWAYS_COMPARED = ("user", "ttl", "method", "maddr", "transport")


@overload
def _unq(text: str) -> str: ...
@overload
def _unq(text: None) -> None: ...
@overload
def _unq(text: str | None) -> str | None: ...
def _unq(text: str | None) -> str | None:
    return None if text is None else unquote(text, errors="surrogateescape")


def _params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in text.split(";")[1:]:
        name, eq, value = item.partition("=")
        params.setdefault(name.lower(), value if eq else None)
    return params


def _params_text(params: dict[str, str | None]) -> str:
    if not params:
        return ""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


class URI:
    """Base of every URI; `scheme` is lower case; `params` its parameters (name -> value, None
    for a parameter without a value)."""

    scheme: str
    params: dict[str, str | None]

    def __init__(self) -> None:  # pragma: no cover - abstract
        raise TypeError("use parse_uri() or a subclass")


@dataclass(frozen=True, eq=False, init=False)
class SipURI(URI):
    """A sip: or sips: URI (RFC 3261 §19.1).

    >>> u = parse_uri("sip:bob:pw@[2001:db8::1]:5070;transport=TCP;lr?subject=hi")
    >>> u.user, u.password, u.host, u.port, u.params, u.headers
    ('bob', 'pw', '[2001:db8::1]', 5070, {'transport': 'TCP', 'lr': None}, {'subject': 'hi'})
    >>> str(u)
    'sip:bob:pw@[2001:db8::1]:5070;transport=TCP;lr?subject=hi'
    """

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    password: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __init__(self, scheme: str, user: str | None, host: str, port: int | None = None,
                 password: str | None = None, params: dict[str, str | None] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        # the fields go straight into the instance dict: the __init__ a frozen dataclass
        # generates sets each through object.__setattr__, which takes twice as long
        fields = self.__dict__
        fields["scheme"] = scheme
        fields["user"] = user
        fields["host"] = host
        fields["port"] = port
        fields["password"] = password
        fields["params"] = {} if params is None else params
        fields["headers"] = {} if headers is None else headers

    def __str__(self) -> str:
        text: str | None = self.__dict__.get("_str")
        if text is None:  # written once: the URI is immutable
            text = self._text()
            object.__setattr__(self, "_str", text)
        return text

    def _text(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out += (":", self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out += (":", str(self.port))
        out.append(_params_text(self.params))
        if self.headers:
            out += ("?", "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(out)

    def __repr__(self) -> str:
        return f"SipURI({str(self)!r})"

    def _key(self) -> tuple[object, ...]:
        return (self.scheme, _unq(self.user), _unq(self.password), self.host.lower(), self.port)

    def _headers_key(self) -> frozenset[tuple[str, str]]:
        return frozenset((_unq(k).lower(), _unq(v).lower()) for k, v in self.headers.items())

    def __eq__(self, other: object) -> bool:
        """RFC 3261 §19.1.4: userinfo case-sensitive, host case-insensitive, explicit port
        differs from none; user/ttl/method/maddr/transport must match when in either; other
        parameters only when in both; headers must all match; escapes are undone first."""
        if not isinstance(other, SipURI):
            return NotImplemented
        if self is other:
            return True
        if (self.scheme != other.scheme or self.port != other.port
                or self.host.lower() != other.host.lower()):
            return False  # parts of `_key` that need no unescaping
        if self._key() != other._key() or self._headers_key() != other._headers_key():
            return False
        for name in self.params.keys() | other.params.keys():
            if name not in self.params or name not in other.params:
                if name in _ALWAYS_COMPARED:
                    return False
                continue
            a, b = _unq(self.params[name]), _unq(other.params[name])
            if (a or "").lower() != (b or "").lower() or (a is None) != (b is None):
                return False
        return True

    def __hash__(self) -> int:
        compared = tuple(
            (n, (_unq(self.params[n]) or "").lower()) for n in _ALWAYS_COMPARED if n in self.params
        )
        return hash((self._key(), compared, self._headers_key()))

    def with_params(self, **params: str | None) -> SipURI:
        """A copy with the given URI parameters set (use `pn_prid="x"` for `pn-prid`)."""
        merged = dict(self.params)
        merged.update({k.replace("_", "-").lower(): v for k, v in params.items()})
        return replace(self, params=merged)

    def without_params(self, *names: str) -> SipURI:
        """A copy without the named URI parameters."""
        drop = {n.lower() for n in names}
        return replace(self, params={k: v for k, v in self.params.items() if k not in drop})


@dataclass(frozen=True, eq=False, init=False)
class TelURI(URI):
    """A tel: URI (RFC 3966); equality ignores visual separators and parameter order (§4).

    >>> parse_uri("tel:+1-201-555-0123;ext=7") == parse_uri("tel:+12015550123;EXT=7")
    True
    """

    scheme: str
    number: str
    params: dict[str, str | None] = field(default_factory=dict)
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __init__(self, scheme: str, number: str, params: dict[str, str | None] | None = None,
                 user: str | None = None, password: str | None = None, host: str = "",
                 port: int | None = None, headers: dict[str, str] | None = None) -> None:
        self.__dict__.update(  # see `SipURI.__init__`
            scheme=scheme, number=number, params={} if params is None else params, user=user,
            password=password, host=host, port=port, headers={} if headers is None else headers)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.number}{_params_text(self.params)}"

    def __repr__(self) -> str:
        return f"TelURI({str(self)!r})"

    def _key(self) -> tuple[object, ...]:
        digits = re.sub(r"[\-.()]", "", self.number).lower()
        params = frozenset((k, (v or "").lower()) for k, v in self.params.items())
        return (digits, params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TelURI):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True, eq=False, init=False)
class AbsoluteURI(URI):
    """Any other absoluteURI (RFC 3261 §25.1), kept opaque; equal when the text is equal."""

    scheme: str
    opaque: str
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __init__(self, scheme: str, opaque: str, user: str | None = None,
                 password: str | None = None, host: str = "", port: int | None = None,
                 params: dict[str, str | None] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.__dict__.update(  # see `SipURI.__init__`
            scheme=scheme, opaque=opaque, user=user, password=password, host=host, port=port,
            params={} if params is None else params, headers={} if headers is None else headers)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"

    def __repr__(self) -> str:
        return f"AbsoluteURI({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbsoluteURI):
            return NotImplemented
        return (self.scheme, self.opaque) == (other.scheme, other.opaque)

    def __hash__(self) -> int:
        return hash((self.scheme, self.opaque))


_OPAQUE_RE = re.compile(r"[^\s<>\"]+")


def _match(text: str) -> tuple[str, str, re.Match[str] | None]:
    """(scheme, rest, grammar match) of a URI; raises SIPParseError when it does not match."""
    m = _SCHEME_RE.fullmatch(text)
    if m is None:
        raise SIPParseError(f"not a URI: {text!r}")
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme in ("sip", "sips"):
        s = _SIP_RE.fullmatch(rest)
        if s is None or (s.group(4) is not None and int(s.group(4)) > 65535):
            raise SIPParseError(f"not a valid {scheme}: URI: {text!r}")
        return scheme, rest, s
    if scheme == "tel":
        t = _TEL_RE.fullmatch(rest)
        if t is None:
            raise SIPParseError(f"not a valid tel: URI: {text!r}")
        return scheme, rest, t
    if _OPAQUE_RE.fullmatch(rest) is None:
        raise SIPParseError(f"not a valid URI: {text!r}")
    return scheme, rest, None


_URI_RE = re.compile(URI_PATTERN)
#: what `check_uri` said of the URIs that passed it lately, by their text (bounded; see
#: `pushinject.sip.memo`; a URI that fails is never kept, so it fails as before)
_CHECKED: Memo[bool] = Memo(1024)


def check_uri(text: str) -> bool:
    """Check a URI against its grammar without building it; True when it has URI headers
    (which RFC 3261 §19.1.1 forbids in a Request-URI)."""
    known = _CHECKED.get(text)
    if known is not None:
        return known
    if _URI_RE.fullmatch(text) is None:
        _match(text)  # raises with the precise reason
        raise SIPParseError(f"not a valid URI: {text!r}")
    if "?" not in text or text[:3].lower() != "sip":
        return _CHECKED.remember(text, False)
    match = _match(text)[2]
    return _CHECKED.remember(text, match is not None and match.group(6) is not None)


#: URIs parsed lately, by their text (bounded; see `pushinject.sip.memo`)
_URIS: Memo[URI] = Memo(4096)


def parse_uri(text: str) -> URI:
    """Parse a sip:, sips:, tel: or other absolute URI (RFC 3261 §19.1, §25.1; RFC 3966).

    Raises `SIPParseError` when `text` is not a URI. The same text gives an equal URI, shared
    while the text stays in a table of at most 4096 (emptied when full).

    >>> parse_uri("sips:alice@example.com").scheme
    'sips'
    >>> parse_uri("urn:service:sos")
    AbsoluteURI('urn:service:sos')
    """
    uri = _URIS.get(text)
    if uri is not None:
        return uri
    s = _SIP_URI_RE.fullmatch(text)
    number: int | None = None
    if s is not None:
        scheme, user, password, host, port, params, headers = s.groups()
        if port is not None and (number := int(port)) > 65535:
            s = None
    if s is not None:
        scheme = scheme.lower()
    else:  # other schemes, and the precise reason a sip: URI is not valid
        scheme, rest, m = _match(text)
        if m is None:
            return _URIS.remember(text, AbsoluteURI(scheme, rest))
        if scheme == "tel":
            return _URIS.remember(text, TelURI(scheme, m.group(1), _params(m.group(2))))
        user, password, host, port, params, headers = m.groups()
        number = None if port is None else int(port)
    hdrs = dict(h.split("=", 1) for h in headers.split("&")) if headers else {}
    return _URIS.remember(text, SipURI(scheme, user, host, number, password,
                                       _params(params) if params else {}, hdrs))
