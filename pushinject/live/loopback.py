"""Run a scenario live: real UDP on loopback, asyncio's clock, the same agents and the same core.

Every party of the simulator gets its own socket at the address it has in the simulation
(proxy 127.0.0.1:5060, caller 127.0.0.2:5060, devices 127.0.0.10:5060 and up, a push gateway at
127.0.0.1:5090), so this must run inside a private network namespace (`pushinject live` re-runs
itself under `unshare -n` and brings `lo` up). A device that comes back on a new port after a
push has a second socket bound from the start; a datagram reaching an address the device has
left is dropped, as in the simulation. The run stops `grace` seconds after the simulated run's
last message, or at `limit`, and every socket is closed.

`compare(live, simulated)` lists how the live outcome differs from the simulated one: the
caller's final status, the branches (device, injected, final status, cancelled) and, within
`tolerance` seconds, when the final response came.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pushinject.core.ids import CountingIds
from pushinject.live.endpoint import Address, DatagramEndpoint, LiveClock
from pushinject.live.proxy_shell import ProxyShell, parse_push_body
from pushinject.presets import DEFAULT_PRESET, get_preset
from pushinject.sim.agents import PROXY_ADDRESS, Agent, Caller, Device
from pushinject.sim.run import Run, run_scenario
from pushinject.sim.scenario import Scenario
from pushinject.sip import Request, Response, make_response

__all__ = ["PUSH_GATEWAY", "LiveRun", "run_live", "compare"]

#: where the push gateway listens during a loopback run
PUSH_GATEWAY: Address = ("127.0.0.1", 5090)


def _itself(sock: _AgentSocket) -> _AgentSocket:
    """The protocol factory of an endpoint whose protocol object already exists."""
    return sock


class _AgentSocket(DatagramEndpoint):
    """One address of a simulated agent; the agent's current address does the talking."""

    def __init__(self, agent: Agent, address: Address, clock: LiveClock,
                 group: dict[Address, _AgentSocket]) -> None:
        super().__init__(agent.name, clock)
        self.agent = agent
        self.address = address
        self.group = group

    def _active(self) -> bool:
        return self.agent.address == self.address

    def on_message(self, message: Request | Response, source: Address, now: float
                   ) -> Iterable[tuple[Request | Response, Address]]:
        if not self._active():
            self.counts["dropped-moved"] += 1
            return ()
        return [(o.message, o.destination) for o in self.agent.handle(message, source, now)]

    def on_timer(self, now: float) -> Iterable[tuple[Request | Response, Address]]:
        return [(o.message, o.destination) for o in self.agent.handle_timer(now)]

    def next_deadline(self) -> float | None:
        return self.agent.get_timer() if self._active() else None

    def send_all(self, outputs: Iterable[tuple[Request | Response, Address]]) -> None:
        speaker = self.group.get(self.agent.address, self)
        if speaker is self:
            super().send_all(outputs)
        else:
            speaker.send_all(outputs)
        for member in self.group.values():
            member.rearm()


class _PushGateway(DatagramEndpoint):
    """Answers the proxy's push MESSAGEs and wakes the device whose pn-prid they name."""

    def __init__(self, clock: LiveClock, devices: dict[str, tuple[Device, list[_AgentSocket]]]
                 ) -> None:
        super().__init__("push-gateway", clock)
        self.devices = devices
        self.requests: list[tuple[float, dict[str, str]]] = []

    def on_message(self, message: Request | Response, source: Address, now: float
                   ) -> Iterable[tuple[Request | Response, Address]]:
        if isinstance(message, Response) or message.method != "MESSAGE":
            return ()
        fields = parse_push_body(message.body)
        self.requests.append((now, fields))
        entry = self.devices.get(fields.get("pn-prid", ""))
        if entry is None or entry[0].spec.push_fails:
            return [(make_response(message, 404, to_tag="gw"), source)]
        device, sockets = entry
        device.push(now)
        for sock in sockets:
            sock.rearm()
        return [(make_response(message, 200, to_tag="gw"), source)]


@dataclass
class LiveRun:
    """What a loopback run observed, next to the simulated run of the same scenario."""

    scenario: Scenario
    preset: str
    caller: Caller
    devices: list[Device]
    shell: ProxyShell
    gateway_requests: list[tuple[float, dict[str, str]]]
    simulated: Run
    #: how long the live run lasted (core seconds)
    duration: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        proxy = self.shell.driver.proxy
        summary = None
        if self.caller.invite is not None:
            try:
                summary = proxy.summary(self.caller.invite.call_id)
            except KeyError:
                summary = None
        names = {d.prid: d.name for d in self.devices}
        branches = []
        for branch in summary.branches if summary is not None else ():
            device = next((d.name for d in self.devices
                           if branch.target.startswith(f"sip:bob@{d.address[0]}:")), None)
            branches.append({"device": device, "kind": branch.kind,
                             "injected": branch.injected, "final": branch.final_status,
                             "cancelled": branch.cancelled})
        return {
            "scenario": self.scenario.name,
            "preset": self.preset,
            "final": self.caller.final,
            "final_at": None if self.caller.final_at is None else round(self.caller.final_at, 3),
            "branches": branches,
            "pushes": [{"device": names.get(f.get("pn-prid", ""), f.get("pn-prid")),
                        "at": round(at, 3)} for at, f in self.gateway_requests],
            "counts": dict(sorted(self.counts.items())),
        }


