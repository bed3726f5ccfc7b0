"""The lab's HEP mirror: Kamailio's siptrace copies its traffic as HEPv3 to a live collector.

With `pushinject lab --hep`, a scenario runs as usual (`pushinject.lab.runner`) and, in the same
private namespace:

- Kamailio starts with ``-A WITH_HEP``, which turns on the siptrace block of `kamailio.cfg`
  (every SIP message it receives or sends goes as HEPv3 to ``127.0.0.1:HEP_PORT``, in UDP
  datagrams, or with the transport ``tcp`` also ``-A WITH_HEP_TCP``: over a TCP connection;
  ``-A HEP_VERSION=1`` or ``2`` makes it HEPv1 or HEPv2, HEP-5, in datagrams only);
- the scenario's tcpdump leaves the HEP packets out (``udp and not port HEP_PORT``), and a
  second tcpdump records only them (``udp port HEP_PORT`` or ``tcp port HEP_PORT``) into
  ``OUT/<scenario>-hep.pcap``;
- `pushinject check --hep-listen 127.0.0.1:HEP_PORT --json` judges the calls live as the
  mirror delivers them; its verdicts (one JSON object per call, then the summary) are kept in
  ``OUT/<scenario>-hep.jsonl``.

So one run gives three views of the same calls: the wire (tcpdump), the HEP stream recorded,
and the HEP stream judged live; `tests/test_lab.py` holds them equal.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pushinject.lab.capture_tool import tcpdump_argv
from pushinject.lab.proxies import FR_INV_TIMER_MS, FR_TIMER_MS
from pushinject.lab.scenarios import LAB_IP

__all__ = ["HEP_PORT", "TRANSPORTS", "VERSIONS", "capture_filter", "check_options", "hep_files",
           "kamailio_defines", "start", "finish", "CHECK_OPTIONS", "LAB_KNOBS"]

#: the collector's port, UDP and TCP (Homer's usual one); kamailio.cfg names it too
HEP_PORT = 9060
#: how the mirror may send its packets (the collector takes both at once)
TRANSPORTS = ("udp", "tcp")
#: the HEP versions siptrace sends (`hep_version`; Kamailio's default is 1, the lab's 3)
VERSIONS = (1, 2, 3)


def kamailio_defines(transport: str, version: int = 3) -> list[str]:
    """The Kamailio command-line defines that turn the mirror on, over `transport`, sending
    HEP `version` (HEPv1 and HEPv2 in datagrams only: they have no length to frame a stream).

    >>> kamailio_defines("tcp")
    ['-A', 'WITH_HEP', '-A', 'WITH_HEP_TCP']
    >>> kamailio_defines("udp", 1)
    ['-A', 'WITH_HEP', '-A', 'HEP_VERSION=1']
    """
    if version != 3 and transport != "udp":
        raise ValueError(f"HEPv{version} has no length field to frame a {transport} stream")
    return ["-A", "WITH_HEP", *(["-A", "WITH_HEP_TCP"] if transport == "tcp" else []),
            *(["-A", f"HEP_VERSION={version}"] if version != 3 else [])]

#: the lab proxy's tm timers as `pushinject check` knobs
LAB_KNOBS: Mapping[str, float] = {"fr_timeout": FR_TIMER_MS / 1000,
                                  "fr_inv_timeout": FR_INV_TIMER_MS / 1000}


def check_options(knobs: Mapping[str, float]) -> list[str]:
    """How a scenario's calls are judged: the tsilo preset with the lab proxy's tm timers, those
    a scenario sets itself (`knobs`) taking their place.

    >>> check_options({"t1": 0.25, "fr_timeout": 20.0})
    ['--preset', 'kamailio-tsilo', '--knob', 'fr_timeout=20', '--knob', 'fr_inv_timeout=10', '--knob', 't1=0.25']
    """
    merged = {**LAB_KNOBS, **knobs}
    return ["--preset", "kamailio-tsilo",
            *(arg for k, v in merged.items() for arg in ("--knob", f"{k}={v:g}"))]


#: how the lab's calls are judged when the scenario sets no tm timer of its own
CHECK_OPTIONS = check_options({})


def capture_filter(hep: str | None) -> str:
    """The tcpdump filter of the scenario's own capture."""
    return f"udp and not port {HEP_PORT}" if hep else "udp"


def hep_files(out_dir: Path, name: str) -> tuple[Path, Path]:
    """The HEP capture and the collector's verdicts of scenario `name`."""
    return out_dir / f"{name}-hep.pcap", out_dir / f"{name}-hep.jsonl"


def start(procs: Any, out_dir: Path, name: str, wait_for: Any, udp_bound: Any,
          knobs: Mapping[str, float] | None = None, transport: str = "udp") -> None:
    """Start the HEP tcpdump (of the mirror's `transport`) and the collector (before
    Kamailio), each ready when it returns; `knobs` are the scenario's own tm timers
    (`check_options`)."""
    pcap, _ = hep_files(out_dir, name)
    pcap.unlink(missing_ok=True)
    procs.start("tcpdump-hep", tcpdump_argv(pcap, transport, "port", str(HEP_PORT)))
    wait_for(lambda: "listening on" in procs.log("tcpdump-hep"), "the HEP tcpdump to listen")
    procs.start("collector", [
        sys.executable, "-m", "pushinject", "check", "--hep-listen", f"{LAB_IP}:{HEP_PORT}",
        "--json", "--quiet", "1", *check_options(knobs or {}),
    ])
    wait_for(lambda: udp_bound(HEP_PORT), "the HEP collector to bind its port")


def finish(procs: Any, out_dir: Path, name: str) -> Path:
    """After everything stopped: keep the collector's JSON lines (its log also holds the
    ``listening`` line it wrote on stderr)."""
    _, verdicts = hep_files(out_dir, name)
    lines = [line for line in procs.log("collector").splitlines() if line.startswith("{")]
    verdicts.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return verdicts
