"""The proxies the capture lab runs: how to start each, its config template and its scenarios.

A `LabProxy` is everything the runner needs to know of one proxy: its command, the config
template it renders (``pushinject/lab/<name>.cfg``) and the values it fills in, the scenarios
it runs, where their captures go by default, and the header of their manifest. The runner
itself (tcpdump, SIPp parties, namespaces) is the same for every proxy.

- ``kamailio``: Kamailio 5.6 with tsilo (Debian package ``kamailio``), tm timers shortened to
  ``fr_timer`` 8 s and ``fr_inv_timer`` 10 s; scenarios S1-S13 into ``data/kamailio``.
- ``opensips``: OpenSIPS 3.x running the seed's routes, built from source with
  ``pushinject/lab/build_opensips.sh`` (Debian has no package); tm timers at their defaults
  (the ``opensips`` preset's); scenarios O1-O15 into ``data/opensips``.

A scenario may set its own tm timers (`Scenario.tm`, S13 and O15: T1 at 250 ms); `LabProxy.knobs`
names the `pushinject check` knobs they amount to.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pushinject.lab.opensips_scenarios import OPENSIPS_SCENARIOS
from pushinject.lab.scenarios import (
    AUTH_CALLEE,
    AUTH_PASSWORD,
    LAB_IP,
    PROXY_PORT,
    PUSH_PORT,
    SCENARIOS,
    Scenario,
)

__all__ = [
    "AUTH_REALM",
    "FR_INV_TIMER_MS",
    "FR_TIMER_MS",
    "KAMAILIO",
    "LabProxy",
    "OPENSIPS",
    "PROXIES",
    "opensips_modules_dir",
]

#: tm timers of the lab's Kamailio: fr_timer also bounds the suspended (blind) branch
FR_TIMER_MS = 8000
FR_INV_TIMER_MS = 10000
#: the digest realm of the OpenSIPS lab's challenge
AUTH_REALM = "lab"


@dataclass(frozen=True)
class LabProxy:
    """One proxy the lab can run (see the module docstring)."""

    name: str
    binary: str
    scenarios: Mapping[str, Scenario]
    default_out: Path
    manifest_header: str
    #: Debian package providing ``binary``; None when it is built from source
    package: str | None
    #: config placeholders beyond the addresses and the log prefix
    values: Mapping[str, str]
    #: the arguments running it in the foreground and logging to stderr, with ``{cfg}``,
    #: ``{pid}`` and ``{logs}`` standing for the config, pid file and log folder
    arguments: tuple[str, ...]
    #: tm timer parameter -> (the `pushinject check` knob it sets, seconds per unit)
    tm_knobs: Mapping[str, tuple[str, float]]
    #: the `pushinject check` preset its captures are judged with
    preset: str
    #: the knobs (seconds) of the lab config's own tm timers, where they are not the preset's
    lab_knobs: Mapping[str, float]

    @property
    def config(self) -> str:
        """File name of the config template in ``pushinject/lab/``."""
        return f"{self.name}.cfg"

    def argv(self, binary: str, cfg: Path, logs: Path) -> list[str]:
        """The command running the proxy with config ``cfg``, its pid file in ``logs``."""
        fill = {"{cfg}": str(cfg), "{pid}": str(logs / f"{self.name}.pid"), "{logs}": str(logs)}
        return [binary, *(fill.get(arg, arg) for arg in self.arguments)]

    def knobs(self, tm: tuple[tuple[str, int], ...]) -> dict[str, float]:
        """The `pushinject check` knobs (seconds) of a scenario's tm timer parameters.

        >>> KAMAILIO.knobs((("retr_timer1", 250), ("fr_timer", 20000)))
        {'t1': 0.25, 'fr_timeout': 20.0}
        >>> OPENSIPS.knobs((("T1_timer", 250), ("fr_timeout", 30)))
        {'t1': 0.25, 'fr_timeout': 30.0}
        """
        knobs = {}
        for name, value in tm:
            knob, unit = self.tm_knobs[name]
            knobs[knob] = round(value * unit, 6)
        return knobs

    def check_options(self, tm: tuple[tuple[str, int], ...] = ()) -> list[str]:
        """How `pushinject check` judges a scenario's calls: the proxy's preset with the lab
        config's tm timers, those the scenario sets itself (`tm`) taking their place.

        >>> print(*KAMAILIO.check_options((("retr_timer1", 250),)))
        --preset kamailio-tsilo --knob fr_timeout=8 --knob fr_inv_timeout=10 --knob t1=0.25
        >>> OPENSIPS.check_options()
        ['--preset', 'opensips']
        """
        merged = {**self.lab_knobs, **self.knobs(tm)}
        return ["--preset", self.preset,
                *(arg for k, v in merged.items() for arg in ("--knob", f"{k}={v:g}"))]

    def config_values(self) -> dict[str, str]:
        """Every placeholder value but the log prefix (the OpenSIPS module folder is looked up
        beside the installed binary)."""
        values = {"PROXY_IP": LAB_IP, "PROXY_PORT": str(PROXY_PORT), "PUSH_IP": LAB_IP,
                  "PUSH_PORT": str(PUSH_PORT), **self.values}
        if self.name == "opensips":
            values["MODULES_DIR"] = str(opensips_modules_dir(shutil.which(self.binary)))
        return values


def opensips_modules_dir(binary: str | None) -> Path:
    """The module folder of an OpenSIPS installed as ``PREFIX/sbin/opensips``.

    OpenSIPS installs modules under ``PREFIX/<libdir>/opensips/modules`` with ``lib64`` on
    64-bit x86 and ``lib`` elsewhere; the first that exists is taken (``lib64`` when neither
    does, so that an error names a plausible folder).

    >>> opensips_modules_dir("/nowhere/sbin/opensips")
    PosixPath('/nowhere/lib64/opensips/modules')
    """
    prefix = Path(binary or "/usr/local/sbin/opensips").resolve().parent.parent
    candidates = [prefix / lib / "opensips" / "modules" for lib in ("lib64", "lib")]
    return next((path for path in candidates if path.is_dir()), candidates[0])


KAMAILIO = LabProxy(
    name="kamailio",
    binary="kamailio",
    scenarios=SCENARIOS,
    default_out=Path("data/kamailio"),
    manifest_header=f"""\
