"""A live HEP collector: HEPv3 over UDP in, each call's verdict out as soon as it is complete.

`collect()` binds a UDP socket, announces ``listening for HEP on HOST:PORT`` on stderr, and
loops until `duration` seconds have passed or SIGINT/SIGTERM arrives (the loop waits at most
0.2 s at a time, so it notices both promptly). Each datagram goes through
`pushinject.capture.Decoder.feed_datagram` (HEP unwrapped, HEP-2; malformed packets counted,
never raised) and `pushinject.conformance.capture.to_wire`, then into a
`pushinject.conformance.collector.CallCollector`, whose `now` is this loop's monotonic clock
(HEP-3). Every verdict is printed when its call completes; at the end the calls still open are
judged, and a summary follows. Frame numbers count the datagrams received, from 1.

Output: text (each call as `text_report` shows it, with its ladder when `ladder`; at the end
``verdict: ...``), or with `json_lines`
one JSON object per judged call (its capture's `to_json`) and a last ``{"summary": ...}``.
Returns the exit status of `pushinject check`: 0 conformant, 1 violations.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Sequence
from types import FrameType
from typing import TextIO

from pushinject.conformance.capture import Address, address_text
from pushinject.conformance.check import CaptureResult, CheckOptions
from pushinject.errors import UsageError

__all__ = ["collect"]

#: the longest the loop waits for a datagram before it looks at the clock again
TICK = 0.2


def _bind(listen: Address) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind(listen)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {address_text(listen)}: {exc.strerror}") from None
    sock.settimeout(TICK)
    return sock


def _print(results: Sequence[CaptureResult], preset: str | None, json_lines: bool,
           ladder: bool, out: TextIO) -> None:
    from pushinject.conformance.report import text_report

    for result in results:
        if json_lines:
            out.write(json.dumps(result.to_json()) + "\n")
        else:
            report = text_report([result], preset, ladder=ladder)
            out.write(report[: report.rindex("verdict: ")])  # without its verdict line
    out.flush()


def collect(listen: Address, options: CheckOptions, *, duration: float | None = None,
            quiet: float = 5.0, json_lines: bool = False, ladder: bool = False,
            out: TextIO = sys.stdout) -> int:
    """Run the collector (see the module docstring); returns the exit status."""
    from pushinject.capture.decoder import Decoder
    from pushinject.conformance.collector import CallCollector
    from pushinject.conformance.capture import to_wire

    sock = _bind(listen)
    host, port = sock.getsockname()[:2]
    where = address_text((host, port))
    stop: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    decoder = Decoder()
    collector = CallCollector(options, name=f"HEP {where}", quiet=quiet)
    skipped: Counter[str] = Counter()
    calls = violations = frames = 0
    print(f"listening for HEP on {where}", file=sys.stderr, flush=True)
    start = time.monotonic()
    end = None if duration is None else start + duration
    try:
        while not stop:
            now = time.monotonic()
            if end is not None and now >= end:
                break
            try:
                data, peer = sock.recvfrom(65535)
            except (socket.timeout, InterruptedError):
                data = b""
            now = time.monotonic()
            if data:
                frames += 1
                for decoded in decoder.feed_datagram(frames, time.time(), peer[:2],
                                                     (host, port), data):
                    wire = to_wire(decoded)
                    if wire is None:
                        skipped["unparsable-sip"] += 1
                    else:
                        collector.add(wire, now, decoded.raw)
            done = collector.due(now)
            calls += sum(len(r.calls) for r in done)
            violations += sum(r.violations for r in done)
            _print(done, options.preset, json_lines, ladder, out)
        done = collector.flush()
        calls += sum(len(r.calls) for r in done)
        violations += sum(r.violations for r in done)
        _print(done, options.preset, json_lines, ladder, out)
    finally:
        sock.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    skipped.update(decoder.summary.skipped)
    verdict = "violations" if violations else "conformant"
    summary = {"verdict": verdict, "listen": where, "datagrams": frames,
               "sip_messages": decoder.summary.messages, "calls": calls,
               "violations": violations, "skipped": dict(sorted(skipped.items())),
               "messages": dict(sorted(collector.counts.items()))}
    if json_lines:
        out.write(json.dumps({"summary": summary}) + "\n")
    else:
        skips = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
        out.write(f"verdict: {verdict} ({frames} HEP datagram(s) on {where}, "
                  f"{calls} call(s), {violations} violation(s)"
                  + (f"; skipped: {skips}" if skips else "") + ")\n")
    out.flush()
    return 1 if violations else 0
