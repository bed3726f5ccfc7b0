"""Load runs: SIPp parties calling through a real proxy at a call rate, over UDP on loopback.

One model of a load run, shared by `pushinject bench live` (the highest clean call rate of
`pushinject serve` and of Kamailio) and by `pushinject lab --load` (a capture of a proxy under
load, judged by `pushinject check`: the lab's Kamailio, its OpenSIPS, or serve). Everything
runs inside a private network namespace with the lab's addresses (proxy 127.0.0.1:5060, push
gateway :5090); every process is started in its own process group and stopped by its PID
(`pushinject.lab.runner.Processes`).

A `Load` is one proxy, one scenario, a rate and a duration:

- **plain**: every callee is registered beforehand (`load_register.xml`) with a contact on the
  answering SIPp (`load_device.xml`); the caller (`load_caller.xml`) calls each one once:
  INVITE, 180, 200, ACK, BYE after `hold_ms`.
- **push** (push with injection): the callee is asleep. The proxy sends its push as a MESSAGE
  to the SIPp push gateway (`load_push_gateway.xml`), which answers 200 and, `WAKE_MS` later
  (the time a push takes to wake a phone), registers the woken device for it; the proxy then
  sends the waiting INVITE to the new contact and the call goes on as above. `serve` runs the
  `kamailio-tsilo` preset, the model of the lab's Kamailio script, which pushes the contacts
  with pn-* parameters, so its callees are registered beforehand with such a contact; the lab's
  Kamailio (`pushinject/lab/kamailio.cfg`) pushes for every INVITE and suspends the call when
  the callee has no contact, so its callees are not; nor are the lab's OpenSIPS's
  (`pushinject/lab/opensips.cfg`, the seed's routes: a push for every INVITE, a placeholder
  branch and a 20 s subscription to E_UL_CONTACT_INSERT, whose event injects the new contact).
  Callees are named for how they wake
  (the gateway reads the name from the push's body): `load...` ones after `WAKE_MS`, every
  `late_every`-th one (`late...`) `LATE_MS` later still, and every `nap_every`-th one
  (`nap...`) never: its push is answered but no device registers, the proxy's timer ends the
  call (the lab's Kamailio: 408 after `fr_timer`), or the caller gives up after 12 s (CANCEL,
  487: serve's preset and OpenSIPS, whose placeholder waits 120 s), and the caller counts it as
  failed.

(In the plain scenario the lab's Kamailio and OpenSIPS still send their push MESSAGE, which the
lab's `push_gateway.xml` answers; `serve` sends none.)

A `Step` is what the SIPp parties counted; it is clean when every call ended as planned (the
`nap` calls failed, the others successful), with no retransmission. SIPp's default BYE on a
call it gives up is turned off (`-default_behaviors all,-bye`): sent to the call's first
Request-URI, the proxy itself, it would be forwarded by the proxy to itself until Max-Forwards
runs out.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from pushinject.lab.capture_tool import dropped_by_kernel
from pushinject.lab.runner import (
    LabError,
    Processes,
    render_config,
    scenario_file,
    start_capture,
    udp_bound,
    wait_for,
)
from pushinject.lab.scenarios import LAB_IP, PROXY_PORT, PUSH_PORT

if TYPE_CHECKING:
    from pushinject.conformance.capture import Address, WireMessage

__all__ = ["CALLER_PORT", "DEVICE_PORT", "HOLD_MS", "LAB_LOAD", "LAB_LOAD_NAME", "LATE_MS",
           "LOAD_NAMES", "LOAD_OUT", "PN", "PRESETS", "PROXIES", "REGISTER_PORT", "SCENARIOS",
           "SERVE_WORKERS", "WAKE_MS", "WAYS", "Load", "LoadFacts", "LoadParties", "Step",
           "differences", "entry", "expected_facts", "late_copies", "load_facts", "load_header",
           "read_stats", "record", "run_lab", "struck_by_race", "ways"]

#: the SIPp parties' ports (the proxy's and the push gateway's are the lab's)
CALLER_PORT, DEVICE_PORT, REGISTER_PORT = 5070, 5071, 5081
#: pn-* parameters of a callee woken by push (the gateway registers the same contact); they
#: must not look like a callee's name, which the gateway finds in the push's body
PN = ";pn-provider=fcm;pn-prid=tok;pn-param=app"
SCENARIOS = ("plain", "push")
#: the proxies `pushinject bench live` measures (`pushinject lab --load` also runs OpenSIPS)
PROXIES = ("serve", "kamailio")
#: the caller's pause between ACK and BYE by default: a proxy with several workers must not
#: pass the BYE on before the ACK
HOLD_MS = 100
#: how long the push gateway waits before it registers the woken device (ms): a push takes
#: time to wake a phone, and the lab's Kamailio script must have suspended the call by then
#: (with a REGISTER between its push and its t_suspend, Kamailio 5.6 appends a branch to a
#: transaction being suspended, and a worker crashes)
WAKE_MS = 200
#: how much later a `late...` callee wakes (ms; fixed in `load_push_gateway.xml`)
LATE_MS = 1000
#: how long the answering parties may take to end after the caller did (s)
GRACE = 15.0
#: SIPp's socket buffers: with its default size a burst overflows them and calls fail
#: whichever proxy is measured
SIPP_BUFFER = 4 * 1024 * 1024
#: serve's workers by default: the best measured on a 2-core machine (see README)
SERVE_WORKERS = 2


@dataclass(frozen=True)
class Load:
    """One load run: `proxy` ("serve", "kamailio" or "opensips") in `scenario` ("plain" or
    "push") at `rate` calls/s for `seconds`."""

    proxy: str
    scenario: str
    rate: int
    seconds: float
    #: Kamailio's or OpenSIPS's UDP workers
    workers: int = 4
    #: serve's worker processes (`serve --workers`)
    serve_workers: int = SERVE_WORKERS
    #: the caller's pause between ACK and BYE (ms)
    hold_ms: int = HOLD_MS
    #: every late_every-th callee wakes LATE_MS later (0: none; push only)
    late_every: int = 0
    #: every nap_every-th callee never wakes (0: none; push only)
    nap_every: int = 0

    @property
    def calls(self) -> int:
        return max(1, round(self.rate * self.seconds))

    @property
    def patience(self) -> float:
        """How long (s) the parties may take: thrice the time calls start, the length of a
        call and 40 s more."""
        return self.seconds * 3 + self.hold_ms / 1000 + 40

    def users(self, index: int, pool: int | None = None) -> list[str]:
        """The callees of run `index` (`pool`: that many, called in turn), named for how they
        wake.

        >>> Load("kamailio", "push", 3, 2.0, late_every=2, nap_every=3).users(7)
        ['load7x0', 'late7x1', 'nap7x2', 'late7x3', 'load7x4', 'nap7x5']
        """
        def name(k: int) -> str:
            if self.nap_every and k % self.nap_every == self.nap_every - 1:
                return "nap"
            if self.late_every and k % self.late_every == self.late_every - 1:
                return "late"
            return "load"

        return [f"{name(k)}{index}x{k}" for k in range(min(self.calls, pool or self.calls))]

    def asleep(self, pool: int | None = None) -> int:
        """How many of the calls go to a callee that never wakes (the callees are called in
        turn)."""
        users = self.users(0, pool)
        return sum(users[k % len(users)].startswith("nap") for k in range(self.calls))


@dataclass(frozen=True)
class Step:
    """What SIPp counted in one load run."""

    proxy: str
    scenario: str
    rate: int
    calls: int
    successful: int
    failed: int
    retransmissions: int
    #: what went wrong besides the counts (a party that did not finish, a failed registration)
    problem: str = ""
    #: calls to callees that never wake, which must fail (the proxy's timer ends them)
    asleep: int = 0
    #: packets tcpdump said the kernel dropped: the capture lacks them (CAP-7)
    dropped: int = 0

    @property
    def clean(self) -> bool:
        return (not self.problem and self.failed == self.asleep and self.retransmissions == 0
                and self.successful == self.calls - self.asleep)


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


def opensips_config(workers: int) -> str:
    """The lab's OpenSIPS config (`pushinject/lab/opensips.cfg`, the seed's routes) with
    `workers` UDP workers instead of its 2: a worker waits for nothing, but under load the
    pushes, REGISTERs and injected INVITEs of ~30 calls at once share them.

    >>> "udp_workers=4\\n" in opensips_config(4)
    True
    """
    from pushinject.lab.proxies import OPENSIPS

    text = render_config(log_prefix="load", proxy=OPENSIPS)
    if "\nudp_workers=2\n" not in text:
        raise LabError("opensips.cfg sets no udp_workers=2 line to replace")
    return text.replace("\nudp_workers=2\n", f"\nudp_workers={workers}\n", 1)


class LoadParties:
    """The proxy and the SIPp parties of load runs, started by `procs` with their logs in
    `logs`."""

    def __init__(self, logs: Path, procs: Processes) -> None:
        self.logs = logs
        self.procs = procs

    def _sipp(self, name: str, scenario: str, port: int, *extra: str) -> list[str]:
        return ["sipp", "-sf", str(scenario_file(scenario)), "-i", LAB_IP, "-p", str(port),
                "-t", "u1", "-nostdin", "-default_behaviors", "all,-bye",
                "-buff_size", str(SIPP_BUFFER),
                "-trace_stat", "-stf", str(self.logs / f"{name}.csv"),
                "-fd", "3600", "-trace_err", "-error_file", str(self.logs / f"{name}.err"),
                *extra]

    def start_proxy(self, load: Load, tag: str, pcap: Path | None = None) -> None:
        """Start `load`'s proxy (`pcap`: serve records every message there, `serve --pcap`)
        and wait until it has bound its port."""
        if load.proxy == "serve":
            self.procs.start(f"proxy-{tag}", [
                sys.executable, "-m", "pushinject", "serve", "--preset", "kamailio-tsilo",
                "--listen", f"udp:{LAB_IP}:{PROXY_PORT}", "--push-gateway",
                f"{LAB_IP}:{PUSH_PORT}", "--workers", str(load.serve_workers),
                *(["--pcap", str(pcap)] if pcap is not None else [])])
        elif load.proxy == "opensips":
            cfg = self.logs / f"opensips-{tag}.cfg"
            cfg.write_text(opensips_config(load.workers), encoding="utf-8")
            self.procs.start(f"proxy-{tag}", [
                "opensips", "-F", "-f", str(cfg), "-P", str(self.logs / f"{tag}.pid"),
                "-w", str(self.logs), "-m", "256", "-M", "8"])
        else:
            cfg = self.logs / f"kamailio-{tag}.cfg"
            cfg.write_text(render_config(log_prefix="load", children=load.workers),
                           encoding="utf-8")
            self.procs.start(f"proxy-{tag}", [
                "kamailio", "-f", str(cfg), "-DD", "-E", "-P", str(self.logs / f"{tag}.pid"),
                "-Y", str(self.logs), "-m", "256", "-M", "8"])
        wait_for(lambda: udp_bound(PROXY_PORT), f"{load.proxy} to bind its port", 30.0)

    def step(self, load: Load, index: int, tag: str, pool: int | None = None,
             watch: Callable[[], None] | None = None) -> Step:
        """Run `load`'s calls (run `index` names its callees), to new callees or, with `pool`,
        to that many callees in turn; `watch` runs every 5 s while the caller runs."""
        n = load.calls
        users = load.users(index, pool)
        asleep = load.asleep(pool)
        push = load.scenario == "push"
        params = PN if push else ""
        table = self.logs / f"users-{tag}.csv"
        table.write_text("SEQUENTIAL\n" + "".join(f"{u};{LAB_IP}:{DEVICE_PORT};\n" for u in users))
        target = f"{LAB_IP}:{PROXY_PORT}"
        patience = load.patience
        limit = f"{int(patience)}s"
        parties: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            device = self.procs.start(f"device-{tag}", self._sipp(
                f"device-{tag}", "load_device", DEVICE_PORT, "-m", str(n - asleep),
                "-timeout", limit))
            parties.append((f"device-{tag}", device))
            gateway_calls = n if push or load.proxy != "serve" else 0
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
            if not push or load.proxy == "serve":  # the callees' contacts beforehand
                reg = self.procs.start(f"register-{tag}", self._sipp(
                    f"register-{tag}", "load_register", REGISTER_PORT, "-inf", str(table),
                    "-key", "params", params, "-r", str(load.rate), "-m", str(len(users)),
                    "-timeout", limit, "-recv_timeout", "5000", target))
                status = self.procs.wait(f"register-{tag}", reg, patience)
                if status != 0:
                    return self._result(load, n, asleep, parties, "registrations failed")
            caller = self.procs.start(f"caller-{tag}", self._sipp(
                f"caller-{tag}", "load_caller", CALLER_PORT, "-inf", str(table),
                "-r", str(load.rate), "-m", str(n), "-d", str(load.hold_ms), "-timeout", limit,
                "-recv_timeout", "8000", target))
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
            return self._result(load, n, asleep, parties, problem)
        finally:
            for _, proc in parties:  # a party that did not finish goes now, by its PID
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=10)

    def _result(self, load: Load, n: int, asleep: int,
                parties: list[tuple[str, subprocess.Popen[bytes]]], problem: str) -> Step:
        failed = retransmissions = 0
        successful = n - asleep
        for name, _proc in parties:
            stats = read_stats(self.logs / f"{name}.csv")
            if not stats:
                problem = problem or f"{name} wrote no statistics"
                continue
            failed += _count(stats, "FailedCall(C)")
            retransmissions += _count(stats, "Retransmissions(C)")
            successful = min(successful, _count(stats, "SuccessfulCall(C)"))
        return Step(load.proxy, load.scenario, load.rate, n, successful, failed, retransmissions,
                    problem, asleep)


#: the lab's load capture (`pushinject lab --load`): push with injection at 10 calls/s for
#: 30 s, each call held 2 s after its answer; every 5th callee wakes a second late, every
#: 10th never wakes (the lab's Kamailio answers 408 after its fr_timer, 8 s; serve and the
#: lab's OpenSIPS wait longer than the caller, who gives up after 12 s: CANCEL, 487)
LAB_LOAD = Load("kamailio", "push", rate=10, seconds=30.0, hold_ms=2000, late_every=5,
                nap_every=10)
#: its name: the capture is OUT/L1.pcap, its table [L1] in OUT/manifest.toml
LAB_LOAD_NAME = "L1"
#: the capture's name by proxy (OpenSIPS's has its own folder, but a name of its own too)
LOAD_NAMES = {"kamailio": LAB_LOAD_NAME, "serve": LAB_LOAD_NAME, "opensips": "L2"}
#: the default output folder by proxy (serve has none: `--out` is required)
LOAD_OUT = {"kamailio": Path("data/kamailio/load"), "opensips": Path("data/opensips/load")}
#: the preset modelling each proxy's load run (serve runs the kamailio-tsilo one)
PRESETS = {"kamailio": "kamailio-tsilo", "serve": "kamailio-tsilo", "opensips": "opensips"}


def record(load: Load, pcap: Path, logs: Path, serve_pcap: Path | None = None) -> Step:
    """Run `load` here (inside a private network namespace) with tcpdump writing every UDP
    datagram on ``lo`` to `pcap` (`serve_pcap`: serve also records its own, `serve --pcap`);
    stop every process it started, whatever happens. The step counts the packets tcpdump
    said it lost."""
    procs = Processes(logs)
    try:
        start_capture(procs, pcap)
        parties = LoadParties(logs, procs)
        parties.start_proxy(load, "load", serve_pcap)
        step = parties.step(load, 1, "load")
        time.sleep(0.5)  # let tcpdump write the last packets before it stops
        if serve_pcap is not None:  # serve writes its capture as it stops
            _name, proxy = procs.started[1]
            proxy.terminate()
            procs.wait("proxy-load", proxy, 20.0)
    finally:
        procs.stop_all()
    return replace(step, dropped=dropped_by_kernel(procs.log("tcpdump")))


@dataclass(frozen=True)
class LoadFacts:
    """What a load capture shows: its size, its calls by final status (0: none), the pushes, the
    REGISTERs and the injected branches, the most calls in progress at once (from a call's
    INVITE to its last message), and the verdict of `pushinject check` each way."""

    frames: int
    sip_messages: int
    calls: int
    finals: dict[int, int]
    pushes: int
    registrations: int
    injected: int
    most_concurrent: int
    verdicts: dict[str, str]
    #: the violations counted each way
    violations: dict[str, int]
    #: calls where the proxy sent a request on again after it had relayed its final response
    #: (OpenSIPS's tm, now and then under load: OSIPS-32)
    late_copies: int


#: the ways a load capture is judged: no option, the lab proxy's preset, and that preset with
#: the lab's tm timers as knobs (`pushinject.lab.proxies.KAMAILIO.knobs`; only for Kamailio:
#: serve and the lab's OpenSIPS run their preset's own timers)
WAYS = ("no option", "preset", "preset and knobs")


def ways(proxy: str) -> tuple[str, ...]:
    """The `WAYS` a capture of `proxy` is judged."""
    return WAYS if proxy == "kamailio" else WAYS[:2]


def load_facts(pcap: Path, proxy: str = "kamailio") -> LoadFacts:
    """Judge `pcap`, a capture of `proxy`, each of its `ways` and count what it shows."""
    from pushinject.conformance import CheckOptions, check_capture, verdict
    from pushinject.lab.proxies import FR_INV_TIMER_MS, FR_TIMER_MS, KAMAILIO

    knobs = KAMAILIO.knobs((("fr_timer", FR_TIMER_MS), ("fr_inv_timer", FR_INV_TIMER_MS)))
    preset = PRESETS[proxy]
    options = {"no option": CheckOptions(), "preset": CheckOptions(preset=preset),
               "preset and knobs": CheckOptions(preset=preset, knobs=knobs)}
    results = {way: check_capture(pcap, options[way]) for way in ways(proxy)}
    result = results["preset"]
    calls = [c.to_json() for c in result.calls]
    finals: dict[int, int] = {}
    for call in calls:  # 0: no final response in the capture
        status = call["final_status"] or 0
        finals[status] = finals.get(status, 0) + 1
    messages = result.capture.messages
    address = (LAB_IP, PROXY_PORT)
    spans: dict[str, list[float]] = {}
    for m in messages:
        span = spans.setdefault(m.message.call_id, [m.time, m.time])
        span[1] = m.time
    wanted = {call["call_id"] for call in calls}
    edges = sorted([(t0, 1) for cid, (t0, _) in spans.items() if cid in wanted]
                   + [(t1, -1) for cid, (_, t1) in spans.items() if cid in wanted])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return LoadFacts(
        frames=result.capture.frames, sip_messages=result.capture.sip_messages,
        calls=len(calls), finals=dict(sorted(finals.items())),
        pushes=sum(m.source == address and m.label == "MESSAGE" for m in messages),
        registrations=sum(m.destination == address and m.label == "REGISTER"
                          for m in messages),
        injected=sum(b["injected"] for call in calls for b in call["branches"]),
        most_concurrent=most,
        verdicts={way: verdict([results[way]]) for way in ways(proxy)},
        violations={way: sum(len(c.violations) for c in results[way].calls)
                    for way in ways(proxy)},
        late_copies=len(late_copies(messages, address)))


def late_copies(messages: Sequence[WireMessage], proxy: Address) -> set[str]:
    """The calls (Call-IDs) in which `proxy` sent a request other than INVITE and ACK on again
    after it had sent the final response to that request (its CSeq) upstream: a copy RFC 3261
    §17.1.2.2 forbids once the client transaction is Completed (OSIPS-32)."""
    answered: dict[tuple[str, int, str], float] = {}
    for m in messages:
        if m.source == proxy and not m.is_request and m.status >= 200:
            cseq = m.message.cseq
            answered.setdefault((m.message.call_id, cseq.number, cseq.method), m.time)
    late = set()
    for m in messages:
        if m.source == proxy and m.is_request and m.label not in ("INVITE", "ACK"):
            cseq = m.message.cseq
            final = answered.get((m.message.call_id, cseq.number, cseq.method))
            if final is not None and m.time > final:
                late.add(m.message.call_id)
    return late


def expected_facts(load: Load) -> dict[str, object]:
    """What every capture of `load` must show, whatever the run (push scenario).

    >>> expected_facts(LAB_LOAD)["finals"]
    {200: 270, 408: 30}
    """
    asleep = load.asleep()
    woken = load.calls - asleep
    # the lab's Kamailio ends a call nobody wakes for on its fr_timer (408, 8 s); serve's
    # preset and OpenSIPS's placeholder (fr_inv_timeout, 120 s) wait longer than the caller,
    # who gives up after 12 s (CANCEL, 487)
    ended = 408 if load.proxy == "kamailio" else 487
    return {"calls": load.calls, "finals": {200: woken, ended: asleep}, "pushes": load.calls,
            # serve's callees are registered beforehand as well (with pn-* contacts)
            "registrations": woken + (load.calls if load.proxy == "serve" else 0),
            "injected": woken,
            "verdicts": dict.fromkeys(ways(load.proxy), "conformant")}


def differences(load: Load, facts: LoadFacts) -> list[str]:
    """How `facts` depart from `expected_facts(load)` (empty: the capture shows the run)."""
    return [f"{key}: expected {want}, got {getattr(facts, key)}"
            for key, want in expected_facts(load).items() if getattr(facts, key) != want]


def struck_by_race(load: Load, facts: LoadFacts) -> bool:
    """Whether `facts` depart from the plan only by OSIPS-32: each way, one violation for
    each call where the proxy sent a request on again after relaying its final response
    (OpenSIPS's tm timer race; the capture is then not recorded: run again)."""
    wrong = {problem.split(":", 1)[0] for problem in differences(load, facts)}
    return (facts.late_copies > 0 and wrong == {"verdicts"}
            and set(facts.violations.values()) == {facts.late_copies})


def load_header(proxy: str) -> str:
    """The comment heading the manifest of `proxy`'s load captures."""
    how = ("under `--preset kamailio-tsilo`, and under it with the lab's tm timers as\n"
           "# knobs (fr_timeout=8, fr_inv_timeout=10)" if proxy == "kamailio" else
           f"and under `--preset {PRESETS[proxy]}` (OpenSIPS's default tm timers, no\n# knob)")
    return f"""\
# Captures of a proxy under SIPp load, made by the capture lab (`pushinject lab --load`, see
# pushinject/lab/load.py): push with injection at `rate` calls/s for `seconds`, many calls in
# progress at once, with tcpdump on lo. `expected_verdict` is what `pushinject check` must say
# with no option, {how}, whole or with `--jobs 2`; calls, finals (count by
# final status to the caller), pushes, registrations and injected are what every regeneration
# shows; frames, sip_messages and most_concurrent are measured on the committed file.
"""


def entry(load: Load, facts: LoadFacts) -> dict[str, object]:
    """The manifest table of a capture of `load` whose measured facts are `facts` (which show
    the run: `differences` is empty)."""
    woken = load.calls - load.asleep()
    late = sum(user.startswith("late") for user in load.users(0))
    return {
        "file": f"{LOAD_NAMES[load.proxy]}.pcap",
        "proxy_run": load.proxy,
        "title": "push with injection under load: hundreds of calls, many at once",
        "description": (
            f"SIPp calls sleeping callees through the lab's {load.proxy} at {load.rate} "
            f"calls/s for {load.seconds:g} s; each push (a MESSAGE to the SIPp gateway) wakes "
            f"the callee's device {WAKE_MS} ms later ({WAKE_MS + LATE_MS} ms for {late} of "
            "them), its REGISTER injects the waiting INVITE, the device "
            f"answers at once and the caller hangs up {load.hold_ms} ms after its ACK: "
            f"{woken} calls answered. Every {load.nap_every}th callee never wakes: "
            + (f"{load.asleep()} calls end on the proxy's fr_timer with 408, up to a timer "
               "tick before 8 s, as Kamailio's tm fires."
               if load.proxy == "kamailio" else
               f"{load.asleep()} calls end when the caller gives up after 12 s (CANCEL, "
               "487)" + (", long before the seed's 20 s subscription and the placeholder's "
                         "fr_inv_timeout (120 s)." if load.proxy == "opensips" else "."))),
        "expected_verdict": "conformant",
        "proxy": f"{LAB_IP}:{PROXY_PORT}",
        "rate": load.rate, "seconds": int(load.seconds), "hold_ms": load.hold_ms,
        "wake_ms": WAKE_MS, "late_ms": LATE_MS, "late_every": load.late_every,
        "nap_every": load.nap_every, "workers": load.workers,
        "calls": facts.calls,
        "finals": {str(k): v for k, v in facts.finals.items()},
        "pushes": facts.pushes, "registrations": facts.registrations,
        "injected": facts.injected, "most_concurrent": facts.most_concurrent,
        "frames": facts.frames, "sip_messages": facts.sip_messages,
    }


def run_lab(proxy: str, out: Path, keep_logs: bool = False, *, rate: int | None = None,
            seconds: int | None = None, hold_ms: int | None = None) -> int:
    """`pushinject lab --load [--proxy kamailio|opensips|serve]`: record `LAB_LOAD` (its
    `rate`, `seconds` and `hold_ms` when given) through
    `proxy` into ``out/NAME.pcap`` (`LOAD_NAMES`: L1, L2 for OpenSIPS; re-run in a private
    network namespace; serve also records its own ``out/L1-serve.pcap``, `serve --pcap`), judge
    it and, when it shows the run, write its table into ``out/manifest.toml``. Returns 0 when
    it does, else 1."""
    import os
    import shutil
    import tempfile

    from pushinject.commands.live import IN_NETNS, reexec_in_namespace
    from pushinject.lab.manifest import write_manifest

    load = replace(LAB_LOAD, proxy=proxy, rate=rate or LAB_LOAD.rate,
                   seconds=float(seconds or LAB_LOAD.seconds), hold_ms=hold_ms or LAB_LOAD.hold_ms)
    name = LOAD_NAMES[proxy]
    out = out.resolve()
    if os.environ.get(IN_NETNS) != "1":
        argv = ["lab", "--load", "--proxy", proxy, "--out", str(out)]
        for flag, value in (("--rate", rate), ("--seconds", seconds), ("--hold-ms", hold_ms)):
            argv += [flag, str(value)] if value is not None else []
        return reexec_in_namespace(argv + (["--keep-logs"] if keep_logs else []),
                                   timeout=load.patience + 300)
    out.mkdir(parents=True, exist_ok=True)
    logs = out / f"{name}.logs"
    if keep_logs:
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
    else:
        logs = Path(tempfile.mkdtemp(prefix="pushinject-lab-load-"))
    pcap = out / f"{name}.pcap"
    own = out / f"{name}-serve.pcap" if proxy == "serve" else None
    try:
        step = record(load, pcap, logs, own)
    except LabError as exc:
        print(f"{name}: FAILED: {exc}")
        return 1
    finally:
        if not keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
    print(f"{name}: SIPp: {step.calls} calls, {step.successful} successful, "
          f"{step.failed} failed ({step.asleep} to callees that never wake), "
          f"{step.retransmissions} retransmissions"
          + (f"; tcpdump dropped {step.dropped} packets (CAP-7)" if step.dropped else ""))
    problems = []
    judged = {}
    for path in (pcap, own) if own is not None else (pcap,):
        facts = judged[path] = load_facts(path, proxy)
        problems += [f"{path.name}: {p}" for p in differences(load, facts)]
        print(f"{path.name}: {facts.frames} frames, {facts.calls} calls (finals "
              f"{', '.join(f'{k}: {v}' for k, v in facts.finals.items())}), {facts.pushes} "
              f"pushes, {facts.registrations} REGISTERs, {facts.injected} injected, at most "
              f"{facts.most_concurrent} calls at once; verdict "
              + ", ".join(f"{way}: {v}" for way, v in facts.verdicts.items()))
    if own is None and problems and struck_by_race(load, judged[pcap]):
        print(f"{name}: OSIPS-32: in {judged[pcap].late_copies} call(s) the proxy sent a "
              "request on again after relaying its final response (tm's timer race), each one "
              "violation: not recorded, run again")
        return 1
    for problem in problems:
        print(f"{name}: DIFFERS: {problem}")
    if problems:
        return 1
    table = {name: entry(load, judged[pcap])}
    print(f"manifest: {write_manifest(out, table, header=load_header(proxy))}")
    return 0
