"""Run one lab scenario: Kamailio, SIPp parties and tcpdump on loopback, in a private namespace.

`run_isolated()` re-executes this module under ``unshare -n`` so that every process it starts
(tcpdump, Kamailio, the SIPp caller, devices, registration helpers and push gateway) lives in a
fresh network namespace whose only interface is its own ``lo``: the fixed ports can never
collide with anything on the machine, and nothing leaves loopback. Inside, `run_scenario()`:

1. brings ``lo`` up and starts ``tcpdump -i lo -U --immediate-mode -w FILE udp``, waiting for
   its "listening" line before any traffic;
2. starts Kamailio in the foreground (``-DD -E``) with the rendered `kamailio.cfg`, its own pid
   file and runtime directory, and waits until its UDP port is bound;
3. starts the push gateway and each device's answering UA, waits for their ports;
4. sends the registrations due before the call, starts the caller, and sends each late
   registration or refresh at its time (seconds after Kamailio logged the INVITE);
5. waits (bounded) for the caller and every SIPp party to finish, waits 0.5 s so tcpdump writes
   the last packets, then stops everything it started (process groups), whatever happened.

With ``hep=True`` Kamailio also mirrors its traffic as HEPv3 to a live collector
(`pushinject.lab.hep_mirror`), started with a second tcpdump before Kamailio.

The capture is ``OUT/<scenario>.pcap``; the logs of every process go to ``OUT/<scenario>.logs/``
when ``--keep-logs`` is given, else to a temporary folder that is removed.
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
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pushinject.lab import hep_mirror
from pushinject.lab.scenarios import (
    CALLEE,
    CALLER_PORT,
    LAB_IP,
    PROXY_PORT,
    PUSH_PORT,
    SCENARIOS,
    Device,
    Scenario,
    register_port,
)

__all__ = [
    "FR_INV_TIMER_MS",
    "FR_TIMER_MS",
    "LabError",
    "namespaces_available",
    "render_config",
    "run_isolated",
    "run_scenario",
    "scenario_file",
]

#: tm timers of the lab proxy: fr_timer also bounds the suspended (blind) branch
FR_TIMER_MS = 8000
FR_INV_TIMER_MS = 10000
#: the longest any one scenario may take, start to teardown
SCENARIO_TIMEOUT = 30.0


class LabError(RuntimeError):
    """A scenario could not be run (a tool failed to start, a party did not finish...)."""


def scenario_file(name: str) -> Path:
    """Path of a SIPp scenario shipped in ``pushinject/lab/sipp/``."""
    path = Path(str(resources.files("pushinject.lab") / "sipp" / f"{name}.xml"))
    if not path.is_file():
        raise LabError(f"no SIPp scenario {name}.xml")
    return path


def render_config(*, log_prefix: str = "lab") -> str:
    """The Kamailio configuration with the lab's addresses, ports and timers filled in."""
    text = (resources.files("pushinject.lab") / "kamailio.cfg").read_text(encoding="utf-8")
    values = {
        "PROXY_IP": LAB_IP,
        "PROXY_PORT": str(PROXY_PORT),
        "PUSH_IP": LAB_IP,
        "PUSH_PORT": str(PUSH_PORT),
        "FR_TIMER_MS": str(FR_TIMER_MS),
        "FR_INV_TIMER_MS": str(FR_INV_TIMER_MS),
        "LOG_PREFIX": log_prefix,
    }
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise LabError("kamailio.cfg has a placeholder the lab does not fill")
    return text


def _udp_bound(port: int) -> bool:
    """Whether some socket in this namespace is bound to UDP ``port`` (from /proc/net/udp)."""
    wanted = f":{port:04X}"
    with open("/proc/net/udp", encoding="ascii") as table:
        return any(line.split()[1].endswith(wanted) for line in list(table)[1:])


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise LabError(f"timed out waiting for {what}")
        time.sleep(0.02)


_Party = tuple[str, "subprocess.Popen[bytes]"]


@dataclass
class _Processes:
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


def _sipp(scenario: str, port: int, *extra: str) -> list[str]:
    return [
        "sipp", "-sf", str(scenario_file(scenario)), "-i", LAB_IP, "-p", str(port),
        "-m", "1", "-nostdin", "-timeout", f"{int(SCENARIO_TIMEOUT)}s", "-timeout_error",
        "-trace_err", *extra,
    ]


def _device_argv(device: Device) -> list[str]:
    return _sipp(
        f"device_{device.behaviour}", device.port, "-key", "device", device.user,
        "-d", str(device.pause_ms),
    )


def _register_argv(scenario: Scenario, device: Device, cseq: int = 1) -> list[str]:
    return _sipp(
        "register", register_port(device.index), "-key", "user", CALLEE,
        "-key", "contact", device.contact, "-base_cseq", str(cseq),
        "-cid_str", f"{scenario.name}-{device.user}-register@%s",
        f"{LAB_IP}:{PROXY_PORT}",
    )


def _caller_argv(scenario: Scenario) -> list[str]:
    return _sipp(
        f"caller_{scenario.caller}", CALLER_PORT, "-key", "callee", CALLEE,
        "-key", "tag", f"{scenario.name.lower()}-alice", "-d", str(scenario.caller_pause_ms),
        "-cid_str", f"{scenario.name}-call@%s", f"{LAB_IP}:{PROXY_PORT}",
    )


