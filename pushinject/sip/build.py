"""Building requests and responses (RFC 3261 §8.1.1, §8.2.6) and reason phrases (§21)."""

from __future__ import annotations

from collections.abc import Iterable

from pushinject.sip.message import _GOOD_NAMES, Index, Request, Response, _index_of, checked_header
from pushinject.sip.uri import URI
from pushinject.sip.values import NameAddr, Via

__all__ = ["REASON_PHRASES", "reason_phrase", "make_request", "make_response"]

#: RFC 3261 §21 plus later registrations pushinject meets (RFC 3262, 4028, 6665, 8599 ...)
REASON_PHRASES: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated",
    200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    422: "Session Interval Too Small", 423: "Interval Too Brief",
    429: "Provide Referrer Identity", 430: "Flow Failed", 439: "First Hop Lacks Outbound Support",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 555: "Push Notification Service Not Supported",
    580: "Precondition Failure",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

_CLASS_PHRASES = {1: "Provisional", 2: "Success", 3: "Redirection", 4: "Client Error",
                  5: "Server Error", 6: "Global Failure"}


def reason_phrase(status: int) -> str:
    """The usual reason phrase of a status code (RFC 3261 §21; RFC 8599 §14 for 555).

    >>> reason_phrase(180), reason_phrase(555), reason_phrase(499)
    ('Ringing', 'Push Notification Service Not Supported', 'Client Error')
    """
    return REASON_PHRASES.get(status) or _CLASS_PHRASES.get(status // 100, "Unknown")


def make_request(
    method: str,
    uri: URI | str,
    *,
    via: Via | str,
    from_: NameAddr | str,
    to: NameAddr | str,
    call_id: str,
    cseq: int,
    contact: NameAddr | str | None = None,
    max_forwards: int | None = 70,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """A request with the header set RFC 3261 §8.1.1 requires. §8.1.1 names the set, not an
    order (headers of different names may come in any order, §7.3.1, which only recommends
    putting those a proxy needs, such as Via and Max-Forwards, near the top): the order below
    is this builder's own.

    >>> req = make_request("OPTIONS", "sip:bob@example.com", via="SIP/2.0/UDP h;branch=z9hG4bK1",
    ...                    from_="<sip:a@example.com>;tag=1", to="<sip:bob@example.com>",
    ...                    call_id="c1", cseq=1)
    >>> print(bytes(req).decode().replace("\\r", ""))
    OPTIONS sip:bob@example.com SIP/2.0
    Via: SIP/2.0/UDP h;branch=z9hG4bK1
    Max-Forwards: 70
    From: <sip:a@example.com>;tag=1
    To: <sip:bob@example.com>
    Call-ID: c1
    CSeq: 1 OPTIONS
    Content-Length: 0
    <BLANKLINE>
    <BLANKLINE>
    """
    headers = [("Via", str(via))]
    if max_forwards is not None:
        headers.append(("Max-Forwards", str(max_forwards)))
    # the header index is written as the lines are placed (the keys of these are known)
    at = len(headers)
    index: Index = {"via": 0, "from": at, "to": at + 1, "call-id": at + 2, "cseq": at + 3}
    if at == 2:
        index["max-forwards"] = 1
    headers += [("From", str(from_)), ("To", str(to)), ("Call-ID", call_id),
                ("CSeq", f"{cseq} {method}")]
    if contact is not None:
        index["contact"] = at + 4
        headers.append(("Contact", str(contact)))
    start = len(headers)
    headers += [(n, v) for n, v in extra]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    headers.append(("Content-Length", str(len(body))))
    _check_lines(headers)
    if len(headers) == start + 1:  # Content-Length alone follows the lines above
        index["content-length"] = start
    else:
        _index_of(headers, index, start)
    return Request(method, uri, tuple(headers), body, _index=index)


def _check_lines(headers: list[tuple[str, str]]) -> None:
    """`checked_header` on each line; names already found to be tokens are not matched again."""
    for name, value in headers:
        if name not in _GOOD_NAMES or "\r" in value or "\n" in value:
            checked_header(name, value)


_NO_BODY = ("Content-Length", "0")
#: the lines a response copies after the Via values (RFC 3261 §8.2.6.2): (lookup key, name)
_COPIED = (("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq"))


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """A response to `request` (RFC 3261 §8.2.6): Via (all values, in order), From, To,
    Call-ID and CSeq are copied; Timestamp too for 100 (§8.2.6.1). When the status is above
    100 and To has no tag, `to_tag` (if given) is added to To (§8.2.6.2).

    >>> req = make_request("INVITE", "sip:bob@example.com", via="SIP/2.0/UDP h;branch=z9hG4bK1",
    ...                    from_="<sip:a@example.com>;tag=1", to="<sip:bob@example.com>",
    ...                    call_id="c1", cseq=1)
    >>> resp = make_response(req, 180, to_tag="b1")
    >>> resp.status, resp.reason, resp.to.tag, resp.cseq.method, resp.top_via.branch
    (180, 'Ringing', 'b1', 'INVITE', 'z9hG4bK1')
    """
    # the request's lines are shared, not copied, where they are written as the response
    # writes them (they are immutable); the response's header index is written as its lines
    # are placed
    lines = request._headers
    index = request._header_index()
    vias = index.get("via")
    own: Index
    if vias is None:
        headers: list[tuple[str, str]] = []
        own = {}
    elif isinstance(vias, int):
        headers = [lines[vias]]
        own = {"via": 0}
    else:
        headers = [lines[i] for i in vias]
        own = {"via": list(range(len(vias)))}
    tagged = status > 100 and to_tag is not None and request.to.tag is None
    if index.get("call-id") is None:
        _ = request.call_id  # raises SIPParseError
    for key, name in _COPIED:
        own[key] = len(headers)
        positions = index.get(key)
        if positions is None:
            headers.append((name, ""))
        else:
            line = lines[positions if isinstance(positions, int) else positions[0]]
            headers.append(line if line[0] == name else (name, line[1]))
    if tagged:
        headers[-3] = ("To", f"{headers[-3][1]};tag={to_tag}")
    start = len(headers)
    if status == 100:
        timestamp = request.get("Timestamp")
        if timestamp is not None:
            headers.append(("Timestamp", timestamp))
    headers += extra
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    if len(headers) == start:  # Content-Length alone follows, as in most responses
        own["content-length"] = start
        headers.append(_NO_BODY if not body else ("Content-Length", str(len(body))))
    else:
        headers.append(_NO_BODY if not body else ("Content-Length", str(len(body))))
        _index_of(headers, own, start)
    _check_lines(headers)
    return Response(status, reason if reason is not None else reason_phrase(status),
                    tuple(headers), body, _index=own)
