"""The non-INVITE client transaction of the proxy's CANCELs (RFC 3261 §17.1.2, §9.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import Harness
from pushinject.core.cancel_txn import (
    TRANSITIONS, NonInviteClientTransaction, NonInviteInput, NonInviteState,
)
from pushinject.errors import LocalProtocolError
from pushinject.sip import make_request, make_response

DST = ("192.0.2.20", 5070)


def _cancel():
    return make_request("CANCEL", "sip:bob@192.0.2.20:5070",
                        via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-px-1",
                        from_="<sip:alice@example.com>;tag=a", to="<sip:bob@example.com>",
                        call_id="c1", cseq=1)


def test_timer_e_doubles_to_t2_and_timer_f_ends_it_RFC3261_17_1_2_2():
    txn = NonInviteClientTransaction(_cancel(), DST, 0.0)
    assert txn.timers.as_dict() == {"E": 0.5, "F": 32.0}
    sent = []
    while txn.state is NonInviteState.TRYING:
        now = txn.get_timer()
        if txn.handle_timer(now):
            sent.append(now)
    assert sent == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert txn.state is NonInviteState.TERMINATED


def test_proceeding_retransmits_every_t2_and_a_final_arms_timer_k_RFC3261_17_1_2_2():
    txn = NonInviteClientTransaction(_cancel(), DST, 0.0)
    txn.receive(100, 0.2)
    txn.handle_timer(0.5)
    assert txn.timers.as_dict() == {"E": 4.5, "F": 32.0}
    txn.receive(200, 1.0)
    assert txn.state is NonInviteState.COMPLETED and txn.timers.as_dict() == {"K": 6.0}


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(list(NonInviteState)), st.sampled_from(list(NonInviteInput)))
def test_every_state_input_pair_follows_the_table_or_raises_RFC3261_fig6(state, inp):
    txn = NonInviteClientTransaction(_cancel(), DST, 0.0)
    txn.state = state
    if (state, inp) not in TRANSITIONS:
        with pytest.raises(LocalProtocolError):
            txn.process(inp, 1.0)
        assert txn.state is state
    else:
        txn.process(inp, 1.0)
        assert txn.state is TRANSITIONS[(state, inp)][1]


def test_proxy_retransmits_its_cancel_until_the_200_R9_RFC3261_9_1():
    h = Harness()
    h.register(port=5070)
    h.register(port=5080)
    a, b = h.invites(h.call())
    h.answer(a, 180)
    out = h.answer(b, 200)
    [cancel] = h.sends(out, method="CANCEL")
    assert [s.destination for s in h.sends(h.advance_to(0.5), method="CANCEL")] == [DST]
    h.deliver(make_response(cancel.message, 200, to_tag="dev-5070"), DST)
    assert h.sends(h.advance_to(10.0), method="CANCEL") == []