def _start_capture_and_proxy(procs: _Processes, scenario: Scenario, pcap: Path,
                             hep: bool = False) -> None:
    """Steps 1 and 2: ``lo`` up, tcpdump listening, Kamailio bound to its port."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    pcap.unlink(missing_ok=True)
    procs.start("tcpdump", [
        "tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-Z", "root",
        "-w", str(pcap), hep_mirror.capture_filter(hep),
    ])
    try:
        _wait_for(lambda: "listening on" in procs.log("tcpdump"), "tcpdump to listen")
    except LabError as exc:
        raise LabError(f"{exc}: {procs.log('tcpdump')[-500:]}") from None
    if hep:
        hep_mirror.start(procs, pcap.parent, scenario.name, _wait_for, _udp_bound)
    cfg = procs.logs / "kamailio.cfg"
    cfg.write_text(render_config(log_prefix=scenario.name), encoding="utf-8")
    procs.start("kamailio", [
        "kamailio", "-f", str(cfg), "-DD", "-E", "-P", str(procs.logs / "kamailio.pid"),
        "-Y", str(procs.logs), "-m", "32", "-M", "4",
        *(hep_mirror.KAMAILIO_DEFINE if hep else []),
    ])
    _wait_for(lambda: _udp_bound(PROXY_PORT), "Kamailio to bind its port")


def _start_answering_parties(procs: _Processes, scenario: Scenario) -> list[_Party]:
    """Step 3: the push gateway and each device's answering UA, bound to their ports."""
    parties = [("push", procs.start("push", _sipp("push_gateway", PUSH_PORT)))]
    answering = [d for d in scenario.devices if d.behaviour != "absent"]
    parties += [(d.user, procs.start(d.user, _device_argv(d))) for d in answering]
    for port in (PUSH_PORT, *(d.port for d in answering)):
        _wait_for(lambda port=port: _udp_bound(port), f"a SIPp party on port {port}")
    return parties


def _call_and_register(procs: _Processes, scenario: Scenario) -> tuple[_Party, list[_Party]]:
    """Step 4: early registrations, the caller, then each late registration or refresh."""
    for device in sorted(scenario.devices, key=lambda d: d.register_at):
        if device.register_at < 0:
            reg = procs.start(f"reg-{device.user}", _register_argv(scenario, device))
            if procs.wait(f"reg-{device.user}", reg, 5.0) != 0:
                raise LabError(f"registration of {device.user} failed")
    caller = procs.start("caller", _caller_argv(scenario))
    # Late registrations are timed from the proxy's handling of the INVITE (its log line),
    # not from the caller's start, so a slow start can never put a REGISTER first.
    _wait_for(lambda: f"INVITE {scenario.call_id}:" in procs.log("kamailio"),
              "the proxy to receive the INVITE")
    t0 = time.monotonic()
    late = [(d.register_at, d, 1) for d in scenario.devices if d.register_at >= 0]
    late += [(d.refresh_at, d, 2) for d in scenario.devices if d.refresh_at is not None]
    registrations: list[_Party] = []
    for at, device, cseq in sorted(late, key=lambda item: item[0]):
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        name = f"reg-{device.user}" + ("" if cseq == 1 else f"-{cseq}")
        if cseq > 1:  # the helper's port is free again once its first REGISTER is done
            procs.wait(f"reg-{device.user}", dict(procs.started)[f"reg-{device.user}"], 5.0)
        registrations.append((name, procs.start(name, _register_argv(scenario, device, cseq))))
    return ("caller", caller), registrations


def run_scenario(scenario: Scenario, out_dir: Path, *, keep_logs: bool = False,
                 hep: bool = False) -> Path:
    """Run ``scenario`` here (already inside a private network namespace); return the pcap."""
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    pcap = out_dir / scenario.file
    if keep_logs:
        logs = out_dir / f"{scenario.name}.logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
    else:
        logs = Path(tempfile.mkdtemp(prefix=f"pushinject-lab-{scenario.name}-"))
    procs = _Processes(logs)
    try:
        _start_capture_and_proxy(procs, scenario, pcap, hep)
        answering = _start_answering_parties(procs, scenario)
        (_, caller), registrations = _call_and_register(procs, scenario)
        deadline = time.monotonic() + SCENARIO_TIMEOUT
        status = procs.wait("caller", caller, deadline - time.monotonic())
        if status != 0:
            raise LabError(f"the caller failed (sipp exit {status}):\n{procs.log('caller')[-2000:]}")
        for name, proc in registrations + answering:
            if procs.wait(name, proc, deadline - time.monotonic()) != 0:
                raise LabError(f"{name} failed:\n{procs.log(name)[-2000:]}")
        time.sleep(0.5)  # let tcpdump write the last packets before it stops
    finally:
        procs.stop_all()
        if hep:
            hep_mirror.finish(procs, out_dir, scenario.name)
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


def run_isolated(names: list[str], out_dir: Path, *, keep_logs: bool = False,
                 hep: bool = False) -> None:
    """Run each named scenario in its own private network namespace (``unshare -n``)."""
    for name in names:
        argv = ["unshare", "-n", "--", sys.executable, "-m", "pushinject.lab.runner",
                "--out", str(out_dir.resolve()), name]
        if keep_logs:
            argv.insert(-1, "--keep-logs")
        if hep:
            argv.insert(-1, "--hep")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _out, err = proc.communicate(timeout=SCENARIO_TIMEOUT + 30)
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
    """Entry point inside the namespace: ``python -m pushinject.lab.runner [--out DIR] NAME``."""
    parser = argparse.ArgumentParser(prog="pushinject.lab.runner")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--hep", action="store_true")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run_scenario(SCENARIOS[args.scenario], args.out, keep_logs=args.keep_logs,
                     hep=args.hep)
    except LabError as exc:
        print(f"{args.scenario}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
