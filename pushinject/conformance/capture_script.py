"""The capture-driven replay: a routing script whose choices are read from the capture.

What a proxy's routing script decides cannot be known without the script: which contacts a
call forks to when the INVITE arrives, which registrations inject which contacts, whether the
call waits for a device beyond its branches, when it stops waiting, whether the proxy answers
by itself. Without ``--preset``, these choices are read from the capture (`plan_calls`) and
handed to the reference core as the choices of `CaptureScript`; the replay then judges
everything the script does not decide: the transactions and their timers, §16.7 response
selection and forwarding, CANCEL handling, no branch after a final response, retransmissions
(RFC 3261 §16, §17).

The choices, per call (a `CallPlan`):

- *forks*: every branch that is not injected (its target and next hop), sent when the INVITE
  arrives;
- *injections*: every injected branch, sent right after the REGISTER that registered it
  (keyed by that REGISTER's Call-ID, CSeq and Via branch; a REGISTER the registrar did not
  accept counts too, for a branch opened after it);
- *waits*: the call keeps a placeholder open (deadline: the ``wait_timeout`` knob, infinite
  when the capture never shows it) when it had no branch to fork to, injected one, or sent
  its final response when no branch was pending and none had just answered;
- *stops waiting*: after the last injection, when the final response followed a branch's
  final at once;
- *replies*: with no branch and a final response sent at once, that status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pushinject.conformance.calls import BranchRecord, CallRecord, added_contacts
from pushinject.conformance.capture import Address, Order, WireMessage
from pushinject.presets.base import Driver, Preset, timer_values

if TYPE_CHECKING:
    from pushinject.core.ids import IdSource
    from pushinject.core.proxy import ProxyConfig
    from pushinject.core.script_api import ScriptContext
    from pushinject.core.types import TxnId

__all__ = ["CAPTURE_DRIVEN", "Target", "CallPlan", "CaptureScript", "plan_calls",
           "capture_preset"]

#: the name the capture-driven model is reported under (``--preset`` left out)
CAPTURE_DRIVEN = "capture"

#: a REGISTER as the script recognises it: Call-ID, CSeq number, top Via branch
RegisterKey = tuple[str, int, str]

_INF = float("inf")


@dataclass(frozen=True)
class Target:
    """A branch the script chose: its Request-URI and the next hop it was sent to."""

    uri: str
    destination: Address


@dataclass(frozen=True)
class CallPlan:
    """The routing choices of one call (see the module docstring)."""

    call_id: str
    via_branch: str
    forks: tuple[Target, ...] = ()
    injections: Mapping[RegisterKey, tuple[Target, ...]] = field(default_factory=dict)
    waits: bool = False
    stop_after: RegisterKey | None = None
    reply: int | None = None


def _register_key(m: WireMessage) -> RegisterKey:
    return m.message.call_id, m.message.cseq.number, m.branch


def _reacted(call: CallRecord, tolerance: float) -> bool:
    """The non-2xx final went to the caller at once after a branch's final response."""
    final = call.final
    if final is None or final.status < 300:
        return False
    return any(b.final is not None and final.time - tolerance <= b.final.time <= final.time
               for b in call.branches)


def plan_call(call: CallRecord, frames: Mapping[Order, WireMessage], tolerance: float
              ) -> CallPlan:
    """The choices the capture shows for `call` (`frames`: the REGISTERs by capture order,
    CAP-9)."""
    forks: list[Target] = []
    injections: dict[RegisterKey, tuple[Target, ...]] = {}
    last: RegisterKey | None = None
    for b in call.branches:
        trigger = frames.get(b.registration.order) if b.registration is not None else None
        if trigger is None and b.opened_at - call.invite_at > tolerance:
            trigger = _registered_before(call, b, frames)
        if trigger is None:
            forks.append(Target(b.target, b.destination))
            continue
        key = _register_key(trigger)
        injections[key] = injections.get(key, ()) + (Target(b.target, b.destination),)
        last = key
    final = call.final
    cancelled_first = call.cancel is not None and (final is None
                                                   or call.cancel.time <= final.time)
    reply = None
    if (not call.branches and final is not None and final.status >= 300 and not cancelled_first
            and final.time - call.invite_at <= tolerance):
        reply = final.status
    reacted = _reacted(call, tolerance) and not cancelled_first
    if reacted:
        waits = bool(injections)
    else:
        waits = (not forks and reply is None) or bool(injections) or final is None or (
            final.status >= 300 and not cancelled_first)
    stop = last if reacted and injections else None
    return CallPlan(call.call_id, call.via_branch, tuple(forks), injections, waits, stop,
                    reply)


def _registered_before(call: CallRecord, b: BranchRecord, frames: Mapping[Order, WireMessage]
                       ) -> WireMessage | None:
    """The last REGISTER after the INVITE and before `b` that registered `b`'s target, whatever
    its answer (a proxy may inject after a challenged REGISTER: FIELD-2 judges that)."""
    from pushinject.sip import parse_uri

    target = parse_uri(b.target)
    found = None
    for order, m in frames.items():
        if call.order < order < b.order and any(c.uri == target
                                                for c in added_contacts(m.message)):
            found = m
    return found


