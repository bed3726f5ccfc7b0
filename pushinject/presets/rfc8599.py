"""The ``rfc8599`` preset: the SIP Request Push Bucket of RFC 8599 §5.2 and §5.6.2.

The INVITE route looks the callee up (CTX-1: no binding at all, 480 at once). Contacts without
pn-* parameters are relayed. Each contact with pn-* parameters is pushed (by `lookup`) and put
in the bucket with a Bucket Timer; while anything is held, a placeholder keeps the transaction
open, and two subscriptions (contact INSERT and UPDATE, both: a woken device refreshes its
binding, EVT-9, INJ-6) watch the callee for the Bucket Timer's length.

A held request leaves the bucket (PUSH-5) when

- a REGISTER's 2xx names a matching contact (§5.3: equal pn-* parameters; the local policy of
  PUSH-4 accepts a changed host or port): the notification route, which runs after the 2xx has
  been sent, injects the contact (PUSH-6: wait for the 2xx);
- the push request fails: 404 when the PNS says the device is gone, else 480 (PUSH-6);
- the Bucket Timer expires: 480 (PUSH-6).

When the last held device of a call has failed: 480 (or 404) when the call has no other
branch; otherwise the wait stops and the usual best response follows (§16.7). The registrar
supports RFC 8599 (pn-* matching, 555, Feature-Caps); RFC 8599 asks for no NAT handling, so
branches go to the Contact URI (ROUTE-1). Knobs: `bucket_timer` 30 s, `fr_inv_timeout` 120 s,
`fr_timeout` 30 s, `route_to_source` 0 (1: ROUTE-2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pushinject.presets.base import ROUTE_TO_SOURCE, Driver, Preset, switch, timer_values
from pushinject.push.bucket import Bucket, BucketOutcome
from pushinject.scripts.opensips_seed import SeedScript

if TYPE_CHECKING:
    from pushinject.core.actions import Action, Push
    from pushinject.core.ids import IdSource
    from pushinject.core.proxy import Proxy
    from pushinject.core.script_api import ScriptContext
    from pushinject.push.service import PushResult

__all__ = ["PRESET", "BucketScript", "BucketDriver", "build"]

#: the push services the registrar supports (RFC 8599 §10-12)
PROVIDERS = ("apns", "fcm", "webpush")


class BucketScript(SeedScript):
    """The routes of the preset (see the module docstring). The main route, REGISTER handling
    and `relay` are the seed's; `route_to_user` is RFC 8599's."""

    def __init__(self, bucket_timer: float) -> None:
        super().__init__()
        self.bucket = Bucket(bucket_timer, pn_only=True)

    def route_to_user(self, sip: ScriptContext) -> None:
        """Relay to awake contacts, push and hold the others (RFC 8599 §5.6.2)."""
        sip.t_newtran()
        if sip.lookup("location") < 0:
            sip.t_reply(480)  # RFC 3261 §16.5: the target set is empty (CTX-1)
            return
        assert sip.ctx is not None
        held = [b for b in sip.targets if b.pn is not None]
        sip.targets = [b for b in sip.targets if b.pn is None]
        if held:  # N counts the relayed branches too, as OpenSIPS's own PN lookup does (OSIPS-16)
            sip.t_wait_for_new_branches(len(held) + len(sip.targets))
            for event in ("E_UL_CONTACT_INSERT", "E_UL_CONTACT_UPDATE"):
                sip.notify_on_event(event, f"aor={sip.rU}", "released",
                                    self.bucket.bucket_timer)
            for binding in held:
                self.bucket.hold(sip.ctx.txn_id, binding.uri, sip.now,
                                 payload=sip.ctx.call_id)
        if sip.targets:
            sip.t_relay()

    def released(self, sip: ScriptContext) -> None:
        """Notification route, after the 2xx to a REGISTER: forward to a matching contact."""
        if sip.ctx is None or sip.event is None:
            return
        key = sip.ctx.txn_id
        if self.bucket.on_register_response(sip.event.binding.uri, 200, sip.now, key=key):
            sip.t_inject_branches("event")
            if key not in self.bucket.keys():
                sip.t_wait_no_more_branches()

    def failed(self, sip: ScriptContext, outcome: BucketOutcome) -> None:
        """A held device failed (Bucket Timer or push): end the wait, or the call (PUSH-6)."""
        if sip.ctx is None or sip.ctx.refusal() or sip.ctx.txn_id in self.bucket.keys():
            return
        if any(str(b.kind) == "real" for b in sip.ctx.branches):
            sip.t_wait_no_more_branches()
        else:
            sip.t_reply(outcome.status or 480)


class BucketDriver(Driver):
    """The proxy plus the bucket's timers and the push results (RFC 8599 §5.6.2)."""

    def __init__(self, proxy: Proxy, script: BucketScript) -> None:
        super().__init__(proxy)
        self.script = script

    def _run_failed(self, outcomes: list[BucketOutcome], now: float) -> list[Action]:
        from pushinject.core.script_api import ScriptContext

        out: list[Action] = []
        for outcome in outcomes:
            ctx = self.proxy.context(outcome.entry.key)  # type: ignore[arg-type]
            if ctx is None:
                continue
            sip = ScriptContext(self.proxy, now, ctx.request, ctx.server.source, ctx=ctx)
            self.script.failed(sip, outcome)
            out += self.proxy.track(ctx, sip.actions)
        return out

    def _sweep(self) -> None:
        """Forget held requests whose call has ended (answered, cancelled, timed out)."""
        for key in self.script.bucket.keys():
            ctx = self.proxy.context(key)  # type: ignore[arg-type]
            if ctx is None or ctx.refusal():
                self.script.bucket.release(key)

    def handle(self, event: Any, now: float) -> list[Action]:
        out = self.proxy.handle(event, now)
        self._sweep()
        return out

    def get_timer(self) -> float | None:
        timers = [t for t in (self.proxy.get_timer(), self.script.bucket.get_timer())
                  if t is not None]
        return min(timers, default=None)

    def handle_timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        timer = self.proxy.get_timer()
        if timer is not None and timer <= now:
            out += self.proxy.handle_timer(now)
        self._sweep()
        out += self._run_failed(self.script.bucket.handle_timer(now), now)
        self._sweep()
        return out

    def push_result(self, push: Push, result: PushResult, now: float) -> list[Action]:
        """A failed push ends the wait for that device with 404 or 480 (PUSH-6)."""
        outcomes: list[BucketOutcome] = []
        for entry in self.script.bucket.entries():
            if entry.payload == push.call_id and str(entry.target) == str(push.binding.uri):
                outcomes += self.script.bucket.on_push_result(entry.key, entry.target,
                                                              result.status, now)
        out = self._run_failed(outcomes, now)
        self._sweep()
        return out


