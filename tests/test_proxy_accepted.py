"""The proxy after a 2xx: RFC 6026's Accepted state on both sides of the call (TXN-7, TXN-8).

The caller's INVITE transaction stays Accepted for Timer L (64*T1 = 32 s) after the first 2xx:
copies of the INVITE are absorbed without any answer, later 2xx responses (another fork's, a
resend from downstream) go to the caller, and an ACK is forwarded end to end. Each branch that
got a 2xx stays Accepted for Timer M (32 s) and passes every further 2xx up. Then both end, and
a copy of the INVITE is a new request again.
"""

from __future__ import annotations

from harness import CALLER, Harness
from pushinject.core.actions import Push, Send
from pushinject.core.client_txn import ClientState
from pushinject.core.ids import CountingIds
from pushinject.core.proxy import ProxyConfig
from pushinject.core.server_txn import ServerState
from pushinject.presets import get_preset
from pushinject.sip import make_request

DEV_A = ("192.0.2.20", 5070)
DEV_B = ("192.0.2.20", 5080)


def _answered(*, pn: str | None = None) -> tuple[Harness, Send]:
    """bob registered at 5080 only; the INVITE at 1.0 forked to it; it answers 200 at 3.0."""
    h = Harness()
    h.register(port=5080, pn=pn)
    h.advance_to(1.0)
    [inv] = h.invites(h.call())
    h.advance_to(3.0)
    out = h.answer(inv, 200)
    assert [(s.message.status, s.destination) for s in h.sends(out)] == [(200, CALLER)]
    return h, inv


def test_a_retransmitted_invite_after_the_2xx_is_absorbed_without_an_answer_TXN_7():
    """RFC 6026 §7.1: no branch, no push, no 100 and no 2xx again, until Timer L; each copy
    counts as a processed input (REGISTER, INVITE, 200 and the two copies)."""
    h, _ = _answered(pn="tok-1")
    [ctx] = h.proxy.contexts()
    assert ctx.server.state is ServerState.ACCEPTED
    assert ctx.server.timers.as_dict() == {"L": 35.0}
    h.advance_to(3.5)
    assert h.deliver(h.invite, CALLER) == []
    h.advance_to(34.9)
    assert h.deliver(h.invite, CALLER) == []
    assert len(h.proxy.contexts()) == 1 and h.proxy.inputs.processed == 5


def test_timer_l_and_timer_m_end_the_call_then_a_copy_is_a_new_request_TXN_7_TXN_8():
    """Both timers run from the 2xx at 3.0 s: at 35.0 s the call is retired, and the same
    INVITE then opens a new transaction: 100 Trying, a push and a branch again."""
    h, _ = _answered(pn="tok-1")
    [ctx] = h.proxy.contexts()
    [branch] = [b for b in ctx.branches if b.txn is not None]
    assert branch.txn.state is ClientState.ACCEPTED and branch.txn.timers.as_dict() == {"M": 35.0}
    assert h.advance_to(34.99) == [] and len(h.proxy.contexts()) == 1
    assert h.advance_to(35.0) == []
    assert h.proxy.contexts() == [] and h.proxy.summary("call-1").final_status == 200
    out = h.deliver(h.invite, CALLER)
    assert [(type(a).__name__, getattr(getattr(a, "message", None), "start_line", None),
             getattr(a, "destination", None)) for a in out] == [
        ("Send", "SIP/2.0 100 Trying", CALLER),
        ("Push", None, None),
        ("Send", "INVITE sip:bob@192.0.2.20:5080;pn-provider=fcm;pn-prid=tok-1;pn-param=proj "
                 "SIP/2.0", DEV_B)]
    assert len(h.proxy.contexts()) == 1


