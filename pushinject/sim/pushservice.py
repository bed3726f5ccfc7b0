"""The simulator's stand-in for a push notification service (APNs, FCM, ...).

It implements `pushinject.push.PushService`: a push for a known pn-prid is delivered at once to
that simulated device, which wakes `wake_after` seconds later (or never); a device marked
`push_fails` makes the request fail, as a PNS does for a token it no longer knows (the proxy
must then answer 404 or 480, RFC 8599 §5.6.2). Every request is recorded in order.
"""

from __future__ import annotations

from collections.abc import Iterable

from pushinject.push.service import PushRequest, PushResult
from pushinject.sim.agents import Device

__all__ = ["SimulatedPushService"]


class SimulatedPushService:
    """Deliver pushes to simulated devices by their pn-prid."""

    def __init__(self, devices: Iterable[Device]) -> None:
        self._by_prid = {device.prid: device for device in devices if device.spec.push}
        #: every request received, in order, with the device name it reached (None: unknown)
        self.requests: list[tuple[PushRequest, str | None]] = []

    def send(self, request: PushRequest, now: float) -> PushResult:
        device = self._by_prid.get(request.prid or "")
        self.requests.append((request, device.name if device else None))
        if device is None:
            return PushResult(ok=False, permanent=True, detail="unknown pn-prid")
        if device.spec.push_fails:
            return PushResult(ok=False, permanent=True, detail="the PNS rejected the token")
        device.push(now)
        return PushResult(ok=True)