def build(knobs: Mapping[str, float], ids: IdSource) -> Driver:
    """The core proxy running `BucketScript`, with the bucket's timers beside it."""
    from pushinject.core.location import RegistrarConfig
    from pushinject.core.proxy import Proxy, ProxyConfig
    from pushinject.core.types import Dedup, Selection

    config = ProxyConfig(
        fr_timeout=knobs["fr_timeout"], fr_inv_timeout=knobs["fr_inv_timeout"],
        selection=Selection.RFC3261, dedup=Dedup.NONE, push_on_lookup=True,
        timers=timer_values(knobs),
        registrar=RegistrarConfig(pn_providers=PROVIDERS,
                                  route_to_source=switch(knobs, ROUTE_TO_SOURCE)),
    )
    script = BucketScript(knobs["bucket_timer"])
    return BucketDriver(Proxy(config, ids, script), script)


PRESET = Preset(
    name="rfc8599",
    title="RFC 8599: push, hold in the bucket, forward on the refresh REGISTER's 2xx",
    defaults={"bucket_timer": 30.0, "fr_inv_timeout": 120.0, "fr_timeout": 30.0,
              "route_to_source": 0.0},
    differences=(
        "answers 480 at once when the callee has no binding at all (RFC 3261 §16.5, CTX-1; "
        "scenario: nobody_registered)",
        "ends a wait that nobody answers with 480 at the Bucket Timer, not 408 (PUSH-6; scenario: "
        "push_never_wakes)",
        "a failed push request ends the wait at once: 404 when the push service says the "
        "device is gone for good, 480 otherwise (PUSH-6; scenario: push_fails, a device gone)",
        "matches the refresh by its pn-* parameters, INSERT or UPDATE alike (PUSH-4, INJ-6; "
        "scenario: woken_same_contact)",
        "a held device is never relayed to before it wakes, so a CANCEL is not held up by a "
        "branch that cannot be CANCELled (RFC 3261 §9.1; scenario: cancel_while_waiting)",
        "reaches only devices it pushed: a contact registered during the call without pn-* "
        "parameters is not added (RFC 8599 §5.6.2 is about the pushed binding; scenario: "
        "late_registration)",
    ),
    factory=build,
    catalogue_id="PUSH-13",
)
