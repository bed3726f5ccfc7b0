"""`pushinject bench check`: how fast `pushinject check` judges captured calls.

The bundled Kamailio captures (`data/kamailio/*.pcap`, or the files given) are read once; the
timed loops then judge every call again and again: the rules alone, then the rules and the
replay through the kamailio-tsilo preset with the lab's timers. Reading a capture (decoding and
parsing every header the checker uses) is timed separately. Time is the process's CPU time
(`time.process_time`, one core), best of three runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pushinject.paths import DATA

HELP = "captured messages judged per second by pushinject check (rules, rules + replay)"

__all__ = ["HELP", "add_arguments", "run"]

#: where the bundled captures live, relative to the repository
BUNDLED = DATA / "kamailio"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help="captures (default: the bundled Kamailio captures)")
    parser.add_argument("--rounds", type=int, default=20,
                        help="times each capture is judged per run (default 20)")


def _best(fn: object, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        fn()  # type: ignore[operator]
        best = min(best, time.process_time() - start)
    return max(best, 1e-9)


def run(args: argparse.Namespace) -> int:
    from pushinject.conformance.capture import load_capture
    from pushinject.conformance.check import CheckOptions, check_messages
    from pushinject.errors import UsageError

    if args.rounds < 1:
        raise UsageError("--rounds must be at least 1")
    files = args.files or sorted(BUNDLED.glob("*.pcap"))
    if not files:
        raise UsageError(f"no captures in {BUNDLED}")
    load_time = _best(lambda: [load_capture(f) for f in files], runs=1)
    captures = [load_capture(f) for f in files]
    messages = sum(c.sip_messages for c in captures) * args.rounds
    rules = CheckOptions(preset=None)
    replay = CheckOptions(preset="kamailio-tsilo",
                          knobs={"fr_timeout": 8.0, "fr_inv_timeout": 10.0})
    print(f"{len(files)} captures, {sum(c.sip_messages for c in captures)} SIP messages, "
          f"read in {load_time:.3f} s CPU")
    print(f"{'measurement':<24}{'messages':>10}{'messages/s':>14}")
    figures = []
    for label, options in (("rules", rules), ("rules + replay", replay)):
        seconds = _best(lambda o=options: [check_messages(c, o) for c in captures
                                           for _ in range(args.rounds)])
        figures.append(messages / seconds)
        print(f"{label:<24}{messages:>10}{messages / seconds:>14,.0f}")
    print(f"check: {figures[1]:.0f} messages/s")
    return 0
