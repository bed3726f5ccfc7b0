"""`pushinject bench NAME`: benchmarks that print figures and ratios measured in the same run.

Each benchmark lives in `pushinject.bench.<name>` and exposes `HELP`, `add_arguments(parser)`
and `run(args) -> int`; its last line of output is `<name>: <figure>`.
"""

from __future__ import annotations

import argparse
import importlib

HELP = "run a benchmark (check, core, decode, live, location, parse, scale) and print its figures"

#: benchmark name -> module implementing it
BENCHMARKS: dict[str, str] = {
    "check": "pushinject.bench.check",
    "core": "pushinject.bench.core",
    "decode": "pushinject.bench.decode",
    "live": "pushinject.bench.live",
    "location": "pushinject.bench.location",
    "parse": "pushinject.bench.parse",
    "scale": "pushinject.bench.scale",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="benchmark", metavar="NAME", required=True)
    for name in sorted(BENCHMARKS):
        module = importlib.import_module(BENCHMARKS[name])
        child = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(child)
        child.set_defaults(_bench=module)


def run(args: argparse.Namespace) -> int:
    return int(args._bench.run(args))
