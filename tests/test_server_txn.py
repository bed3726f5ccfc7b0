"""INVITE server transaction (RFC 3261 §17.2.1, TXN-4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushinject.core.server_txn import TRANSITIONS, ServerInput, ServerState, ServerTransaction
from pushinject.errors import LocalProtocolError
from pushinject.sip import make_request, make_response

SRC = ("192.0.2.10", 5060)


def _invite():
    return make_request("INVITE", "sip:bob@example.com",
                        via="SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-c1",
                        from_="<sip:alice@example.com>;tag=a", to="<sip:bob@example.com>",
                        call_id="c1", cseq=1)


def test_final_non_2xx_timer_g_doubles_to_t2_and_timer_h_is_64_t1_R15():
    txn = ServerTransaction(_invite(), SRC)
    txn.respond(make_response(txn.request, 100), 0.0)
    out = txn.respond(make_response(txn.request, 486, to_tag="x"), 10.0)
    assert [a.message.status for a in out] == [486]
    assert txn.timers.as_dict() == {"G": 10.5, "H": 42.0}
    fired = []
    while txn.state is ServerState.COMPLETED:
        now = txn.get_timer()
        if txn.handle_timer(now):
            fired.append(now)
    assert fired == [10.5, 11.5, 13.5, 17.5, 21.5, 25.5, 29.5, 33.5, 37.5, 41.5]
    assert txn.state is ServerState.TERMINATED


def test_ack_confirms_and_timer_i_is_t4_R15():
    txn = ServerTransaction(_invite(), SRC)
    txn.respond(make_response(txn.request, 487, to_tag="x"), 1.0)
    txn.process(ServerInput.RECV_ACK, 1.2)
    assert txn.state is ServerState.CONFIRMED and txn.timers.as_dict() == {"I": 6.2}
    txn.handle_timer(6.2)
    assert txn.state is ServerState.TERMINATED


def test_reliable_transport_no_timer_g_and_timer_i_zero_R15():
    txn = ServerTransaction(_invite(), SRC, reliable=True)
    txn.respond(make_response(txn.request, 480, to_tag="x"), 1.0)
    assert txn.timers.as_dict() == {"H": 33.0}
    txn.process(ServerInput.RECV_ACK, 2.0)
    assert txn.timers.as_dict() == {"I": 2.0}


def test_2xx_terminates_at_once_R15():
    txn = ServerTransaction(_invite(), SRC)
    txn.respond(make_response(txn.request, 200, to_tag="x"), 1.0)
    assert txn.state is ServerState.TERMINATED and txn.get_timer() is None


def test_retransmitted_invite_gets_the_last_response_again_RFC3261_17_2_1():
    txn = ServerTransaction(_invite(), SRC)
    trying = make_response(txn.request, 100)
    txn.respond(trying, 0.0)
    [again] = txn.process(ServerInput.RECV_INVITE, 0.3)
    assert again.message is trying and again.destination == SRC


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(ServerState)), st.sampled_from(list(ServerInput)))
def test_every_state_input_pair_follows_the_table_or_raises_RFC3261_fig7(state, inp):
    txn = ServerTransaction(_invite(), SRC)
    txn.last_response = make_response(txn.request, 486, to_tag="x")
    txn.state = state
    status = {ServerInput.SEND_1XX: 180, ServerInput.SEND_2XX: 200}.get(inp, 486)
    response = make_response(txn.request, status, to_tag="x")
    if (state, inp) not in TRANSITIONS:
        with pytest.raises(LocalProtocolError):
            txn.process(inp, 1.0, response)
        assert txn.state is state
    else:
        txn.process(inp, 1.0, response)
        assert txn.state is TRANSITIONS[(state, inp)][1]
