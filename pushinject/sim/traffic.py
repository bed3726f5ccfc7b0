"""Traffic files: many calls to many push-woken users, seeded, simulated call by call.

A traffic file (TOML) says how many `users` there are and how many `devices_per_user` each
has (all push devices, asleep until pushed, that wake on a new port, RFC 8599 §4.1.3), how
calls arrive (`call_rate` calls a second, a Poisson process, for `duration` seconds), how the
devices wake (`[wake_delay]`: a distribution of the seconds from push to REGISTER), what share
of pushes the push service rejects (`push_failure`), how fast a woken device rings and answers,
under which `preset` (with `[proxy]` knobs) and with which `seed`.

Model (rules of this module):

- arrivals, callees, wake delays and push failures each come from their own
  `random.Random` seeded from `seed` and the draw's name, so a file always gives the same calls
  and the same bytes, and the same seed gives the same arrivals and callees whatever the wake
  delays or push failures (what a comparison of wake-delay distributions needs);
- a user takes one call at a time: a call goes to a user chosen at random among those free at
  its arrival (free: the previous call's bindings, registered for `expires` seconds, have
  expired); a call that finds every user busy is not placed and is counted as ``no-free-user``;
- each call is simulated on its own (`pushinject.sim.loop.Simulation`) against a fresh proxy of
  the preset whose identifiers are unique to the call, its devices registering 1 s before the
  INVITE; the traffic capture interleaves every call's messages at their arrival offsets. Since
  a user's bindings expire before its next call, one proxy holding every call's state would
  have behaved the same (which `pushinject check` confirms on the capture);
- every call is *answered* (the caller got a 2xx) or *lost* for one cause, the first that
  holds: ``push-failed`` (every push was rejected), ``subscription-expired`` (a device woke
  after the preset's `subscription_timeout` while the call still waited, and none answered),
  ``timer`` (no device woke before the proxy's timer ended the call), else ``other``.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import tomllib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pushinject.sim.scenario import (
    PRESET_NAMES, PROXY_KNOBS, CallerSpec, DeviceSpec, Scenario, ScenarioError, TableReader,
    read_file,
)
from pushinject.sim.trace import Address, Wire

__all__ = ["WakeDelay", "Traffic", "CallOutcome", "TrafficRun", "CAUSES", "is_traffic",
           "parse_traffic", "load_traffic", "run_traffic"]

#: why a call was lost, in the order they are tested
CAUSES = ("push-failed", "subscription-expired", "timer", "other")
#: at most this many calls may arrive (a bound on the work a file can ask for)
MAX_CALLS = 100_000
#: the INVITE's time in each call's own simulation (its devices register at 0)
INVITE_AT = 1.0

_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",), "uniform": ("low", "high"), "exponential": ("mean",),
    "lognormal": ("median", "sigma"),
}
_TOP = ("name", "description", "preset", "seed", "duration", "users", "devices_per_user",
        "call_rate", "push_failure", "ring_after", "answer_after", "expires", "wake_delay",
        "proxy")


@dataclass(frozen=True)
class WakeDelay:
    """How long a pushed device takes to wake: ``fixed`` (`value`), ``uniform`` (`low`,
    `high`), ``exponential`` (`mean`) or ``lognormal`` (`median`, `sigma`), seconds.

    >>> import random
    >>> round(WakeDelay("uniform", {"low": 1.0, "high": 3.0}).draw(random.Random(1)), 4)
    1.2687
    """

    distribution: str
    parameters: Mapping[str, float]

    def draw(self, rng: random.Random) -> float:
        p = self.parameters
        if self.distribution == "fixed":
            return p["value"]
        if self.distribution == "uniform":
            return rng.uniform(p["low"], p["high"])
        if self.distribution == "exponential":
            return rng.expovariate(1.0 / p["mean"]) if p["mean"] > 0 else 0.0
        return rng.lognormvariate(math.log(p["median"]), p["sigma"])


@dataclass(frozen=True)
class Traffic:
    """A traffic file, validated (see the module docstring)."""

    name: str
    users: int
    call_rate: float
    duration: float
    wake_delay: WakeDelay
    devices_per_user: int = 1
    push_failure: float = 0.0
    ring_after: float = 0.1
    answer_after: float = 2.0
    expires: int = 60
    preset: str = "opensips"
    seed: int = 0
    proxy: Mapping[str, float] = field(default_factory=dict)
    description: str = ""


def is_traffic(text: str) -> bool:
    """Whether TOML text is a traffic file (it has ``users``) rather than a scenario."""
    try:
        return "users" in tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False


def parse_traffic(text: str, source: str = "<traffic>") -> Traffic:
    """Validate traffic text; `ScenarioError` names the key and line of any fault.

    >>> t = parse_traffic('users = 3\\ncall_rate = 0.5\\nduration = 60\\n'
    ...                   '[wake_delay]\\ndistribution = "fixed"\\nvalue = 2\\n')
    >>> t.users, t.call_rate, t.wake_delay.parameters, t.preset
    (3, 0.5, {'value': 2.0}, 'opensips')
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, 0, "syntax", str(exc)) from None
    top = TableReader(text, source, data, None)
    top.check_keys(_TOP)
    preset = top.string("preset", "opensips") or "opensips"
    if preset not in PRESET_NAMES:
        raise top.fail("preset", f"unknown preset {preset!r} (known: {', '.join(PRESET_NAMES)})")
    users = top.integer("users", 1, 1, 62_500)
    devices = top.integer("devices_per_user", 1, 1, 8)
    seed = top.integer("seed", 0, 0, 2**63 - 1)
    expires = top.integer("expires", 60, 60, 86_400)
    rate = top.number("call_rate", required=True, positive=True)
    duration = top.number("duration", required=True, positive=True)
    assert rate is not None and duration is not None
    if rate * duration > MAX_CALLS:
        raise top.fail("call_rate", f"call_rate x duration asks for {rate * duration:g} calls, "
                       f"at most {MAX_CALLS}")
    share = top.number("push_failure") or 0.0
    if share > 1:
        raise top.fail("push_failure", f"a share between 0 and 1, got {share}")
    ring = top.number("ring_after")
    answer = top.number("answer_after")
    ring = 0.1 if ring is None else ring
    answer = 2.0 if answer is None else answer
    if ring >= answer:
        raise top.fail("ring_after", "must come before answer_after")
    if "wake_delay" not in data:
        raise ScenarioError(source, 0, "wake_delay", "missing required table [wake_delay]")
    wake = TableReader(text, source, top.sub("wake_delay"), "wake_delay")
    kind = wake.string("distribution")
    if kind not in _DISTRIBUTIONS:
        raise wake.fail("distribution" if kind else None,
                        f"one of {', '.join(_DISTRIBUTIONS)}, got {kind!r}")
    wake.check_keys(("distribution", *_DISTRIBUTIONS[kind]))
    parameters = {key: wake.number(key, required=True) for key in _DISTRIBUTIONS[kind]}
    if kind == "uniform" and parameters["low"] > parameters["high"]:  # type: ignore[operator]
        raise wake.fail("low", "must not exceed high")
    if kind == "lognormal" and not parameters["median"]:
        raise wake.fail("median", "must be above 0")
    proxy_data = top.sub("proxy")
    proxy_reader = TableReader(text, source, proxy_data, "proxy")
    proxy_reader.check_keys(PROXY_KNOBS)
    proxy = {key: proxy_reader.number(key, positive=True) for key in proxy_data}
    return Traffic(
        name=top.string("name", Path(source).stem) or Path(source).stem, users=users,
        call_rate=rate, duration=duration,
        wake_delay=WakeDelay(kind, {k: float(v or 0.0) for k, v in parameters.items()}),
        devices_per_user=devices, push_failure=share, ring_after=ring, answer_after=answer,
        expires=expires, preset=preset, seed=seed,
        proxy={k: v for k, v in proxy.items() if v is not None},
        description=top.string("description", "") or "")


