"""`pushinject lab [SCENARIO...] [--out DIR] [--list]`: make real Kamailio captures.

Runs each scenario of `pushinject.lab.scenarios` (all by default) against a real Kamailio 5.6
with tsilo, SIPp parties and tcpdump, each in a private network namespace
(`pushinject.lab.runner`), checks that the new capture shows the scenario's facts
(`pushinject.lab.facts`) and writes the capture and its manifest table into ``--out``
(default ``data/kamailio``). Needs root (for ``unshare -n`` and tcpdump); missing Debian packages
(kamailio, sip-tester, tcpdump, iproute2, util-linux) are installed with apt-get.

With ``--hep`` Kamailio also mirrors its traffic as HEPv3 (siptrace) to a live
``pushinject check --hep-listen`` in the namespace: each scenario then also leaves
``<scenario>-hep.pcap`` (the HEP packets) and ``<scenario>-hep.jsonl`` (the live verdicts) in
``--out`` (see `pushinject.lab.hep_mirror`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from pushinject.errors import UsageError

__all__ = ["HELP", "TOOLS", "add_arguments", "missing_packages", "run"]

HELP = "regenerate the real Kamailio captures (root; private network namespace per scenario)"

#: command the lab runs -> Debian package providing it
TOOLS: dict[str, str] = {
    "kamailio": "kamailio",
    "sipp": "sip-tester",
    "tcpdump": "tcpdump",
    "ip": "iproute2",
    "unshare": "util-linux",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="scenarios to run (default: all; see --list)")
    parser.add_argument("--out", type=Path, default=Path("data/kamailio"),
                        help="folder for the captures and manifest.toml (default: data/kamailio)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep every process's log in OUT/<scenario>.logs/")
    parser.add_argument("--hep", action="store_true",
                        help="also mirror the traffic as HEPv3 to a live collector and keep "
                        "OUT/<scenario>-hep.pcap and -hep.jsonl")


def missing_packages() -> list[str]:
    """Debian packages whose command the lab needs and cannot find."""
    return sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})


def _install(packages: list[str]) -> None:
    if os.geteuid() != 0:
        raise UsageError(f"missing {', '.join(packages)}: run as root to install them, "
                         "or install them with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise UsageError(f"{' '.join(argv[:2])} failed: {done.stderr.strip()[-300:]}")


def run(args: argparse.Namespace) -> int:
    from pushinject.lab.scenarios import SCENARIOS

    if args.list:
        for name, scenario in SCENARIOS.items():
            print(f"{name}  {scenario.title}")
        return 0
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        raise UsageError(f"unknown scenario {unknown[0]} (known: {', '.join(SCENARIOS)})")
    if os.geteuid() != 0:
        raise UsageError("the lab needs root (private network namespaces, tcpdump)")
    packages = missing_packages()
    if packages:
        _install(packages)

    from pushinject.lab.facts import capture_facts, differences
    from pushinject.lab.manifest import entry, write_manifest
    from pushinject.lab.runner import LabError, namespaces_available, run_isolated

    if not namespaces_available():
        raise UsageError("cannot create a network namespace (unshare -n): the lab needs root "
                         "with CAP_SYS_ADMIN, e.g. a privileged container")

    names = args.scenarios or list(SCENARIOS)
    out: Path = args.out
    entries = {}
    failures = 0
    for name in names:
        scenario = SCENARIOS[name]
        try:
            run_isolated([name], out, keep_logs=args.keep_logs, hep=args.hep)
        except LabError as exc:
            print(f"{name}: FAILED: {exc}")
            failures += 1
            continue
        facts = capture_facts(out / scenario.file)
        problems = differences(facts, scenario)
        injected = sum(b.injected for b in facts.branches)
        print(f"{name}: {facts.frames} frames, {facts.duration:.2f} s, final {facts.final_status}, "
              f"{len(facts.branches)} branches ({injected} injected), {facts.pushes} push"
              + ("" if not problems else " -- DIFFERS: " + "; ".join(problems)))
        if problems:
            failures += 1
        else:
            entries[name] = entry(scenario, facts)
    if entries:
        print(f"manifest: {write_manifest(out, entries)}")
    return 1 if failures else 0
