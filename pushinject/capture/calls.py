"""Calls seen through a proxy in a capture, as `pushinject.core.summary.CallSummary` values.

The proxy is recognised by what it does (RFC 3261 §16.6): it receives an INVITE and sends
INVITEs of the same Call-ID and CSeq whose second Via carries the branch of the INVITE it
received (step 8, it pushes its own Via on top). Each such forwarded INVITE is a branch, keyed by
its own top Via branch; its responses come back with that branch (§17.1.3), a CANCEL sent on it
carries it too (§9.1). A branch created after a REGISTER of the callee reached the proxy (during
the call) is marked injected: that is how a push-woken device gets its branch
(`t_inject_branches`, `ts_append`). Retransmissions are counted once. Pushes usually travel
outside SIP (HTTP/2 to APNs/FCM) and are not in captures; a push gateway reached with a SIP
MESSAGE that the proxy originates during the call (as in the capture lab) is counted as a push.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pushinject.core.summary import BranchSummary, CallSummary

__all__ = ["calls"]


def _user_host(uri: Any) -> tuple[str | None, str | None]:
    return getattr(uri, "user", None), getattr(uri, "host", None)


def _parsed(msg: Any) -> Any:
    """The parsed message, or None when even lenient parsing refuses it."""
    try:
        return msg.message
    except ValueError:
        return None


def calls(messages: Iterable[Any], origin: float = 0.0, *,
          proxy: tuple[str, int] | None = None) -> list[CallSummary]:
    """One `CallSummary` per INVITE server transaction of a proxy, in order of arrival.

    With `proxy` (host, port) given, every initial INVITE sent to that address is a call, even
    one the proxy never forwards (a push that nobody answers, a caller who cancels first);
    without it, the proxy is recognised by the INVITEs it forwards, or by the pushes it sends.
    Times are capture timestamps minus `origin` (pass the first message's time to get seconds
    since the start of the capture).
    """
    by_call: dict[str | None, list[Any]] = {}
    side: list[Any] = []  # REGISTERs (injection) and MESSAGEs (pushes): other Call-IDs
    invites = []
    for m in messages:
        f = m.fields
        by_call.setdefault(f.call_id, []).append(m)
        if f.method in ("REGISTER", "MESSAGE"):
            side.append(m)
        elif f.method == "INVITE" and f.to_tag is None and _parsed(m) is not None:
            invites.append(m)
    out: list[CallSummary] = []
    seen_branches: set[str | None] = set()
    for incoming in invites:
        key = incoming.fields.branch
        if key in seen_branches or (proxy is not None and incoming.destination != proxy):
            continue
        here = incoming.destination

        def is_proxy(address: tuple[str, int], here: tuple[str, int] = here) -> bool:
            return address == here if proxy is not None else address[0] == here[0]

        call = by_call[incoming.fields.call_id]
        forwarded: list[Any] = []
        for m in call:
            f = m.fields
            if (f.method != "INVITE" or f.to_tag is not None or not is_proxy(m.source)
                    or _parsed(m) is None):
                continue
            vias = m.message.vias
            if len(vias) > 1 and vias[1].branch == key and m.fields.branch not in (
                    b.fields.branch for b in forwarded):
                forwarded.append(m)
        summary = _summary(incoming, forwarded, call, side, origin, is_proxy)
        if not forwarded and not summary.pushes and proxy is None:
            continue
        seen_branches.add(key)
        seen_branches.update(m.fields.branch for m in forwarded)
        out.append(summary)
    return out


def _pushes(incoming: Any, msgs: list[Any], is_proxy: Any, until: float | None,
            origin: float, device: str) -> tuple[tuple[str, float], ...]:
    """MESSAGE requests the proxy originates while the INVITE is pending (a push gateway
    reached over SIP, as in the capture lab): one push each, for the called AoR."""
    pushes = []
    for m in msgs:
        if (m.fields.method == "MESSAGE" and is_proxy(m.source) and m.time >= incoming.time
                and (until is None or m.time <= until)):
            parsed = _parsed(m)
            if parsed is not None and len(parsed.vias) == 1:
                pushes.append((device, m.time - origin))
    return tuple(pushes)


def _summary(incoming: Any, forwarded: list[Any], msgs: list[Any], side: list[Any],
             origin: float, is_proxy: Any) -> CallSummary:
    """The summary of one call from its own messages (`msgs`, one Call-ID) and the REGISTERs
    and MESSAGEs of the capture (`side`)."""
    call_id = incoming.fields.call_id
    callee = incoming.message.uri
    registers = [m.time for m in side
                 if m.fields.method == "REGISTER" and is_proxy(m.destination)
                 and m.time >= incoming.time and _parsed(m) is not None
                 and _user_host(m.message.to.uri)[0] == _user_host(callee)[0]]
    branches = []
    for index, fwd in enumerate(forwarded):
        branch = fwd.fields.branch
        provisional: list[int] = []
        seen: set[tuple[int, str | None]] = set()
        final = final_at = cancelled_at = None
        for m in msgs:
            f = m.fields
            if f.branch != branch or f.call_id != call_id:
                continue
            if f.status is not None and f.cseq_method == "INVITE" and is_proxy(m.destination):
                mark = (f.status, f.to_tag)
                if mark in seen:
                    continue
                seen.add(mark)
                if f.status < 200:
                    provisional.append(f.status)
                elif final is None:
                    final, final_at = f.status, m.time - origin
            elif f.method == "CANCEL" and is_proxy(m.source) and cancelled_at is None:
                cancelled_at = m.time - origin
        branches.append(BranchSummary(
            index=index, target=str(fwd.message.uri), via_branch=branch, kind="real",
            injected=any(incoming.time <= t <= fwd.time for t in registers),
            opened_at=fwd.time - origin, provisional=tuple(provisional), final_status=final,
            final_at=final_at, cancelled=cancelled_at is not None, cancelled_at=cancelled_at,
        ))
    key = incoming.fields.branch
    final_status = final_at = None
    cancelled = False
    for m in msgs:
        f = m.fields
        if f.branch != key or f.call_id != call_id:
            continue
        if (f.status is not None and f.status >= 200 and f.cseq_method == "INVITE"
                and is_proxy(m.source) and final_status is None):
            final_status, final_at = f.status, m.time - origin
        if f.method == "CANCEL" and is_proxy(m.destination):
            cancelled = True
    until = None if final_at is None else final_at + origin
    return CallSummary(
        call_id=call_id or "", caller=str(incoming.message.from_.uri), callee=str(callee),
        invite_at=incoming.time - origin, final_status=final_status, final_at=final_at,
        cancelled_by_caller=cancelled, branches=tuple(branches),
        pushes=_pushes(incoming, side, is_proxy, until, origin, str(callee)),
    )
