"""`pushinject lab [SCENARIO...] [--proxy NAME] [--out DIR] [--list] [--load]`: real captures.

Runs each scenario of the chosen proxy (all by default) against the real proxy, SIPp parties
and tcpdump, each in a private network namespace (`pushinject.lab.runner`), checks that the new
capture shows the scenario's facts (`pushinject.lab.facts`) and writes the capture and its
manifest table into ``--out`` (default ``data/kamailio`` or ``data/opensips``).
``--proxy kamailio`` (the default) runs Kamailio 5.6 with tsilo, scenarios S1-S13;
``--proxy opensips`` runs OpenSIPS 3.x with the seed's routes, scenarios O1-O15
(`pushinject.lab.proxies`). Needs root (for ``unshare -n`` and tcpdump); missing Debian packages
(kamailio, sip-tester, tcpdump, iproute2, util-linux) are installed with apt-get. Debian has no
OpenSIPS package: when ``opensips`` is not on PATH the command says how to build it.

With ``--load``, the lab records a proxy under SIPp load instead of the scenarios
(`pushinject.lab.load`): the lab's Kamailio, or ``--proxy serve`` (``pushinject serve --preset
kamailio-tsilo --workers 2``), doing push with injection at 10 calls/s for 30 s (``--rate``,
``--seconds``, ``--hold-ms`` size another run, into another ``--out``), judged with no
option, under ``--preset kamailio-tsilo`` and with the lab's tm timers as knobs, into
``--out`` (default ``data/kamailio/load``) as ``L1.pcap`` and its ``manifest.toml`` table;
``--proxy opensips`` runs the lab's OpenSIPS under the same load, judged with no option and
under ``--preset opensips``, into ``data/opensips/load/L2.pcap`` by default.

With ``--hep`` the proxy also mirrors its traffic as HEPv3 (Kamailio's siptrace, OpenSIPS's
proto_hep and tracer) to a live ``pushinject check --hep-listen`` in the namespace, which judges
with the proxy's preset: each scenario then also leaves ``<scenario>-hep.pcap`` (the HEP
packets) and ``<scenario>-hep.jsonl`` (the live verdicts, judged with the scenario's own tm
timers as knobs where it sets any) beside its capture in ``--out`` (see
`pushinject.lab.hep_mirror`); ``--hep-transport tcp`` sends the mirror over a TCP connection
instead of UDP datagrams; ``--hep-version 1`` or ``2`` sends HEPv1 or HEPv2, the older headers
(siptrace's default is 1), in datagrams (HEP-5); ``--hep-json`` (OpenSIPS) sets proto_hep's
``homer5_on`` to 0, which sends each SIP message inside a JSON object (HEP-6).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from pushinject.errors import UsageError

__all__ = ["BUILD_HINT", "HELP", "TOOLS", "add_arguments", "missing_packages", "run"]

HELP = ("regenerate the real Kamailio or OpenSIPS captures "
        "(root; private network namespace per scenario)")

#: command the lab runs -> Debian package providing it
TOOLS: dict[str, str] = {
    "sipp": "sip-tester",
    "tcpdump": "tcpdump",
    "ip": "iproute2",
    "unshare": "util-linux",
}

BUILD_HINT = ("opensips is not installed (Debian has no package): build it from an OpenSIPS 3.x "
              "source tree with pushinject/lab/build_opensips.sh SRC_DIR [PREFIX]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="scenarios to run (default: all; see --list)")
    parser.add_argument("--proxy", choices=("kamailio", "opensips", "serve"),
                        default="kamailio",
                        help="the proxy to run (default: kamailio; serve: `pushinject serve "
                             "--preset kamailio-tsilo`, with --load only)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the captures and manifest.toml "
                             "(default: data/kamailio or data/opensips)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep every process's log in OUT/<scenario>.logs/")
    parser.add_argument("--load", action="store_true",
                        help="record the proxy under SIPp load instead (push with injection, "
                             "10 calls/s for 30 s): OUT/L1.pcap, default OUT data/kamailio/load; "
                             "OpenSIPS: OUT/L2.pcap, default OUT data/opensips/load")
    parser.add_argument("--rate", type=_positive_int, default=None, metavar="PER_SECOND",
                        help="with --load: calls a second (default 10; another needs --out)")
    parser.add_argument("--seconds", type=_positive_int, default=None, metavar="S",
                        help="with --load: how long calls start (default 30; another needs "
                             "--out)")
    parser.add_argument("--hold-ms", type=_positive_int, default=None, metavar="MS",
                        help="with --load: how long the caller holds an answered call "
                             "(default 2000; another needs --out)")
    parser.add_argument("--hep", action="store_true",
                        help="also mirror the proxy's traffic as HEPv3 to a live "
                        "collector and keep OUT/<scenario>-hep.pcap and -hep.jsonl")
    parser.add_argument("--hep-transport", choices=("udp", "tcp"), default=None,
                        help="with --hep: send the mirror's packets in UDP datagrams (default) "
                        "or over a TCP connection")
    parser.add_argument("--hep-version", type=int, choices=(1, 2, 3), default=None,
                        help="with --hep: the HEP version the proxy sends (default 3; 1 and "
                        "2, the older headers, in UDP datagrams only)")
    parser.add_argument("--hep-json", action="store_true",
                        help="with --hep and --proxy opensips: each SIP message inside a JSON "
                        "object (proto_hep homer5_on 0; HEPv3 only)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


def missing_packages(binary: str = "kamailio", package: str | None = "kamailio") -> list[str]:
    """Debian packages whose command the lab needs and cannot find (the proxy's when it has
    one)."""
    tools = {**TOOLS, **({binary: package} if package else {})}
    return sorted({pkg for tool, pkg in tools.items() if shutil.which(tool) is None})


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


def _sizing(args: argparse.Namespace) -> dict[str, int]:
    """The load size the user asked for: ``--rate``, ``--seconds``, ``--hold-ms`` given."""
    asked = {"rate": args.rate, "seconds": args.seconds, "hold_ms": args.hold_ms}
    return {k: v for k, v in asked.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from pushinject.lab.proxies import PROXIES

    if not args.load and _sizing(args):
        raise UsageError("--rate, --seconds and --hold-ms size a load run: add --load")
    if args.load or args.proxy == "serve":
        return _load(args)
    proxy = PROXIES[args.proxy]
    if args.list:
        for name, scenario in proxy.scenarios.items():
            print(f"{name}  {scenario.title}")
        return 0
    if args.hep_transport is not None and not args.hep:
        raise UsageError("--hep-transport says how --hep mirrors: add --hep")
    if args.hep_version is not None and not args.hep:
        raise UsageError("--hep-version says how --hep mirrors: add --hep")
    if args.hep_json and not args.hep:
        raise UsageError("--hep-json says how --hep mirrors: add --hep")
    if args.hep_json and proxy.name != "opensips":
        raise UsageError("--hep-json is OpenSIPS's proto_hep homer5_on 0: Kamailio's siptrace "
                         "has no JSON form")
    if (args.hep_version or 3) != 3 and args.hep_transport == "tcp":
        raise UsageError(f"HEPv{args.hep_version} has no length field to frame a TCP stream: "
                         "--hep-version 1 and 2 mirror in UDP datagrams only")
    if (args.hep_version or 3) != 3 and args.hep_json:
        raise UsageError(f"HEPv{args.hep_version} has no payload chunk to hold JSON: "
                         "--hep-json needs HEPv3")
    unknown = [name for name in args.scenarios if name not in proxy.scenarios]
    if unknown:
        raise UsageError(f"unknown scenario {unknown[0]} (known: {', '.join(proxy.scenarios)})")
    if os.geteuid() != 0:
        raise UsageError("the lab needs root (private network namespaces, tcpdump)")
    if proxy.package is None and shutil.which(proxy.binary) is None:
        raise UsageError(BUILD_HINT)
    packages = missing_packages(proxy.binary, proxy.package)
    if packages:
        _install(packages)

    from pushinject.lab.facts import capture_facts, differences
    from pushinject.lab.hep_mirror import Mirror
    from pushinject.lab.manifest import entry, write_manifest
    from pushinject.lab.runner import LabError, namespaces_available, run_isolated

    if not namespaces_available():
        raise UsageError("cannot create a network namespace (unshare -n): the lab needs root "
                         "with CAP_SYS_ADMIN, e.g. a privileged container")

    names = args.scenarios or list(proxy.scenarios)
    out: Path = args.out or proxy.default_out
    entries = {}
    failures = 0
    for name in names:
        scenario = proxy.scenarios[name]
        try:
            run_isolated([name], out, keep_logs=args.keep_logs, proxy=proxy,
                         hep=Mirror(args.hep_transport or "udp", args.hep_version or 3,
                                    args.hep_json) if args.hep else None)
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
        print(f"manifest: {write_manifest(out, entries, proxy)}")
    return 1 if failures else 0


def _load(args: argparse.Namespace) -> int:
    """`--load`: the lab's load capture (`pushinject.lab.load.run_lab`)."""
    if not args.load:
        raise UsageError("--proxy serve records a load capture: add --load")
    if (args.scenarios or args.hep or args.hep_transport or args.hep_version or args.hep_json
            or args.list):
        raise UsageError("--load runs the lab's Kamailio, OpenSIPS or serve alone: no "
                         "scenario, --hep or --list")
    if args.proxy == "serve" and args.out is None:
        raise UsageError("--proxy serve needs --out DIR (data/kamailio/load is Kamailio's)")
    from pushinject.lab.load import LAB_LOAD, LOAD_OUT, run_lab

    sizing = _sizing(args)
    if args.out is None and any(getattr(LAB_LOAD, k) != v for k, v in sizing.items()):
        raise UsageError("a load of another size needs --out DIR (the bundled load folders "
                         "hold the lab's own: 10 calls/s for 30 s, held 2000 ms)")
    from pushinject.commands.live import IN_NETNS

    if os.environ.get(IN_NETNS) != "1":
        if os.geteuid() != 0:
            raise UsageError("the lab needs root (private network namespaces, tcpdump)")
        if args.proxy == "opensips" and shutil.which("opensips") is None:
            raise UsageError(BUILD_HINT)
        packages = missing_packages(*(("kamailio", "kamailio") if args.proxy == "kamailio"
                                      else ("sipp", None)))
        if packages:
            _install(packages)
    return run_lab(args.proxy, args.out or LOAD_OUT[args.proxy], args.keep_logs, **sizing)
