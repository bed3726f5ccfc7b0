"""The ``kamailio-tsilo`` preset: Kamailio's suspend/continue push pattern with tsilo (KAM-1 to
KAM-5).

The script follows the usual Kamailio configuration (KAM-5):

- INVITE: `t_newtran`, `ts_store`, `record_route` (KAM-17); `lookup` (which asks for a push
  for each contact with pn-* parameters); relay to the contacts that need no push (with the
  knob `relay_pn` 1, to every contact `lookup` found, pn-* ones included, as a configuration
  that calls `t_relay` right after `lookup` does: the pushed device's old contact is tried
  too); when there are none,
  `t_suspend()` (a blind branch on `fr_timeout`) and remember the transaction for the user, as
  the htable of a real configuration does;
- REGISTER: `save`; then, if a transaction of this user is suspended, `t_continue` it into
  `route[resume]`, which relays to the contact just registered; otherwise
  `ts_append_by_contact` adds the contact just registered to every stored transaction of the
  user (KAM-4), skipping location records that already have a branch (INJ-5).

No placeholder: when the branches that exist all fail before a pushed device wakes, the
transaction completes and later appends find it gone (pitfall PIT-10). Knobs: `fr_timeout`
30 s (the blind branch's timer, KAM-5), `fr_inv_timeout` 120 s, `relay_pn` 0. The registrar has
no RFC 8599 support (bindings matched by URI) and, as the lab's configuration, no nathelper:
branches go to the Contact URI (ROUTE-1) unless the `route_to_source` knob is 1 (ROUTE-2).
As Kamailio's tm, it retransmits an INVITE at intervals that double up to T2 and then stay
there (TXN-10), and a final response it makes up itself (a branch's timeout) goes to a caller
who CANCELled as 487 (KAM-12; capture S12). Once the caller has its 2xx, a branch that never
answered is sent nothing more: no copy of its INVITE, no CANCEL (KAM-11; capture S11).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from pushinject.presets.base import (
    RELAY_PN, ROUTE_TO_SOURCE, Driver, Preset, switch, timer_values,
)

if TYPE_CHECKING:
    from pushinject.core.ids import IdSource
    from pushinject.core.script_api import ScriptContext
    from pushinject.core.types import TxnId

__all__ = ["PRESET", "TsiloScript", "build"]


class TsiloScript:
    """The Kamailio routes of the preset (see the module docstring)."""

    def __init__(self, relay_pn: bool = False) -> None:
        #: relay to contacts with pn-* parameters too (knob `relay_pn`)
        self.relay_pn = relay_pn
        #: htable `vtp`: user -> suspended transaction (tindex, tlabel)
        self.suspended: dict[str, TxnId] = {}
        #: the contact of the REGISTER that triggered `t_continue` (passed to route[resume])
        self.resume_contact: str | None = None

    def request_route(self, sip: ScriptContext) -> None:
        if sip.has_totag:
            sip.forward()
            return
        if sip.is_method("REGISTER"):
            self.register(sip)
            return
        if sip.is_method("INVITE"):
            self.invite(sip)
            return
        sip.sl_send_reply(405)

    def invite(self, sip: ScriptContext) -> None:
        """route[INVITE]: store the transaction, push, relay or suspend (KAM-2, KAM-5)."""
        sip.t_newtran()
        sip.ts_store()
        sip.record_route()  # KAM-17: the usual configuration and the lab's record_route()
        sip.lookup("location")  # asks for a push per pn-* contact (http_client in a real cfg)
        if not self.relay_pn:
            sip.targets = [b for b in sip.targets if b.pn is None]
        if sip.targets:
            sip.t_relay()
            return
        txn = sip.t_suspend()
        if txn is not None:
            self.suspended[sip.rU] = txn

    def register(self, sip: ScriptContext) -> None:
        """route[REGISTER]: save, then resume a suspended call or append to stored ones."""
        if sip.save("location") < 0 or sip.msg is None or not sip.msg.contacts:
            return
        user = str(getattr(sip.msg.to.uri, "user", "") or "")
        contact = str(sip.msg.contacts[0].uri)
        txn = self.suspended.pop(user, None)
        if txn is not None:
            self.resume_contact = contact
            if sip.t_continue(txn[0], txn[1], "resume") > 0:
                return
        sip.ts_append_by_contact("location", sip.tu, contact)

    def resume(self, sip: ScriptContext) -> None:
        """route[resume] (t_continue): relay to the contact that just registered."""
        assert sip.msg is not None
        aor = sip.proxy.location.aor_of(sip.msg.uri)
        contact = self.resume_contact or ""
        sip.targets = [b for b in sip.proxy.location.lookup(aor, sip.now)
                       if contact in str(b.uri)]
        if sip.targets:
            sip.t_relay()


def build(knobs: Mapping[str, float], ids: IdSource) -> Driver:
    """The core proxy running `TsiloScript` with these knob values."""
    from pushinject.core.location import RegistrarConfig
    from pushinject.core.proxy import Proxy, ProxyConfig
    from pushinject.core.timers import TimerAGrowth
    from pushinject.core.types import Dedup, Selection

    config = ProxyConfig(fr_timeout=knobs["fr_timeout"], fr_inv_timeout=knobs["fr_inv_timeout"],
                         selection=Selection.RFC3261, dedup=Dedup.BY_LOCATION,
                         push_on_lookup=True,
                         resend_2xx=True,  # tm's t_newtran on a copy after the 2xx (TXN-7)
                         timers=replace(timer_values(knobs), timer_a=TimerAGrowth.CAPPED),  # TXN-10
                         cancelled_local_final_is_487=True,  # KAM-12
                         final_stops_unanswered_branches=True,  # KAM-11
                         registrar=RegistrarConfig(
                             route_to_source=switch(knobs, ROUTE_TO_SOURCE)))
    return Driver(Proxy(config, ids, TsiloScript(relay_pn=switch(knobs, RELAY_PN))))


PRESET = Preset(
    name="kamailio-tsilo",
    title="Kamailio tsilo: ts_store, t_suspend when nothing is reachable, ts_append on REGISTER",
    defaults={"fr_inv_timeout": 120.0, "fr_timeout": 30.0, RELAY_PN: 0.0, ROUTE_TO_SOURCE: 0.0},
    differences=(
        "waits only through a blind branch (t_suspend) when no contact can be relayed to, "
        "ending with 408 after fr_timeout (KAM-5; scenario: nobody_registered)",
        "has no placeholder: if the relayed branches all fail first, the call ends before a "
        "pushed device wakes (pitfall PIT-10, KAM-3; scenario: busy_then_pushed_answers)",
        "appends on every REGISTER, new binding or refresh, so there is no subscription to "
        "expire and no INSERT/UPDATE distinction (KAM-3, KAM-4; scenario: woken_same_contact)",
        "skips a location record that already has a branch (INJ-5; scenario: register_twice)",
        "answers a caller who CANCELled with 487 when a branch that never answered times out, "
        "not with that branch's 408 (KAM-12; scenario: cancel_sleeping_branch)",
    ),
    factory=build,
    catalogue_id="KAM-10",
)