def load_traffic(path: str | Path) -> Traffic:
    """Read and validate a traffic file (see `parse_traffic`)."""
    path = Path(path)
    return parse_traffic(read_file(path, "traffic"), path.name)


@dataclass(frozen=True)
class _Planned:
    number: int
    arrival: float
    user: int
    devices: tuple[DeviceSpec, ...]


@dataclass(frozen=True)
class CallOutcome:
    """One call of the traffic: when its INVITE left the caller, to whom, how it ended."""

    number: int
    invite_at: float
    callee: str
    final: int | None
    final_at: float | None
    cause: str | None

    @property
    def answered(self) -> bool:
        return self.cause is None

    def to_json(self) -> dict[str, Any]:
        return {"call": self.number, "invite_at": round(self.invite_at, 6),
                "callee": self.callee, "final": self.final,
                "final_at": None if self.final_at is None else round(self.final_at, 6),
                "cause": self.cause}


@dataclass(frozen=True)
class TrafficRun:
    """A simulated traffic: every call's outcome and every message on the wire, in time
    order."""

    traffic: Traffic
    calls: tuple[CallOutcome, ...]
    wires: tuple[Wire, ...]
    not_placed: int

    def summary(self) -> dict[str, Any]:
        """Calls answered and lost by cause (every cause listed, zeros included)."""
        lost = Counter(c.cause for c in self.calls if c.cause is not None)
        return {"traffic": self.traffic.name, "preset": self.traffic.preset,
                "seed": self.traffic.seed, "calls": len(self.calls),
                "answered": sum(c.answered for c in self.calls),
                "lost": {cause: lost.get(cause, 0) for cause in CAUSES},
                "no-free-user": self.not_placed, "messages": len(self.wires)}

    def pcap(self) -> bytes:
        from pushinject.sim.pcap import pcap_bytes

        return pcap_bytes(self.wires)


