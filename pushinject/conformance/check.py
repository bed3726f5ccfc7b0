"""Judge one capture: find the proxy and its calls, run the rules, replay through a model.

`check_capture(path, options)` returns a `CaptureResult`: the capture's counts, one `CallResult`
per INVITE server transaction through the proxy with its violations (rules, field rules,
timer events, then the replay's first divergence as rule ``replay``, citing the catalogue rule
of the model replayed), the timers in force (given or read from the capture,
`pushinject.conformance.timing`), the capture's latencies, and the replay itself for the
report's ladders.

There is one code path: `check_messages` (and so `check_capture`) runs the capture's messages
through the streamed check `pushinject check` uses (`pushinject.conformance.stream`, HEP-3):
each call is judged once complete by `judge_calls`, on a capture made of its messages and its
callee's registrations, and the results are merged, so the whole capture and the stream give
the same result, field for field.

The model replayed is a preset (`CheckOptions.preset`), or by default ``capture``: the routing
choices read from the capture (`pushinject.conformance.capture_script`); None replays nothing.

`verdict(results)`: ``violations`` when a call of any capture has one; otherwise ``no-calls``
when a capture shows no INVITE transaction through a proxy (nothing was judged there);
otherwise ``conformant``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pushinject.conformance.calls import CallRecord, find_calls
from pushinject.conformance.capture import Address, Capture, address_text, load_capture
from pushinject.conformance.capture_script import CAPTURE_DRIVEN, capture_preset, plan_calls
from pushinject.conformance.capture_loss import CaptureLoss, capture_loss
from pushinject.conformance.digest import Digest, digests
from pushinject.conformance.duplicates import DUPLICATES_WITHIN
from pushinject.conformance.field_rules import (
    FieldSettings, Latencies, Lookup, field_rules, latencies, lookups, registers_by_user,
)
from pushinject.conformance.proxy_detect import as_one_proxy, find_proxies
from pushinject.conformance.replay import ReplayResult, replay
from pushinject.conformance.rules import RuleSettings, Violation, run_rules
from pushinject.conformance.timing import TimerValue, Timing, infer_timers
from pushinject.core.types import Selection

__all__ = ["CheckOptions", "CallResult", "CaptureResult", "check_capture", "check_messages",
           "judge_calls", "verdict", "verdict_of",
           "REPLAY_RULE", "CAPTURE_DRIVEN", "VERDICTS", "EXIT_STATUS"]

#: every verdict and the exit status `pushinject check` gives it
EXIT_STATUS: dict[str, int] = {"conformant": 0, "violations": 1, "no-calls": 3}
VERDICTS: tuple[str, ...] = tuple(EXIT_STATUS)

#: the rule id under which a replay divergence is reported
REPLAY_RULE = "replay"


@dataclass(frozen=True)
class CheckOptions:
    """How to check: the model to replay (a preset name, ``capture`` for the choices read
    from the capture, None: no replay), its timer values (knobs; the others are read from
    the capture), the proxy address (None: found from the capture) and the other addresses it
    listens on (`aliases`, judged as the same proxy), and the rules' time
    limits: `timer_slack` is how late a timer may fire (TIMING-1)."""

    preset: str | None = CAPTURE_DRIVEN
    knobs: Mapping[str, float] = field(default_factory=dict)
    proxy: Address | None = None
    aliases: tuple[Address, ...] = ()
    tolerance: float = 0.5
    inject_within: float = 2.0
    timer_slack: float = 1.0
    lost_within: float = 10.0
    #: how close the same message seen twice is one message recorded twice (CAP-11; 0: never)
    duplicates_within: float = DUPLICATES_WITHIN

    def settings(self) -> RuleSettings:
        """The rule settings: the preset's response ranking (CTX-7 or OSIPS-7) and the limits."""
        selection = Selection.OPENSIPS if self.preset == "opensips" else Selection.RFC3261
        return RuleSettings(selection=selection, tolerance=self.tolerance,
                            inject_within=self.inject_within)


