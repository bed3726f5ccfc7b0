"""The capture lab: real Kamailio 5.6 (tsilo) and OpenSIPS 3.x (the seed's routes) captures of
push branch injection, made on demand.

`pushinject.lab.proxies` says how to run each proxy (`build_opensips.sh` builds OpenSIPS from
source), `pushinject.lab.scenarios` and `pushinject.lab.opensips_scenarios` what each scenario
is and must show (its SIPp parties run the scenario files in ``pushinject/lab/sipp/``),
`pushinject.lab.runner` runs one in a private network namespace (the proxy, SIPp parties,
tcpdump on ``lo``), `pushinject.lab.facts` reads a capture's facts back, and
`pushinject.lab.manifest` writes and reads ``data/kamailio/manifest.toml`` and
``data/opensips/manifest.toml``. The command is ``pushinject lab``.
"""

from __future__ import annotations

__all__: list[str] = []
