"""What a lab capture shows: the facts a regenerated capture must share with the manifest.

Bytes differ from run to run (the proxy's branch ids, timestamps, retransmissions), so captures
are compared by their facts: the final status the proxy sends the caller (RFC 3261 §16.7 step 6),
one `BranchFacts` per Via branch of an INVITE the proxy forwards to a device (§16.6 step 8),
whether that branch was injected (its INVITE left the proxy after a REGISTER of its contact that
arrived after the caller's INVITE), cancelled (§16.10), and its final status, the number of
pushes (MESSAGEs to the push gateway) and of registrations, and the set of message kinds seen
between the lab's parties (``caller>proxy INVITE``, ``proxy>caller 200``...).

The lab knows its parties by port (`pushinject.lab.scenarios.role_of_port`); each UDP payload
is parsed with `pushinject.sip.parse_message` (lenient), and what is not SIP is left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pushinject.lab.scenarios import LAB_IP, PROXY_PORT, Scenario, role_of_port
from pushinject.sip import Request, SIPParseError, parse_message

__all__ = [
    "BranchFacts",
    "CaptureFacts",
    "SipPacket",
    "capture_facts",
    "differences",
    "proxy_sends_after",
    "read_sip",
]


@dataclass(frozen=True)
class SipPacket:
    """One SIP message of a capture, with the lab roles of its two ends."""

    frame: int
    time: float
    src: str
    dst: str
    kind: str  # the method of a request, the status code (as text) of a response
    cseq_method: str
    call_id: str
    via_branch: str
    request_uri: str
    contact: str
    body: str

    @property
    def is_request(self) -> bool:
        return not self.kind.isdigit()

    @property
    def status(self) -> int:
        return int(self.kind) if self.kind.isdigit() else 0


def read_sip(path: str | os.PathLike[str]) -> tuple[int, list[SipPacket]]:
    """The number of frames of a pcap and its SIP-over-UDP messages, in capture order."""
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap

    frames = rdpcap(os.fspath(path))
    out: list[SipPacket] = []
    for number, pkt in enumerate(frames, start=1):
        if UDP not in pkt:
            continue
        udp = pkt[UDP]
        try:
            msg = parse_message(bytes(udp.payload), strict=False)
        except SIPParseError:
            continue
        contacts = msg.contacts
        out.append(
            SipPacket(
                frame=number,
                time=float(pkt.time),
                src=role_of_port(int(udp.sport)),
                dst=role_of_port(int(udp.dport)),
                kind=msg.method if isinstance(msg, Request) else str(msg.status),
                cseq_method=msg.cseq.method,
                call_id=msg.call_id,
                via_branch=msg.top_via.branch or "",
                request_uri=str(msg.uri) if isinstance(msg, Request) else "",
                contact=str(contacts[0].uri) if contacts else "",
                body=msg.body.decode("utf-8", "replace"),
            )
        )
    return len(frames), out


@dataclass(frozen=True)
class BranchFacts:
    """One branch the proxy forked, as the capture shows it."""

    target: str
    via_branch: str
    injected: bool
    cancelled: bool
    final_status: int  # 0: the device sent no final response

    def table(self) -> dict[str, object]:
        """The branch as a manifest's inline table has it (no ``final_status`` when the device
        never answered)."""
        answered = {"final_status": self.final_status} if self.final_status else {}
        return {"target": self.target, "injected": self.injected, "cancelled": self.cancelled,
                **answered, "via_branch": self.via_branch}


@dataclass(frozen=True)
class CaptureFacts:
    """The facts of one lab capture (see the module docstring)."""

    frames: int
    sip_messages: int
    call_id: str
    final_status: int
    branches: tuple[BranchFacts, ...]
    pushes: int
    push_bodies: tuple[str, ...]
    registrations: int
    kinds: tuple[str, ...]
    duration: float


def _is_proxy(role: str) -> bool:
    return role == "proxy"


def capture_facts(path: str | os.PathLike[str]) -> CaptureFacts:
    """Read a lab capture and state its facts."""
    frames, sip = read_sip(path)
    invite = next((m for m in sip if m.src == "caller" and m.kind == "INVITE"), None)
    call_id = invite.call_id if invite else ""
    start = invite.time if invite else 0.0
    final = next(
        (
            m.status
            for m in sip
            if m.src == "proxy" and m.dst == "caller" and m.cseq_method == "INVITE"
            and m.status >= 200
        ),
        0,
    )
    late_registrations = [
        m for m in sip if m.kind == "REGISTER" and _is_proxy(m.dst) and m.time > start
    ]
    branches: list[BranchFacts] = []
    seen: set[str] = set()
    for m in sip:
        if not (m.src == "proxy" and m.dst.startswith("dev") and m.kind == "INVITE"):
            continue
        if m.via_branch in seen:
            continue  # a retransmission is not a branch
        seen.add(m.via_branch)
        injected = any(r.contact == m.request_uri and r.time < m.time for r in late_registrations)
        cancelled = any(
            c.src == "proxy" and c.kind == "CANCEL" and c.via_branch == m.via_branch for c in sip
        )
        status = next(
            (
                r.status
                for r in sip
                if r.dst == "proxy" and r.cseq_method == "INVITE" and r.status >= 200
                and r.via_branch == m.via_branch
            ),
            0,
        )
        branches.append(BranchFacts(m.request_uri, m.via_branch, injected, cancelled, status))
    pushes = [m for m in sip if m.src == "proxy" and m.dst == "push" and m.kind == "MESSAGE"]
    push_keys = {(m.call_id, m.via_branch) for m in pushes}
    registers = {(m.call_id, m.via_branch) for m in sip if m.kind == "REGISTER"}
    kinds = sorted({f"{m.src}>{m.dst} {m.kind}" for m in sip})
    duration = sip[-1].time - sip[0].time if sip else 0.0
    return CaptureFacts(
        frames=frames,
        sip_messages=len(sip),
        call_id=call_id,
        final_status=final,
        branches=tuple(branches),
        pushes=len(push_keys),
        push_bodies=tuple(sorted({m.body for m in pushes})),
        registrations=len(registers),
        kinds=tuple(kinds),
        duration=round(duration, 3),
    )


def differences(facts: CaptureFacts, scenario: Scenario) -> list[str]:
    """How a capture's facts differ from what ``scenario`` expects (empty: it shows them all)."""
    problems: list[str] = []
    if facts.call_id != scenario.call_id:
        problems.append(f"call-id {facts.call_id!r}, expected {scenario.call_id!r}")
    if facts.final_status != scenario.final_status:
        problems.append(f"final status {facts.final_status}, expected {scenario.final_status}")
    got = [(b.target, b.injected, b.cancelled, b.final_status) for b in facts.branches]
    want = [(b.target, b.injected, b.cancelled, b.final_status) for b in scenario.branches]
    if got != want:
        problems.append(f"branches {got}, expected {want}")
    if facts.pushes != scenario.pushes:
        problems.append(f"{facts.pushes} pushes, expected {scenario.pushes}")
    if facts.registrations != scenario.registrations:
        problems.append(f"{facts.registrations} registrations, expected {scenario.registrations}")
    wake = f"wake sip:{scenario.callee}@{LAB_IP}:{PROXY_PORT} call-id {scenario.call_id}"
    if scenario.pushes and wake not in facts.push_bodies:
        problems.append(f"push bodies {facts.push_bodies}, expected {wake!r}")
    return problems


def proxy_sends_after(path: str | os.PathLike[str], kind: str, src: str) -> list[str]:
    """Everything the proxy sends from the first ``kind`` that ``src`` sent on, as
    ``"<receiver> <kind>"``, in capture order."""
    _frames, sip = read_sip(path)
    first = next(i for i, m in enumerate(sip) if m.kind == kind and m.src == src)
    return [f"{m.dst} {m.kind}" for m in sip[first:] if _is_proxy(m.src)]
