"""The seed's OpenSIPS push-notification script, line for line, against the script API.

The seed is the "Push Notification" example of the OpenSIPS `event_routing` module:
`route[route_to_user]` creates the transaction, keeps it alive with a placeholder branch,
subscribes `fork_call` to `E_UL_CONTACT_INSERT` for the callee for 20 s, and relays to the
contacts already registered; `route[fork_call]` injects each newly registered contact.

Only `request_route` and `relay` are not in the seed: they are the usual surroundings of such a
script (REGISTER saved, in-dialog requests forwarded, Record-Route before `t_newtran()` as
observed on OpenSIPS (OSIPS-19), `route[relay]` a plain `t_relay()`).

Its pitfall is kept on purpose (PIT-1 and 7): it listens to INSERT only, and its
subscription lasts 20 s while the placeholder lasts `fr_inv_timeout` (120 s by default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pushinject.core.script_api import ScriptContext

__all__ = ["SeedScript"]


class SeedScript:
    """The seed's routes. `event` and `timeout` default to the seed's own values.

    Parameters
    ----------
    event
        the usrloc event `notify_on_event` listens to (seed: "E_UL_CONTACT_INSERT")
    timeout
        the subscription's lifetime in seconds (seed: 20)
    """

    def __init__(self, event: str = "E_UL_CONTACT_INSERT", timeout: float = 20) -> None:
        self.event = event
        self.timeout = timeout

    def request_route(self, sip: ScriptContext) -> None:
        """Not in the seed: the usual main route around it."""
        if sip.has_totag:                      # in-dialog: ACK of a 2xx, BYE...
            sip.forward()
            return
        if sip.is_method("REGISTER"):
            sip.save("location")
            return
        if sip.is_method("INVITE"):
            sip.record_route()
            sip.route("route_to_user")
            return
        sip.sl_send_reply(405)

    def route_to_user(self, sip: ScriptContext) -> None:
        """route[route_to_user] of the seed."""
        # prepare transaction for branch injection; it is mandatory
        # to create the transaction before the subscription (EVT-1)
        sip.t_newtran()

        # keep the transaction alive (even if all branches will terminate)
        # until the FR INVITE timer hits (OSIPS-1, OSIPS-2)
        sip.t_wait_for_new_branches()

        # subscribe to new contact registration event, but for our callee only
        sip.avp["filter"] = "aor=" + sip.rU
        sip.notify_on_event(self.event, sip.avp["filter"], "fork_call", self.timeout)

        # fetch already registered contacts and relay if any
        if sip.lookup("location") > 0:
            sip.route("relay")
        # if there were no contacts available (so no branches created so far),
        # the created transaction will still be waiting for new branches due to
        # the usage of the t_wait_for_new_branches() function

        return  # exit

    def relay(self, sip: ScriptContext) -> None:
        """route[relay]: not shown in the seed; a plain stateful relay."""
        if sip.t_relay() < 0:
            sip.sl_send_reply(500)

    def fork_call(self, sip: ScriptContext) -> None:
        """route[fork_call] of the seed: runs for each matching event (EVT-4, EVT-6)."""
        sip.xlog(f"user {sip.avp.get('aor')} registered a new contact {sip.avp.get('uri')}, "
                 "injecting")
        # take the contact described by the E_UL_CONTACT_INSERT event and inject it
        # as a new branch into the original transaction (OSIPS-8, OSIPS-9)
        sip.t_inject_branches("event")
