"""The ``opensips`` preset: the seed's script with OpenSIPS defaults.

The script is `pushinject.scripts.opensips_seed.SeedScript`, unchanged: a placeholder branch
(`t_wait_for_new_branches`, OSIPS-1), a 20 s `notify_on_event` subscription to
`E_UL_CONTACT_INSERT` only (EVT-4, EVT-9), `lookup` and relay, `t_inject_branches("event")` with no
de-duplication (OSIPS-11). Knobs: `fr_inv_timeout` 120 s (the placeholder's deadline, OSIPS-2),
`fr_timeout` 30 s, `subscription_timeout` 20 s; OpenSIPS response ranking (OSIPS-7). The registrar
has no RFC 8599 support (the seed does not enable `pn_enable`), so bindings are matched by URI,
and no NAT handling (the seed calls no `fix_nated_register`): branches go to the Contact URI
(ROUTE-1) unless the `route_to_source` knob is 1 (ROUTE-2);
`lookup` asks for a push for each contact with pn-* parameters and still relays to it.
Its OpenSIPS response selection also relays a 6xx to the caller the moment it arrives and only
then CANCELs the pending branches, as OpenSIPS tm does (CTX-5 holds it; the lab's capture O8 in
``data/opensips`` shows the real proxy doing so). As OpenSIPS tm, it retransmits an INVITE at
intervals that double up to T2 and then stay there (TXN-10), and the caller's CANCEL spares a
placeholder that has other branches beside it, so that a branch that never answered ends the
call with its own 408 (OSIPS-28; capture O14). Once the caller has its final response (a 2xx,
or a 6xx relayed at once), a branch that never answered is sent nothing more: no copy of its
INVITE, no CANCEL (OSIPS-26; capture O13).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from pushinject.presets.base import ROUTE_TO_SOURCE, Driver, Preset, switch, timer_values

if TYPE_CHECKING:
    from pushinject.core.ids import IdSource

__all__ = ["PRESET", "build"]


def build(knobs: Mapping[str, float], ids: IdSource) -> Driver:
    """The core proxy running the seed's script with these knob values."""
    from pushinject.core.location import RegistrarConfig
    from pushinject.core.proxy import Proxy, ProxyConfig
    from pushinject.core.timers import TimerAGrowth
    from pushinject.core.types import Dedup, Selection
    from pushinject.scripts.opensips_seed import SeedScript

    config = ProxyConfig(fr_timeout=knobs["fr_timeout"], fr_inv_timeout=knobs["fr_inv_timeout"],
                         selection=Selection.OPENSIPS, dedup=Dedup.NONE, push_on_lookup=True,
                         resend_2xx=True,  # tm's t_newtran on a copy after the 2xx (TXN-7)
                         timers=replace(timer_values(knobs), timer_a=TimerAGrowth.STEPPED),  # TXN-10, OSIPS-29
                         cancel_skips_placeholder=True,  # OSIPS-28
                         final_stops_unanswered_branches=True,  # OSIPS-26
                         registrar=RegistrarConfig(
                             route_to_source=switch(knobs, ROUTE_TO_SOURCE),
                             match_instance=False))  # usrloc matches URIs (OSIPS-33)
    script = SeedScript(timeout=knobs["subscription_timeout"])
    return Driver(Proxy(config, ids, script))


PRESET = Preset(
    name="opensips",
    title="the seed's OpenSIPS script: placeholder branch, 20 s INSERT subscription, injection",
    defaults={"fr_inv_timeout": 120.0, "fr_timeout": 30.0, "route_to_source": 0.0,
              "subscription_timeout": 20.0},
    differences=(
        "keeps the transaction alive with a placeholder until fr_inv_timeout, even when every "
        "device has failed, then sends the best response (OSIPS-1, OSIPS-2, OSIPS-6; scenario: "
        "every_device_fails)",
        "listens to E_UL_CONTACT_INSERT only: a device that refreshes its existing binding is "
        "not injected (EVT-9, pitfall PIT-1; scenario: woken_same_contact)",
        "its subscription ends after 20 s, long before the placeholder (pitfall PIT-7; "
        "scenario: wake_after_subscription_expired)",
        "does not de-duplicate injected contacts (OSIPS-11); listening to INSERT only, a refresh "
        "cannot inject a contact twice, where Kamailio relies on INJ-5 (scenario: register_twice)",
        "a caller CANCEL while only the placeholder exists gets 487 at once (OSIPS-10; scenario: "
        "cancel_nobody_registered); beside other branches the placeholder is spared, and a "
        "branch that never answered ends the call with its own 408 at fr_timeout (OSIPS-28)",
    ),
    factory=build,
    catalogue_id="OSIPS-25",
)
