"""The non-INVITE server transaction (TXN-6, RFC 3261 §17.2.2, figure 8) on virtual time."""

from __future__ import annotations

import pytest

from pushinject.core.actions import Send
from pushinject.core.server_nict import NistState, NonInviteServerTransaction
from pushinject.errors import LocalProtocolError
from pushinject.sip import make_request, make_response

SOURCE = ("192.0.2.20", 5070)
REQUEST = make_request("REGISTER", "sip:example.com",
                       via="SIP/2.0/UDP 192.0.2.20:5070;branch=z9hG4bKr1",
                       from_="<sip:bob@example.com>;tag=1", to="<sip:bob@example.com>",
                       call_id="r1", cseq=1)
KEY = ("z9hG4bKr1", "192.0.2.20", 5070, "REGISTER")


def _sent(status: int) -> Send:
    return Send(message=make_response(REQUEST, status, to_tag="t"), destination=SOURCE)


def test_txn_6_trying_absorbs_then_completed_resends_until_timer_j():
    t = NonInviteServerTransaction(KEY, SOURCE)
    assert t.retransmission(0.0) == [] and t.state is NistState.TRYING
    ok = _sent(200)
    t.record(ok, 0.1)
    assert t.state is NistState.COMPLETED and t.get_timer() == pytest.approx(32.1)
    [again] = t.retransmission(5.0)
    assert again.message is ok.message and again.destination == SOURCE
    assert t.handle_timer(32.0) == [] and t.state is NistState.COMPLETED
    assert t.handle_timer(32.1) == [] and t.terminated and t.get_timer() is None


def test_txn_6_reliable_timer_j_is_zero_and_terminated_refuses_input():
    t = NonInviteServerTransaction(KEY, SOURCE, reliable=True)
    t.record(_sent(100), 0.0)
    assert t.state is NistState.PROCEEDING and t.get_timer() is None
    assert [a.message.status for a in t.retransmission(0.5)] == [100]
    t.record(_sent(404), 1.0)
    assert t.get_timer() == 1.0
    t.handle_timer(1.0)
    with pytest.raises(LocalProtocolError):
        t.retransmission(2.0)