def plan_calls(calls: Sequence[CallRecord], messages: Sequence[WireMessage],
               tolerance: float) -> list[CallPlan]:
    """The plan of every call of a capture."""
    frames = {m.order: m for m in messages if m.is_request and m.label == "REGISTER"}
    return [plan_call(c, frames, tolerance) for c in calls]


def _top_branch(sip: ScriptContext) -> str:
    """The top Via branch of the request of `sip` ("" when it has none): of the Via the proxy
    already parsed (and marked, which leaves the branch as it is), else of the message."""
    known = sip.top_via
    if known is not None:
        return str(known[1].branch or "")
    msg = sip.msg
    assert msg is not None
    vias = msg.vias
    return str(vias[0].branch or "") if vias else ""


class CaptureScript:
    """Runs each call's `CallPlan`: fork, wait, inject after a REGISTER, stop waiting."""

    def __init__(self, plans: Sequence[CallPlan], wait: float) -> None:
        self.wait = wait
        self.plans = {(p.call_id, p.via_branch): p for p in plans}
        self.by_register: dict[RegisterKey, list[tuple[CallPlan, tuple[Target, ...]]]] = {}
        for p in plans:
            for key, targets in p.injections.items():
                self.by_register.setdefault(key, []).append((p, targets))
        self.txns: dict[tuple[str, str], TxnId] = {}

    def request_route(self, sip: ScriptContext) -> None:
        msg = sip.msg
        assert msg is not None
        method = msg.method
        if method != "INVITE" and method != "REGISTER" or sip.has_totag:
            sip.forward()
            return
        if method == "REGISTER":
            self.register(sip)
            return
        plan = self.plans.get((msg.call_id, _top_branch(sip)))
        if plan is None:
            sip.forward()
            return
        self.invite(sip, plan)

    def invite(self, sip: ScriptContext, plan: CallPlan) -> None:
        """At the INVITE: the transaction, the placeholder, the branches the capture shows."""
        from pushinject.sip import parse_uri

        sip.t_newtran()
        ctx = sip.ctx
        assert ctx is not None
        self.txns[(plan.call_id, plan.via_branch)] = ctx.txn_id
        if plan.reply is not None:
            sip.t_reply(plan.reply)
            return
        if plan.waits:
            sip.t_wait_for_new_branches()
            phony = ctx.placeholder
            assert phony is not None
            phony.fr_at = sip.now + self.wait if self.wait < _INF else None
        for t in plan.forks:
            sip.actions += sip.proxy.fork_to(ctx, parse_uri(t.uri), t.destination, sip.now)

    def register(self, sip: ScriptContext) -> None:
        """At a REGISTER: save it, then inject what the capture shows it injected."""
        from pushinject.sip import parse_uri

        sip.save("location")
        msg = sip.msg
        assert msg is not None
        key = (msg.call_id, msg.cseq.number, _top_branch(sip))
        for plan, targets in self.by_register.get(key, ()):
            txn = self.txns.get((plan.call_id, plan.via_branch))
            ctx = sip.proxy.context(txn) if txn is not None else None
            if ctx is None:
                continue
            for t in targets:
                sip.actions += sip.proxy.fork_to(ctx, parse_uri(t.uri), t.destination, sip.now,
                                                 injected=True)
            if plan.stop_after == key:
                sip.actions += sip.proxy.track(ctx, ctx.cap_branches(len(ctx.branches),
                                                                     sip.now))


#: the proxy's configuration by its (fr_timeout, fr_inv_timeout, t1, t2): frozen, so the replay
#: of each call (a preset of its own) shares one
_CONFIGS: dict[tuple[float, float, float, float], ProxyConfig] = {}


def capture_preset(plans: Sequence[CallPlan]) -> Preset:
    """The capture-driven model as a preset: `CaptureScript` with `plans`; its knobs are
    infinite until given or read from the capture (`pushinject.conformance.timing`)."""

    def build(knobs: Mapping[str, float], ids: IdSource) -> Driver:
        from pushinject.core.proxy import Proxy, ProxyConfig
        from pushinject.core.types import Dedup, Selection

        base = timer_values(knobs)
        timers = (knobs["fr_timeout"], knobs["fr_inv_timeout"], base.t1, base.t2)
        config = _CONFIGS.get(timers)
        if config is None:
            if len(_CONFIGS) >= 64:
                _CONFIGS.clear()
            config = _CONFIGS[timers] = ProxyConfig(
                fr_timeout=timers[0], fr_inv_timeout=timers[1], selection=Selection.RFC3261,
                dedup=Dedup.NONE, push_on_lookup=False, timers=base)
        return Driver(Proxy(config, ids, CaptureScript(plans, knobs["wait_timeout"])))

    return Preset(
        name=CAPTURE_DRIVEN,
        title="the routing choices the capture shows, on the reference transactions and timers",
        defaults={"fr_timeout": _INF, "fr_inv_timeout": _INF, "wait_timeout": _INF},
        differences=(),
        factory=build,
        catalogue_id="FIELD-9")
