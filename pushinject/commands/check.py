"""`pushinject check FILE...`: judge a proxy's push branch injection from captures.

For each capture: find the proxy (or take `--proxy IP:PORT`), every INVITE transaction through
it, run the model-free rules (`pushinject.conformance.rules`) and the field rules
(`pushinject.conformance.field_rules`), read the proxy's timers from the capture where
`--knob NAME=VALUE` does not give them, and replay the proxy's inputs through the reference
core: by default with the routing choices the capture shows (the proxy's script need not be
known), with `--preset NAME` through that preset's script (`none` skips the replay). Prints a
readable report, or with `--json` one JSON document; `--ladder` draws each call's ladder with
the frames at fault marked; `--junit OUT.xml` also writes JUnit XML, `--svg DIR` each call's
ladder and branch graph.

Several files that are parts of one recording (rotated by ``tcpdump -C``/``-G`` or a ring
buffer; the rule is in `pushinject.capture.recording`) are merged by timestamp and judged as
one capture, so a call split across them is judged whole; `--merge` makes all inputs one
recording, `--separate` judges each file alone.

Verdicts and exit status: 0 ``conformant``, 1 ``violations``, 3 ``no-calls`` (a capture shows
no INVITE transaction through a proxy, so nothing was judged there), 2 unreadable input or bad
usage.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pushinject.conformance.check import CheckOptions

HELP = "judge captured INVITE transactions through a proxy: rules and replay through a model"

EPILOG = ("verdicts and exit status: 0 conformant; 1 violations; 3 no-calls (a capture shows no "
          "INVITE transaction through a proxy: nothing was judged there); 2 unreadable input or "
          "bad usage")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("files", nargs="*", metavar="FILE", help="pcap or pcapng captures")
    grouping = parser.add_mutually_exclusive_group()
    grouping.add_argument("--merge", dest="grouping", action="store_const", const="merge",
                          default="auto", help="judge all files as one recording, merged by "
                          "timestamp (default: only the parts of a rotated set)")
    grouping.add_argument("--separate", dest="grouping", action="store_const",
                          const="separate", help="judge every file alone")
    parser.add_argument("--hep-listen", metavar="HOST:PORT",
                        help="collect HEPv3 over UDP and TCP on this address and judge calls "
                        "live")
    parser.add_argument("--receive-buffer", type=int, default=None, metavar="KIB",
                        help="with --hep-listen: the UDP receive buffer (default 8192 KiB; "
                        "a collector that falls behind counts what the kernel dropped)")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="with --hep-listen: stop after this long (default: on a signal)")
    parser.add_argument("--quiet", type=float, default=5.0, metavar="SECONDS",
                        help="judge a call this long (capture time; with --hep-listen, arrival "
                        "time) after its last message once it has its final response "
                        "(default 5)")
    parser.add_argument("--preset", default=None,
                        help="replay through this preset's script: opensips, kamailio-tsilo, "
                        "rfc8599, or none (no replay); default: the routing choices the "
                        "capture shows")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="a timer of the proxy in seconds (repeatable; a timer not given is "
                        "read from the capture)")
    parser.add_argument("--timer-slack", type=float, default=1.0, metavar="SECONDS",
                        help="how late a timer may fire (default 1; never early)")
    parser.add_argument("--lost-within", type=float, default=10.0, metavar="SECONDS",
                        help="a device registering this soon after a 408/480 marks a lost call "
                        "(default 10)")
    parser.add_argument("--duplicates-within", type=float, default=None, metavar="SECONDS",
                        help="the same message seen twice this close is one message the capture "
                        "recorded twice, set aside as duplicate (default 0.01; 0: keep "
                        "every copy)")
    parser.add_argument("--proxy", action="append", default=[], metavar="IP:PORT",
                        help="the proxy's address (default: found); repeat it, or give a comma "
                        "list, for a proxy listening on several addresses")
    parser.add_argument("--tolerance", type=float, default=0.5, metavar="SECONDS",
                        help="how long a reaction may lag its cause (default 0.5)")
    parser.add_argument("--inject-within", type=float, default=2.0, metavar="SECONDS",
                        help="how soon a registered contact must be injected (default 2)")
    parser.add_argument("--ladder", action="store_true",
                        help="draw each call's ladder in the report, frames at fault marked !")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON document")
    output.add_argument("--jsonl", action="store_true",
                        help="print one JSON object per call as it is judged, then a summary")
    parser.add_argument("--jobs", default="1", metavar="N",
                        help="judge on N local processes, partitioned by the callee; `auto`: "
                        "one per core this process may run on (default 1; with --scheduler: "
                        "N Dask tasks, default one per worker)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="judge on the Dask distributed cluster of this scheduler "
                        "(tcp://HOST:PORT); every worker must read the files at the same path")
    parser.add_argument("--junit", type=Path, metavar="OUT.xml", help="also write JUnit XML")
    parser.add_argument("--svg", type=Path, metavar="DIR",
                        help="also write each call's ladder and branch graph as SVG into DIR")


def jobs_wanted(text: str) -> int:
    """The number of local processes `--jobs` asks for: a positive integer, or ``auto``, the
    cores this process may run on (its CPU affinity, which a container or `taskset` narrows).

    >>> jobs_wanted("3")
    3
    >>> jobs_wanted("auto") >= 1
    True
    """
    from pushinject.errors import UsageError

    if text == "auto":
        import os

        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise UsageError(f"--jobs wants a whole number of processes, at least 1, or auto, "
                         f"not {text!r}")
    return jobs


def parse_knobs(items: list[str], preset: str | None) -> dict[str, float]:
    from pushinject.conformance.capture_script import CAPTURE_DRIVEN, capture_preset
    from pushinject.errors import UsageError
    from pushinject.presets import get_preset
    from pushinject.presets.base import SWITCHES, TIMER_KNOBS

    if preset == CAPTURE_DRIVEN:
        known = {**capture_preset(()).defaults, **TIMER_KNOBS}
    else:
        known = {**get_preset(preset).defaults, **TIMER_KNOBS} if preset else {}
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not sep or number < 0:
            raise UsageError(f"--knob wants NAME=SECONDS, got {item!r}")
        if name in SWITCHES and number not in (0.0, 1.0):
            raise UsageError(f"--knob {name} is a switch: 0 (off) or 1 (on), got {value!r}")
        if name in TIMER_KNOBS and number == 0:
            raise UsageError(f"--knob {name} must be above 0 seconds, got {value!r}")
        if name not in known:
            names = ", ".join(sorted(known)) or "none without a preset"
            model = ("the capture-driven replay" if preset == CAPTURE_DRIVEN
                     else f"preset {preset}")
            raise UsageError(f"{model} has no knob {name!r} (known: {names})")
        out[name] = number
    return out


def run(args: argparse.Namespace) -> int:
    from pushinject.conformance.check import CAPTURE_DRIVEN, CheckOptions
    from pushinject.conformance.proxy_detect import parse_proxies
    from pushinject.errors import UsageError

    preset = (None if args.preset == "none" else
              CAPTURE_DRIVEN if args.preset is None else args.preset)
    window = ({} if args.duplicates_within is None
              else {"duplicates_within": args.duplicates_within})
    if min(args.tolerance, args.inject_within, args.timer_slack, args.lost_within,
           *window.values()) < 0:
        raise UsageError("--tolerance, --inject-within, --timer-slack, --lost-within and "
                         "--duplicates-within must not be negative")
    proxies = parse_proxies(args.proxy)
    options = CheckOptions(preset=preset, knobs=parse_knobs(args.knob, preset),
                           proxy=proxies[0] if proxies else None, aliases=proxies[1:],
                           tolerance=args.tolerance, inject_within=args.inject_within,
                           timer_slack=args.timer_slack, lost_within=args.lost_within,
                           **window)
    if args.hep_listen is not None:
        return _collect(args, options)
    if not args.files:
        raise UsageError("give capture files, or --hep-listen HOST:PORT")
    if args.duration is not None or args.receive_buffer is not None:
        raise UsageError("--duration and --receive-buffer go with --hep-listen")
    args.jobs = jobs_wanted(args.jobs)
    if args.quiet < 0:
        raise UsageError("--quiet must not be negative")
    if args.svg is not None and (args.jobs > 1 or args.scheduler is not None):
        raise UsageError("--svg draws from the messages of each call: use it with --jobs 1")
    return _check_files(args, options)


def _check_files(args: argparse.Namespace, options: CheckOptions) -> int:
    """Judge the captures as a stream (`pushinject.conformance.parallel`): text lines and
    JSON lines are printed as calls complete; JSON, JUnit and SVG are written at the end, each
    capture's calls in order of their INVITE."""
    import json
    from dataclasses import replace

    from pushinject.capture.recording import group_inputs
    from pushinject.conformance.check import EXIT_STATUS, verdict_of
    from pushinject.conformance.parallel import CaptureDone, judge
    from pushinject.conformance.stream import Wanted
    from pushinject.conformance.report import (
        capture_lines, junit_xml, verdict_line, write_call_svgs,
    )
    from pushinject.progress import progress_bar

    recordings = group_inputs(args.files, args.grouping)
    keep = args.json or args.junit is not None or args.svg is not None
    text = not (args.json or args.jsonl)
    kept: dict[int, list[Any]] = {}
    done: list[CaptureDone] = []
    bar = progress_bar()
    names = [r.name for r in recordings]
    try:
        wanted = Wanted(call=keep, lines=text, ladder=args.ladder and text, record=args.jsonl)
        for item in judge(recordings, options, jobs=args.jobs, quiet=args.quiet, wanted=wanted,
                          keep=args.svg is not None, progress=bar, scheduler=args.scheduler):
            if isinstance(item, CaptureDone):
                done.append(item)
                if text:
                    _out(capture_lines(item.result, item.calls), bar)
                continue
            if keep:
                kept.setdefault(item.capture, []).append(item)
            if text:
                _out(item.lines, bar)
            elif args.jsonl:
                assert item.record is not None  # asked for by `wanted`
                _out([json_line(names[item.capture], item.record)], bar)
    finally:
        if bar is not None:
            bar.finish()
    decided = verdict_of(sum(d.violations for d in done), sum(not d.calls for d in done))
    results = [replace(d.result, calls=tuple(j.call for j in sorted(
        kept.get(i, []), key=lambda j: j.invite) if j.call is not None))
        for i, d in enumerate(done)]
    if args.junit is not None:
        args.junit.write_text(junit_xml(results, options.preset), encoding="utf-8")
    if args.svg is not None:
        for i, d in enumerate(done):
            calls = sorted(kept.get(i, []), key=lambda j: j.invite)
            write_call_svgs(args.svg, d.result.capture.file,
                            [(j.judged, j.call) for j in calls if j.judged is not None])
    if args.json:
        print(json.dumps({"verdict": decided, "captures": [r.to_json() for r in results]},
                         indent=2))
    elif args.jsonl:
        summary = [{k: v for k, v in d.result.to_json().items() if k != "calls"}
                   | {"calls": d.calls, "violations": d.violations}
                   | ({"lacking": d.lacking} if d.lacking else {}) for d in done]
        print(json.dumps({"verdict": decided, "captures": summary}))
    else:
        print(verdict_line(decided, len(done), sum(d.calls for d in done),
                           sum(d.violations for d in done), options.preset,
                           sum(d.lacking for d in done),
                           sum(d.result.capture.dropped for d in done)))
    return EXIT_STATUS[decided]


