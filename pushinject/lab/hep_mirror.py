"""The lab's HEP mirror: Kamailio's siptrace copies its traffic as HEPv3 to a live collector.

With `pushinject lab --hep`, a scenario runs as usual (`pushinject.lab.runner`) and, in the same
private namespace:

- Kamailio starts with ``-A WITH_HEP``, which turns on the siptrace block of `kamailio.cfg`
  (every SIP message it receives or sends goes as HEPv3 to ``127.0.0.1:HEP_PORT``);
- the scenario's tcpdump leaves the HEP packets out (``udp and not port HEP_PORT``), and a
  second tcpdump records only them into ``OUT/<scenario>-hep.pcap``;
- `pushinject check --hep-listen 127.0.0.1:HEP_PORT --json` judges the calls live as the
  mirror delivers them; its verdicts (one JSON object per call, then the summary) are kept in
  ``OUT/<scenario>-hep.jsonl``.

So one run gives three views of the same calls: the wire (tcpdump), the HEP stream recorded,
and the HEP stream judged live; `tests/test_lab.py` holds them equal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pushinject.lab.scenarios import LAB_IP

__all__ = ["HEP_PORT", "KAMAILIO_DEFINE", "capture_filter", "hep_files", "start", "finish",
           "CHECK_OPTIONS"]

#: the collector's UDP port (Homer's usual one); kamailio.cfg names it too
HEP_PORT = 9060
#: the Kamailio command-line define that turns the mirror on
KAMAILIO_DEFINE = ["-A", "WITH_HEP"]
#: how the lab's calls are judged: the tsilo preset with the lab proxy's tm timers
CHECK_OPTIONS = ["--preset", "kamailio-tsilo", "--knob", "fr_timeout=8",
                 "--knob", "fr_inv_timeout=10"]


def capture_filter(hep: bool) -> str:
    """The tcpdump filter of the scenario's own capture."""
    return f"udp and not port {HEP_PORT}" if hep else "udp"


def hep_files(out_dir: Path, name: str) -> tuple[Path, Path]:
    """The HEP capture and the collector's verdicts of scenario `name`."""
    return out_dir / f"{name}-hep.pcap", out_dir / f"{name}-hep.jsonl"


def start(procs: Any, out_dir: Path, name: str, wait_for: Any, udp_bound: Any) -> None:
    """Start the HEP tcpdump and the collector (before Kamailio), each ready when it returns."""
    pcap, _ = hep_files(out_dir, name)
    pcap.unlink(missing_ok=True)
    procs.start("tcpdump-hep", [
        "tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-Z", "root",
        "-w", str(pcap), "udp", "port", str(HEP_PORT),
    ])
    wait_for(lambda: "listening on" in procs.log("tcpdump-hep"), "the HEP tcpdump to listen")
    procs.start("collector", [
        sys.executable, "-m", "pushinject", "check", "--hep-listen", f"{LAB_IP}:{HEP_PORT}",
        "--json", "--quiet", "1", *CHECK_OPTIONS,
    ])
    wait_for(lambda: udp_bound(HEP_PORT), "the HEP collector to bind its port")


def finish(procs: Any, out_dir: Path, name: str) -> Path:
    """After everything stopped: keep the collector's JSON lines (its log also holds the
    ``listening`` line it wrote on stderr)."""
    _, verdicts = hep_files(out_dir, name)
    lines = [line for line in procs.log("collector").splitlines() if line.startswith("{")]
    verdicts.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return verdicts