@dataclass(frozen=True)
class CallResult:
    """One call and what was found wrong with it."""

    call: CallRecord
    violations: tuple[Violation, ...]
    #: the proof that the capture lacks messages of the call (CAP-7): the call is not judged
    loss: CaptureLoss | None = None
    #: what was found wrong with a call not judged, set aside (CAP-7)
    set_aside: tuple[Violation, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = self.call.to_json()
        data["violations"] = [v.to_json() for v in self.violations]
        if self.loss is not None:
            data["capture_loss"] = self.loss.to_json()
            data["set_aside"] = [v.to_json() for v in self.set_aside]
        return data


def _no_timing() -> Timing:
    return Timing({}, 0.0, {})


def _no_latency() -> Latencies:
    return Latencies((), (), ())


@dataclass(frozen=True)
class CaptureResult:
    """One capture's result."""

    capture: Capture
    proxy: Address | None
    calls: tuple[CallResult, ...]
    replay: ReplayResult | None
    timing: Timing = field(default_factory=_no_timing)
    latency: Latencies = field(default_factory=_no_latency)
    #: the first branch its calls made by lookup to each contact (FIELD-6)
    lookups: Mapping[str, Lookup] = field(default_factory=dict)
    #: the other proxies its calls went through, with how many calls each, most first: a
    #: capture of several proxies, as a collector fed by a cluster records (CAP-10)
    other_proxies: tuple[tuple[Address, int], ...] = ()

    @property
    def violations(self) -> int:
        return sum(len(c.violations) for c in self.calls)

    @property
    def lacking(self) -> int:
        """The calls not judged because the capture lacks some of their messages (CAP-7)."""
        return sum(c.loss is not None for c in self.calls)

    def to_json(self) -> dict[str, Any]:
        dropped = self.capture.dropped
        return {"file": self.capture.file, "frames": self.capture.frames,
                "sip_messages": self.capture.sip_messages, "skipped": dict(self.capture.skipped)
                } | ({"dropped": dropped} if dropped else {}) | {
                "proxy": address_text(self.proxy) if self.proxy else None} | (
                {"other_proxies": [{"proxy": address_text(a), "calls": n}
                                   for a, n in self.other_proxies]}
                if self.other_proxies else {}) | {
                "timers": self.timing.to_json(), "latency": self.latency.to_json(),
                "calls": [c.to_json() for c in self.calls]}


def check_messages(capture: Capture, options: CheckOptions, *, quiet: float = 5.0
                   ) -> CaptureResult:
    """Check an already loaded capture as `pushinject check` does (one code path): its
    messages go through the streamed check (`pushinject.conformance.stream.judge_messages`),
    each call judged once complete (`quiet`: as ``--quiet``), and the result holds them all
    in order of their INVITE, with the capture's messages."""
    from pushinject.conformance.stream import judge_messages

    return judge_messages(capture, options, quiet=quiet)


def judge_calls(capture: Capture, options: CheckOptions,
                timers: Mapping[str, TimerValue] | None = None, *,
                settled: Sequence[Digest] = (),
                digested: Sequence[Digest] | None = None,
                until: float | None = None, horizon: float | None = None,
                known: Mapping[str, Lookup] | None = None,
                stream: Sequence[tuple[float, int]] | None = None) -> CaptureResult:
    """Judge the calls of a capture made of one call's messages and its callee's
    registrations (`pushinject.conformance.collector`; `timers`: values read from the calls
    judged before, `pushinject.conformance.timing.infer_timers`).

    `settled`: the digests (`pushinject.conformance.digest`) of the *settled* registrations
    that came before the capture's messages, whose bindings had all expired before any later
    REGISTER of the callee and before the INVITE (`pushinject.conformance.collector`): they
    cannot bear on a transaction of the calls or on the model replayed, whose registrar holds
    no binding of them by then (RFC 3261 §10.3 step 7), so only the proxy's detection, the
    field rules (which device a contact stood for, FIELD-1) and the latencies read them.
    `digested`: the digests of the capture's messages, in order, when already made (with
    `stream`, of every message of the stream around it).
    `stream`: (time, frame) of every message of the stream from the call's INVITE on, in
    order, when the capture holds only those that can concern the call
    (`pushinject.conformance.collector.left_out`): how long the stream went on, and the
    frames a missing message is blamed on, are read from it.
    `until`: when the stream was seen to go on to (the time the call was judged), which
    FIELD-8 reads as the capture's end; `horizon`: when the call was complete (nothing more
    of it came until then), to which the replay runs the reference (`replay`); `known`: the
    branches made by lookup in the calls judged before, which FIELD-6 compares an injection
    with."""
    current = capture.messages
    facts = [*settled, *(digests(current) if digested is None else digested)]
    if stream:  # the stream went on to its last message at least
        until = stream[-1][0] if until is None else max(until, stream[-1][0])
        horizon = stream[-1][0] if horizon is None else max(horizon, stream[-1][0])
    addresses = ((options.proxy, *options.aliases) if options.proxy
                 else find_proxies(facts))
    if not addresses:  # nothing judged: the timers in force are the knobs given
        return CaptureResult(capture, None, (), None, infer_timers(
            (), options.knobs, options.preset or CAPTURE_DRIVEN, options.timer_slack,
            options.tolerance))
    proxy = addresses[0]
    if len(addresses) > 1:  # one proxy on several addresses
        current = tuple(as_one_proxy(current, addresses))
        facts = as_one_proxy(facts, addresses)
    calls = find_calls(current, proxy)
    timing = infer_timers(calls, options.knobs, options.preset or CAPTURE_DRIVEN,
                          options.timer_slack, options.tolerance, current, timers, end=horizon)
    result: ReplayResult | None = None
    model = ""
    if options.preset is not None and calls:
        from pushinject.presets import get_preset

        preset = (capture_preset(plan_calls(calls, current, options.tolerance))
                  if options.preset == CAPTURE_DRIVEN else get_preset(options.preset))
        model = preset.catalogue_id
        result = replay(current, proxy, {c.call_id: c.caller for c in calls}, preset,
                        timing.knobs(), tolerance=options.tolerance, slack=options.timer_slack,
                        loose=options.preset == CAPTURE_DRIVEN, horizon=horizon,
                        aliases=addresses[1:], calls_only=True, frames=stream)
    settings = replace(options.settings(), t1=timing.t1)
    registers = registers_by_user(facts, proxy)
    own = lookups(calls, current, proxy)
    fields = field_rules(calls, current, proxy,
                         FieldSettings(tolerance=options.tolerance,
                                       lost_within=options.lost_within,
                                       final_within=_final_within(timing, options)), facts,
                         registers, until, known, own)
    out = []
    for call, more in zip(calls, fields, strict=True):
        found = run_rules(call, settings) + sorted(more, key=lambda v: v.frame)
        found += timing.violations.get(call.call_id, ())
        divergence = result.divergences.get(call.call_id) if result else None
        if divergence is not None:
            found.append(Violation(REPLAY_RULE, divergence.message, divergence.frame, model))
        loss = capture_loss(call, current, until)
        out.append(CallResult(call, tuple(found)) if loss is None
                   else CallResult(call, (), loss, tuple(found)))
    return CaptureResult(capture, proxy, tuple(out), result, timing,
                         latencies(calls, facts, proxy, registers), own)


def _final_within(timing: Timing, options: CheckOptions) -> float:
    """How long a call may go without a final response (FIELD-8): the longest timer in force
    and the slack, else RFC 3261's Timer C minimum of 3 minutes (§16.6 step 11)."""
    known = [v for v in timing.timers() if v < float("inf")]
    return max(known) + options.timer_slack + options.tolerance if known else 180.0


def check_capture(path: str | os.PathLike[str], options: CheckOptions | None = None
                  ) -> CaptureResult:
    """Read and check one capture file (`UsageError` when it cannot be read)."""
    options = options or CheckOptions()
    return check_messages(load_capture(path, options.duplicates_within), options)


def verdict(results: Sequence[CaptureResult]) -> str:
    """``violations`` when something was found, ``no-calls`` when a capture shows no call
    through a proxy, else ``conformant`` (see the module docstring).

    >>> verdict([])
    'conformant'
    """
    return verdict_of(sum(r.violations for r in results), sum(not r.calls for r in results))


def verdict_of(violations: int, empty: int) -> str:
    """`verdict` from the number of violations and of captures with no call judged.

    >>> verdict_of(0, 0), verdict_of(0, 1), verdict_of(2, 1)
    ('conformant', 'no-calls', 'violations')
    """
    if violations:
        return "violations"
    return "no-calls" if empty else "conformant"


def proxy_text(result: CaptureResult) -> str:
    """The proxy the capture's calls went through; with several, each other one and its
    calls."""
    if not result.proxy:
        return "none found"
    others = ", ".join(f"{address_text(a)} ({n} call(s))" for a, n in result.other_proxies)
    return address_text(result.proxy) + (f"; other proxies {others}" if others else "")
