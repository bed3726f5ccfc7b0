"""`pushinject live SCENARIO.toml [--preset NAME] [--json]`: run a scenario over real UDP.

The proxy core runs behind the asyncio shell (`pushinject.live`), the caller, the devices and
a push gateway on their own loopback sockets, in a private network namespace so that the fixed
ports (5060, 5090) can never meet another process: the command re-runs itself under
`unshare -n` (root needed) and brings `lo` up. It prints the live outcome next to the
simulated one and exits 0 when they agree, 1 when they differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

from pushinject.errors import UsageError

HELP = "run a scenario live over UDP on loopback (private network namespace) and compare it " \
       "with the simulation"

IN_NETNS = "PUSHINJECT_IN_NETNS"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="scenario file (TOML)")
    parser.add_argument("--preset", help="opensips, kamailio-tsilo or rfc8599")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--limit", type=float, default=60.0,
                        help="stop after this many seconds at the latest (default 60)")


def reexec_in_namespace(argv: list[str], timeout: float = 600.0) -> int:
    """Run `pushinject ARGV...` again in a private network namespace (root, `unshare -n`),
    with IN_NETNS set so that it knows; returns its exit status."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise UsageError("needs `unshare` (util-linux) to make a private network namespace")
    if os.geteuid() != 0:
        raise UsageError("needs root to make a private network namespace (unshare -n)")
    env = dict(os.environ, **{IN_NETNS: "1"})
    done = subprocess.run([unshare, "-n", "--", sys.executable, "-m", "pushinject", *argv],
                          env=env, timeout=timeout, check=False)
    return done.returncode


def run(args: argparse.Namespace) -> int:
    if os.environ.get(IN_NETNS) != "1":
        argv = ["live", args.scenario, "--limit", str(args.limit)]
        argv += ["--preset", args.preset] if args.preset else []
        argv += ["--json"] if args.json else []
        return reexec_in_namespace(argv)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)

    from pushinject.live.loopback import compare, run_live
    from pushinject.sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    live = run_live(scenario, args.preset, limit=args.limit)
    problems = compare(live)
    if args.json:
        print(json.dumps({"live": live.json(), "simulated": live.simulated.json(),
                          "agree": not problems, "differences": problems}, sort_keys=True))
    else:
        got = live.json()
        print(f"scenario: {scenario.name} (preset {live.preset})")
        print(f"live: final {got['final']} at {got['final_at']} s, "
              f"{len(got['branches'])} branches, pushes {[p['device'] for p in got['pushes']]}")
        sim = live.simulated.json()
        print(f"simulated: final {sim['final']} at {sim['final_at']} s, "
              f"{len(sim['branches'])} branches")
        for problem in problems:
            print(f"difference: {problem}")
        print("agree" if not problems else "differ")
    return 0 if not problems else 1
