"""`pushinject bench live`: the highest clean call rate of `pushinject serve` and of Kamailio.

Both proxies face the same SIPp parties, on the same machine, in the same run, inside a private
network namespace (the command re-runs itself under `unshare -n`; root needed), over UDP on
loopback with the lab's addresses (proxy 127.0.0.1:5060, push gateway :5090). Two scenarios:

- **plain**: every callee is registered beforehand (`load_register.xml`) with a contact on the
  answering SIPp (`load_device.xml`); the caller (`load_caller.xml`) calls each one once:
  INVITE, 180, 200, ACK, BYE.
- **push** (push with injection): the callee is asleep. The proxy sends its push as a MESSAGE to the
  SIPp push gateway (`load_push_gateway.xml`), which answers 200 and, 200 ms later (the time a push
  takes to wake a phone), registers the woken device for it; the proxy then sends the waiting INVITE
  to the new contact and the call goes on as above. `serve` runs the `kamailio-tsilo` preset, the
  model of the lab's Kamailio script, which pushes the contacts with pn-* parameters, so its callees
  are registered beforehand with such a contact; the lab's Kamailio (`pushinject/lab/kamailio.cfg`
  with 4 workers) pushes for every INVITE and suspends the call when the callee has no contact, so
  its callees are not.
  (In the plain scenario the lab's Kamailio still sends its push MESSAGE, which the lab's
  `push_gateway.xml` answers; `serve` sends none.)

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
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pushinject.bench.processes import resident_kb

HELP = "SIPp against pushinject serve and Kamailio (plain calls, push with injection): " \
       "highest clean call rate of each"

__all__ = ["HELP", "add_arguments", "run", "Step", "read_stats"]

#: the SIPp parties' ports (the proxy's and the push gateway's are the lab's)
CALLER_PORT, DEVICE_PORT, REGISTER_PORT = 5070, 5071, 5081
#: pn-* parameters of a callee woken by push (the gateway registers the same contact); they
#: must not look like a callee's name, which the gateway finds in the push's body
PN = ";pn-provider=fcm;pn-prid=tok;pn-param=app"
SCENARIOS = ("plain", "push")
#: the caller's pause between ACK and BYE: a proxy with several workers must not pass the BYE on
#: before the ACK
HOLD_MS = 100
#: how long the push gateway waits before it registers the woken device (ms): a push takes
#: time to wake a phone, and the lab's Kamailio script must have suspended the call by then
#: (with a REGISTER between its push and its t_suspend, Kamailio 5.6 appends a branch to a
#: transaction being suspended, and a worker crashes)
WAKE_MS = 200
#: how long the answering parties may take to end after the caller did (s)
GRACE = 15.0
#: SIPp's socket buffers: with its default size a burst overflows them and calls fail
#: whichever proxy is measured
SIPP_BUFFER = 4 * 1024 * 1024
PROXIES = ("serve", "kamailio")
#: serve's workers by default: the best measured on a 2-core machine (see README)
SERVE_WORKERS = 2


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


@dataclass(frozen=True)
class Step:
    """One rung of a ladder: what SIPp counted at one offered rate."""

    proxy: str
    scenario: str
    rate: int
    calls: int
    successful: int
    failed: int
    retransmissions: int
    #: what went wrong besides the counts (a party that did not finish, a failed registration)
    problem: str = ""

    @property
    def clean(self) -> bool:
        return (not self.problem and self.failed == 0 and self.retransmissions == 0
                and self.successful == self.calls)


def read_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp `-trace_stat` file, by column name (empty if there is none).

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = f.write_text("A;FailedCall(C);\\n1;0;\\n2;3;\\n")
    >>> read_stats(f)["FailedCall(C)"]
    '3'
    """
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    return dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))


def _count(stats: dict[str, str], name: str) -> int:
    value = stats.get(name, "").strip()
    return int(value) if value.isdigit() else 0


