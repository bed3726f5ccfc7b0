"""The benchmarks' memory figure counts a command's whole process tree."""

from __future__ import annotations

import os
import subprocess
import sys

from pushinject.bench.processes import resident_kb, run_measured

#: holds 60 MB (every page touched) for 1 s; as ``parent`` it first starts itself as a child,
#: so that two 60 MB processes live at once
HOLDER = (
    "import subprocess, sys, time\n"
    "held = bytearray(60 * 2**20)\n"
    "held[::4096] = b'x' * len(held[::4096])\n"
    "if sys.argv[1] == 'parent':\n"
    "    child = subprocess.Popen([sys.executable, '-c', sys.argv[2], 'child', ''])\n"
    "    time.sleep(1.0)\n"
    "    child.wait(timeout=10)\n"
    "else:\n"
    "    time.sleep(1.0)\n"
)


def test_the_peak_counts_a_parent_and_its_child_together() -> None:
    status, peak_kb, cpu = run_measured([sys.executable, "-c", HOLDER, "parent", HOLDER],
                                        every=0.02)
    assert status == 0
    assert peak_kb >= 120 * 1024  # both holders at once; the largest alone is under 70 MB
    assert cpu > 0


def test_resident_kb_of_this_process_and_of_one_gone() -> None:
    assert resident_kb(os.getpid()) > 1024
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    assert resident_kb(gone.pid) == 0
