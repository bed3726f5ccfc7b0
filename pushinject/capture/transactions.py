"""Transactions reconstructed from decoded messages (RFC 3261 §17.1.3, §17.2.3).

A request and its responses share a transaction when the top Via branch and the CSeq method
match; an ACK for a non-2xx final response carries the INVITE's branch and belongs to the INVITE
transaction (§17.1.1.3); a CANCEL carries the INVITE's branch but is a transaction of its own,
linked to the INVITE it cancels (§9.1). A request seen again on the same transaction from the
same source, or a response seen again with the same status and To tag, is a retransmission
(§17.1.1.2, §17.2.1). The same message copied twice by port mirroring counts as one too.

Dialogs (RFC 3261 §12) are keyed by Call-ID and the pair of tags: a provisional response above
100 with a To tag creates an early dialog, a 2xx confirms it (§12.1, §13.2.2.4), a BYE answered
2xx ends it (§15), and a non-2xx final response to the INVITE ends its early dialogs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Transaction", "transactions", "Dialog", "dialogs"]


@dataclass
class Transaction:
    """One transaction: its key, request frames, responses, ACK, CANCEL and retransmissions."""

    branch: str
    method: str
    call_id: str | None
    request_frames: list[int] = field(default_factory=list)
    responses: list[tuple[int, int]] = field(default_factory=list)  # (frame, status)
    ack_frame: int | None = None
    cancel: Transaction | None = None
    cancels: Transaction | None = None
    retransmissions: int = 0

    @property
    def final_status(self) -> int | None:
        finals = [status for _, status in self.responses if status >= 200]
        return finals[0] if finals else None


def transactions(messages: Iterable[Any]) -> list[Transaction]:
    """Group decoded messages into transactions, in order of first appearance.

    >>> from types import SimpleNamespace as M
    >>> from pushinject.capture.sipscan import Fields
    >>> def m(frame, method, status, cseq_method, src="a", to_tag=None):
    ...     f = Fields(method, status, "c", 1, cseq_method, "z9hG4bK1", "f", to_tag, True)
    ...     return M(frame=frame, fields=f, source=(src, 5060))
    >>> [t] = [x for x in transactions([m(1, "INVITE", None, "INVITE"), m(2, "INVITE", None,
    ...        "INVITE"), m(3, None, 486, "INVITE", "b", "t"), m(4, "ACK", None, "ACK")])
    ...        if x.method == "INVITE"]
    >>> t.request_frames, t.responses, t.ack_frame, t.retransmissions
    ([1, 2], [(3, 486)], 4, 1)
    """
    table: dict[tuple[str, str], Transaction] = {}
    seen_requests: set[tuple[str, str, Any]] = set()
    seen_responses: set[tuple[str, str, int, str | None]] = set()
    for msg in messages:
        f = msg.fields
        branch = f.branch or ""
        method = f.method if f.method is not None else (f.cseq_method or "")
        if f.method == "ACK" and (branch, "INVITE") in table:
            invite = table[(branch, "INVITE")]
            final = invite.final_status
            if final is not None and final >= 300:
                if invite.ack_frame is None:
                    invite.ack_frame = msg.frame
                else:
                    invite.retransmissions += 1
                continue
        key = (branch, method)
        txn = table.get(key)
        if txn is None:
            txn = table[key] = Transaction(branch, method, f.call_id)
            if method == "CANCEL" and (branch, "INVITE") in table:
                txn.cancels = table[(branch, "INVITE")]
                txn.cancels.cancel = txn
        if f.method is not None:
            mark = (branch, method, msg.source)
            if mark in seen_requests:
                txn.retransmissions += 1
            seen_requests.add(mark)
            txn.request_frames.append(msg.frame)
        else:
            assert f.status is not None
            rmark = (branch, method, f.status, f.to_tag)
            if rmark in seen_responses:
                txn.retransmissions += 1
            else:
                txn.responses.append((msg.frame, f.status))
            seen_responses.add(rmark)
    return list(table.values())


@dataclass
class Dialog:
    """One dialog: its Call-ID, the From tag of the INVITE and the To tag of the answer."""

    call_id: str
    local_tag: str
    remote_tag: str
    state: str  # "early", "confirmed" or "terminated"
    frames: list[int] = field(default_factory=list)


def dialogs(messages: Iterable[Any]) -> list[Dialog]:
    """The dialogs of the messages, in order of creation.

    >>> from types import SimpleNamespace as M
    >>> from pushinject.capture.sipscan import Fields
    >>> def m(frame, method, status, cseq_method, from_tag, to_tag):
    ...     f = Fields(method, status, "c", 1, cseq_method, "z9hG4bK1", from_tag, to_tag, True)
    ...     return M(frame=frame, fields=f)
    >>> [(d.remote_tag, d.state, d.frames) for d in dialogs([
    ...     m(1, "INVITE", None, "INVITE", "a", None), m(2, None, 180, "INVITE", "a", "x"),
    ...     m(3, None, 183, "INVITE", "a", "y"), m(4, None, 200, "INVITE", "a", "x"),
    ...     m(5, "BYE", None, "BYE", "y", "a"), m(6, None, 200, "BYE", "y", "a")])]
    [('x', 'confirmed', [2, 4]), ('y', 'terminated', [3, 5, 6])]
    """
    table: dict[tuple[str, frozenset[str]], Dialog] = {}
    for msg in messages:
        f = msg.fields
        if f.call_id is None or f.from_tag is None or f.to_tag is None:
            continue
        key = (f.call_id, frozenset((f.from_tag, f.to_tag)))
        dialog = table.get(key)
        if dialog is None:
            if f.status is None or f.cseq_method != "INVITE" or not 100 < f.status < 300:
                continue  # only a 101-299 response to an INVITE creates a dialog (§12.1)
            dialog = table[key] = Dialog(f.call_id, f.from_tag, f.to_tag, "early")
        dialog.frames.append(msg.frame)
        if f.status is None:
            continue
        if f.cseq_method == "INVITE":
            if 200 <= f.status < 300 and dialog.state == "early":
                dialog.state = "confirmed"
            elif f.status >= 300 and dialog.state == "early":
                dialog.state = "terminated"
        elif f.cseq_method == "BYE" and 200 <= f.status < 300:
            dialog.state = "terminated"
    return list(table.values())
