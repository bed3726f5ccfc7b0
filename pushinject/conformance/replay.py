"""Replay: the proxy's inputs fed to the reference core, its outputs compared with the capture.

Every message the capture shows arriving at the proxy (the caller's requests, the REGISTERs,
the devices' responses) is handed to a fresh core proxy built from the chosen preset
(`pushinject.presets`), at its capture timestamp and with its transport (retransmission timers
run only over unreliable transports, RFC 3261 §17); the core's timers fire in between, at
their own deadlines. A device's response carries the real proxy's Via branch; before it is handed
over, its top Via is replaced by the one the core put on the request with the same Call-ID,
method, CSeq and Request-URI (RFC 3261 §17.1.3 matching), so the core finds its transaction.

What the core sends for a call is compared with what the real proxy sent for it at the level of
`Output.key` — (direction, method or status, target): direction ``caller`` or ``onward``, the
target being the Request-URI of a request — in order, with a time tolerance: each message the
proxy sent must have a reference output with the same key no further than `tolerance` seconds
away, and each reference output that falls inside the capture must have been sent by the
proxy. The earliest message without a partner is the divergence. A request the proxy sends on
must also go to the same next hop as the reference's, when the reference names it by an IP
address (ROUTE-1 to ROUTE-3: the Contact URI, or the REGISTER's source with NAT handling, the
`route_to_source` knob, or for an RFC 5626 flow); a host name is not resolved, so it matches
any address.

Pushes are not compared: the core asks for them with `Push` actions, real proxies use
whatever their configuration does (an HTTP call, a SIP MESSAGE to a gateway).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pushinject.conformance.capture import Address, WireMessage, address_text
from pushinject.errors import PushInjectError

__all__ = ["Output", "Divergence", "ReplayResult", "ReplayError", "replay", "replay_outputs",
           "compare"]


@dataclass(frozen=True)
class Output:
    """A message the proxy sent (`frame` > 0) or the reference core sent (`frame` 0)."""

    time: float
    frame: int
    call_id: str
    destination: Address
    direction: str
    label: str
    target: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.direction, self.label, self.target

    def describe(self) -> str:
        what = f"{self.label} {self.target}" if self.target else self.label
        return f"{what} to {address_text(self.destination)}"

    @classmethod
    def of(cls, time: float, frame: int, message: Any, destination: Address,
           callers: Mapping[str, Address]) -> Output:
        target = str(message.uri) if hasattr(message, "method") else ""
        label = str(getattr(message, "method", None) or message.status)
        direction = "caller" if callers.get(message.call_id) == destination else "onward"
        return cls(time, frame, message.call_id, destination, direction, label, target)


@dataclass(frozen=True)
class Divergence:
    """The first difference between the proxy and the reference for one call."""

    time: float
    frame: int
    message: str


@dataclass(frozen=True)
class ReplayResult:
    """What the reference core sent, and the first divergence of each call (None: same)."""

    preset: str
    reference: tuple[Output, ...]
    actual: tuple[Output, ...]
    divergences: Mapping[str, Divergence | None]


def _same_hop(actual: Output, reference: Output) -> bool:
    """Whether a request went where the reference sends it (see the module docstring)."""
    if actual.destination == reference.destination or not reference.label.isalpha():
        return True
    try:
        ipaddress.ip_address(reference.destination[0])
    except ValueError:  # a name: not resolved here
        return True
    return False


def _driver(preset: Any, proxy: Address, knobs: Mapping[str, float] | None) -> Any:
    from pushinject.core.ids import CountingIds

    driver = preset.build(CountingIds("px"), knobs)
    core = driver.proxy
    if (core.config.host, core.config.port) != proxy:
        core.set_address(*proxy)
    return driver


def _request_key(message: Any) -> tuple[str, str, int, str]:
    return message.call_id, message.method, message.cseq.number, str(message.uri)


class _Vias:
    """Which core Via stands for which Via branch of the real proxy."""

    def __init__(self, messages: Sequence[WireMessage], proxy: Address) -> None:
        self.real: dict[tuple[str, str, int, str], str] = {}
        for m in messages:
            if m.source == proxy and m.is_request and m.branch:
                self.real.setdefault(_request_key(m.message), m.branch)
        self.core: dict[str, str] = {}

    def sent(self, message: Any) -> None:
        branch = self.real.get(_request_key(message))
        if branch is not None and message.vias:
            self.core.setdefault(branch, str(message.vias[0]))

    def translate(self, message: Any) -> Any:
        if hasattr(message, "method") or not message.vias:
            return message
        via = self.core.get(str(message.vias[0].branch or ""))
        if via is None:
            return message
        return message.without_top_via().with_header_prepended("Via", via)


def replay_outputs(messages: Sequence[WireMessage], proxy: Address, preset: Any,
                   knobs: Mapping[str, float] | None = None, *, until: float | None = None,
                   callers: Mapping[str, Address] | None = None) -> list[Output]:
    """The reference core's `Send`s when the proxy's inputs are fed to it at their times."""
    from pushinject.core.actions import Send
    from pushinject.core.events import Received

    driver = _driver(preset, proxy, knobs)
    vias = _Vias(messages, proxy)
    callers = callers or {}
    out: list[Output] = []

    def collect(actions: Iterable[Any], now: float) -> None:
        for a in actions:
            if isinstance(a, Send):
                if hasattr(a.message, "method"):
                    vias.sent(a.message)
                out.append(Output.of(now, 0, a.message, a.destination, callers))

    def timers(limit: float) -> None:
        for _ in range(10_000):
            at = driver.get_timer()
            if at is None or at > limit:
                return
            collect(driver.handle_timer(at), at)

    for m in messages:
        if m.destination != proxy or m.source == proxy:
            continue
        try:
            timers(m.time)
            event = Received(message=vias.translate(m.message), source=m.source,
                             transport=m.transport)
            collect(driver.handle(event, m.time), m.time)
        except (PushInjectError, ValueError) as exc:
            raise ReplayError(m.time, m.frame, str(exc)) from None
    if until is not None:
        timers(until)
    return out


class ReplayError(PushInjectError):
    """The reference core could not take a message of the capture (it is malformed for it)."""

    def __init__(self, time: float, frame: int, text: str) -> None:
        super().__init__(f"the reference core could not take frame {frame}: {text}")
        self.time = time
        self.frame = frame


def compare(actual: Sequence[Output], reference: Sequence[Output], tolerance: float,
            until: float, preset: str) -> Divergence | None:
    """The earliest unmatched message of either side (see the module docstring)."""
    free = list(reference)
    unmatched: list[Divergence] = []
    for a in actual:
        partner = next((r for r in free if r.key == a.key and abs(r.time - a.time) <= tolerance
                        and _same_hop(a, r)), None)
        if partner is None:
            unmatched.append(Divergence(a.time, a.frame, f"the proxy sent {a.describe()} "
                                        f"(frame {a.frame}); the {preset} reference sent no such "
                                        f"message within {tolerance:g} s"))
        else:
            free.remove(partner)
    for r in free:
        if r.time <= until:
            unmatched.append(Divergence(r.time, 0, f"the {preset} reference sends "
                                        f"{r.describe()} here; the proxy did not"))
    return min(unmatched, key=lambda d: d.time) if unmatched else None


def replay(messages: Sequence[WireMessage], proxy: Address, callers: Mapping[str, Address],
           preset: Any, knobs: Mapping[str, float] | None = None, *,
           tolerance: float = 0.5) -> ReplayResult:
    """Replay the capture through `preset`; `callers` maps each call's Call-ID to the caller's
    address. Returns each call's first divergence."""
    until = messages[-1].time + tolerance if messages else 0.0
    try:
        reference = replay_outputs(messages, proxy, preset, knobs, until=until, callers=callers)
    except ReplayError as exc:
        failed = Divergence(exc.time, exc.frame, str(exc))
        return ReplayResult(preset.name, (), (), {cid: failed for cid in callers})
    actual = [Output.of(m.time, m.frame, m.message, m.destination, callers) for m in messages
              if m.source == proxy]
    end = messages[-1].time if messages else 0.0
    sent: dict[str, list[Output]] = {}
    expected: dict[str, list[Output]] = {}
    for o in actual:
        sent.setdefault(o.call_id, []).append(o)
    for o in reference:
        expected.setdefault(o.call_id, []).append(o)
    divergences = {
        cid: _located(compare(sent.get(cid, []), expected.get(cid, []), tolerance, end,
                              preset.name), messages)
        for cid in callers}
    return ReplayResult(preset.name, tuple(reference), tuple(actual), divergences)


def _located(d: Divergence | None, messages: Sequence[WireMessage]) -> Divergence | None:
    """A missing message is blamed on the last frame before it should have left."""
    if d is None or d.frame:
        return d
    before = [m.frame for m in messages if m.time <= d.time]
    frame = before[-1] if before else 0
    return Divergence(d.time, frame, f"{d.message} (after frame {frame})")