async def _run(scenario: Scenario, preset_name: str, limit: float, grace: float) -> LiveRun:
    simulated = run_scenario(scenario, preset_name)
    wires = simulated.simulation.wires
    duration = min(limit, (wires[-1].time if wires else 0.0) + grace)

    loop = asyncio.get_running_loop()
    clock = LiveClock(loop)
    preset = get_preset(preset_name)
    driver = preset.build(CountingIds("px"), scenario.proxy)
    shell = ProxyShell(driver, clock, CountingIds("shell"), address=PROXY_ADDRESS,
                       push_gateway=PUSH_GATEWAY)
    caller = Caller(scenario.caller)
    devices = [Device(spec, index) for index, spec in enumerate(scenario.devices)]

    endpoints: list[DatagramEndpoint] = []
    try:
        await loop.create_datagram_endpoint(lambda: shell, local_addr=PROXY_ADDRESS)
        endpoints.append(shell)
        by_prid: dict[str, tuple[Device, list[_AgentSocket]]] = {}
        for agent in [caller, *devices]:
            group: dict[Address, _AgentSocket] = {}
            addresses = [agent.address]
            if isinstance(agent, Device) and agent.spec.new_port_on_wake:
                addresses.append((agent.address[0], agent.address[1] + 2))
            for address in addresses:
                sock = _AgentSocket(agent, address, clock, group)
                group[address] = sock
                await loop.create_datagram_endpoint(partial(_itself, sock), local_addr=address)
                endpoints.append(sock)
            if isinstance(agent, Device):
                by_prid[agent.prid] = (agent, list(group.values()))
        gateway = _PushGateway(clock, by_prid)
        await loop.create_datagram_endpoint(lambda: gateway, local_addr=PUSH_GATEWAY)
        endpoints.append(gateway)
        for endpoint in endpoints:
            endpoint.rearm()
        await asyncio.sleep(max(0.0, clock.loop_time(duration) - loop.time()))
    finally:
        for endpoint in endpoints:
            endpoint.close()
        await asyncio.sleep(0)
    counts: dict[str, int] = {}
    for endpoint in endpoints:
        for key, value in endpoint.counts.items():
            counts[key] = counts.get(key, 0) + value
    return LiveRun(scenario=scenario, preset=preset_name, caller=caller, devices=devices,
                   shell=shell, gateway_requests=gateway.requests, simulated=simulated,
                   duration=duration, counts=counts)


def run_live(scenario: Scenario, preset: str | None = None, *, limit: float = 60.0,
             grace: float = 1.0) -> LiveRun:
    """Run `scenario` over real UDP sockets (inside a private network namespace)."""
    name = preset or scenario.preset or DEFAULT_PRESET
    return asyncio.run(_run(scenario, name, limit, grace))


def compare(live: LiveRun, *, tolerance: float = 0.3) -> list[str]:
    """How the live run differs from the simulated one (empty: they agree).

    A simulated branch final that came after the live run stopped (`limit`) is not expected.
    """
    got = live.json()
    want = live.simulated.json()
    for branch in want["branches"]:
        if branch["final_at"] is not None and branch["final_at"] > live.duration - tolerance:
            branch["final"] = None
    problems = []
    if got["final"] != want["final"]:
        problems.append(f"caller's final status: live {got['final']}, simulated {want['final']}")
    elif want["final_at"] is not None and got["final_at"] is not None \
            and abs(got["final_at"] - want["final_at"]) > tolerance:
        problems.append(f"final response at {got['final_at']} s live, {want['final_at']} s "
                        f"simulated (tolerance {tolerance} s)")
    keys = ("device", "kind", "injected", "final", "cancelled")
    live_branches = [tuple(b[k] for k in keys) for b in got["branches"]]
    sim_branches = [tuple(b[k] for k in keys) for b in want["branches"]]
    if live_branches != sim_branches:
        problems.append(f"branches (device, kind, injected, final, cancelled): live "
                        f"{live_branches}, simulated {sim_branches}")
    live_pushes = [p["device"] for p in got["pushes"]]
    sim_pushes = [p["device"] for p in want["pushes"]]
    if live_pushes != sim_pushes:
        problems.append(f"pushes: live {live_pushes}, simulated {sim_pushes}")
    return problems