def json_line(name: str, record: str) -> str:
    """A call's JSON line: its capture's name, then the fields of `record`, the call's JSON
    text (`json.dumps` of a non-empty object, in its default layout), as ``json.dumps`` of
    the object ``{"file": name, **call}`` writes it.

    >>> json_line("a.pcap", '{"call_id": "c1", "violations": []}')
    '{"file": "a.pcap", "call_id": "c1", "violations": []}'
    """
    import json

    return f'{{"file": {json.dumps(name)}, {record[1:]}'


def _out(lines: Any, bar: Any) -> None:
    """Print report lines now (over the progress bar, which redraws on its next step)."""
    import sys

    if bar is not None:
        sys.stderr.write("\r")
    print("\n".join(lines), flush=True)


def _collect(args: argparse.Namespace, options: CheckOptions) -> int:
    """`--hep-listen HOST:PORT` (port 0: any free port): the live collector."""
    from pushinject.errors import UsageError
    from pushinject.live.hep_collector import collect

    from pushinject.live.hep_collector import BUFFER_KIB

    if args.files or args.junit is not None or args.svg is not None:
        raise UsageError("--hep-listen takes no capture files, --junit or --svg")
    if args.receive_buffer is not None and not 1 <= args.receive_buffer <= 1 << 20:
        raise UsageError("--receive-buffer wants KiB from 1 to 1048576")
    if (args.duration is not None and args.duration <= 0) or args.quiet < 0:
        raise UsageError("--duration must be positive and --quiet not negative")
    host, sep, port = args.hep_listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--hep-listen wants HOST:PORT, got {args.hep_listen!r}")
    return collect((host, int(port)), options, duration=args.duration, quiet=args.quiet,
                   json_lines=args.json, ladder=args.ladder,
                   buffer_kib=args.receive_buffer or BUFFER_KIB)
