"""Calls seen through a proxy in a capture, as `pushinject.core.summary.CallSummary` values.

This is a view of the one call model, `pushinject.conformance.calls.CallRecord` (the checker's
and the replay's): the decoded messages are parsed as the checker parses them
(`pushinject.conformance.capture.to_wire`; a message it cannot read is left out), the proxy is
the one given or the one `pushinject.conformance.proxy_detect.find_proxy` recognises by what it
does (RFC 3261 §16.6 step 8: it sends the INVITE on with its own Via on top), and each
INVITE server transaction of the proxy becomes one `CallSummary` (`CallRecord.summary`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pushinject.core.summary import CallSummary

__all__ = ["calls"]


def calls(messages: Iterable[Any], origin: float = 0.0, *,
          proxy: tuple[str, int] | None = None) -> list[CallSummary]:
    """One `CallSummary` per INVITE server transaction of a proxy, in order of arrival.

    `messages` are decoded messages (`pushinject.capture.DecodedMessage`); `proxy` is the
    proxy's (host, port), found from the messages when not given. Times are capture timestamps
    minus `origin` (pass the first message's time to get seconds since the start of the
    capture).
    """
    from pushinject.conformance.calls import find_calls
    from pushinject.conformance.capture import to_wire
    from pushinject.conformance.proxy_detect import find_proxy

    wires = [w for w in map(to_wire, messages) if w is not None]
    here = proxy or find_proxy(wires)
    if here is None:
        return []
    return [record.summary(origin) for record in find_calls(wires, here)]
