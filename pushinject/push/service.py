"""The push service interface: the proxy asks, the service answers (RFC 8599 §5.6.2).

RFC 8599 leaves the protocol between a SIP proxy and a push notification service (APNs, FCM,
webpush) to each PNS; what matters to the SIP side is that the proxy *requests* a push for a
binding's pn-provider / pn-prid / pn-param, and learns whether that request failed, because a
failed push request MUST end the waiting SIP request with an error (§5.6.2; PUSH-6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["PushRequest", "PushResult", "PushService"]


@dataclass(frozen=True, kw_only=True)
class PushRequest:
    """One push the proxy wants sent (RFC 8599 §5.6.2: "request a push").

    Attributes
    ----------
    device : str
        The binding's contact URI as text (who is to be woken).
    provider, prid, param : str | None
        The binding's pn-provider, pn-prid and pn-param (RFC 8599 §4.1.1).
    aor : str
        The address of record the waiting request is for.
    call_id : str
        Call-ID of the waiting request (at most one push per call and device, FLX-5).
    reason : str
        Why: ``ini-INVITE`` for an initial request (the OpenSIPS reason string, EVT-10).
    at : float
        When the proxy asked, on the caller's clock.
    """

    device: str
    provider: str | None
    prid: str | None
    param: str | None
    aor: str
    call_id: str
    reason: str = "ini-INVITE"
    at: float = 0.0


@dataclass(frozen=True, kw_only=True)
class PushResult:
    """The service's answer. `ok` false means the push request failed (PUSH-6: reply 404/480).

    `permanent` marks a failure that says the device does not exist any more (e.g. an unknown
    push token): the waiting request then gets 404 rather than 480.
    """

    ok: bool
    permanent: bool = False
    detail: str = ""

    @property
    def status(self) -> int | None:
        """The SIP status a failed push leads to (RFC 8599 §5.6.2), None when it succeeded."""
        if self.ok:
            return None
        return 404 if self.permanent else 480


class PushService(Protocol):
    """Anything that can deliver a push: a real PNS client, or the simulator's stand-in."""

    def send(self, request: PushRequest, now: float) -> PushResult:
        """Ask for `request` to be delivered; the answer says whether the request was accepted."""
        ...
