"""The result of a simulation as one JSON-ready dict, and the ladder arrows of its trace.

`final` is the status the caller got and `final_at` when the proxy sent it (read from the
wire); each branch comes from the proxy's own call summary, named by the device it reached;
`pushes` lists every push the proxy requested. Times are rounded to the microsecond so that
float noise never shows (1.0 + 1.5 + 0.1 prints as 2.6).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pushinject.sim.trace import Wire

if TYPE_CHECKING:
    from pushinject.core.summary import CallSummary
    from pushinject.sim.loop import Simulation

__all__ = ["seconds", "caller_final", "device_of", "result_json"]


def seconds(value: float | None) -> float | None:
    """A time rounded to the microsecond (None stays None).

    >>> seconds(1.0 + 1.5 + 0.1), seconds(None)
    (2.6, None)
    """
    return None if value is None else round(value, 6)


def _status_and_method(data: bytes) -> tuple[int | None, str]:
    head, _, rest = data.partition(b"\r\n")
    if not head.startswith(b"SIP/2.0 "):
        return None, ""
    status = int(head.split(b" ")[1])
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"cseq":
            return status, value.split()[-1].decode()
    return status, ""


def caller_final(wires: Sequence[Wire], caller: str = "alice") -> tuple[int | None, float | None]:
    """The first final response to the INVITE the proxy sent the caller, and when."""
    for wire in wires:
        if wire.source == "proxy" and wire.destination == caller:
            status, method = _status_and_method(wire.data)
            if status is not None and status >= 200 and method == "INVITE":
                return status, wire.time
    return None, None


def device_of(simulation: Simulation, target: str) -> str | None:
    """The name of the device a branch's Request-URI points at (by the host of its address or
    of its Contact), None if none."""
    from pushinject.sip import parse_uri

    if not target:
        return None
    host = getattr(parse_uri(target), "host", None)
    for device in simulation.devices:
        if host in (device.address[0], device.contact_address[0]):
            return device.name
    return None


def result_json(simulation: Simulation, summary: CallSummary | None, preset: str
                ) -> dict[str, Any]:
    """The JSON object `pushinject simulate --json` prints (see the module docstring)."""
    final, final_at = caller_final(simulation.wires)
    branches = []
    for branch in summary.branches if summary is not None else ():
        branches.append({
            "device": device_of(simulation, branch.target),
            "kind": branch.kind,
            "target": branch.target,
            "injected": branch.injected,
            "opened_at": seconds(branch.opened_at),
            "provisional": list(branch.provisional),
            "final": branch.final_status,
            "final_at": seconds(branch.final_at),
            "cancelled": branch.cancelled,
        })
    return {
        "scenario": simulation.scenario.name,
        "preset": preset,
        "final": final,
        "final_at": seconds(final_at),
        "cancelled_by_caller": simulation.caller.cancelled,
        "branches": branches,
        "pushes": [{"device": name, "at": seconds(at), "ok": result.ok}
                   for name, at, result in simulation.pushes],
        "messages": len(simulation.wires),
        "lost": len(simulation.lost),
        "log": [{"at": seconds(at), "text": text} for at, text in simulation.logs],
    }
