"""INVITE server transaction (RFC 3261 §17.2.1, TXN-4; RFC 6026 §7.1, TXN-7)."""

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


def test_2xx_moves_to_accepted_and_timer_l_is_64_t1_on_every_transport_RFC6026():
    for reliable in (False, True):
        txn = ServerTransaction(_invite(), SRC, reliable=reliable)
        [sent] = txn.respond(make_response(txn.request, 200, to_tag="x"), 1.0)
        assert sent.message.status == 200 and sent.destination == SRC
        assert txn.state is ServerState.ACCEPTED and txn.timers.as_dict() == {"L": 33.0}
        assert txn.handle_timer(33.0) == []
        assert txn.state is ServerState.TERMINATED and txn.get_timer() is None


def test_accepted_absorbs_invite_retransmissions_without_an_answer_TXN_7():
    """RFC 6026 §7.1: no 100, no 2xx again (the 2xx retransmissions are the UAS's)."""
    txn = ServerTransaction(_invite(), SRC)
    txn.respond(make_response(txn.request, 100), 0.0)
    txn.respond(make_response(txn.request, 200, to_tag="x"), 1.0)
    assert txn.process(ServerInput.RECV_INVITE, 1.4) == []
    assert txn.process(ServerInput.RECV_INVITE, 20.0) == []
    assert txn.state is ServerState.ACCEPTED and txn.timers.as_dict() == {"L": 33.0}


def test_resend_2xx_answers_a_copy_in_accepted_with_the_last_2xx_as_tm_does_TXN_7():
    txn = ServerTransaction(_invite(), SRC, resend_2xx=True)
    txn.respond(make_response(txn.request, 100), 0.0)
    assert [a.message.status for a in txn.process(ServerInput.RECV_INVITE, 0.5)] == [100]
    txn.respond(make_response(txn.request, 200, to_tag="x"), 1.0)
    later = make_response(txn.request, 200, to_tag="y")
    txn.respond(later, 1.2)
    [again] = txn.process(ServerInput.RECV_INVITE, 1.5)
    assert again.message is later and again.destination == SRC
    assert txn.state is ServerState.ACCEPTED


def test_accepted_sends_every_later_2xx_and_passes_the_ack_up_TXN_7():
    txn = ServerTransaction(_invite(), SRC, transport="TCP", connection=7)
    txn.respond(make_response(txn.request, 200, to_tag="x"), 1.0)
    other = make_response(txn.request, 200, to_tag="y")
    [sent] = txn.respond(other, 2.0)
    assert (sent.message, sent.destination, sent.transport, sent.connection) == (
        other, SRC, "TCP", 7)
    assert txn.passes(ServerInput.RECV_ACK) and not txn.passes(ServerInput.RECV_INVITE)
    assert txn.process(ServerInput.RECV_ACK, 2.5) == []
    assert txn.process(ServerInput.TRANSPORT_ERROR, 3.0) == []  # stays (RFC 6026 §7.1)
    assert txn.state is ServerState.ACCEPTED and txn.timers.as_dict() == {"L": 33.0}


def test_no_ack_goes_up_outside_accepted_RFC3261_17_2_1():
    txn = ServerTransaction(_invite(), SRC)
    assert not txn.passes(ServerInput.RECV_ACK)
    txn.respond(make_response(txn.request, 486, to_tag="x"), 1.0)
    assert not txn.passes(ServerInput.RECV_ACK)


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