def test_a_second_fork_s_2xx_goes_through_the_accepted_transaction_to_the_caller_TXN_7():
    """CTX-4 with RFC 6026: B answers first, A's 200 crossed the CANCEL: both reach the
    caller, and the proxy ACKs neither (the caller does, end to end)."""
    h = Harness()
    h.register(port=5070)
    h.register(port=5080)
    inv_a, inv_b = h.invites(h.call())
    h.answer(inv_a, 180)
    h.advance_to(3.0)
    out = h.answer(inv_b, 200)
    assert [(s.message.start_line.split(" ")[0], s.destination) for s in h.sends(out)] == [
        ("SIP/2.0", CALLER), ("CANCEL", DEV_A)]
    h.advance_to(3.05)
    late = h.answer(inv_a, 200)
    [sent] = late
    assert isinstance(sent, Send) and sent.destination == CALLER
    assert (sent.message.status, sent.message.to.tag) == (200, "dev-5070")
    [ctx] = h.proxy.contexts()
    assert ctx.server.state is ServerState.ACCEPTED
    assert [b.txn.state for b in ctx.branches if b.txn is not None] == [
        ClientState.ACCEPTED, ClientState.ACCEPTED]


def test_a_2xx_resent_from_downstream_is_forwarded_every_time_TXN_8():
    """The UAS resends its 200 until the ACK (RFC 3261 §13.3.1.4); each one matches the
    branch's Accepted transaction and goes to the caller (RFC 6026 §7.2)."""
    h, inv = _answered()
    [ctx] = h.proxy.contexts()
    for at in (3.5, 4.5, 6.5):
        h.advance_to(at)
        [again] = h.answer(inv, 200)
        assert (again.message.status, again.message.to.tag, again.destination) == (
            200, "dev-5080", CALLER)
    assert ctx.server.state is ServerState.ACCEPTED


def test_the_ack_of_the_2xx_is_forwarded_end_to_end_even_on_the_invite_s_branch_TXN_7():
    """An ACK for a 2xx is its own transaction (RFC 3261 §17): with a new branch it matches
    nothing and is forwarded; one that reuses the INVITE's branch matches the Accepted server
    transaction, which passes it up, and it is forwarded too (before RFC 6026's state the
    context would have swallowed it)."""
    h, _ = _answered()
    inv = h.invite
    for branch in ("z9hG4bK-ack-2xx", inv.top_via.branch):
        ack = make_request("ACK", "sip:bob@192.0.2.20:5080",
                           via=f"SIP/2.0/UDP 192.0.2.10:5060;branch={branch}",
                           from_=inv.get("From"), to=f"{inv.get('To')};tag=dev-5080",
                           call_id=inv.call_id, cseq=1)
        [sent] = h.deliver(ack, CALLER)
        assert (sent.message.method, sent.destination) == ("ACK", DEV_B)
        assert sent.message.top_via.host == "127.0.0.1"
    assert h.proxy.contexts()[0].server.state is ServerState.ACCEPTED


def test_a_cancel_after_the_2xx_gets_200_and_changes_nothing_RFC3261_16_10():
    h, _ = _answered()
    h.advance_to(3.2)
    out = h.cancel()
    assert [(s.message.status, s.message.cseq.method, s.destination) for s in out] == [
        (200, "CANCEL", CALLER)]
    [ctx] = h.proxy.contexts()
    assert (ctx.final_status, ctx.cancelled, ctx.server.state) == (
        200, False, ServerState.ACCEPTED)


def test_with_resend_2xx_a_copy_gets_the_2xx_again_and_nothing_else_TXN_7():
    """The kamailio-tsilo and opensips presets model tm, whose `t_newtran` resends the last
    relayed response to a request that matches a finished transaction."""
    h = Harness(config=ProxyConfig(resend_2xx=True))
    h.register(port=5080, pn="tok-1")
    [inv] = h.invites(h.call())
    h.advance_to(3.0)
    [ok] = h.answer(inv, 200)
    h.advance_to(3.5)
    [again] = h.deliver(h.invite, CALLER)
    assert again.message is ok.message and again.destination == CALLER
    assert [get_preset(name).build(CountingIds("x")).proxy.config.resend_2xx
            for name in ("opensips", "kamailio-tsilo", "rfc8599")] == [True, True, False]
