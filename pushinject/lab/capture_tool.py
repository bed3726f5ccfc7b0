"""The lab's tcpdump: how it is started, and what it said it dropped.

Under load a small capture buffer fills and the kernel drops packets, which the capture then
lacks (CAP-7); every tcpdump of the lab (the scenario's and the HEP mirror's) is started from
`tcpdump_argv`, so each gets the same buffer.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["CAPTURE_BUFFER_KIB", "dropped_by_kernel", "tcpdump_argv"]

#: tcpdump's buffer (KiB, ``-B``): under load a small one fills and the kernel drops packets,
#: which the capture then lacks (CAP-7)
CAPTURE_BUFFER_KIB = 65536


def dropped_by_kernel(log: str) -> int:
    """How many packets tcpdump said the kernel dropped, in its last words as it stopped
    (0 when it said nothing).

    >>> dropped_by_kernel("4 packets captured\\n14 packets dropped by kernel\\n")
    14
    """
    found = re.findall(r"^(\d+) packets? dropped by kernel$", log, re.MULTILINE)
    return int(found[-1]) if found else 0


def tcpdump_argv(pcap: Path, *capture_filter: str) -> list[str]:
    """The tcpdump that records loopback into `pcap` (what `capture_filter` keeps), each
    packet written as it comes, with a buffer large enough for a load run."""
    return ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-Z", "root",
            "-B", str(CAPTURE_BUFFER_KIB), "-w", str(pcap), *capture_filter]