# Captures of a real Kamailio 5.6.3 (tsilo) doing push branch injection, made by the capture lab
# (`pushinject lab --out data/kamailio`, see pushinject/lab/). One table per capture; the facts
# are those every regeneration must show (see pushinject/lab/manifest.py for the fields).
# The lab proxy's tm timers: fr_timer {FR_TIMER_MS} ms, fr_inv_timer {FR_INV_TIMER_MS} ms; a table
# with `tm` (its capture in timers/) ran with those tm parameters instead. Where a table has
# expected_verdict_without_preset, plain `pushinject check` must say that: Kamailio departs
# there from RFC 3261 in a way the kamailio-tsilo preset models (S13: INVITE retransmissions
# whose interval stops doubling at T2).
""",
    package="kamailio",
    values={"FR_TIMER_MS": str(FR_TIMER_MS), "FR_INV_TIMER_MS": str(FR_INV_TIMER_MS)},
    arguments=("-f", "{cfg}", "-DD", "-E", "-P", "{pid}", "-Y", "{logs}", "-m", "32", "-M", "4"),
    tm_knobs={"retr_timer1": ("t1", 0.001), "retr_timer2": ("t2", 0.001),
              "fr_timer": ("fr_timeout", 0.001), "fr_inv_timer": ("fr_inv_timeout", 0.001)},
    preset="kamailio-tsilo",
    lab_knobs={"fr_timeout": FR_TIMER_MS / 1000, "fr_inv_timeout": FR_INV_TIMER_MS / 1000},
)

OPENSIPS = LabProxy(
    name="opensips",
    binary="opensips",
    scenarios=OPENSIPS_SCENARIOS,
    default_out=Path("data/opensips"),
    manifest_header="""\
# Captures of a real OpenSIPS 3.6.8 running the seed's route_to_user / fork_call
# (t_wait_for_new_branches, notify_on_event E_UL_CONTACT_INSERT for 20 s, t_inject_branches),
# made by the capture lab (`pushinject lab --proxy opensips`, see pushinject/lab/opensips.cfg).
# One table per capture; the facts are those every regeneration must show (see
# pushinject/lab/manifest.py for the fields). tm timers at their defaults (fr_timeout 30 s,
# fr_inv_timeout 120 s), as the `opensips` preset assumes: `pushinject check --preset opensips`
# with no knob must give each capture its expected_verdict. Where a table has
# expected_verdict_without_preset, plain `pushinject check` must say that instead: OpenSIPS
# departs there from RFC 3261 in a way the preset models (O8: a 6xx relayed at once; O14: INVITE
# retransmissions whose interval stops doubling at T2). A table with `tm` ran with those tm
# parameters instead (O15: T1 at 250 ms, its capture in timers/; the checker reads t1
# from it, TIMING-3).
""",
    package=None,
    values={"AUTH_USER": AUTH_CALLEE, "AUTH_PASSWORD": AUTH_PASSWORD, "AUTH_REALM": AUTH_REALM},
    arguments=("-F", "-f", "{cfg}", "-P", "{pid}", "-w", "{logs}", "-m", "32", "-M", "8"),
    tm_knobs={"T1_timer": ("t1", 0.001), "T2_timer": ("t2", 0.001),
              "fr_timeout": ("fr_timeout", 1.0), "fr_inv_timeout": ("fr_inv_timeout", 1.0)},
    preset="opensips",
    lab_knobs={},
)

#: proxy name -> proxy, the default first
PROXIES: dict[str, LabProxy] = {p.name: p for p in (KAMAILIO, OPENSIPS)}
