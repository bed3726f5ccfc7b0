"""Graphs drawn from the transition tables and from call summaries (house style, principle 4)."""

from __future__ import annotations

from harness import Harness
from pushinject.core.cancel_txn import TRANSITIONS as NON_INVITE
from pushinject.core.client_txn import TRANSITIONS as CLIENT
from pushinject.core.server_txn import TRANSITIONS as SERVER
from pushinject.graph import branch_graph, branch_graph_svg, transition_graph, transition_graph_svg


def test_transition_graph_has_one_edge_per_table_row_RFC3261_fig5_fig6_fig7():
    for table in (CLIENT, SERVER, NON_INVITE):
        g = transition_graph(table)
        assert g.number_of_edges() == len(table)
        for (state, inp), (effect, target) in table.items():
            assert g.edges[state.value, target.value, inp.value]["effect"] == effect
    assert list(transition_graph(SERVER).nodes) == ["Proceeding", "Completed", "Confirmed",
                                                    "Terminated"]


def test_transition_svg_is_identical_run_to_run_and_names_every_state():
    a, b = transition_graph_svg(SERVER, "server"), transition_graph_svg(SERVER, "server")
    assert a == b and a.startswith("<?xml")
    for state in ("Proceeding", "Completed", "Confirmed", "Terminated", "Timer G / retransmit"):
        assert state in a


def _injected_call():
    h = Harness()
    h.register(port=5070)
    [inv] = h.invites(h.call())
    h.answer(inv, 180)
    h.advance_to(4.0)
    [new] = h.invites(h.register(port=5080))
    h.answer(new, 200)
    return h.proxy.summary("call-1")


def test_branch_graph_carries_the_summary_fields_R27_R34():
    g = branch_graph(_injected_call())
    assert list(g.successors("call")) == ["branch 0", "branch 1", "branch 2"]
    assert g.nodes["call"]["final_status"] == 200
    assert [(g.nodes[n]["kind"], g.nodes[n]["injected"], g.nodes[n]["outcome"])
            for n in ("branch 0", "branch 1", "branch 2")] == [
        ("phony", False, "ended"), ("real", False, "cancelled"), ("real", True, "200")]
    assert g.edges["call", "branch 2"]["at"] == 4.0


def test_branch_svg_is_identical_run_to_run():
    s = _injected_call()
    a = branch_graph_svg(s, "call-1")
    assert a == branch_graph_svg(s, "call-1")
    assert "injected at 4 s" in a and "sip:bob@192.0.2.20:5080" in a
