"""The checker's reports: readable text, one JSON document (the issue's format), JUnit XML.

JSON: ``{"verdict": ..., "captures": [{"file", "frames", "sip_messages", "skipped", "proxy",
"timers": {"slack", "tick", "timers": [{"knob", "value", "source", "evidence": {"call_id",
"frames", "observed"} or null}]}, "latency": {"push_to_register", "register_to_invite",
"cancel_to_final": {"count", "min", "median", "max"}}, "calls": [{"call_id", "proxy",
"final_status", "branches": [{"target", "via_branch", "injected", "final_status",
"cancelled"}], "violations": [{"rule", "catalogue_id", "message", "frame"}]}]}]}``.
``catalogue_id`` is the broken rule's id in the project's catalogue (`pushinject/catalogue/`);
the text report names the file that defines it.

JUnit: one ``testsuite`` per capture, one ``testcase`` per call and rule (the replay included),
a ``failure`` per violation, so CI systems show each rule of each call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from pushinject.conformance.capture import address_text
from pushinject.conformance.check import (
    CAPTURE_DRIVEN, REPLAY_RULE, CallResult, CaptureResult, proxy_text, verdict,
)
from pushinject.conformance.field_rules import FIELD_RULES
from pushinject.conformance.rules import RULES, Violation, citation
from pushinject.conformance.timing import timing_lines

if TYPE_CHECKING:
    from pushinject.conformance.capture import Address
    from pushinject.ladder import Arrow

__all__ = ["json_report", "json_text", "text_report", "junit_xml", "call_arrows", "write_svgs",
           "write_call_svgs", "capture_lines", "call_lines", "verdict_line", "around_call"]


def json_report(results: Sequence[CaptureResult]) -> dict[str, Any]:
    """The JSON document as a dict."""
    return {"verdict": verdict(results), "captures": [r.to_json() for r in results]}


def json_text(results: Sequence[CaptureResult]) -> str:
    """`json_report` as text (two-space indent, keys in the documented order)."""
    return json.dumps(json_report(results), indent=2) + "\n"


def _status(value: int | None) -> str:
    return "-" if value is None else str(value)


def call_arrows(result: CaptureResult, call: CallResult, ndigits: int | None = None, *,
                context: bool = False) -> list[Arrow]:
    """The call's messages as ladder arrows: parties ``caller``, ``proxy`` and the other
    addresses, the proxy's branches as groups ``b0``, ``b1``..., and ``!`` after the label of
    a frame a violation names. With `ndigits`, times are seconds since the caller's INVITE
    rounded to that many decimals. With `context`, the exchanges that explain an injection are
    drawn too (`around_call`): the callee's REGISTERs during the call and the push MESSAGEs the
    proxy sent, each with its answer, the push gateway's column named ``push service``."""
    from pushinject.conformance.capture import Address
    from pushinject.ladder import Arrow

    record = call.call
    names = {record.caller: "caller", record.proxy: "proxy"}
    keys: set[tuple[str, int, str]] = set()
    if context:
        from pushinject.sim.views import PUSH_SERVICE

        keys, services = around_call(result, call)
        names.update({address: PUSH_SERVICE for address in services})
    groups = {b.via_branch: f"b{b.index}" for b in record.branches}
    faulty = {v.frame for v in call.violations}
    arrows = []
    for m in result.capture.messages:
        cseq = m.message.cseq
        if m.message.call_id != record.call_id and (
                m.message.call_id, cseq.number, cseq.method) not in keys:
            continue
        label = m.label
        if not m.is_request and m.message.cseq.method != "INVITE":
            label += f" ({m.message.cseq.method})"
        if m.frame in faulty:
            label += " !"
        at = m.time if ndigits is None else round(m.time - record.invite_at, ndigits)
        arrows.append(Arrow(at, names.get(m.source, address_text(m.source)),
                            names.get(m.destination, address_text(m.destination)), label,
                            groups.get(m.branch)))
    return arrows


