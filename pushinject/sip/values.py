"""Typed header values: Via, name-addr (From/To/Route/...), Contact, CSeq, and numeric headers.

Each `parse_*` function takes one header value (one comma-separated element for list headers)
after line folding is undone, and raises `SIPParseError` when it breaks the RFC 3261 §25 grammar.
With `strict=False` the name-addr parser also accepts the common deviations RFC 4475 §3.1.2
shows (unquoted display names with separators, blanks inside angle brackets, unbracketed URIs
with `?`), so a capture analyser still sees the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pushinject.sip.abnf import (
    CALLID, DIGITS, GEN_VALUE, HOST, LWS1, METHOD, PARAMS, PORT, PORT16, QUOTED_STRING,
    RFC1123_DATE, TOKEN, WS,
)
from pushinject.sip.errors import SIPParseError
from pushinject.sip.memo import Memo
from pushinject.sip.uri import URI, URI_PATTERN, check_uri, parse_uri

__all__ = [
    "Via", "NameAddr", "Contact", "CSeq", "parse_via", "parse_name_addr", "parse_contact",
    "parse_cseq", "parse_int", "parse_callid", "parse_date", "parse_media_type", "parse_token",
    "MAX_DELTA_SECONDS", "MAX_CSEQ", "check_via", "check_name_addr", "check_contact",
    "check_cseq", "Reason", "parse_reason", "FeatureCap", "parse_feature_cap",
]

#: RFC 3261 §8.1.1.5: a CSeq number must be below 2**31
MAX_CSEQ = 2**31 - 1
#: RFC 3261 §25.1 delta-seconds, bounded to 32 bits as RFC 4475 §3.1.2.4 expects
MAX_DELTA_SECONDS = 2**32 - 1

_PARAM_RE = re.compile(rf"{WS};{WS}({TOKEN})(?:{WS}={WS}({GEN_VALUE}))?")
_VIA_RE = re.compile(
    rf"({TOKEN}){WS}/{WS}({TOKEN}){WS}/{WS}({TOKEN}){LWS1}({HOST})(?:{WS}:{WS}({PORT16}))?"
    rf"({PARAMS}){WS}"
)
_NAME_ADDR_RE = re.compile(
    rf"(?:({QUOTED_STRING})|({TOKEN}(?:{LWS1}{TOKEN})*))?{WS}<([^<>\s]+)>({PARAMS}){WS}"
)
_ADDR_SPEC_RE = re.compile(rf"([^;,?<>\"\s]+)({PARAMS}){WS}")
#: name-addr with the URI grammar inlined, to check a value with one match; its groups are
#: those of `_NAME_ADDR_RE` (quoted display name, token display name, URI, parameters)
_CHECK_NAME_ADDR_RE = re.compile(
    rf"(?:({QUOTED_STRING})|({TOKEN}(?:{LWS1}{TOKEN})*))?{WS}<({URI_PATTERN})>({PARAMS}){WS}"
)
_CSEQ_RE = re.compile(rf"({DIGITS}){LWS1}({METHOD})")
_CALLID_RE = re.compile(CALLID)
_DATE_RE = re.compile(RFC1123_DATE)
_MEDIA_RE = re.compile(rf"{TOKEN}{WS}/{WS}{TOKEN}{PARAMS}{WS}")
_TOKEN_RE = re.compile(TOKEN)
_QVALUE_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
_UNESCAPE_RE = re.compile(r"\\(.)", re.S)


def _params(text: str) -> dict[str, str | None]:
    """`;name=value` pairs as a dict with lower-case names (names are case-insensitive, §20)."""
    params: dict[str, str | None] = {}
    if text:
        for name, value in _PARAM_RE.findall(text):  # a value is never empty: "" means none
            params.setdefault(name.lower(), value or None)
    return params


def _matched_params(text: str) -> dict[str, str | None]:
    """`_params` of a text that matched `PARAMS`: without quoted strings and blanks, which
    alone can hold `;` or `=` or surround them, it is cut at `;` and `=` without the grammar."""
    params: dict[str, str | None] = {}
    if not text:
        return params
    if '"' in text or " " in text or "\t" in text:
        return _params(text)
    for item in text.split(";")[1:]:
        name, _, value = item.partition("=")
        params.setdefault(name.lower(), value or None)
    return params


def _int_param(params: dict[str, str | None], name: str) -> int | None:
    value = params.get(name)
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


def _frozen(params: dict[str, str | None]) -> frozenset[tuple[str, str | None]]:
    return frozenset(params.items())


def _params_text(params: dict[str, str | None]) -> str:
    if not params:
        return ""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _fail(kind: str, value: str) -> SIPParseError:
    return SIPParseError(f"malformed {kind} value {value!r}")


@dataclass(frozen=True, init=False)
class Via:
    """One Via value (RFC 3261 §20.42): sent-protocol, sent-by and parameters.

    >>> v = parse_via("SIP/2.0/udp 192.0.2.1:5060;branch=z9hG4bK1;rport")
    >>> v.transport, v.host, v.port, v.branch, v.rport, v.received
    ('UDP', '192.0.2.1', 5060, 'z9hG4bK1', '', None)
    >>> str(v)
    'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport'
    """

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    def __init__(self, transport: str, host: str, port: int | None = None,
                 params: dict[str, str | None] | None = None, protocol: str = "SIP/2.0") -> None:
        # the fields go straight into the instance dict: the __init__ a frozen dataclass
        # generates sets each through object.__setattr__, which takes twice as long
        fields = self.__dict__
        fields["transport"] = transport
        fields["host"] = host
        fields["port"] = port
        fields["params"] = {} if params is None else params
        fields["protocol"] = protocol

    def _param(self, name: str) -> str | None:
        return self.params.get(name)

    @property
    def branch(self) -> str | None:
        """The branch parameter (RFC 3261 §8.1.1.7)."""
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The received parameter a server adds (RFC 3261 §18.2.1)."""
        return self._param("received")

    @property
    def rport(self) -> str | None:
        """None when absent, "" when present without value, else the port (RFC 3581 §3)."""
        if "rport" not in self.params:
            return None
        return self.params["rport"] or ""

    @property
    def maddr(self) -> str | None:
        return self._param("maddr")

    @property
    def ttl(self) -> str | None:
        return self._param("ttl")

    @property
    def sent_by(self) -> str:
        """host[:port] as written (RFC 3261 §20.42)."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{_params_text(self.params)}"

    def __hash__(self) -> int:
        return hash((self.transport, self.host, self.port, _frozen(self.params), self.protocol))


def check_via(value: str) -> None:
    """Check one via-parm against its grammar (RFC 3261 §20.42). The match that checks it
    also gives its parts, so the Via is built and kept in the table of parsed Vias: the
    proxy and the checker read nearly every Via they receive."""
    parse_via(value)


_LENIENT_VIA_RE = re.compile(
    rf"({TOKEN}){WS}/{WS}({TOKEN}){WS}/{WS}({TOKEN}){LWS1}({HOST})(?:{WS}:{WS}({PORT}))?(.*)",
    re.S)


#: Via values that follow the grammar, by their text (bounded; see `pushinject.sip.memo`; as
#: many as the parser's table of known header lines holds, so that a known Via line's value is
#: found parsed)
_VIAS: Memo[Via] = Memo(4096)


def parse_via(value: str, strict: bool = True) -> Via:
    """Parse one via-parm (RFC 3261 §20.42, §25.1), blanks allowed around `/ : ; =`.

    With `strict=False`, parameters that break the grammar (e.g. `;;`) are skipped.
    """
    via = _VIAS.get(value)
    if via is not None:
        return via
    m = _VIA_RE.fullmatch(value)
    if m is None:
        if strict or (m := _LENIENT_VIA_RE.fullmatch(value.strip())) is None:
            raise _fail("Via", value)
    name, version, transport, host, port, params = m.groups()
    protocol = "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name.upper()}/{version}"
    if m.re is not _VIA_RE:  # lenient: the parameters are not known to follow the grammar
        return Via(transport.upper(), host, None if port is None else int(port),
                   _params(params), protocol)
    via = Via(transport.upper(), host, None if port is None else int(port),
              _matched_params(params) if params else {}, protocol)
    return _VIAS.remember(value, via)  # what strict parsing gives too


def _unquote(quoted: str) -> str:
    return _UNESCAPE_RE.sub(r"\1", quoted[1:-1])


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, init=False)
class NameAddr:
    """A name-addr or addr-spec with header parameters (From, To, Route, ... RFC 3261 §20.10).

    `display_name` is the text without quotes or escapes; `str()` always writes the URI in
    angle brackets, which is valid for every URI.

    >>> na = parse_name_addr('"Alice \\\\"A\\\\"" <sip:alice@example.com>;tag=1')
    >>> na.display_name, str(na.uri), na.tag
    ('Alice "A"', 'sip:alice@example.com', '1')
    >>> str(na)
    '"Alice \\\\"A\\\\"" <sip:alice@example.com>;tag=1'
    """

    display_name: str | None
    uri: URI
    params: dict[str, str | None] = field(default_factory=dict)

    def __init__(self, display_name: str | None, uri: URI,
                 params: dict[str, str | None] | None = None) -> None:
        fields = self.__dict__  # see `Via.__init__`
        fields["display_name"] = display_name
        fields["uri"] = uri
        fields["params"] = {} if params is None else params

    @property
    def tag(self) -> str | None:
        """The tag parameter (RFC 3261 §19.3)."""
        return self.params.get("tag")

    def with_params(self, **params: str | None) -> NameAddr:
        """A copy with header parameters set (underscores read as dashes)."""
        merged = dict(self.params)
        merged.update({k.replace("_", "-").lower(): v for k, v in params.items()})
        return type(self)(self.display_name, self.uri, merged)

    def __str__(self) -> str:
        name = "" if self.display_name is None else _quote(self.display_name) + " "
        return f"{name}<{self.uri}>{_params_text(self.params)}"

    def __hash__(self) -> int:
        return hash((self.display_name, self.uri, _frozen(self.params)))


_Parts = tuple[str | None, URI, dict[str, str | None]]


def _grammar_parts(value: str) -> _Parts | None:
    """The parts of a value that follows the name-addr / addr-spec grammar, else None (a URI
    that breaks its grammar raises `SIPParseError`, in both modes)."""
    m = _NAME_ADDR_RE.fullmatch(value)
    if m is not None:
        quoted, tokens, uri, params = m.groups()
        display = _unquote(quoted) if quoted is not None else tokens
        return display, parse_uri(uri), _matched_params(params) if params else {}
    if "<" not in value:
        m = _ADDR_SPEC_RE.fullmatch(value)
        if m is not None:
            return None, parse_uri(m.group(1)), _matched_params(m.group(2))
    return None


def _lenient_name_addr(value: str) -> _Parts:
    """Recover what RFC 4475 §3.1.2 deviations still say: text before `<` is the name."""
    start, end = value.find("<"), value.rfind(">")
    if 0 <= start < end:
        name = value[:start].strip().strip('"').strip() or None
        uri, rest = "".join(value[start + 1 : end].split()), value[end + 1 :]
    else:
        uri, _, rest = value.strip().partition(";")
        name, rest = None, ";" + rest if rest else ""
    try:
        return name, parse_uri(uri), _params(rest)
    except SIPParseError:
        raise _fail("name-addr", value) from None


def _built(m: re.Match[str]) -> _Parts | None:
    """The parts of a name-addr from the match that checked it (`_CHECK_NAME_ADDR_RE`), as
    `_grammar_parts` gives them, or None if its URI does not parse (not expected: the match
    checked it)."""
    quoted, tokens, uri, params = m.groups()
    try:
        parsed = parse_uri(uri)
    except SIPParseError:  # pragma: no cover - the URI matched its grammar
        return None
    return (_unquote(quoted) if quoted is not None else tokens, parsed,
            _matched_params(params) if params else {})


def check_name_addr(value: str) -> str:
    """Check a name-addr / addr-spec strictly; returns its parameters. A name-addr in angle
    brackets is built by the match that checks it and kept in the table of parsed name-addrs
    (its reader comes next: From, To, Route, Path are read of nearly every message)."""
    m = _CHECK_NAME_ADDR_RE.fullmatch(value)
    if m is not None:
        if value not in _NAME_ADDRS and (parts := _built(m)) is not None:
            _NAME_ADDRS.remember(value, NameAddr(*parts))
        return m.group(4)
    return _check_addr_spec(value)


def _check_addr_spec(value: str) -> str:
    """`check_name_addr` of a value that is no name-addr in angle brackets."""
    if "<" not in value:
        m = _ADDR_SPEC_RE.fullmatch(value)
        if m is not None:
            check_uri(m.group(1))
            return m.group(2)
    raise _fail("name-addr", value)


#: name-addr values parsed under strict rules, by their text (bounded; `pushinject.sip.memo`)
_NAME_ADDRS: Memo[NameAddr] = Memo(4096)


def parse_name_addr(value: str, strict: bool = True) -> NameAddr:
    """Parse `[display-name] <URI> *(;param)` or `addr-spec *(;param)` (RFC 3261 §20.10).

    A value that follows the grammar gives the same in both modes, so it is kept for both;
    what only lenient parsing recovers is never kept.
    """
    name_addr = _NAME_ADDRS.get(value)
    if name_addr is None:
        parts = _grammar_parts(value)
        if parts is not None:
            return _NAME_ADDRS.remember(value, NameAddr(*parts))
        if strict:
            raise _fail("name-addr", value)
        name_addr = NameAddr(*_lenient_name_addr(value))
    return name_addr


@dataclass(frozen=True, init=False)
class Contact(NameAddr):
    """One Contact value (RFC 3261 §20.10) with registration and RFC 8599 push accessors.

    >>> c = parse_contact('<sip:b@192.0.2.1;pn-provider=apns;pn-prid=ab12>;expires=60;q=0.5;'
    ...                   '+sip.instance="<urn:uuid:1>";reg-id=1')
    >>> c.expires, c.q, c.instance, c.reg_id, c.pn_provider, c.pn_prid, c.pn_param
    (60, 0.5, 'urn:uuid:1', 1, 'apns', 'ab12', None)
    >>> parse_contact("*").star
    True
    """

    #: None only in the star Contact `*` (RFC 3261 §10.2.2), which has no URI: wider than
    #: `NameAddr.uri`, which every other name-addr has
    uri: URI | None  # type: ignore[assignment]
    star: bool = False

    def __init__(self, display_name: str | None, uri: URI | None,
                 params: dict[str, str | None] | None = None, star: bool = False) -> None:
        fields = self.__dict__  # see `Via.__init__`
        fields["display_name"] = display_name
        fields["uri"] = uri
        fields["params"] = {} if params is None else params
        fields["star"] = star

    @property
    def expires(self) -> int | None:
        """The expires parameter in seconds (RFC 3261 §10.2.1.1)."""
        return _int_param(self.params, "expires")

    @property
    def q(self) -> float | None:
        """The q parameter, 0 to 1 (RFC 3261 §20.10)."""
        value = self.params.get("q")
        try:
            return None if value is None else float(value)
        except ValueError:
            return None

    @property
    def instance(self) -> str | None:
        """`+sip.instance` without quotes and angle brackets (RFC 5626 §4.1)."""
        value = self.params.get("+sip.instance")
        if value is None:
            return None
        return value.strip('"').strip("<>")

    @property
    def reg_id(self) -> int | None:
        """The reg-id parameter (RFC 5626 §4.2)."""
        return _int_param(self.params, "reg-id")

    def _uri_param(self, name: str) -> str | None:
        return self.uri.params.get(name) if self.uri is not None else None

    @property
    def pn_provider(self) -> str | None:
        """RFC 8599 §4.1.1 pn-provider URI parameter ("" when present without value)."""
        if self.uri is None or "pn-provider" not in self.uri.params:
            return None
        return self.uri.params["pn-provider"] or ""

    @property
    def pn_prid(self) -> str | None:
        """RFC 8599 §4.1.1 pn-prid: the push resource id."""
        return self._uri_param("pn-prid")

    @property
    def pn_param(self) -> str | None:
        """RFC 8599 §4.1.1 pn-param: provider-specific parameter."""
        return self._uri_param("pn-param")

    @property
    def pn_purr(self) -> str | None:
        """RFC 8599 §6.1.1 pn-purr (grammar §8.7): the proxy's registration reference, copied
        by the UA into the Contact of a dialog-forming request."""
        return self._uri_param("pn-purr")

    def __str__(self) -> str:
        return "*" if self.star else NameAddr.__str__(self)

    def __hash__(self) -> int:
        return hash((self.display_name, self.uri, _frozen(self.params), self.star))


_STAR = Contact(None, None, {}, True)


def _check_contact_params(params: dict[str, str | None]) -> None:
    expires = params.get("expires")
    if expires is not None and not (expires.isdigit() and int(expires) <= MAX_DELTA_SECONDS):
        raise SIPParseError(f"Contact expires out of range: {expires!r}")
    q = params.get("q")
    if q is not None and _QVALUE_RE.fullmatch(q) is None:
        raise SIPParseError(f"Contact q is not a qvalue: {q!r}")


#: the Contact parameters whose values have a range to check
_RANGED_PARAM_RE = re.compile(r";[ \t]*(?:expires|q)[ \t]*=", re.I)


def check_contact(value: str) -> None:
    """Check one Contact value strictly (RFC 3261 §20.10). A name-addr in angle brackets is
    built by the match that checks it and kept in the table of parsed Contacts."""
    if value == "*":
        return
    m = _CHECK_NAME_ADDR_RE.fullmatch(value)
    params = m.group(4) if m is not None else _check_addr_spec(value)
    if params and _RANGED_PARAM_RE.search(params):
        _check_contact_params(_matched_params(params))
    if m is not None and value not in _CONTACTS and (parts := _built(m)) is not None:
        _CONTACTS.remember(value, Contact(*parts))


#: Contact values parsed under strict rules, by their text (bounded; `pushinject.sip.memo`)
_CONTACTS: Memo[Contact] = Memo(4096)


def parse_contact(value: str, strict: bool = True) -> Contact:
    """Parse one Contact value or `*` (RFC 3261 §20.10); checks expires and q ranges."""
    contact = _CONTACTS.get(value)
    if contact is not None:
        return contact
    if "*" in value and value.strip() == "*":
        return _STAR
    parts = _grammar_parts(value)
    if parts is None:
        if strict:
            raise _fail("name-addr", value)
        return Contact(*_lenient_name_addr(value))
    contact = Contact(*parts)
    try:
        _check_contact_params(contact.params)
    except SIPParseError:
        if strict:
            raise
        return contact  # lenient parsing keeps it, strict parsing refuses it: not kept
    return _CONTACTS.remember(value, contact)  # what both modes give for this value


@dataclass(frozen=True, init=False)
class CSeq:
    """CSeq (RFC 3261 §20.16): a number below 2**31 and the request method.

    >>> parse_cseq("0009  INVITE")
    CSeq(number=9, method='INVITE')
    >>> str(CSeq(1, "ACK"))
    '1 ACK'
    """

    number: int
    method: str

    def __init__(self, number: int, method: str) -> None:
        fields = self.__dict__  # see `Via.__init__`
        fields["number"] = number
        fields["method"] = method

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


#: CSeq values by their text (bounded; see `pushinject.sip.memo`)
_CSEQS: Memo[CSeq] = Memo(256)


def check_cseq(value: str) -> tuple[int, str]:
    """Check `1*DIGIT LWS Method` (RFC 3261 §20.16, §8.1.1.5); returns (number, method)."""
    known = _CSEQS.get(value)
    if known is not None:
        return known.number, known.method
    m = _CSEQ_RE.fullmatch(value)
    if m is None:
        raise _fail("CSeq", value)
    number = int(m.group(1))
    if number > MAX_CSEQ:
        raise SIPParseError(f"CSeq number {m.group(1)} is not below 2**31")
    return number, m.group(2)


def parse_cseq(value: str) -> CSeq:
    """Parse `1*DIGIT LWS Method` (RFC 3261 §20.16, §8.1.1.5)."""
    cseq = _CSEQS.get(value)
    if cseq is None:
        cseq = _CSEQS.remember(value, CSeq(*check_cseq(value)))
    return cseq


@dataclass(frozen=True, init=False)
class Reason:
    """One Reason value (RFC 3326 §2): protocol, cause and text.

    >>> r = parse_reason('SIP ;cause=200 ;text="Call completed elsewhere"')
    >>> r.protocol, r.cause, r.text
    ('SIP', 200, 'Call completed elsewhere')
    """

    protocol: str
    params: dict[str, str | None] = field(default_factory=dict)

    def __init__(self, protocol: str, params: dict[str, str | None] | None = None) -> None:
        fields = self.__dict__  # see `Via.__init__`
        fields["protocol"] = protocol
        fields["params"] = {} if params is None else params

    @property
    def cause(self) -> int | None:
        return _int_param(self.params, "cause")

    @property
    def text(self) -> str | None:
        value = self.params.get("text")
        return _unquote(value) if value is not None and value.startswith('"') else value

    def __str__(self) -> str:
        return f"{self.protocol}{_params_text(self.params)}"

    def __hash__(self) -> int:
        return hash((self.protocol, _frozen(self.params)))


_REASON_RE = re.compile(rf"({TOKEN})({PARAMS}){WS}")


def parse_reason(value: str) -> Reason:
    """Parse `protocol *(SEMI reason-params)` (RFC 3326 §2)."""
    m = _REASON_RE.fullmatch(value)
    if m is None:
        raise _fail("Reason", value)
    return Reason(m.group(1), _matched_params(m.group(2)))


@dataclass(frozen=True, init=False)
class FeatureCap:
    """One Feature-Caps value (RFC 6809 §6): `*` and feature parameters.

    RFC 8599 defines `+sip.pns` (§8.2; a proxy advertises it, §5.4), `+sip.vapid` (§8.3),
    `+sip.pnsreg` (§8.4; §5.5) and `+sip.pnspurr` (§8.6; returned in a REGISTER 2xx, §6.2.1);
    `get` returns a parameter's value without its quotes.

    >>> fc = parse_feature_cap('*;+sip.pns="apns";+sip.pnspurr="x1"')
    >>> fc.get("+sip.pns"), fc.get("+sip.pnspurr"), fc.get("+sip.vapid")
    ('apns', 'x1', None)
    """

    params: dict[str, str | None] = field(default_factory=dict)

    def __init__(self, params: dict[str, str | None] | None = None) -> None:
        self.__dict__["params"] = {} if params is None else params  # see `Via.__init__`

    def get(self, name: str) -> str | None:
        value = self.params.get(name.lower())
        return _unquote(value) if value is not None and value.startswith('"') else value

    def __str__(self) -> str:
        return "*" + _params_text(self.params)

    def __hash__(self) -> int:
        return hash(_frozen(self.params))


_FEATURE_CAP_RE = re.compile(rf"\*{WS}({PARAMS}){WS}")


def parse_feature_cap(value: str) -> FeatureCap:
    """Parse `"*" *(SEMI feature-param)` (RFC 6809 §6)."""
    m = _FEATURE_CAP_RE.fullmatch(value)
    if m is None:
        raise _fail("Feature-Caps", value)
    return FeatureCap(_matched_params(m.group(1)))


def parse_int(value: str, limit: int, kind: str) -> int:
    """A `1*DIGIT` value no larger than `limit` (Max-Forwards 255, delta-seconds 2**32-1).

    >>> parse_int("0068", 255, "Max-Forwards")
    68
    """
    if not value.isdigit() or not value.isascii():
        raise _fail(kind, value)
    number = int(value)
    if number > limit:
        raise SIPParseError(f"{kind} value {value} is above {limit}")
    return number


def _checker(regex: re.Pattern[str], kind: str, doc: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if regex.fullmatch(value) is None:
            raise _fail(kind, value)
        return value

    check.__doc__ = doc
    check.__name__ = check.__qualname__ = f"parse_{kind.lower().replace('-', '_')}"
    return check


parse_callid = _checker(_CALLID_RE, "Call-ID", "Check `word [\"@\" word]` (RFC 3261 §20.8).")
parse_date = _checker(_DATE_RE, "Date", "Check an rfc1123-date in GMT (RFC 3261 §20.17).")
parse_media_type = _checker(_MEDIA_RE, "Content-Type",
                            "Check `type/subtype *(;param)` (RFC 3261 §20.15).")
parse_token = _checker(_TOKEN_RE, "token", "Check one option-tag or token (RFC 3261 §25.1).")
