"""`pushinject check`: judge a real proxy's push branch injection from a capture.

Modules, one job each: `capture` (read a capture into parsed messages), `proxy_detect` (find
the proxy), `calls` (the INVITE server transactions through the proxy and their branches),
`rules` (model-free rules, each citing its catalogue rule), `field_rules` (FIELD-1
to FIELD-8: what breaks in the field, by the callee's address of record; latencies), `timing`
(timers read from the capture and judged with a slack, TIMING-1 and TIMING-2),
`capture_script` (the routing choices read from the capture, replayed as a script), `replay`
(the proxy's inputs fed to the reference core, outputs compared), `check` (all of it, per
capture), `report` (text, JSON, JUnit XML).
"""

from __future__ import annotations

from pushinject.conformance.calls import BranchRecord, CallRecord, Registration, Seen, find_calls
from pushinject.conformance.capture import Capture, WireMessage, load_capture
from pushinject.conformance.check import (
    CallResult, CaptureResult, CheckOptions, check_capture, verdict,
)
from pushinject.conformance.proxy_detect import find_proxy
from pushinject.conformance.rules import RULES, Rule, Violation

__all__ = [
    "BranchRecord",
    "CallRecord",
    "Capture",
    "CallResult",
    "CaptureResult",
    "CheckOptions",
    "RULES",
    "Registration",
    "Rule",
    "Seen",
    "Violation",
    "WireMessage",
    "check_capture",
    "find_calls",
    "find_proxy",
    "load_capture",
    "verdict",
]