def capture_lines(r: CaptureResult, calls: int | None = None) -> list[str]:
    """The report's lines on one capture: its counts and proxy, the timers in force and the
    latencies (`calls`: how many were judged, when `r.calls` does not hold them)."""
    c = r.capture
    skipped = ", ".join(f"{k} {v}" for k, v in c.skipped.items())
    lines = [f"{c.file}: {c.frames} frames, {c.sip_messages} SIP messages"
             + (f" (skipped: {skipped})" if skipped else "") + f"; proxy {proxy_text(r)}"]
    if c.dropped:
        lines.append(f"  the file says {c.dropped} packet(s) were dropped while recording: a "
                     "call may lack messages the proxy did send (CAP-8)")
    if not (len(r.calls) if calls is None else calls):
        lines.append("  no INVITE transaction through a proxy: nothing judged here")
    else:
        lines.extend(timing_lines(r.timing))
        lines.extend(r.latency.lines())
    return lines


def call_lines(r: CaptureResult, cr: CallResult, *, ladder: bool = False) -> list[str]:
    """The report's lines on one call of `r`: its branches, its violations, and with `ladder`
    its ladder, frames at fault marked ``!``."""
    call = cr.call
    state = "conformant" if not cr.violations else f"{len(cr.violations)} violation(s)"
    if cr.loss is not None:
        state = (f"not judged: the capture lacks messages ({len(cr.set_aside)} finding(s) "
                 "set aside)")
    lines = [f"  call {call.call_id}: final {_status(call.final_status)}, "
             f"{len(call.branches)} branch(es), {state}"]
    for b in call.branches:
        notes = []
        if b.injected and b.registration is not None:
            delay = b.opened_at - b.registration.time
            notes.append(f"injected {delay:.3f} s after REGISTER frame {b.registration.frame}")
        if b.cancelled:
            notes.append("cancelled")
        if b.retransmissions:
            notes.append(f"{len(b.retransmissions)} retransmission(s)")
        lines.append(f"    branch {b.index} {b.target} -> {_status(b.final_status)}"
                     + (f" ({'; '.join(notes)})" if notes else ""))
    for v in cr.violations:
        lines.append(f"    VIOLATION {_finding(v)}")
    if cr.loss is not None:
        lines.append(f"    CAPTURE LOSS {citation('CAP-7')} at frame {cr.loss.frame}: "
                     f"{cr.loss.message}")
        lines.extend(f"    set aside: {_finding(v)}" for v in cr.set_aside)
    if ladder:
        from pushinject.ladder import ladder_text

        drawn = ladder_text(call_arrows(r, cr))
        lines.extend("      " + line for line in drawn.splitlines())
    return lines


def _finding(v: Violation) -> str:
    where = f"frame {v.frame}" if v.frame else "no frame"
    return f"{v.rule} {v.citation()} at {where}: {v.message}"


def verdict_line(decided: str, captures: int, calls: int, violations: int,
                 preset: str | None, lacking: int = 0, dropped: int = 0) -> str:
    """The report's last line (`lacking`: the calls whose capture lacks messages, CAP-7;
    `dropped`: the packets the files say their recording dropped, CAP-8)."""
    replayed = f"; replayed {_model(preset)}" if preset else "; no replay"
    lack = f", {lacking} call(s) not judged: the capture lacks messages" if lacking else ""
    if dropped:
        lack += f", {dropped} packet(s) dropped while recording"
    return (f"verdict: {decided} ({captures} capture(s), {calls} call(s), "
            f"{violations} violation(s){lack}{replayed})")


def around_call(result: CaptureResult, call: CallResult
                ) -> tuple[set[tuple[str, int, str]], set[Address]]:
    """The exchanges around `call` that explain an injection, as (Call-ID, CSeq number, CSeq
    method) keys, and the addresses pushes went to: each REGISTER of the callee that added a
    contact during the call (the device woke and refreshed its binding, RFC 8599 §4.1.3), and
    each MESSAGE the proxy itself sent while the call waited for its final response (a push
    gateway reached over SIP, as in the capture lab; RFC 8599 §5.6.2 asks for a push there)."""
    record = call.call
    final = record.final
    end = final.time if final is not None else float("inf")
    registers = {r.order for r in record.registrations}
    keys: set[tuple[str, int, str]] = set()
    services: set[Address] = set()
    for m in result.capture.messages:
        if not m.is_request:
            continue
        msg, cseq = m.message, m.message.cseq
        if m.order in registers:
            keys.add((msg.call_id, cseq.number, cseq.method))
        elif (cseq.method == "MESSAGE" and m.source == record.proxy
              and record.invite_at <= m.time <= end):
            keys.add((msg.call_id, cseq.number, cseq.method))
            services.add(m.destination)
    return keys, services


