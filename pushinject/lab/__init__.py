"""The capture lab: real Kamailio 5.6 (tsilo) captures of push branch injection, made on demand.

`pushinject.lab.scenarios` says what each scenario is and must show (its SIPp parties run the
scenario files in ``pushinject/lab/sipp/``), `pushinject.lab.runner`
runs one in a private network namespace (Kamailio, SIPp parties, tcpdump on ``lo``),
`pushinject.lab.facts` reads a capture's facts back, and `pushinject.lab.manifest` writes and
reads ``data/kamailio/manifest.toml``. The command is ``pushinject lab``.
"""

from __future__ import annotations

__all__: list[str] = []
