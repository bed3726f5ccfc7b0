"""Run one lab scenario: the proxy, SIPp parties and tcpdump on loopback, in a private namespace.

The proxy is a `pushinject.lab.proxies.LabProxy` (Kamailio or OpenSIPS); everything else is the
same for both. `run_isolated()` re-executes this module under ``unshare -n`` so that every process
it starts (tcpdump, the proxy, the SIPp caller, devices, registration helpers and push gateway)
lives in a
fresh network namespace whose only interface is its own ``lo``: the fixed ports can never
collide with anything on the machine, and nothing leaves loopback. Inside, `run_scenario()`:

1. brings ``lo`` up and starts ``tcpdump -i lo -U --immediate-mode -w FILE udp``, waiting for
   its "listening" line before any traffic;
2. starts the proxy in the foreground with its rendered config (`kamailio.cfg` or
   `opensips.cfg`), its own pid file and working directory, and waits until its UDP port is
   bound;
3. starts the push gateway and each device's answering UA, waits for their ports;
4. sends the registrations due before the call, starts the caller, and sends each late
   registration or refresh at its time (seconds after the proxy logged the INVITE);
5. waits (bounded by the scenario's ``limit``) for the caller and every SIPp party to finish,
   waits 0.5 s so tcpdump writes
   the last packets, then stops everything it started (process groups), whatever happened.

With ``hep`` (a `hep_mirror.Mirror`) the proxy also mirrors its traffic as HEP to a live
collector (`pushinject.lab.hep_mirror`), started with a second tcpdump before the proxy.

The capture is ``OUT/<scenario>.pcap``; the logs of every process go to ``OUT/<scenario>.logs/``
when ``--keep-logs`` is given, else to a temporary folder that is removed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path

from pushinject.lab import hep_mirror
from pushinject.lab.capture_tool import tcpdump_argv
from pushinject.lab.proxies import FR_INV_TIMER_MS, FR_TIMER_MS, KAMAILIO, PROXIES, LabProxy
from pushinject.lab.scenarios import (
    AUTH_CALLEE,
    AUTH_PASSWORD,
    CALLER_PORT,
    LAB_IP,
    PROXY_PORT,
    PUSH_PORT,
    Device,
    Scenario,
    register_port,
)

__all__ = [
    "FR_INV_TIMER_MS",
    "FR_TIMER_MS",
    "LabError",
    "Processes",
    "namespaces_available",
    "render_config",
    "run_isolated",
    "run_scenario",
    "scenario_file",
    "set_tm_parameters",
    "start_capture",
    "udp_bound",
    "wait_for",
]

#: time allowed beyond a scenario's ``limit`` for the namespace's start and teardown
TEARDOWN = 30.0


class LabError(RuntimeError):
    """A scenario could not be run (a tool failed to start, a party did not finish...)."""


def scenario_file(name: str) -> Path:
    """Path of a SIPp scenario shipped in ``pushinject/lab/sipp/``."""
    path = Path(str(resources.files("pushinject.lab") / "sipp" / f"{name}.xml"))
    if not path.is_file():
        raise LabError(f"no SIPp scenario {name}.xml")
    return path


def render_config(*, log_prefix: str = "lab", proxy: LabProxy = KAMAILIO,
                  children: int = 2, tm: tuple[tuple[str, int], ...] = (),
                  hep: hep_mirror.Mirror | None = None) -> str:
    """The proxy's configuration with the lab's addresses, ports and timers filled in;
    `children` is the number of UDP worker processes (Kamailio's `children`), `tm` a
    scenario's own tm timer parameters (`set_tm_parameters`); OpenSIPS's with the HEP mirror
    `hep` when it is given (Kamailio's mirror is turned on by command-line defines instead,
    `hep_mirror.kamailio_defines`)."""
    text = (resources.files("pushinject.lab") / proxy.config).read_text(encoding="utf-8")
    values = {**proxy.config_values(), "LOG_PREFIX": log_prefix, "CHILDREN": str(children)}
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise LabError(f"{proxy.config} has a placeholder the lab does not fill")
    if hep and proxy.name == "opensips":
        text = hep_mirror.opensips_mirror(text, hep)
    return set_tm_parameters(text, tm)


_TM_LOADED = re.compile(r'^loadmodule "tm\.so"$', re.M)


def set_tm_parameters(config: str, tm: tuple[tuple[str, int], ...]) -> str:
    """``config`` with each ``(name, value)`` of ``tm`` set as a tm module parameter: the
    value of an existing ``modparam("tm", "name", ...)`` line is replaced, else a new line
    follows ``loadmodule "tm.so"`` (modparam must come after its module's loadmodule, in
    Kamailio and OpenSIPS alike). With no ``tm`` the text is unchanged.

    >>> cfg = 'loadmodule "tm.so"\\nmodparam("tm", "fr_timer", 8000)\\n'
    >>> print(set_tm_parameters(cfg, (("fr_timer", 20000), ("retr_timer1", 250))), end="")
    loadmodule "tm.so"
    modparam("tm", "retr_timer1", 250)
    modparam("tm", "fr_timer", 20000)
    """
    for name, value in tm:
        line = f'modparam("tm", "{name}", {value})'
        existing = re.compile(rf'^modparam\("tm", "{re.escape(name)}", [^)\n]*\)$', re.M)
        if existing.search(config):
            config = existing.sub(line, config)
        elif _TM_LOADED.search(config):
            config = _TM_LOADED.sub(lambda m: f"{m.group(0)}\n{line}", config, count=1)
        else:
            raise LabError(f'cannot set tm parameter {name}: the config loads no "tm.so"')
    return config


def udp_bound(port: int) -> bool:
    """Whether some socket in this namespace is bound to UDP ``port`` (from /proc/net/udp)."""
    wanted = f":{port:04X}"
    with open("/proc/net/udp", encoding="ascii") as table:
        return any(line.split()[1].endswith(wanted) for line in list(table)[1:])


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise LabError(f"timed out waiting for {what}")
        time.sleep(0.02)


_Party = tuple[str, "subprocess.Popen[bytes]"]


@dataclass
class Processes:
    """Every process the scenario started, stopped together whatever happens."""

    logs: Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        out = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        try:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.logs, start_new_session=True,
            )
        finally:
            out.close()
        self.started.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait(self, name: str, proc: subprocess.Popen[bytes], timeout: float) -> int:
        try:
            return proc.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            raise LabError(f"{name} did not finish in time:\n{self.log(name)[-2000:]}") from None

    def stop_all(self) -> None:
        for _name, proc in reversed(self.started):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _name, proc in reversed(self.started):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever is left of the group (Kamailio's children, say) goes too
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)


def _sipp(scenario: str, port: int, limit: float, *extra: str) -> list[str]:
    return [
        "sipp", "-sf", str(scenario_file(scenario)), "-i", LAB_IP, "-p", str(port),
        "-m", "1", "-nostdin", "-timeout", f"{int(limit)}s", "-timeout_error",
        "-trace_err", *extra,
    ]


def _device_argv(scenario: Scenario, device: Device) -> list[str]:
    return _sipp(
        f"device_{device.behaviour}", device.port, scenario.limit, "-key", "device", device.user,
        "-d", str(device.pause_ms),
    )


def _register_argv(scenario: Scenario, device: Device, again: bool = False) -> list[str]:
    """The helper sending ``device``'s REGISTER (``again``: its refresh).

    A refresh keeps the Call-ID and sends CSeq 2, unless the device takes a new Call-ID; a
    challenged callee's REGISTER is sent a second time with credentials after the 401.
    """
    fresh = again and device.new_call_id
    port = register_port(device.index)
    call_id = f"{scenario.name}-{device.user}-register{'-2' if fresh else ''}@%s"
    extra = ["-key", "user", scenario.callee, "-key", "contact", device.contact,
             "-key", "reg", f"reg-{port}" + ("-2" if fresh else ""),
             "-base_cseq", str(2 if again and not fresh else 1), "-cid_str", call_id]
    if scenario.callee == AUTH_CALLEE:
        extra += ["-au", scenario.callee, "-ap", AUTH_PASSWORD]
        return _sipp("register_auth", port, scenario.limit, *extra, f"{LAB_IP}:{PROXY_PORT}")
    return _sipp("register", port, scenario.limit, *extra, f"{LAB_IP}:{PROXY_PORT}")


def _caller_argv(scenario: Scenario) -> list[str]:
    return _sipp(
        f"caller_{scenario.caller}", CALLER_PORT, scenario.limit, "-key", "callee",
        scenario.callee, "-key", "tag", f"{scenario.name.lower()}-alice",
        "-d", str(scenario.caller_pause_ms),
        "-cid_str", f"{scenario.name}-call@%s", f"{LAB_IP}:{PROXY_PORT}",
    )


def start_capture(procs: Processes, pcap: Path, capture_filter: str = "udp") -> None:
    """Bring ``lo`` up and start tcpdump writing ``pcap`` (what ``capture_filter`` keeps);
    return once it listens, before any traffic."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    pcap.unlink(missing_ok=True)
    procs.start("tcpdump", tcpdump_argv(pcap, capture_filter))
    try:
        wait_for(lambda: "listening on" in procs.log("tcpdump"), "tcpdump to listen")
    except LabError as exc:
        raise LabError(f"{exc}: {procs.log('tcpdump')[-500:]}") from None


def _start_capture_and_proxy(
    procs: Processes, proxy: LabProxy, scenario: Scenario, pcap: Path,
    hep: hep_mirror.Mirror | None = None,
) -> None:
    """Steps 1 and 2: ``lo`` up, tcpdump listening, the proxy bound to its port."""
    start_capture(procs, pcap, hep_mirror.capture_filter(hep))
    if hep:
        hep_mirror.start(procs, pcap.parent, scenario.name, wait_for, udp_bound,
                         proxy.check_options(scenario.tm), hep.transport)
    binary = shutil.which(proxy.binary)
    if binary is None:
        raise LabError(f"{proxy.binary} is not installed")
    cfg = procs.logs / proxy.config
    cfg.write_text(render_config(log_prefix=scenario.name, proxy=proxy, tm=scenario.tm,
                                 hep=hep), encoding="utf-8")
    defines = hep_mirror.kamailio_defines(hep) if hep and proxy.name == "kamailio" else []
    procs.start(proxy.name, [*proxy.argv(binary, cfg, procs.logs), *defines])
    try:
        wait_for(lambda: udp_bound(PROXY_PORT), f"{proxy.name} to bind its port")
    except LabError as exc:
        raise LabError(f"{exc}: {procs.log(proxy.name)[-1500:]}") from None


def _start_answering_parties(procs: Processes, scenario: Scenario) -> list[_Party]:
    """Step 3: the push gateway and each device's answering UA, bound to their ports."""
    parties = [("push", procs.start("push", _sipp("push_gateway", PUSH_PORT, scenario.limit)))]
    answering = [d for d in scenario.devices if d.behaviour != "absent"]
    parties += [(d.user, procs.start(d.user, _device_argv(scenario, d))) for d in answering]
    for port in (PUSH_PORT, *(d.port for d in answering)):
        wait_for(partial(udp_bound, port), f"a SIPp party on port {port}")
    return parties


def _call_and_register(
    procs: Processes, proxy: LabProxy, scenario: Scenario
) -> tuple[_Party, list[_Party]]:
    """Step 4: early registrations, the caller, then each late registration or refresh."""
    for device in sorted(scenario.devices, key=lambda d: d.register_at):
        if device.register_at < 0:
            reg = procs.start(f"reg-{device.user}", _register_argv(scenario, device))
            if procs.wait(f"reg-{device.user}", reg, 5.0) != 0:
                raise LabError(f"registration of {device.user} failed")
    caller = procs.start("caller", _caller_argv(scenario))
    # Late registrations are timed from the proxy's handling of the INVITE (its log line),
    # not from the caller's start, so a slow start can never put a REGISTER first.
    wait_for(lambda: f"INVITE {scenario.call_id}:" in procs.log(proxy.name),
              "the proxy to receive the INVITE")
    t0 = time.monotonic()
    late = [(d.register_at, d, False) for d in scenario.devices if d.register_at >= 0]
    late += [(d.refresh_at, d, True) for d in scenario.devices if d.refresh_at is not None]
    registrations: list[_Party] = []
    for at, device, again in sorted(late, key=lambda item: item[0]):
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        name = f"reg-{device.user}" + ("-2" if again else "")
        if again:  # the helper's port is free again once its first REGISTER is done
            procs.wait(f"reg-{device.user}", dict(procs.started)[f"reg-{device.user}"], 5.0)
        registrations.append((name, procs.start(name, _register_argv(scenario, device, again))))
    return ("caller", caller), registrations


def run_scenario(
    scenario: Scenario, out_dir: Path, *, keep_logs: bool = False, proxy: LabProxy = KAMAILIO,
    hep: hep_mirror.Mirror | None = None,
) -> Path:
    """Run ``scenario`` here (already inside a private network namespace); return the pcap
    (``hep``: the proxy's HEP mirror, None for none)."""
    out_dir = out_dir.resolve()
    pcap = out_dir / scenario.file
    pcap.parent.mkdir(parents=True, exist_ok=True)
    if keep_logs:
        logs = out_dir / f"{scenario.name}.logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
    else:
        logs = Path(tempfile.mkdtemp(prefix=f"pushinject-lab-{scenario.name}-"))
    procs = Processes(logs)
    try:
        _start_capture_and_proxy(procs, proxy, scenario, pcap, hep)
        answering = _start_answering_parties(procs, scenario)
        (_, caller), registrations = _call_and_register(procs, proxy, scenario)
        deadline = time.monotonic() + scenario.limit
        status = procs.wait("caller", caller, deadline - time.monotonic())
        if status != 0:
            raise LabError(
                f"the caller failed (sipp exit {status}):\n{procs.log('caller')[-2000:]}")
        for name, proc in registrations + answering:
            if procs.wait(name, proc, deadline - time.monotonic()) != 0:
                raise LabError(f"{name} failed:\n{procs.log(name)[-2000:]}")
        time.sleep(0.5)  # let tcpdump write the last packets before it stops
    finally:
        procs.stop_all()
        if hep:
            hep_mirror.finish(procs, pcap.parent, scenario.name)
        if not keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
    return pcap


def namespaces_available() -> bool:
    """Whether this process may create a private network namespace (``unshare -n true``)."""
    try:
        done = subprocess.run(["unshare", "-n", "--", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def run_isolated(
    names: list[str], out_dir: Path, *, keep_logs: bool = False, proxy: LabProxy = KAMAILIO,
    hep: hep_mirror.Mirror | None = None,
) -> None:
    """Run each of ``proxy``'s named scenarios in its own private network namespace (``hep``:
    the proxy's HEP mirror)."""
    for name in names:
        argv = ["unshare", "-n", "--", sys.executable, "-m", "pushinject.lab.runner",
                "--proxy", proxy.name, "--out", str(out_dir.resolve()), name]
        if keep_logs:
            argv.insert(-1, "--keep-logs")
        if hep:
            argv[-1:-1] = hep.argv()
        scenario = proxy.scenarios.get(name)
        limit = (scenario.limit if scenario else 0.0) + TEARDOWN
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.terminate()  # the runner stops what it started on SIGTERM
            try:
                proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
            raise LabError(f"scenario {name} did not finish in time") from None
        if proc.returncode != 0:
            raise LabError(f"scenario {name} failed: {err.strip()[-3000:]}")


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point inside the namespace: ``python -m pushinject.lab.runner --proxy P --out DIR
    NAME``."""
    parser = argparse.ArgumentParser(prog="pushinject.lab.runner")
    parser.add_argument("--proxy", choices=sorted(PROXIES), default=KAMAILIO.name)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--hep", choices=hep_mirror.TRANSPORTS, default=None)
    parser.add_argument("--hep-version", type=int, choices=hep_mirror.VERSIONS, default=3)
    parser.add_argument("--hep-json", action="store_true")
    parser.add_argument("scenario")
    args = parser.parse_args(argv)
    proxy = PROXIES[args.proxy]
    if args.scenario not in proxy.scenarios:
        parser.error(f"argument scenario: invalid choice: {args.scenario!r} "
                     f"(choose from {', '.join(proxy.scenarios)})")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run_scenario(proxy.scenarios[args.scenario], args.out, keep_logs=args.keep_logs,
                     proxy=proxy, hep=hep_mirror.Mirror(args.hep, args.hep_version, args.hep_json)
                     if args.hep else None)
    except LabError as exc:
        print(f"{args.scenario}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
