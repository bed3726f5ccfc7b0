"""The script API: Kamailio tsilo / tmx primitives (KAM-1 to KAM-5) and OpenSIPS details (EVT-1,
EVT-5, OSIPS-1, OSIPS-5, OSIPS-13, OSIPS-17)."""

from __future__ import annotations

import pytest

from harness import Harness
from pushinject.core.proxy import ProxyConfig
from pushinject.scripts.opensips_seed import SeedScript

DEV1 = ("192.0.2.20", 5070)


class Tsilo:
    """The typical Kamailio push configuration of KAM-5, with tsilo and t_suspend/t_continue."""

    def __init__(self, by_contact: bool = False) -> None:
        self.suspended: dict[str, tuple[int, int]] = {}
        self.by_contact = by_contact
        self.codes: list[int] = []

    def request_route(self, sip):
        if sip.is_method("REGISTER"):
            sip.save("location")
            user = sip.msg.to.uri.user
            if user in self.suspended:
                self.codes.append(sip.t_continue(*self.suspended.pop(user), "resume"))
            elif self.by_contact:
                self.codes.append(sip.ts_append_by_contact("location", sip.tu))
            else:
                self.codes.append(sip.ts_append("location", sip.tu))
            return
        if sip.is_method("INVITE"):
            sip.t_newtran()
            sip.ts_store()
            if sip.lookup("location") < 0:
                self.suspended[sip.rU] = sip.t_suspend()
                return
            sip.t_relay()

    def resume(self, sip):
        if sip.lookup("location") > 0:
            sip.t_relay()


def test_ts_append_without_a_stored_transaction_returns_minus_1_R63():
    script = Tsilo()
    h = Harness(script=script)
    out = h.register(port=5070)
    assert script.codes == [-1]
    assert h.logs(out) == ["ERROR: ts_append: transaction not found for bob"]


def test_suspended_call_times_out_with_408_at_fr_timer_of_the_blind_branch_R65():
    h = Harness(script=Tsilo())
    assert h.statuses(h.call()) == [100]
    assert h.proxy.get_timer() == 30.0
    assert h.statuses(h.advance_to(30.0)) == [408]
    assert [b.kind for b in h.proxy.summary("call-1").branches] == ["blind"]


def test_t_continue_resumes_on_the_first_register_then_ts_append_adds_the_next_R63_R65():
    script = Tsilo()
    h = Harness(script=script)
    h.call()
    assert h.proxy.tsilo_records() == {"bob": [(1, 1)]}
    h.advance_to(5.0)
    [first] = h.invites(h.register(port=5070))
    assert first.destination == DEV1
    h.advance_to(6.0)
    [second] = h.invites(h.register(port=5080))
    assert script.codes == [1, 1]
    kinds = [(b.kind, b.injected, b.target) for b in h.proxy.summary("call-1").branches]
    assert kinds == [("blind", False, ""), ("real", False, "sip:bob@192.0.2.20:5070"),
                     ("real", True, "sip:bob@192.0.2.20:5080")]


def test_ts_append_skips_a_location_record_that_already_has_a_branch_R43():
    script = Tsilo()
    h = Harness(script=script)
    h.register(port=5070)
    h.call()
    assert h.invites(h.register(port=5070, cseq=2)) == []
    assert script.codes == [-1, 1]


def test_ts_append_by_contact_appends_only_the_registering_contact_R64():
    script = Tsilo(by_contact=True)
    h = Harness(script=script)
    h.register(port=5070)
    h.call()
    [inv] = h.invites(h.register(port=5080))
    assert inv.destination == ("192.0.2.20", 5080)


def test_stored_transactions_are_removed_when_the_transaction_is_destroyed_R62():
    h = Harness(script=Tsilo())
    h.register(port=5070)
    [inv] = h.invites(h.call())
    [busy] = h.answer(inv, 486)[1:]         # ACK to the device, 486 to the caller
    h.ack(busy.message)
    assert h.proxy.tsilo_records() == {"bob": [(1, 1)]}   # final sent, still stored
    h.advance_to(5.0)                      # Timer I ends the server transaction; D at 32 s
    assert h.proxy.tsilo_records() == {"bob": [(1, 1)]}
    h.advance_to(32.0)
    assert h.proxy.tsilo_records() == {}


def test_cancel_while_suspended_ends_the_blind_branch_with_487_R65():
    h = Harness(script=Tsilo())
    h.call()
    out = h.cancel()
    assert sorted(h.statuses(out)) == [200, 487]


