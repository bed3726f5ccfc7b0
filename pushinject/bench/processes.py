"""Resident memory of a process tree, read from /proc (Linux), for the benchmarks.

A command that forks workers (`pushinject check --jobs N`, `pushinject serve --workers N`) uses
the memory of all its processes at once; the kernel's `ru_maxrss` of the children is the peak of
the largest single one, so the benchmarks sample the whole tree instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

__all__ = ["resident_kb", "run_measured"]


def resident_kb(pid: int) -> int:
    """The resident memory of process `pid` and all its descendants, in kB (0 once it is gone)."""
    return sum(_own_resident_kb(each) for each in _tree(pid))


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        each = todo.pop()
        found.append(each)
        todo.extend(_children(each))
    return found


def _children(pid: int) -> list[int]:
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                children.extend(int(word) for word in handle.read().split())
    except (OSError, ValueError):
        pass
    return children


def _own_resident_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_measured(argv: list[str], every: float = 0.05) -> tuple[int, int, float]:
    """Run `argv` to completion, its output discarded: (exit status, peak resident kB of its
    process tree, CPU seconds of the tree). The peak is the larger of the tree sampled every
    `every` seconds and the kernel's peak of its largest process."""
    import resource

    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while child.poll() is None:
        peak = max(peak, resident_kb(child.pid))
        time.sleep(every)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return child.returncode, max(peak, usage.ru_maxrss), usage.ru_utime + usage.ru_stime


if __name__ == "__main__":  # the benchmarks' wrapper: one fresh process per measured run
    status, kb, cpu = run_measured(sys.argv[1:])
    print(status, kb, cpu)
