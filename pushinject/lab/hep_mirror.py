"""The lab's HEP mirror: the proxy copies its traffic as HEP to a live collector.

With `pushinject lab --hep`, a scenario runs as usual (`pushinject.lab.runner`) and, in the same
private namespace:

- Kamailio starts with ``-A WITH_HEP``, which turns on the siptrace block of `kamailio.cfg`
  (every SIP message it receives or sends goes as HEPv3 to ``127.0.0.1:HEP_PORT``, in UDP
  datagrams, or with the transport ``tcp`` also ``-A WITH_HEP_TCP``: over a TCP connection;
  ``-A HEP_VERSION=1`` or ``2`` makes it HEPv1 or HEPv2, HEP-5, in datagrams only);
- OpenSIPS, which has no such defines, runs its config with the mirror's lines added
  (`opensips_mirror`: proto_hep and tracer, ``trace()`` in the main route and in a
  ``local_route``), with the same transports and versions, and with ``json`` proto_hep's
  ``homer5_on`` 0: each SIP message inside a JSON object (HEP-6);
- the scenario's tcpdump leaves the HEP packets out (``udp and not port HEP_PORT``), and a
  second tcpdump records only them (``udp port HEP_PORT`` or ``tcp port HEP_PORT``) into
  ``OUT/<scenario>-hep.pcap``;
- `pushinject check --hep-listen 127.0.0.1:HEP_PORT --json` judges the calls live as the
  mirror delivers them, with the proxy's preset; its verdicts (one JSON object per call, then
  the summary) are kept in ``OUT/<scenario>-hep.jsonl``.

So one run gives three views of the same calls: the wire (tcpdump), the HEP stream recorded,
and the HEP stream judged live; `tests/test_lab_hep.py` holds them equal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pushinject.lab.capture_tool import tcpdump_argv
from pushinject.lab.scenarios import LAB_IP

__all__ = ["HEP_PORT", "OPENSIPS_HEP_PORT", "TRANSPORTS", "VERSIONS", "Mirror", "capture_filter",
           "hep_files", "kamailio_defines", "opensips_mirror", "start", "finish"]

#: the collector's port, UDP and TCP (Homer's usual one); kamailio.cfg names it too
HEP_PORT = 9060
#: how the mirror may send its packets (the collector takes both at once)
TRANSPORTS = ("udp", "tcp")
#: the HEP versions siptrace sends (`hep_version`; Kamailio's default is 1, the lab's 3)
VERSIONS = (1, 2, 3)


@dataclass(frozen=True)
class Mirror:
    """How the lab's proxy mirrors its traffic: over `transport`, as HEP `version` (HEPv1 and
    HEPv2 in datagrams only: they have no length to frame a stream, HEP-5), and with `json`
    each SIP message inside a JSON object (OpenSIPS's proto_hep ``homer5_on`` 0, HEPv3 only,
    HEP-6). `ValueError` for a combination that cannot be sent.

    >>> Mirror("tcp", 1)
    Traceback (most recent call last):
    ValueError: HEPv1 has no length field to frame a tcp stream
    >>> Mirror(json=True).argv()
    ['--hep', 'udp', '--hep-version', '3', '--hep-json']
    """

    transport: str = "udp"
    version: int = 3
    json: bool = False

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS or self.version not in VERSIONS:
            raise ValueError(f"no HEPv{self.version} mirror over {self.transport}")
        if self.version != 3 and self.transport != "udp":
            raise ValueError(f"HEPv{self.version} has no length field to frame a "
                             f"{self.transport} stream")
        if self.json and self.version != 3:
            raise ValueError(f"HEPv{self.version} has no payload chunk to hold JSON")

    def argv(self) -> list[str]:
        """The lab runner's options that ask for this mirror."""
        return ["--hep", self.transport, "--hep-version", str(self.version),
                *(["--hep-json"] if self.json else [])]


def kamailio_defines(mirror: Mirror) -> list[str]:
    """The Kamailio command-line defines that turn `mirror` on (siptrace has no JSON form).

    >>> kamailio_defines(Mirror("tcp"))
    ['-A', 'WITH_HEP', '-A', 'WITH_HEP_TCP']
    >>> kamailio_defines(Mirror("udp", 1))
    ['-A', 'WITH_HEP', '-A', 'HEP_VERSION=1']
    """
    if mirror.json:
        raise ValueError("Kamailio's siptrace sends no JSON payload")
    return ["-A", "WITH_HEP", *(["-A", "WITH_HEP_TCP"] if mirror.transport == "tcp" else []),
            *(["-A", f"HEP_VERSION={mirror.version}"] if mirror.version != 3 else [])]

#: the port OpenSIPS's proto_hep sends the mirror from (a ``hep_udp``/``hep_tcp`` socket)
OPENSIPS_HEP_PORT = HEP_PORT + 1

#: the statement OpenSIPS's main route starts with: the request and its transaction
OPENSIPS_TRACE = '\ttrace("mirror", "t");  # pushinject lab --hep\n'