def text_report(results: Sequence[CaptureResult], preset: str | None = None, *,
                ladder: bool = False) -> str:
    """A readable report: per capture, per call, the branches and the violations (and with
    `ladder` the call's ladder, frames at fault marked ``!``)."""
    lines: list[str] = []
    for r in results:
        lines.extend(capture_lines(r))
        for cr in r.calls:
            lines.extend(call_lines(r, cr, ladder=ladder))
    calls = sum(len(r.calls) for r in results)
    lines.append(verdict_line(verdict(results), len(results), calls,
                              sum(r.violations for r in results), preset,
                              sum(r.lacking for r in results),
                              sum(r.capture.dropped for r in results)))
    return "\n".join(lines) + "\n"


def _model(preset: str | None) -> str:
    if preset == CAPTURE_DRIVEN:
        return "capture-driven"
    return f"preset {preset}" if preset else "replay"


def junit_xml(results: Sequence[CaptureResult], preset: str | None = None) -> str:
    """JUnit XML: a testsuite per capture, a testcase per call and rule."""
    rules = [(r.id, r.title) for r in RULES]
    rules += [(rid, title) for rid, title, _ in FIELD_RULES]
    rules.append(("TIMING-1", "timers fire on time, late by at most the slack"))
    if preset:
        rules.append((REPLAY_RULE, f"replay {_model(preset)}"))
    root = ET.Element("testsuites", name="pushinject check")
    total = failures = 0
    for r in results:
        suite = ET.SubElement(root, "testsuite", name=r.capture.file)
        n = f = 0
        for cr in r.calls:
            for rule_id, title in rules:
                n += 1
                case = ET.SubElement(suite, "testcase", name=f"{rule_id}: {title}",
                                     classname=f"{r.capture.file}.{cr.call.call_id}")
                for v in cr.violations:
                    if v.rule == rule_id:
                        f += 1
                        failure = ET.SubElement(case, "failure", type=v.rule,
                                                message=f"{v.citation()} frame {v.frame}: "
                                                        f"{v.message}")
                        failure.text = v.message
        suite.set("tests", str(n))
        suite.set("failures", str(f))
        total, failures = total + n, failures + f
    root.set("tests", str(total))
    root.set("failures", str(failures))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_svgs(results: Sequence[CaptureResult], folder: Path) -> list[Path]:
    """Write each call's ladder (frames at fault marked) and branch graph as SVG into `folder`:
    ``<capture>-<n>-ladder.svg`` and ``<capture>-<n>-branches.svg``, n counting calls from 1.
    Returns the files written."""
    written = []
    for r in results:
        written += write_call_svgs(folder, r.capture.file, [(r, cr) for cr in r.calls])
    return written


def write_call_svgs(folder: Path, file: str,
                    calls: Sequence[tuple[CaptureResult, CallResult]]) -> list[Path]:
    """`write_svgs` for the calls of capture `file`, each with the result that holds its
    messages (the whole capture's, or the call's own when judged alone)."""
    from pushinject.graph import branch_graph_svg
    from pushinject.ladder import ladder_svg

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    stem = Path(file).stem
    for n, (r, cr) in enumerate(calls, start=1):
        title = f"{file}: {cr.call.call_id}"
        ladder = folder / f"{stem}-{n}-ladder.svg"
        ladder.write_text(ladder_svg(call_arrows(r, cr, ndigits=3), title=title),
                          encoding="utf-8")
        graph = folder / f"{stem}-{n}-branches.svg"
        summary = cr.call.summary(origin=cr.call.invite_at, ndigits=3)
        graph.write_text(branch_graph_svg(summary, title=title), encoding="utf-8")
        written += [ladder, graph]
    return written