class _Ladder:
    """The steps of one proxy and scenario (inside the namespace): each `rung` starts the proxy
    afresh, runs one step and stops every process it started."""

    def __init__(self, proxy: str, scenario: str, args: argparse.Namespace, logs: Path) -> None:
        from pushinject.lab.runner import Processes

        self.proxy = proxy
        self.scenario = scenario
        self.args = args
        self.logs = logs / f"{proxy}-{scenario}"
        self.logs.mkdir(parents=True)
        self.procs = Processes(self.logs)
        self.index = 0
        self.steps: list[Step] = []

    # -- parties -------------------------------------------------------------------------------
    def _sipp(self, name: str, scenario: str, port: int, *extra: str) -> list[str]:
        from pushinject.lab.runner import scenario_file
        from pushinject.lab.scenarios import LAB_IP

        return ["sipp", "-sf", str(scenario_file(scenario)), "-i", LAB_IP, "-p", str(port),
                "-t", "u1", "-nostdin", "-default_behaviors", "all,-bye",
                "-buff_size", str(SIPP_BUFFER),
                "-trace_stat", "-stf", str(self.logs / f"{name}.csv"),
                "-fd", "3600", "-trace_err", "-error_file", str(self.logs / f"{name}.err"),
                *extra]

    def start_proxy(self, tag: str) -> None:
        from pushinject.lab.runner import render_config, udp_bound, wait_for
        from pushinject.lab.scenarios import LAB_IP, PROXY_PORT, PUSH_PORT

        if self.proxy == "serve":
            self.procs.start(f"proxy-{tag}", [
                sys.executable, "-m", "pushinject", "serve", "--preset", "kamailio-tsilo",
                "--listen", f"udp:{LAB_IP}:{PROXY_PORT}", "--push-gateway",
                f"{LAB_IP}:{PUSH_PORT}", "--workers", str(self.args.serve_workers)])
        else:
            cfg = self.logs / f"kamailio-{tag}.cfg"
            cfg.write_text(render_config(log_prefix="bench", children=self.args.workers),
                           encoding="utf-8")
            self.procs.start(f"proxy-{tag}", [
                "kamailio", "-f", str(cfg), "-DD", "-E", "-P", str(self.logs / f"{tag}.pid"),
                "-Y", str(self.logs), "-m", "256", "-M", "8"])
        wait_for(lambda: udp_bound(PROXY_PORT), f"{self.proxy} to bind its port", 30.0)

    def step(self, rate: int, tag: str, seconds: float, pool: int | None = None,
             watch: Callable[[], None] | None = None) -> Step:
        """`rate` calls/s for `seconds`, to new callees or, with `pool`, to that many callees
        in turn; `watch` runs every 5 s while the caller runs."""
        from pushinject.lab.runner import LabError, udp_bound, wait_for
        from pushinject.lab.scenarios import LAB_IP, PROXY_PORT, PUSH_PORT

        n = max(1, round(rate * seconds))
        users = [f"load{self.index}x{k}" for k in range(min(n, pool or n))]
        push = self.scenario == "push"
        params = PN if push else ""
        table = self.logs / f"users-{tag}.csv"
        table.write_text("SEQUENTIAL\n" + "".join(f"{u};{LAB_IP}:{DEVICE_PORT};\n" for u in users))
        target = f"{LAB_IP}:{PROXY_PORT}"
        patience = seconds * 3 + 40
        limit = f"{int(patience)}s"
        parties: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            device = self.procs.start(f"device-{tag}", self._sipp(
                f"device-{tag}", "load_device", DEVICE_PORT, "-m", str(n), "-timeout", limit))
            parties.append((f"device-{tag}", device))
            gateway_calls = n if push or self.proxy == "kamailio" else 0
            if gateway_calls:
                gateway = "load_push_gateway" if push else "push_gateway"
                extra = ["-key", "device", f"{LAB_IP}:{DEVICE_PORT}", "-key", "proxy", target,
                         "-key", "params", params, "-d", str(WAKE_MS)] if push else []
                proc = self.procs.start(f"gateway-{tag}", self._sipp(
                    f"gateway-{tag}", gateway, PUSH_PORT, "-m", str(gateway_calls),
                    "-timeout", limit, *extra))
                parties.append((f"gateway-{tag}", proc))
            ports = [DEVICE_PORT] + ([PUSH_PORT] if gateway_calls else [])
            for port in ports:
                wait_for(partial(udp_bound, port), f"SIPp on port {port}")
            if not push or self.proxy == "serve":  # the callees' contacts beforehand
                reg = self.procs.start(f"register-{tag}", self._sipp(
                    f"register-{tag}", "load_register", REGISTER_PORT, "-inf", str(table),
                    "-key", "params", params, "-r", str(rate), "-m", str(len(users)),
                    "-timeout", limit, "-recv_timeout", "5000", target))
                status = self.procs.wait(f"register-{tag}", reg, patience)
                if status != 0:
                    return self._result(rate, n, parties, "registrations failed")
            caller = self.procs.start(f"caller-{tag}", self._sipp(
                f"caller-{tag}", "load_caller", CALLER_PORT, "-inf", str(table), "-r", str(rate),
                "-m", str(n), "-d", str(HOLD_MS), "-timeout", limit, "-recv_timeout", "8000",
                target))
            parties.insert(0, (f"caller-{tag}", caller))
            deadline = time.monotonic() + patience
            while watch is not None and caller.poll() is None and time.monotonic() < deadline:
                watch()
                time.sleep(5.0)
            problem = ""
            for name, proc in parties:
                try:
                    self.procs.wait(name, proc, max(1.0, deadline - time.monotonic()))
                except LabError:
                    problem = f"{name} did not finish"
                    break
                # once the caller is done, the others end within a call's length or never
                deadline = min(deadline, time.monotonic() + GRACE)
            return self._result(rate, n, parties, problem)
        finally:
            for _, proc in parties:  # a party that did not finish goes now, by its PID
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=10)

    def _result(self, rate: int, n: int, parties: list[tuple[str, subprocess.Popen[bytes]]],
                problem: str) -> Step:
        failed = retransmissions = 0
        successful = n
        for name, _proc in parties:
            stats = read_stats(self.logs / f"{name}.csv")
            if not stats:
                problem = problem or f"{name} wrote no statistics"
                continue
            failed += _count(stats, "FailedCall(C)")
            retransmissions += _count(stats, "Retransmissions(C)")
            successful = min(successful, _count(stats, "SuccessfulCall(C)"))
        return Step(self.proxy, self.scenario, rate, n, successful, failed, retransmissions,
                    problem)

    @property
    def going(self) -> bool:
        """Whether the ladder goes on: the rate tried last had a clean step, or failed no more
        than `--retries` times."""
        if not self.steps:
            return True
        last = [step for step in self.steps if step.rate == self.steps[-1].rate]
        return any(step.clean for step in last) or len(last) <= self.args.retries

    def _fresh(self, tag: str, body: Callable[[int], Step]) -> Step:
        """Start the proxy afresh, run `body(proxy's pid)`, then stop every process."""
        from pushinject.lab.runner import Processes

        self.procs = Processes(self.logs)
        try:
            self.start_proxy(tag)
            return body(self.procs.started[0][1].pid)
        finally:
            self.procs.stop_all()

    def rung(self, rate: int) -> Step:
        """One step at `rate` with a fresh proxy."""
        self.index += 1
        result = self._fresh(f"{rate}-{self.index}",
                             lambda pid: self.step(rate, f"{rate}-{self.index}",
                                                   self.args.duration))
        self.steps.append(result)
        _print_step(result)
        return result

    def soak(self, rate: int, seconds: float) -> tuple[Step, list[int]]:
        """`rate` calls/s for `seconds` to a pool of callees taken in turn (so that the
        registrar's size stays the same), the proxy's resident memory read every 5 s (kB)."""
        self.index += 1
        memory: list[int] = []
        result = self._fresh("soak", lambda pid: self.step(
            rate, "soak", seconds, pool=max(100, rate * 20),
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