#: the routes that mirror the requests tm makes itself (the push's MESSAGE) and their replies.
#: Not ``trace("mirror", "t")`` in local_route: it runs in the context of the request whose
#: route made the MESSAGE, whose trace it joins, so that transaction is mirrored twice and the
#: MESSAGE not at all (seen with OpenSIPS 3.6.8); ``"m"`` there mirrors the MESSAGE as sent.
OPENSIPS_OWN_REQUESTS = (
    '\nlocal_route {\n\ttrace("mirror", "m");  # pushinject lab --hep\n}\n'
    '\nonreply_route {\n\tif (is_method("MESSAGE"))\n'
    '\t\ttrace("mirror", "m");  # pushinject lab --hep\n}\n')


def opensips_mirror(config: str, mirror: Mirror) -> str:
    r"""`config` (the lab's rendered `opensips.cfg`) with OpenSIPS's HEP mirror turned on:
    proto_hep sends to the collector from a socket of its own (``hep_udp`` or ``hep_tcp`` on
    `OPENSIPS_HEP_PORT`), and tracer's ``trace("mirror", "t")`` starts the main route, so
    each request, its transaction's branches, replies, CANCELs and ACKs, and the stateless
    replies (REGISTER's 200 and 401) are mirrored; `OPENSIPS_OWN_REQUESTS` mirrors the
    request tm makes itself (the push's MESSAGE) and its reply; with `Mirror.json`, proto_hep's
    ``homer5_on`` 0 wraps each message in JSON. `config`'s own lines do not change.

    >>> text = opensips_mirror('socket=udp:127.0.0.1:5060\nloadmodule "tm.so"\nroute {\n}\n',
    ...                        Mirror("udp", 2))
    >>> print(text.expandtabs(4), end="")
    socket=udp:127.0.0.1:5060
    socket=hep_udp:127.0.0.1:9061
    loadmodule "tm.so"
    loadmodule "proto_hep.so"
    loadmodule "tracer.so"
    modparam("proto_hep", "hep_id", "[collector] 127.0.0.1:9060; transport=udp; version=2")
    modparam("tracer", "trace_id", "[mirror] uri=hep:collector")
    route {
        trace("mirror", "t");  # pushinject lab --hep
    }
    <BLANKLINE>
    local_route {
        trace("mirror", "m");  # pushinject lab --hep
    }
    <BLANKLINE>
    onreply_route {
        if (is_method("MESSAGE"))
            trace("mirror", "m");  # pushinject lab --hep
    }
    """
    lines = config.splitlines(keepends=True)
    sockets = [i for i, line in enumerate(lines) if line.startswith("socket=")]
    modules = [i for i, line in enumerate(lines) if line.startswith("loadmodule ")]
    main = [i for i, line in enumerate(lines) if line.rstrip() == "route {"]
    if not (sockets and modules and len(main) == 1) or "local_route" in config:
        raise ValueError("not the lab's OpenSIPS config: no socket, loadmodule or one main "
                         "route, or a local_route already")
    added = {
        sockets[-1]: [f"socket=hep_{mirror.transport}:{LAB_IP}:{OPENSIPS_HEP_PORT}\n"],
        modules[-1]: ['loadmodule "proto_hep.so"\n', 'loadmodule "tracer.so"\n',
                      f'modparam("proto_hep", "hep_id", "[collector] {LAB_IP}:{HEP_PORT}; '
                      f'transport={mirror.transport}; version={mirror.version}")\n',
                      *(['modparam("proto_hep", "homer5_on", 0)\n'] if mirror.json else []),
                      'modparam("tracer", "trace_id", "[mirror] uri=hep:collector")\n'],
        main[0]: [OPENSIPS_TRACE],
    }
    text = "".join(line + "".join(added.get(i, [])) for i, line in enumerate(lines))
    return text + OPENSIPS_OWN_REQUESTS


def capture_filter(hep: Mirror | None) -> str:
    """The tcpdump filter of the scenario's own capture."""
    return f"udp and not port {HEP_PORT}" if hep else "udp"


def hep_files(out_dir: Path, name: str) -> tuple[Path, Path]:
    """The HEP capture and the collector's verdicts of scenario `name`."""
    return out_dir / f"{name}-hep.pcap", out_dir / f"{name}-hep.jsonl"


def start(procs: Any, out_dir: Path, name: str, wait_for: Any, udp_bound: Any,
          check_options: Sequence[str], transport: str = "udp") -> None:
    """Start the HEP tcpdump (of the mirror's `transport`) and the collector (before the
    proxy), each ready when it returns; the collector judges with `check_options` (the
    proxy's, `LabProxy.check_options`)."""
    pcap, _ = hep_files(out_dir, name)
    pcap.unlink(missing_ok=True)
    procs.start("tcpdump-hep", tcpdump_argv(pcap, transport, "port", str(HEP_PORT)))
    wait_for(lambda: "listening on" in procs.log("tcpdump-hep"), "the HEP tcpdump to listen")
    procs.start("collector", [
        sys.executable, "-m", "pushinject", "check", "--hep-listen", f"{LAB_IP}:{HEP_PORT}",
        "--json", "--quiet", "1", *check_options,
    ])
    wait_for(lambda: udp_bound(HEP_PORT), "the HEP collector to bind its port")


def finish(procs: Any, out_dir: Path, name: str) -> Path:
    """After everything stopped: keep the collector's JSON lines (its log also holds the
    ``listening`` line it wrote on stderr)."""
    _, verdicts = hep_files(out_dir, name)
    lines = [line for line in procs.log("collector").splitlines() if line.startswith("{")]
    verdicts.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return verdicts
