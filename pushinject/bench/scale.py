"""`pushinject bench scale`: `pushinject check` on a large traffic capture against tshark.

A traffic capture of at least `--calls` calls (default 20,000) is simulated
(`pushinject.sim.traffic`: users with one push device each, calls arriving at `--rate` a
second, phones waking after a lognormal delay, one push in ten rejected), or reused from
`--capture FILE` when that file exists (simulating 20,000 calls takes minutes). Then, in one
run, each as a whole child process whose wall time and peak resident memory are measured.
The peak is read by a small wrapper process (`resource.getrusage(RUSAGE_CHILDREN)` after the
command ends: the largest of the command and its own children): a child forked straight from
this process would count this process's memory as its own until it execs. The capture is
simulated in a child process too, so this one stays small.

- tshark extracting five SIP fields from the file, and `pushinject check` judging it: the
  throughput ratio (tshark's time over check's: the same file, so the same messages) and the
  peak-memory ratio (check's over tshark's);
- `check` on the first half of the capture (its first frames, cut at a record boundary) and on
  the whole: the memory ratio whole/half is about 1 when memory does not grow with length;
- `check --jobs 2` against `--jobs 1`: the speed-up, and its throughput and memory (all its
  processes) against tshark's.

The last line: ``scale: check xS.SS tshark throughput, memory xM.MM, jobs2 xJ.JJ``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pushinject.bench.decode import TSHARK_ARGS
from pushinject.errors import UsageError

HELP = "time `pushinject check` on a large traffic capture against tshark, --jobs 2 and 1"

__all__ = ["HELP", "add_arguments", "run", "traffic_text", "first_half", "measure"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=20_000, metavar="N",
                        help="calls in the simulated capture, at least (default 20000)")
    parser.add_argument("--rate", type=float, default=10.0, metavar="PER_SECOND",
                        help="call arrivals a second (default 10)")
    parser.add_argument("--capture", type=Path, metavar="FILE",
                        help="reuse this capture when it exists, else write the simulated one "
                        "there (default: a temporary file)")


def traffic_text(calls: int, rate: float) -> str:
    """A traffic of about 1.1 x `calls` calls (so at least `calls` whatever the draw) at `rate`
    a second, to users with one push device each: ten calls per user, and at least 50 users per
    call a second, so that few calls find their callee busy (a traffic file,
    `pushinject.sim.traffic.parse_traffic`)."""
    users = int(max(50 * rate, min(62_500, calls // 10)))
    duration = calls * 1.1 / rate + 10
    return (
        f'name = "scale"\npreset = "opensips"\nseed = 12\nusers = {users}\n'
        f"call_rate = {rate}\nduration = {duration:.1f}\npush_failure = 0.1\n"
        '[wake_delay]\ndistribution = "lognormal"\nmedian = 3.0\nsigma = 0.8\n')


def first_half(source: Path, target: Path) -> int:
    """Write the first half of the pcap `source`'s records to `target`; returns how many."""
    data = source.read_bytes()
    magic = data[:4]
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    starts = []
    at = 24
    while at + 16 <= len(data):
        starts.append(at)
        at += 16 + struct.unpack_from(order + "I", data, at + 8)[0]
    half = len(starts) // 2
    end = starts[half] if half < len(starts) else len(data)
    target.write_bytes(data[:end])
    return half


def measure(argv: list[str]) -> tuple[float, int, int, float]:
    """Run a command to completion in a fresh wrapper process (`pushinject.bench.processes`):
    (wall seconds, peak resident KiB of the command's whole process tree, exit status, CPU
    seconds)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pushinject.bench.processes", *argv],
                         capture_output=True, text=True, check=True).stdout.split()
    return time.perf_counter() - start, int(out[1]), int(out[0]), float(out[2])


def _build(args: argparse.Namespace, path: Path, folder: Path) -> int:
    """Simulate the traffic into `path` in a child process; the number of calls."""
    spec = folder / "scale.toml"
    spec.write_text(traffic_text(args.calls, args.rate), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pushinject", "simulate", str(spec), "--pcap",
                           str(path), "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        raise UsageError(f"simulating the traffic failed: {done.stderr.strip()[-200:]}")
    calls = int(json.loads(done.stdout)["summary"]["calls"])
    if calls < args.calls:
        raise UsageError(f"the traffic made {calls} calls, fewer than {args.calls}")
    return calls


def run(args: argparse.Namespace) -> int:
    if args.calls < 1 or args.rate <= 0:
        raise UsageError("--calls must be at least 1 and --rate positive")
    tshark = shutil.which("tshark")
    if tshark is None:
        raise UsageError("bench scale compares with tshark, which is not installed")
    with tempfile.TemporaryDirectory(prefix="pushinject-scale-") as tmp:
        path = args.capture or Path(tmp) / "scale.pcap"
        if path.exists():
            print(f"capture {path}, reused")
        else:
            print(f"capture {path}: {_build(args, path, Path(tmp))} calls simulated")
        half = Path(tmp) / "half.pcap"
        records = first_half(path, half)
        size = path.stat().st_size
        print(f"{size / 1e6:.1f} MB, {2 * records} records or so; first half {records} records")
        check = [sys.executable, "-m", "pushinject", "check"]
        runs = {
            "tshark fields": [tshark, "-r", str(path), *TSHARK_ARGS],
            "check": [*check, str(path)],
            "check, first half": [*check, str(half)],
            "check --jobs 2": [*check, "--jobs", "2", str(path)],
        }
        figures = {}
        print(f"{'run':<22}{'wall s':>10}{'CPU s':>10}{'peak MB':>10}  status")
        for label, argv in runs.items():
            wall, rss, status, cpu = measure(argv)
            if status not in (0, 1):  # check exits 1 on violations: the traffic loses calls
                raise UsageError(f"{label} failed (exit status {status})")
            figures[label] = (wall, rss)
            print(f"{label:<22}{wall:>10.2f}{cpu:>10.2f}{rss / 1024:>10.1f}  {status}")
    speed = figures["tshark fields"][0] / figures["check"][0]
    memory = figures["check"][1] / figures["tshark fields"][1]
    growth = figures["check"][1] / figures["check, first half"][1]
    jobs = figures["check"][0] / figures["check --jobs 2"][0]
    both = figures["tshark fields"][0] / figures["check --jobs 2"][0]
    both_memory = figures["check --jobs 2"][1] / figures["tshark fields"][1]
    print(f"check --jobs 2: x{both:.2f} tshark throughput, memory x{both_memory:.2f} "
          "(all its processes)")
    print(f"memory whole/half x{growth:.2f} (flat in length: about 1)")
    print(f"scale: check x{speed:.2f} tshark throughput, memory x{memory:.2f}, jobs2 x{jobs:.2f}")
    return 0
