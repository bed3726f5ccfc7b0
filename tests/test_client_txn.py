"""INVITE client transaction (RFC 3261 §17.1.1, CTX-2, TXN-3; RFC 6026 §7.2, TXN-8)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushinject.core.actions import Send
from pushinject.core.client_txn import (
    TRANSITIONS, ClientInput, ClientState, ClientTransaction, Outcome,
)
from pushinject.errors import LocalProtocolError
from pushinject.sip import make_request, make_response

DST = ("192.0.2.20", 5070)


def _invite():
    return make_request("INVITE", "sip:bob@192.0.2.20:5070",
                        via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-px-1",
                        from_="<sip:alice@example.com>;tag=a", to="<sip:bob@example.com>",
                        call_id="c1", cseq=7, extra=[("Route", "<sip:edge.example.com;lr>")])


def test_timer_a_doubles_from_t1_and_timer_b_is_64_t1_over_udp_R14():
    txn = ClientTransaction(_invite(), DST, 0.0)
    assert txn.timers.as_dict() == {"A": 0.5, "B": 32.0}
    sent_at = []
    now = 0.0
    while txn.state is ClientState.CALLING:
        now = txn.get_timer()
        for outcome in txn.handle_timer(now):
            if outcome.actions:
                sent_at.append(now)
            if outcome.failure:
                assert (now, outcome.failure) == (32.0, 408)
    assert sent_at == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert txn.state is ClientState.TERMINATED and txn.get_timer() is None


def test_reliable_transport_has_no_timer_a_and_timer_d_zero_R14():
    txn = ClientTransaction(_invite(), DST, 0.0, reliable=True)
    assert txn.timers.as_dict() == {"B": 32.0}
    txn.receive(make_response(txn.request, 486, to_tag="t"), 1.0)
    assert txn.timers.as_dict() == {"D": 1.0}


def test_1xx_stops_retransmissions_and_timer_b_R14():
    txn = ClientTransaction(_invite(), DST, 0.0)
    out = txn.receive(make_response(txn.request, 180, to_tag="t"), 0.2)
    assert txn.state is ClientState.PROCEEDING and out.response.status == 180
    assert txn.get_timer() is None


def test_non_2xx_is_acked_with_the_same_via_and_timer_d_runs_32s_R14():
    """RFC 3261 §17.1.1.3: the ACK shares the INVITE's top Via, R-URI, CSeq number and Routes,
    and takes To from the response."""
    txn = ClientTransaction(_invite(), DST, 0.0)
    resp = make_response(txn.request, 486, to_tag="busy")
    out = txn.receive(resp, 2.0)
    assert out.response is resp and txn.state is ClientState.COMPLETED
    [send] = out.actions
    assert isinstance(send, Send) and send.destination == DST
    ack = send.message
    assert (ack.method, str(ack.uri), ack.cseq.number, ack.cseq.method) == (
        "ACK", "sip:bob@192.0.2.20:5070", 7, "ACK")
    assert ack.top_via.branch == "z9hG4bK-px-1" and ack.to.tag == "busy"
    assert [str(r.uri) for r in ack.routes] == ["sip:edge.example.com;lr"]
    assert txn.timers.as_dict() == {"D": 34.0}
    again = txn.receive(resp, 3.0)  # a retransmitted 486: ACK again, not passed up
    assert again.response is None and len(again.actions) == 1
    txn.handle_timer(34.0)
    assert txn.state is ClientState.TERMINATED


def test_2xx_moves_to_accepted_and_timer_m_is_64_t1_RFC6026_TXN_8():
    for reliable in (False, True):
        txn = ClientTransaction(_invite(), DST, 0.0, reliable=reliable)
        ok = make_response(txn.request, 200, to_tag="t")
        out = txn.receive(ok, 1.0)
        assert out.response is ok and out.actions == ()  # no ACK: it is end to end
        assert txn.state is ClientState.ACCEPTED and txn.timers.as_dict() == {"M": 33.0}
        assert txn.handle_timer(33.0) == [Outcome()]
        assert txn.state is ClientState.TERMINATED and txn.get_timer() is None


def test_accepted_passes_every_2xx_up_and_drops_the_rest_TXN_8():
    """A retransmitted 2xx and another fork's 2xx go up, never ACKed; a 487 from a fork
    further down matches nothing in Accepted and is dropped."""
    txn = ClientTransaction(_invite(), DST, 0.0)
    txn.receive(make_response(txn.request, 180, to_tag="t"), 0.2)
    first = make_response(txn.request, 200, to_tag="t")
    txn.receive(first, 1.0)
    other = make_response(txn.request, 200, to_tag="u")
    assert txn.receive(first, 1.5) == Outcome(response=first)
    assert txn.receive(other, 2.0) == Outcome(response=other)
    assert txn.receive(make_response(txn.request, 487, to_tag="v"), 2.1) == Outcome()
    assert txn.receive(make_response(txn.request, 183, to_tag="u"), 2.2) == Outcome()
    assert txn.state is ClientState.ACCEPTED and txn.timers.as_dict() == {"M": 33.0}


def test_transport_error_in_calling_is_a_503_R13():
    txn = ClientTransaction(_invite(), DST, 0.0)
    assert txn.transport_error(0.1).failure == 503
    assert txn.state is ClientState.TERMINATED


STATES = list(ClientState)
INPUTS = list(ClientInput)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(STATES), st.sampled_from(INPUTS))
def test_every_state_input_pair_follows_the_table_or_raises_RFC3261_fig5(state, inp):
    txn = ClientTransaction(_invite(), DST, 0.0)
    txn.state = state
    response = None
    if inp in (ClientInput.RECV_1XX, ClientInput.RECV_2XX, ClientInput.RECV_3XX_6XX):
        status = {ClientInput.RECV_1XX: 180, ClientInput.RECV_2XX: 200}.get(inp, 486)
        response = make_response(txn.request, status, to_tag="t")
    if (state, inp) not in TRANSITIONS:
        with pytest.raises(LocalProtocolError):
            txn.process(inp, 1.0, response)
        assert txn.state is state
    else:
        txn.process(inp, 1.0, response)
        assert txn.state is TRANSITIONS[(state, inp)][1]
        if txn.state is ClientState.TERMINATED:
            assert txn.get_timer() is None


def test_table_has_no_exit_from_terminated():
    assert not [k for k in TRANSITIONS if k[0] is ClientState.TERMINATED]
