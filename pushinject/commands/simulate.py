"""`pushinject simulate SCENARIO.toml`: run a scenario on the virtual clock against a preset.

Prints the call flow as a text ladder, or with `--json` one JSON object (final status and when
the proxy sent it, the branches, the pushes, the message count). `--pcap` writes every message
as a UDP/IPv4 capture (byte-identical run to run), `--svg` the branch graph. `--preset all`
runs the scenario under every preset and prints one line (or, with `--json`, one object) each.
`--knob NAME=VALUE` sets a knob of the preset over the file's ``[proxy]`` table (as `pushinject
check --knob` names them: e.g. ``t1=0.25``, the transaction timers' T1).

Given a traffic file instead (a TOML file with ``users``, see `pushinject.sim.traffic`), it
simulates every call of the traffic and prints the summary: calls answered, and calls lost by cause
(with `--json`, ``{"summary": ..., "calls": [...]}``); `--pcap` writes the whole traffic as one
capture, byte-identical for the same file and seed; `--preset` overrides the file's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "simulate a scenario file against a preset (opensips, kamailio-tsilo, rfc8599)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", type=Path, help="scenario or traffic file (TOML)")
    parser.add_argument("--preset", help="opensips (default), kamailio-tsilo, rfc8599, or all; "
                        "overrides the scenario's own")
    parser.add_argument("--pcap", type=Path, metavar="OUT.pcap", help="write a capture")
    parser.add_argument("--svg", type=Path, metavar="OUT.svg", help="write the branch graph")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="a knob of the preset (repeatable), over the file's [proxy] "
                        "table, e.g. t1=0.25")


def run(args: argparse.Namespace) -> int:
    from pushinject.presets import get_preset
    from pushinject.sim.run import run_scenario
    from pushinject.sim.scenario import load_scenario
    from pushinject.sim.traffic import is_traffic

    try:
        text = args.scenario.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""  # the scenario loader reports it
    if is_traffic(text):
        return _traffic(args)
    if args.preset == "all":
        return _compare(args)
    if args.preset is not None:
        get_preset(args.preset)  # an unknown name is a usage error before anything runs
    result = run_scenario(_with_knobs(args, load_scenario(args.scenario)), args.preset)
    if args.pcap is not None:
        args.pcap.write_bytes(result.pcap())
    if args.svg is not None:
        from pushinject.sim.views import branch_graph_svg

        args.svg.write_text(branch_graph_svg(result), encoding="utf-8")
    if args.json:
        print(json.dumps(result.json(), indent=2))
        return 0
    from pushinject.sim.views import arrows, ladder_text

    data = result.json()
    drawn = arrows(result)
    origin = f"; ladder times count from {drawn[0].time:g} s" if drawn and drawn[0].time else ""
    print(f"{data['scenario']} [{data['preset']}]{origin}")
    print(ladder_text(result))
    print(f"final: {data['final']} at {data['final_at']}  messages: {data['messages']}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    """The scenario under every preset, side by side."""
    from pushinject.errors import UsageError
    from pushinject.presets import PRESETS
    from pushinject.sim.run import run_scenario

    if args.pcap is not None or args.svg is not None:
        raise UsageError("--pcap and --svg need one preset, not all")
    from pushinject.sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    results = {name: run_scenario(_with_knobs(args, scenario, name), name).json()
               for name in PRESETS}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, data in results.items():
        injected = ",".join(b["device"] for b in data["branches"] if b["injected"]) or "-"
        at = str(data["final_at"])
        print(f"{name:15} final {data['final']} at {at:<8} injected {injected:8} "
              f"messages {data['messages']}")
    return 0


def _traffic(args: argparse.Namespace) -> int:
    """A traffic file: every call simulated, the summary printed."""
    from dataclasses import replace

    from pushinject.errors import UsageError
    from pushinject.presets import get_preset
    from pushinject.sim.traffic import CAUSES, load_traffic, run_traffic

    if args.preset == "all" or args.svg is not None:
        raise UsageError("a traffic file runs under one preset and draws no branch graph")
    traffic = load_traffic(args.scenario)
    if args.preset is not None:
        get_preset(args.preset)
        traffic = replace(traffic, preset=args.preset)
    result = run_traffic(_with_knobs(args, traffic))
    if args.pcap is not None:
        args.pcap.write_bytes(result.pcap())
    summary = result.summary()
    if args.json:
        print(json.dumps({"summary": summary, "calls": [c.to_json() for c in result.calls]},
                         indent=2))
        return 0
    lost = sum(summary["lost"].values())
    print(f"{summary['traffic']} [{summary['preset']}, seed {summary['seed']}]: "
          f"{summary['calls']} calls, {summary['answered']} answered, {lost} lost, "
          f"{summary['messages']} messages")
    for cause in CAUSES:
        print(f"  lost, {cause}: {summary['lost'][cause]}")
    if summary["no-free-user"]:
        print(f"  not placed, every user busy: {summary['no-free-user']}")
    return 0


def _with_knobs(args: argparse.Namespace, spec: Any, preset: str | None = None) -> Any:
    """The scenario or traffic `spec` with the `--knob` values over its ``[proxy]`` table,
    checked as `pushinject check` checks them against the preset that runs it."""
    from dataclasses import replace

    from pushinject.commands.check import parse_knobs
    from pushinject.presets import DEFAULT_PRESET

    if not args.knob:
        return spec
    name = preset or (args.preset if args.preset != "all" else None) or spec.preset
    knobs = parse_knobs(args.knob, name or DEFAULT_PRESET)
    return replace(spec, proxy={**spec.proxy, **knobs})
