"""A message taken apart into plain data: start line, each header with its typed meaning, body.

Used by `pushinject parse` (text and JSON) and notebook 01. Values that do not parse (only
possible for leniently parsed messages) are described as `{"unparsed": reason}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pushinject.sip.errors import SIPParseError
from pushinject.sip.headers import COMMA_LISTS, header_key, split_commas
from pushinject.sip.message import Message, Request
from pushinject.sip.uri import URI
from pushinject.sip.values import (
    Contact, NameAddr, Via, parse_contact, parse_cseq, parse_feature_cap, parse_name_addr,
    parse_reason, parse_via,
)

__all__ = ["describe", "describe_uri", "describe_value", "format_description"]


def describe_uri(uri: URI) -> dict[str, Any]:
    """The parts of a URI that are set (RFC 3261 §19.1.1)."""
    parts: dict[str, Any] = {"uri": str(uri), "scheme": uri.scheme}
    for name in ("user", "password", "host", "port", "number", "opaque"):
        value = getattr(uri, name, None)
        if value not in (None, ""):
            parts[name] = value
    for name in ("params", "headers"):
        if getattr(uri, name):
            parts[name] = dict(getattr(uri, name))
    return parts


def _via(v: Via) -> dict[str, Any]:
    out: dict[str, Any] = {"transport": v.transport, "host": v.host, "port": v.port}
    for name in ("branch", "received", "rport", "maddr"):
        if getattr(v, name) is not None:
            out[name] = getattr(v, name)
    extra = {k: p for k, p in v.params.items()
             if k not in ("branch", "received", "rport", "maddr")}
    if extra:
        out["params"] = extra
    return out


def _name_addr(na: NameAddr) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if na.display_name is not None:
        out["display_name"] = na.display_name
    out["uri"] = describe_uri(na.uri)
    if na.params:
        out["params"] = dict(na.params)
    return out


def _contact(c: Contact) -> dict[str, Any]:
    if c.star:
        return {"star": True}
    out = _name_addr(c)
    for name in ("expires", "q", "instance", "reg_id", "pn_provider", "pn_prid", "pn_param",
                 "pn_purr"):
        value = getattr(c, name)
        if value is not None:
            out[name] = value
    return out


def _typed(key: str, strict: bool) -> Callable[[str], Any] | None:
    table: dict[str, Callable[[str], Any]] = {
        "via": lambda v: _via(parse_via(v, strict)),
        "contact": lambda v: _contact(parse_contact(v, strict)),
        "cseq": lambda v: (lambda c: {"number": c.number, "method": c.method})(parse_cseq(v)),
        "max-forwards": int, "expires": int, "content-length": int,
        "reason": lambda v: (lambda r: {"protocol": r.protocol, "cause": r.cause,
                                        "text": r.text})(parse_reason(v)),
        "feature-caps": lambda v: dict(parse_feature_cap(v).params),
    }
    if key in ("from", "to", "route", "record-route", "path"):
        return lambda v: _name_addr(parse_name_addr(v, strict))
    return table.get(key)


def describe_value(name: str, value: str, strict: bool = True) -> Any:
    """The typed meaning of one header line, or None for headers without one.

    List headers give a list (one entry per comma-separated value, RFC 3261 §7.3.1).

    >>> describe_value("v", "SIP/2.0/TCP h;branch=z9hG4bK1, SIP/2.0/UDP g:5060")
    [{'transport': 'TCP', 'host': 'h', 'port': None, 'branch': 'z9hG4bK1'}, \
{'transport': 'UDP', 'host': 'g', 'port': 5060}]
    >>> describe_value("CSeq", "4 BYE")
    {'number': 4, 'method': 'BYE'}
    """
    key = header_key(name)
    typed = _typed(key, strict)
    if key in COMMA_LISTS and typed is None:
        return [part for part in split_commas(value) if part] or None
    if typed is None:
        return None

    def one(text: str) -> Any:
        try:
            return typed(text)
        except (SIPParseError, ValueError) as exc:
            return {"unparsed": getattr(exc, "reason", str(exc))}

    if key in COMMA_LISTS:
        return [one(part) for part in split_commas(value)]
    return one(value)


def describe(msg: Message) -> dict[str, Any]:
    """Start line, headers (name, value, typed), body size and defects of a message."""
    out: dict[str, Any] = {}
    if isinstance(msg, Request):
        out["method"] = msg.method
        try:
            out["uri"] = describe_uri(msg.uri)
        except SIPParseError as exc:
            out["uri"] = {"unparsed": exc.reason}
    else:
        out["status"] = msg.status  # type: ignore[attr-defined]
        out["reason"] = msg.reason  # type: ignore[attr-defined]
    out["headers"] = [
        {"name": name, "value": value, "typed": describe_value(name, value, msg.strict)}
        for name, value in msg.headers
    ]
    out["body_size"] = len(msg.body)
    out["defects"] = msg.defects
    return out


def _inline(data: Any) -> str:
    if isinstance(data, dict):
        return " ".join(
            f"{k}=[{_inline(v)}]" if isinstance(v, (dict, list)) else f"{k}={v}"
            for k, v in data.items()
        )
    if isinstance(data, list):
        return ", ".join(_inline(v) for v in data)
    return str(data)


def format_description(desc: dict[str, Any]) -> list[str]:
    """Text lines for a `describe()` result: one per header, its typed meaning indented."""
    if "method" in desc:
        lines = [f"request {desc['method']} [{_inline(desc['uri'])}]"]
    else:
        lines = [f"response {desc['status']} {desc['reason']}"]
    for header in desc["headers"]:
        lines.append(f"  {header['name']}: {header['value']}")
        typed = header["typed"]
        if typed is None or str(typed) == header["value"]:
            continue
        if isinstance(typed, list) and not any(isinstance(t, dict) for t in typed):
            lines.append(f"      items: {' | '.join(map(str, typed))}")
            continue
        for item in typed if isinstance(typed, list) else [typed]:
            lines.append(f"      {_inline(item)}")
    lines.append(f"  body: {desc['body_size']} bytes")
    lines += [f"  defect: {d}" for d in desc["defects"]]
    return lines