def _user_address(user: int, device: int) -> Address:
    """Device `device` of user `user`: 10.<device+1>.<user / 250>.<user % 250 + 1>:5060."""
    return (f"10.{device + 1}.{user // 250}.{user % 250 + 1}", 5060)


def _plan(traffic: Traffic) -> tuple[list[_Planned], int]:
    """The calls, drawn in a fixed order from the seed (see the module docstring)."""
    arrivals, callees, wake, push = (random.Random(f"{traffic.seed}:{name}")
                                     for name in ("arrivals", "callees", "wake", "push"))
    # the users free at the arrival, in order, and the busy ones as (free again at, user):
    # arrivals only move forward, so a user comes off the heap once, when it is free again
    free = list(range(traffic.users))
    busy: list[tuple[float, int]] = []
    planned: list[_Planned] = []
    not_placed = 0
    t = 0.0
    while True:
        t += arrivals.expovariate(traffic.call_rate)
        if t >= traffic.duration:
            return planned, not_placed
        while busy and busy[0][0] <= t:
            bisect.insort(free, heapq.heappop(busy)[1])
        pick = callees.random()
        wakes = [traffic.wake_delay.draw(wake) for _ in range(traffic.devices_per_user)]
        fails = [push.random() < traffic.push_failure for _ in range(traffic.devices_per_user)]
        if not free:
            not_placed += 1
            continue
        user = free.pop(int(pick * len(free)))
        number = len(planned) + 1
        devices = tuple(
            DeviceSpec(name=f"c{number}d{j}", push=True, wake_after=wakes[j],
                       new_port_on_wake=True, push_fails=fails[j],
                       ring_after=traffic.ring_after, answer_after=traffic.answer_after,
                       expires=traffic.expires)
            for j in range(traffic.devices_per_user))
        planned.append(_Planned(number, t, user, devices))
        heapq.heappush(busy, (t + INVITE_AT + max(wakes) + traffic.expires + 1.0, user))


def _cause(simulation: Any, final: int | None, final_at: float | None,
           knobs: Mapping[str, float]) -> str | None:
    if final is not None and 200 <= final < 300:
        return None
    if simulation.pushes and not any(result.ok for _, _, result in simulation.pushes):
        return "push-failed"
    end = final_at if final_at is not None else math.inf
    woke = [t for d in simulation.devices for t in d.registered_at if t > INVITE_AT]
    window = knobs.get("subscription_timeout")
    if window is not None and any(INVITE_AT + window < t < end for t in woke):
        return "subscription-expired"
    if not any(t < end for t in woke):
        return "timer"
    return "other"


def run_traffic(traffic: Traffic) -> TrafficRun:
    """Simulate every call of `traffic` (see the module docstring)."""
    from pushinject.core.ids import CountingIds
    from pushinject.presets import get_preset
    from pushinject.sim.loop import Simulation
    from pushinject.sim.result import caller_final

    preset = get_preset(traffic.preset)
    knobs = preset.knobs(traffic.proxy)
    planned, not_placed = _plan(traffic)
    wires: list[tuple[float, int, int, Wire]] = []
    outcomes = []
    for call in planned:
        scenario = Scenario(name=f"{traffic.name}-{call.number}",
                            caller=CallerSpec(invite_at=INVITE_AT), devices=call.devices,
                            preset=traffic.preset, proxy=traffic.proxy)
        driver = preset.build(CountingIds(f"px{call.number}"), traffic.proxy)
        caller, callee = f"c{call.number}", f"user{call.user}"
        addresses = [_user_address(call.user, j) for j in range(len(call.devices))]
        simulation = Simulation(scenario, driver, caller=caller, callee=callee,
                                addresses=addresses).run()
        offset = call.arrival - INVITE_AT
        for seq, wire in enumerate(simulation.wires):
            at = wire.time + offset
            wires.append((at, call.number, seq, Wire(
                time=at, source=wire.source, destination=wire.destination,
                source_address=wire.source_address,
                destination_address=wire.destination_address, data=wire.data)))
        final, final_at = caller_final(simulation.wires, caller)
        outcomes.append(CallOutcome(
            call.number, call.arrival, f"sip:{callee}@example.com", final,
            None if final_at is None else final_at + offset,
            _cause(simulation, final, final_at, knobs)))
    wires.sort(key=lambda item: item[:3])
    return TrafficRun(traffic, tuple(outcomes), tuple(w for *_, w in wires), not_placed)
