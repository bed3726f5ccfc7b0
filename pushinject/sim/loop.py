"""The event loop on a virtual clock: the proxy, the agents and the network in one process.

Theory of operation. Three things can happen next: a datagram in flight arrives, an agent acts
by itself (its `get_timer()`), or the proxy's timer fires (`proxy.get_timer()`). The loop always
runs the earliest. Simultaneous events are ordered, deterministically:

1. datagrams, in the order they were sent;
2. agents' own actions, caller first, then devices in the order of the scenario file;
3. the proxy's timer.

So when a device answers at the very instant another registers, the one listed first in the file
acts first. Every datagram is real bytes: the sender serialises, the receiver parses with
`pushinject.sip.parse_message`. Each is recorded as a `Wire` entry at its send time; it arrives
`latency` seconds later (0 by default). A datagram to an address nobody listens on any more (a
device that came back on a new port) is lost, as on a real network.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pushinject.core.actions import Log, Push, Send
from pushinject.core.events import Received
from pushinject.errors import PushInjectError
from pushinject.push.service import PushRequest, PushResult
from pushinject.sim.agents import DOMAIN, PROXY_ADDRESS, Agent, Caller, Device, Outgoing
from pushinject.sim.pushservice import SimulatedPushService
from pushinject.sim.scenario import Scenario
from pushinject.sim.trace import Address, Wire
from pushinject.sip import parse_message

__all__ = ["ProxyLike", "Simulation", "MAX_STEPS"]

#: a run that needs more steps than this is stuck in a loop
MAX_STEPS = 100_000


class ProxyLike(Protocol):
    """What the loop needs of a proxy: the sans-I/O driver contract of the core, plus the
    answer of the push service to each `Push` action (`pushinject.presets.Driver`)."""

    def handle(self, event: Any, now: float) -> list[Any]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> list[Any]: ...

    def push_result(self, push: Any, result: PushResult, now: float) -> list[Any]: ...


@dataclass(order=True)
class _Flight:
    arrives: float
    seq: int
    wire: Wire = field(compare=False)


class Simulation:
    """Run `scenario` against `proxy` until nothing is left to happen before `until`."""

    def __init__(self, scenario: Scenario, proxy: ProxyLike, *, latency: float = 0.0,
                 until: float = 600.0, caller: str = "alice", callee: str = "bob",
                 addresses: Sequence[Address] = ()) -> None:
        """`caller` and `callee` name the two users (the callee's devices register as it);
        `addresses` places the devices, in file order (default `agents.device_address`)."""
        self.scenario = scenario
        self.proxy = proxy
        self.latency = latency
        self.until = until
        self.caller = Caller(scenario.caller, name=caller, callee=f"sip:{callee}@{DOMAIN}")
        self.devices = [Device(spec, index, user=callee,
                               address=addresses[index] if index < len(addresses) else None)
                        for index, spec in enumerate(scenario.devices)]
        self.agents: list[Agent] = [self.caller, *self.devices]
        self.push_service = SimulatedPushService(self.devices)
        self.wires: list[Wire] = []
        self.logs: list[tuple[float, str]] = []
        #: (device name or prid, time, result) for every push the proxy requested
        self.pushes: list[tuple[str, float, PushResult]] = []
        #: for each push, how many datagrams had been sent when the proxy asked for it
        self.push_marks: list[int] = []
        self.lost: list[Wire] = []
        self.now = 0.0
        self._flights: list[_Flight] = []
        self._seq = 0

    # -- addresses -----------------------------------------------------------------------------

    def party_at(self, address: Address) -> str | None:
        """The name of whoever listens on `address` now (None: nobody)."""
        if address == PROXY_ADDRESS:
            return "proxy"
        for agent in self.agents:
            if agent.address == address:
                return agent.name
        return None

    def _name_for(self, address: Address) -> str:
        name = self.party_at(address)
        if name is not None:
            return name
        for device in self.devices:  # an address a device used before it moved
            if device.address[0] == address[0]:
                return device.name
        return f"{address[0]}:{address[1]}"

    # -- sending -------------------------------------------------------------------------------

    def _send(self, source: str, source_address: Address, message: Any,
              destination: Address) -> None:
        wire = Wire(time=self.now, source=source, destination=self._name_for(destination),
                    source_address=source_address, destination_address=destination,
                    data=bytes(message))
        self.wires.append(wire)
        self._seq += 1
        heapq.heappush(self._flights, _Flight(self.now + self.latency, self._seq, wire))

    def _agent_out(self, agent: Agent, out: Sequence[Outgoing]) -> None:
        for item in out:
            self._send(agent.name, item.source or agent.address, item.message,
                       item.destination)

    def _proxy_out(self, actions: Sequence[Any]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self._send("proxy", PROXY_ADDRESS, action.message, action.destination)
            elif isinstance(action, Push):
                self._push(action)
            elif isinstance(action, Log):
                self.logs.append((self.now, action.text))

    def _push(self, action: Push) -> None:
        pn = action.binding.pn
        request = PushRequest(
            device=str(action.binding.uri), provider=pn.provider if pn else None,
            prid=pn.prid if pn else None, param=pn.param if pn else None, aor=action.aor,
            call_id=action.call_id, reason=action.reason, at=self.now,
        )
        result = self.push_service.send(request, self.now)
        name = self.push_service.requests[-1][1] or (request.prid or "?")
        self.pushes.append((name, self.now, result))
        self.push_marks.append(len(self.wires))
        if not result.ok:
            self.logs.append((self.now, f"push to {name} failed: {result.detail}"))
        self._proxy_out(self.proxy.push_result(action, result, self.now))

    # -- the loop ------------------------------------------------------------------------------

    def _deliver(self, flight: _Flight) -> None:
        wire = flight.wire
        message = parse_message(wire.data)
        if wire.destination_address == PROXY_ADDRESS:
            self._proxy_out(self.proxy.handle(
                Received(message=message, source=wire.source_address), self.now))
            return
        for agent in self.agents:
            if agent.address == wire.destination_address:
                self._agent_out(agent, agent.handle(message, wire.source_address, self.now))
                return
        self.lost.append(wire)

    def step(self) -> bool:
        """Run the earliest pending happening; False when nothing is left before `until`."""
        # the earliest of (time, kind, index): at equal times a datagram (kind 0) goes before
        # an agent (1, in list order), which goes before the proxy (2)
        at: float | None = self._flights[0].arrives if self._flights else None
        kind = index = 0
        for position, agent in enumerate(self.agents):
            timer = agent.get_timer()
            if timer is not None and (at is None or timer < at):
                at, kind, index = timer, 1, position
        timer = self.proxy.get_timer()
        if timer is not None and (at is None or timer < at):
            at, kind = timer, 2
        if at is None:
            return False
        if at > self.until:
            return False
        self.now = max(self.now, at)
        if kind == 0:
            self._deliver(heapq.heappop(self._flights))
        elif kind == 1:
            agent = self.agents[index]
            self._agent_out(agent, agent.handle_timer(self.now))
        else:
            self._proxy_out(self.proxy.handle_timer(self.now))
        return True

    def run(self) -> Simulation:
        """Step until nothing is left; returns self (the trace is in `wires`)."""
        for _ in range(MAX_STEPS):
            if not self.step():
                return self
        raise PushInjectError(f"the simulation did not settle within {MAX_STEPS} steps")
