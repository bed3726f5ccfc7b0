"""Presets: a routing script plus knob values, one per proxy behaviour pushinject models.

| preset | script | waits with | finds woken devices by | de-duplication |
| --- | --- | --- | --- | --- |
| ``opensips`` | the seed (`pushinject.scripts.opensips_seed`) | placeholder, `fr_inv_timeout` 120 s | INSERT events, 20 s subscription | none (R37) |
| ``kamailio-tsilo`` | `TsiloScript` | blind branch (`t_suspend`) when nothing is relayed | `ts_append_by_contact` on every REGISTER | by location record (R43) |
| ``rfc8599`` | `BucketScript` | the bucket, Bucket Timer 30 s | pn-* match on INSERT or UPDATE after the 2xx | one entry per device |

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