class NoTransaction(SeedScript):
    """The seed with notify_on_event before t_newtran: the pitfall of EVT-1."""

    def route_to_user(self, sip):
        sip.notify_on_event(self.event, "aor=" + sip.rU, "fork_call", 20)
        sip.t_newtran()
        sip.t_wait_for_new_branches()

    def fork_call(self, sip):
        self.code = sip.t_inject_branches("event")


def test_subscription_made_before_the_transaction_cannot_inject_R16():
    script = NoTransaction()
    h = Harness(script=script)
    h.call()
    assert h.invites(h.register(port=5070)) == [] and script.code == -1
    assert [w.rule for w in h.proxy.subscriptions.warnings] == ["EVT-1"]


class WaitOnMessage(SeedScript):
    def request_route(self, sip):
        self.codes = (sip.t_newtran(), sip.t_wait_for_new_branches())
        sip.sl_send_reply(200)


def test_t_wait_for_new_branches_refuses_other_methods_than_invite_R27():
    from pushinject.sip import make_request

    script = WaitOnMessage()
    h = Harness(script=script)
    msg = make_request("MESSAGE", "sip:bob@example.com",
                       via="SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-m1",
                       from_="<sip:alice@example.com>;tag=1", to="<sip:bob@example.com>",
                       call_id="m1", cseq=1)
    h.deliver(msg, ("192.0.2.10", 5060))
    assert script.codes == (-1, -1)


def test_seed_pitfall_subscription_shorter_than_the_transaction_is_warned_pitfall_7():
    h = Harness(config=ProxyConfig(fr_inv_timeout=120.0))
    h.call()
    [warning] = h.proxy.subscriptions.warnings
    assert warning.rule == "EVT-4" and "(120)" in warning.text


class EditsBeforeRelay(SeedScript):
    """Adds a header after t_newtran and before t_relay (OSIPS-13)."""

    def route_to_user(self, sip):
        sip.t_newtran()
        sip.t_wait_for_new_branches()
        sip.notify_on_event(self.event, "aor=" + sip.rU, "fork_call", 20)
        sip.msg = sip.msg.with_header_appended("X-Edited", "before-relay")
        if sip.lookup("location") > 0:
            sip.t_relay()

    def fork_call(self, sip):
        sip.msg = None  # the notification route has no message of its own (EVT-6)
        sip.t_inject_branches("event")


def test_injected_invite_copies_the_edits_made_before_t_relay_R39():
    h = Harness(script=EditsBeforeRelay())
    h.register(port=5070)
    [first] = h.invites(h.call())
    [injected] = h.invites(h.register(port=5080))
    assert first.message.get("X-Edited") == injected.message.get("X-Edited") == "before-relay"
    assert injected.message.call_id == "call-1" and injected.message.cseq.number == 1


class MasterPn(SeedScript):
    """OpenSIPS master's PN wait (OSIPS-17): expiry of the subscription ends the wait at once."""

    def route_to_user(self, sip):
        sip.t_newtran()
        sip.t_wait_for_new_branches()
        sip.notify_on_event("E_UL_CONTACT_INSERT", "aor=" + sip.rU, "fork_call", 6,
                            expire_notify=True)

    def fork_call(self, sip):
        if not sip.avp:                        # the expiry notice: no parameters (EVT-5)
            sip.t_wait_no_more_branches_timeout()
            return
        sip.t_inject_branches("event")


def test_expiry_notice_and_no_more_branches_timeout_end_the_wait_at_once_R20_R31_R60():
    h = Harness(script=MasterPn())
    h.call()
    assert h.proxy.get_timer() == pytest.approx(6.0)
    out = h.advance_to(6.1)                    # not at fr_inv_timeout (120 s)
    assert h.statuses(out) == [408]
    assert h.proxy.summary("call-1").final_at == pytest.approx(6.0)


class AppendTo(Tsilo):
    """On REGISTER, append only to the transaction remembered for the user (ts_append_to)."""

    def __init__(self) -> None:
        super().__init__()
        self.remembered: dict[str, tuple[int, int]] = {}

    def request_route(self, sip):
        if sip.is_method("INVITE"):
            sip.t_newtran()
            sip.t_wait_for_new_branches()
            self.remembered[sip.rU] = sip.ctx.txn_id
            return
        sip.save("location")
        self.codes.append(sip.ts_append_to(*self.remembered[sip.msg.to.uri.user], "location"))


def test_ts_append_to_targets_one_transaction_and_fails_once_it_is_gone_R61():
    script = AppendTo()
    h = Harness(script=script)
    h.call()
    [inv] = h.invites(h.register(port=5070))
    assert inv.destination == DEV1 and script.codes == [1]
    h.cancel()
    h.advance_to(70.0)           # 487 at 30 s (FR timer of the unanswered branch), Timer H
    assert h.invites(h.register(port=5080)) == [] and script.codes == [1, -1]
