"""Judge one capture: find the proxy and its calls, run the rules, replay through a preset.

`check_capture(path, options)` returns a `CaptureResult`: the capture's counts, one `CallResult`
per INVITE server transaction through the proxy with its violations (rules, then the replay's
first divergence as rule ``replay``, citing the catalogue rule of the preset's model), and the
replay itself for the report's ladders.
`verdict(results)` is ``conformant`` when no call of any capture has a violation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pushinject.conformance.calls import CallRecord, find_calls
from pushinject.conformance.capture import Address, Capture, address_text, load_capture
from pushinject.conformance.proxy_detect import find_proxy
from pushinject.conformance.replay import ReplayResult, replay
from pushinject.conformance.rules import RuleSettings, Violation, run_rules
from pushinject.core.types import Selection

__all__ = ["CheckOptions", "CallResult", "CaptureResult", "check_capture", "verdict",
           "REPLAY_RULE"]

#: the rule id under which a replay divergence is reported
REPLAY_RULE = "replay"


@dataclass(frozen=True)
class CheckOptions:
    """How to check: the preset to replay (None: no replay), its knob overrides, the proxy
    address (None: found from the capture), and the rules' time limits."""

    preset: str | None = "opensips"
    knobs: Mapping[str, float] = field(default_factory=dict)
    proxy: Address | None = None
    tolerance: float = 0.5
    inject_within: float = 2.0

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

    def to_json(self) -> dict[str, Any]:
        data = self.call.to_json()
        data["violations"] = [v.to_json() for v in self.violations]
        return data


@dataclass(frozen=True)
class CaptureResult:
    """One capture's result."""

    capture: Capture
    proxy: Address | None
    calls: tuple[CallResult, ...]
    replay: ReplayResult | None

    @property
    def violations(self) -> int:
        return sum(len(c.violations) for c in self.calls)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.capture.file, "frames": self.capture.frames,
                "sip_messages": self.capture.sip_messages, "skipped": dict(self.capture.skipped),
                "calls": [c.to_json() for c in self.calls]}


def check_messages(capture: Capture, options: CheckOptions) -> CaptureResult:
    """Check an already loaded capture."""
    messages = capture.messages
    proxy = options.proxy or find_proxy(messages)
    if proxy is None:
        return CaptureResult(capture, None, (), None)
    calls = find_calls(messages, proxy)
    result: ReplayResult | None = None
    model = ""
    if options.preset is not None and calls:
        from pushinject.presets import get_preset

        preset = get_preset(options.preset)
        model = preset.catalogue_id
        result = replay(messages, proxy, {c.call_id: c.caller for c in calls},
                        preset, options.knobs, tolerance=options.tolerance)
    settings = options.settings()
    out = []
    for call in calls:
        found = run_rules(call, settings)
        divergence = result.divergences.get(call.call_id) if result else None
        if divergence is not None:
            found.append(Violation(REPLAY_RULE, divergence.message, divergence.frame, model))
        out.append(CallResult(call, tuple(found)))
    return CaptureResult(capture, proxy, tuple(out), result)


def check_capture(path: str | os.PathLike[str], options: CheckOptions | None = None
                  ) -> CaptureResult:
    """Read and check one capture file (`UsageError` when it cannot be read)."""
    return check_messages(load_capture(path), options or CheckOptions())


def verdict(results: Sequence[CaptureResult]) -> str:
    """``conformant`` when nothing was found, else ``violations``.

    >>> verdict([])
    'conformant'
    """
    return "violations" if any(r.violations for r in results) else "conformant"


def proxy_text(result: CaptureResult) -> str:
    return address_text(result.proxy) if result.proxy else "none found"
