"""Presets: a routing script plus knob values, one per proxy behaviour pushinject models.

- ``opensips``: the seed's script (`pushinject.scripts.opensips_seed`); waits with a
  placeholder until `fr_inv_timeout` (120 s); finds woken devices by INSERT events on a 20 s
  subscription; no de-duplication (OSIPS-11).
- ``kamailio-tsilo``: `TsiloScript`; waits with a blind branch (`t_suspend`) only when nothing
  could be relayed; `ts_append_by_contact` on every REGISTER; de-duplication by location record
  (INJ-5).
- ``rfc8599``: `BucketScript`; waits in the bucket (Bucket Timer 30 s); pn-* match on INSERT or
  UPDATE after the REGISTER's 2xx; one bucket entry per device.

Each `Preset` lists its `differences`; `data/scenarios/` has scenarios that show each one.
"""

from __future__ import annotations

from pushinject.errors import UsageError
from pushinject.presets.base import Driver, Preset
from pushinject.presets.kamailio_tsilo import PRESET as KAMAILIO_TSILO
from pushinject.presets.opensips import PRESET as OPENSIPS
from pushinject.presets.rfc8599 import PRESET as RFC8599

__all__ = ["Driver", "Preset", "PRESETS", "DEFAULT_PRESET", "get_preset"]

#: every preset by name, in the order they are documented
PRESETS: dict[str, Preset] = {p.name: p for p in (OPENSIPS, KAMAILIO_TSILO, RFC8599)}

#: the preset a scenario runs under when it names none
DEFAULT_PRESET = "opensips"


def get_preset(name: str) -> Preset:
    """The preset called `name`; `UsageError` naming the known ones otherwise.

    >>> get_preset("rfc8599").defaults["bucket_timer"]
    30.0
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None
