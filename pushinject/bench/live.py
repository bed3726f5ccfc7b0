"""`pushinject bench live`: the highest clean call rate of `pushinject serve` and of Kamailio.

Both proxies face the same SIPp parties, on the same machine, in the same run, inside a private
network namespace (the command re-runs itself under `unshare -n`; root needed), over UDP on
loopback with the lab's addresses (proxy 127.0.0.1:5060, push gateway :5090). Two scenarios,
**plain** and **push** (push with injection), the load runs of `pushinject.lab.load` (SIPp
parties, `pushinject/lab/sipp/load_*.xml`), every callee waking `WAKE_MS` after its push.

`serve` runs with `--serve-workers` worker processes (`serve --workers`; 2 by default, the best
of 1, 2 and 3 measured on a 2-core machine that also runs the SIPp parties); the heading names
the machine's load average, the others' work on a shared machine moving every figure.

Each proxy and scenario is a ladder: from `--start` calls/s up by `--step` to `--max`, each
step `--duration` seconds of calls with a fresh proxy and new callees. The two proxies' ladders
take turns rung by rung, so that both meet the same load from the rest of the machine at each
rate. A step is clean when every SIPp party ends with every call successful, 0 failed calls and
0 retransmissions; a step that is not is run again (`--retries`, once by default: on a shared
machine a datagram is lost now and then), and a ladder stops at the first rate that fails every
time. Every process is started in
its own process group and stopped by its PID (`pushinject.lab.runner.Processes`), whatever
happens. `--soak SECONDS` then runs `serve`'s push scenario that long at half its clean rate,
to a pool of callees called in turn, and reports its resident memory. SIPp's default BYE on a
call it gives up is turned off (`-default_behaviors all,-bye`): sent to the call's first
Request-URI, the proxy itself, it would be forwarded by the proxy to itself until Max-Forwards
runs out, and a failed step would bury the next ones. The last line reads
`live: push+injection N calls/s vs Kamailio K calls/s (xR.RR)`: the highest clean rates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from pushinject.bench.processes import resident_kb
from pushinject.lab.load import (
    PROXIES,
    SCENARIOS,
    SERVE_WORKERS,
    Load,
    LoadParties,
    Step,
    read_stats,
)

HELP = "SIPp against pushinject serve and Kamailio (plain calls, push with injection): " \
       "highest clean call rate of each"

__all__ = ["HELP", "add_arguments", "run", "Step", "read_stats"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=int, default=200, help="first rate, calls/s (200)")
    parser.add_argument("--step", type=int, default=200, help="rate step, calls/s (200)")
    parser.add_argument("--max", type=int, default=4000, help="highest rate tried (4000)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of calls per step (10)")
    parser.add_argument("--workers", type=int, default=4, help="Kamailio UDP workers (4)")
    parser.add_argument("--serve-workers", type=int, default=SERVE_WORKERS,
                        help=f"serve's worker processes (`serve --workers`, {SERVE_WORKERS})")
    parser.add_argument("--retries", type=int, default=1,
                        help="times a rung that is not clean is run again before the ladder "
                             "stops (1: a shared machine drops a datagram now and then)")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help="then run serve's push scenario this long at half its clean rate, "
                             "reading its memory (default: no soak)")
    parser.add_argument("--soak-rate", type=int, default=0, metavar="R",
                        help="run only the soak (no ladders), at R calls/s; needs --soak")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR",
                        help="keep every process's log and SIPp statistics in DIR")


class _Ladder:
    """The steps of one proxy and scenario (inside the namespace): each `rung` starts the proxy
    afresh, runs one step and stops every process it started."""

    def __init__(self, proxy: str, scenario: str, args: argparse.Namespace, logs: Path) -> None:
        self.proxy = proxy
        self.scenario = scenario
        self.args = args
        self.logs = logs / f"{proxy}-{scenario}"
        self.logs.mkdir(parents=True)
        self.index = 0
        self.steps: list[Step] = []

    def _load(self, rate: int, seconds: float) -> Load:
        return Load(self.proxy, self.scenario, rate, seconds, workers=self.args.workers,
                    serve_workers=self.args.serve_workers)

    @property
    def going(self) -> bool:
        """Whether the ladder goes on: the rate tried last had a clean step, or failed no more
        than `--retries` times."""
        if not self.steps:
            return True
        last = [step for step in self.steps if step.rate == self.steps[-1].rate]
        return any(step.clean for step in last) or len(last) <= self.args.retries

    def _fresh(self, load: Load, tag: str, body: Callable[[LoadParties, int], Step]) -> Step:
        """Start `load`'s proxy afresh, run `body(parties, proxy's pid)`, then stop every
        process."""
        from pushinject.lab.runner import Processes

        procs = Processes(self.logs)
        try:
            parties = LoadParties(self.logs, procs)
            parties.start_proxy(load, tag)
            return body(parties, procs.started[0][1].pid)
        finally:
            procs.stop_all()

    def rung(self, rate: int) -> Step:
        """One step at `rate` with a fresh proxy."""
        self.index += 1
        tag = f"{rate}-{self.index}"
        load = self._load(rate, self.args.duration)
        result = self._fresh(load, tag,
                             lambda parties, _pid: parties.step(load, self.index, tag))
        self.steps.append(result)
        _print_step(result)
        return result

    def soak(self, rate: int, seconds: float) -> tuple[Step, list[int]]:
        """`rate` calls/s for `seconds` to a pool of callees taken in turn (so that the
        registrar's size stays the same), the proxy's resident memory read every 5 s (kB)."""
        self.index += 1
        memory: list[int] = []
        load = self._load(rate, seconds)
        result = self._fresh(load, "soak", lambda parties, pid: parties.step(
            load, self.index, "soak", pool=max(100, rate * 20),
            watch=lambda: memory.append(resident_kb(pid))))
        return result, memory


def _print_step(step: Step) -> None:
    verdict = "clean" if step.clean else (step.problem or "not clean")
    print(f"{step.proxy:<10}{step.scenario:<8}{step.rate:>7}{step.calls:>8}{step.successful:>8}"
          f"{step.failed:>8}{step.retransmissions:>9}  {verdict}", flush=True)


def best_rate(steps: list[Step]) -> int:
    """The highest rate with a clean step (0: none). A ladder only climbs past a rate once a
    step at it was clean, so every rate below it had one too.

    >>> best_rate([Step("s", "plain", 100, 1, 1, 0, 0), Step("s", "plain", 200, 2, 1, 1, 0),
    ...            Step("s", "plain", 200, 2, 2, 0, 0), Step("s", "plain", 300, 3, 3, 0, 2)])
    200
    """
    return max((step.rate for step in steps if step.clean), default=0)


def _inside(args: argparse.Namespace) -> int:
    from pushinject.errors import UsageError

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # so that every ladder stops what it started

    signal.signal(signal.SIGTERM, terminate)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    logs = Path(tempfile.mkdtemp(prefix="pushinject-bench-live-"))
    try:
        if args.soak_rate:  # the soak alone
            _soak(args, logs, args.soak_rate)
            return 0
        print(f"SIPp against pushinject serve (preset kamailio-tsilo, {args.serve_workers} "
              f"workers) and Kamailio ({args.workers} workers), UDP on loopback, "
              f"{args.duration:g} s per step; load average {_load()}", flush=True)
        print(f"{'proxy':<10}{'scenario':<8}{'rate':>7}{'calls':>8}{'ok':>8}{'failed':>8}"
              f"{'retrans':>9}  verdict", flush=True)
        best: dict[tuple[str, str], int] = {}
        for scenario in SCENARIOS:
            # the two ladders take turns, rung by rung: both see the same machine at each rate
            ladders = [_Ladder(proxy, scenario, args, logs) for proxy in PROXIES]
            rate = args.start
            while rate <= args.max and any(ladder.going for ladder in ladders):
                for ladder in ladders:
                    for _ in range(1 + args.retries):
                        if ladder.going and ladder.rung(rate).clean:
                            break
                rate += args.step
            for ladder in ladders:
                best[(ladder.proxy, scenario)] = best_rate(ladder.steps)
        for scenario in SCENARIOS:
            mine, theirs = best[("serve", scenario)], best[("kamailio", scenario)]
            print(f"{scenario}: serve {mine} calls/s clean, Kamailio {theirs} calls/s clean "
                  f"({_ratio(mine, theirs)})")
        if args.soak > 0:
            _soak(args, logs, best[("serve", "push")] // 2)
        mine, theirs = best[("serve", "push")], best[("kamailio", "push")]
        print(f"live: push+injection {mine} calls/s vs Kamailio {theirs} calls/s "
              f"({_ratio(mine, theirs)})")
    except OSError as exc:
        raise UsageError(f"bench live could not run: {exc}") from None
    finally:
        if args.keep_logs is not None:
            shutil.copytree(logs, args.keep_logs, dirs_exist_ok=True)
        shutil.rmtree(logs, ignore_errors=True)
    return 0


def _soak(args: argparse.Namespace, logs: Path, rate: int) -> None:
    """Run the soak and print three lines: its calls, serve's resident memory every 5 s, and
    that memory's mean over the first and the last third of the samples."""
    if rate < 1:
        print("soak: skipped, serve had no clean push+injection rate")
        return
    step, memory = _Ladder("serve", "push", args, logs / "soak").soak(rate, args.soak)
    verdict = "clean" if step.clean else (step.problem or "not clean")
    mb = [kb / 1024 for kb in memory if kb]
    print(f"soak: serve push+injection at {rate} calls/s for {args.soak:g} s: {step.calls} calls, "
          f"{step.successful} ok, {step.failed} failed, {step.retransmissions} retransmissions "
          f"({verdict})", flush=True)
    print("soak memory (MB, every 5 s): " + (" ".join(f"{m:.1f}" for m in mb) or "none"),
          flush=True)
    print(memory_trend(mb), flush=True)


def memory_trend(mb: list[float]) -> str:
    """The mean of the first and of the last third of a memory series, and their ratio (a
    flat series is x1.00).

    >>> memory_trend([40.0, 41.0, 42.0, 42.0, 42.0, 42.0])
    'soak memory: first third 40.5 MB, last third 42.0 MB (x1.04)'
    >>> memory_trend([40.0])
    'soak memory: too few samples (1)'
    """
    third = len(mb) // 3
    if third < 1:
        return f"soak memory: too few samples ({len(mb)})"
    first, last = sum(mb[:third]) / third, sum(mb[-third:]) / third
    return (f"soak memory: first third {first:.1f} MB, last third {last:.1f} MB "
            f"(x{last / first:.2f})")


def _load() -> str:
    """The machine's load averages over 1, 5 and 15 minutes, as /proc/loadavg gives them."""
    try:
        with open("/proc/loadavg", encoding="ascii") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "unknown"


def _ratio(mine: int, theirs: int) -> str:
    """`x0.50`; `x-` when Kamailio had no clean rate to compare with."""
    return f"x{mine / theirs:.2f}" if theirs else "x-"


def run(args: argparse.Namespace) -> int:
    from pushinject.commands.live import IN_NETNS, reexec_in_namespace
    from pushinject.errors import UsageError

    if args.start < 1 or args.step < 1 or args.max < args.start or args.duration <= 0 \
            or args.soak < 0:
        raise UsageError("need 1 <= --start <= --max, --step >= 1, --duration > 0 and "
                         "--soak >= 0")
    if args.soak_rate < 0 or (args.soak_rate and args.soak <= 0):
        raise UsageError("--soak-rate needs --soak SECONDS and a rate of at least 1")
    if args.workers < 1 or args.retries < 0 or args.serve_workers < 1:
        raise UsageError("--workers and --serve-workers must be at least 1 and --retries at "
                         "least 0")
    for tool in ("sipp", "ip") if args.soak_rate else ("sipp", "kamailio", "ip"):
        if shutil.which(tool) is None:
            raise UsageError(f"bench live needs {tool}")
    if os.environ.get(IN_NETNS) != "1":
        argv = ["bench", "live", "--start", str(args.start), "--step", str(args.step),
                "--max", str(args.max), "--duration", str(args.duration),
                "--workers", str(args.workers), "--soak", str(args.soak),
                "--serve-workers", str(args.serve_workers),
                "--retries", str(args.retries)]
        if args.keep_logs is not None:
            argv += ["--keep-logs", str(args.keep_logs.resolve())]
        if args.soak_rate:
            argv += ["--soak-rate", str(args.soak_rate)]
        rungs = (args.max - args.start) // args.step + 1 if not args.soak_rate else 0
        return reexec_in_namespace(argv, timeout=60 + 4 * (1 + args.retries) * rungs
                                   * (3 * args.duration + 60)
                                   + 3 * args.soak + 60)
    return _inside(args)
