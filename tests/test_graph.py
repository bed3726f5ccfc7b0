"""Graphs drawn from the transition tables and from call summaries (house style, principle 4)."""

from __future__ import annotations

from harness import Harness
from svg_texts import outside, page, texts
from pushinject.core.cancel_txn import TRANSITIONS as NON_INVITE
from pushinject.core.client_txn import TRANSITIONS as CLIENT
from pushinject.core.server_txn import TRANSITIONS as SERVER
from pushinject.core.summary import BranchSummary, CallSummary
from pushinject.graph import branch_graph, branch_graph_svg, transition_graph, transition_graph_svg
from pushinject.state_layout import LABEL_SIZE, STATE_SIZE, transition_layout


def test_transition_graph_has_one_edge_per_table_row_RFC3261_fig5_fig6_fig7_RFC6026():
    for table in (CLIENT, SERVER, NON_INVITE):
        g = transition_graph(table)
        assert g.number_of_edges() == len(table)
        for (state, inp), (effect, target) in table.items():
            assert g.edges[state.value, target.value, inp.value]["effect"] == effect
    assert list(transition_graph(SERVER).nodes) == ["Proceeding", "Completed", "Confirmed",
                                                    "Accepted", "Terminated"]
    assert list(transition_graph(CLIENT).nodes) == ["Calling", "Proceeding", "Completed",
                                                    "Accepted", "Terminated"]


def test_transition_svg_is_identical_run_to_run_and_names_every_state():
    a, b = transition_graph_svg(SERVER, "server"), transition_graph_svg(SERVER, "server")
    assert a == b and a.startswith("<?xml")
    for state in ("Proceeding", "Completed", "Confirmed", "Accepted", "Terminated",
                  "Timer G / retransmit", "Timer L"):
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


def _overlapping(svg: str) -> list[tuple[str, str]]:
    placed = texts(svg)
    return [(a.text, b.text) for i, a in enumerate(placed) for b in placed[i + 1:]
            if a.overlaps(b)]


def test_every_row_is_its_own_labelled_arrow_and_no_label_covers_another_RFC3261_fig5_6_7():
    for table in (CLIENT, SERVER, NON_INVITE):
        placed = transition_layout(table)
        rows = sorted(inp.value + (f" / {effect}" if effect else "")
                      for (_, inp), (effect, _) in table.items())
        assert sorted(c.text for c in placed.curves) == rows
        assert placed.overlaps() == []
        svg = transition_graph_svg(table, "a title")
        assert outside(svg) == [] and _overlapping(svg) == []
        sizes = {t.text: t.size for t in texts(svg)}
        assert min(sizes.values()) == LABEL_SIZE == 9.0 and sizes["Terminated"] == STATE_SIZE


def test_max_width_cuts_a_transition_diagram_to_its_arrows_as_drawn_RFC3261_fig5_RFC6026():
    """The client diagram's page is 9.2 in wide because its widest arc's control point lies
    2.4 in left of the arc; cut to the arcs themselves it fits the book's 7.5 in with every
    label and state at the same size and place relative to the others (the title is centred
    over what is drawn), and no text off the page."""
    import pytest

    from pushinject.errors import UsageError
    from pushinject.figures import BOOK_WIDTH

    wide = transition_graph_svg(CLIENT, "client")
    fitted = transition_graph_svg(CLIENT, "client", max_width=BOOK_WIDTH)
    assert [round(w / 72, 2) for w in (page(wide)[0], page(fitted)[0])] == [9.2, 6.82]
    assert outside(fitted) == [] and _overlapping(fitted) == []

    def relative(svg: str) -> list[tuple[str, float, float, float]]:
        placed = texts(svg)
        (state,) = [t for t in placed if t.text == "Calling"]
        return sorted((t.text, t.size, round(t.left - state.left, 2), round(t.top - state.top, 2))
                      for t in placed if t.text != "client")

    assert relative(fitted) == relative(wide)
    with pytest.raises(UsageError, match=r"^the transition diagram is 6\.82 in wide, more than "
                                         r"max_width=6\.5 in$"):
        transition_graph_svg(CLIENT, "client", max_width=6.5)
    # a title wider than the diagram counts too
    title = ("non-INVITE client transaction (RFC 3261 Figure 6): Trying, Proceeding, Completed, "
             "Terminated")
    with pytest.raises(UsageError, match=r" is 8\.23 in wide,"):
        transition_graph_svg(NON_INVITE, title, max_width=BOOK_WIDTH)


def test_two_rows_between_the_same_states_get_two_arrows_and_two_labels():
    placed = transition_layout(SERVER)
    to_end = [c for c in placed.curves if c.text in ("Timer H", "transport error")
              and c.points[0][1] == placed.states["Completed"].y - placed.states["Completed"].height / 2]
    assert [c.text for c in to_end] == ["Timer H", "transport error"]
    assert to_end[0].points != to_end[1].points and not to_end[0].label.overlaps(to_end[1].label)


def _long_targets() -> CallSummary:
    long = "sip:bob@[2001:db8::20]:5062;pn-provider=fcm;pn-param=project-1;pn-prid=" + "t" * 40
    return CallSummary(
        call_id="c", caller="sip:alice@example.com", callee="sip:bob@example.com",
        invite_at=0.163674, final_status=200, final_at=2.30344, branches=(
            BranchSummary(index=0, target="sip:dev1@[2001:db8::10]:5071", via_branch="z9hG4bK-1",
                          kind="real", injected=False, opened_at=0.164507, cancelled=True,
                          cancelled_at=2.30468, final_status=487, final_at=2.30468),
            BranchSummary(index=1, target=long, via_branch="z9hG4bK-2", kind="real",
                          injected=True, opened_at=1.29947, final_status=200, final_at=2.30329)))


def test_branch_graph_breaks_long_uris_keeps_every_line_on_the_page_and_rounds_times():
    svg = branch_graph_svg(_long_targets(), "a call")
    assert outside(svg) == [] and _overlapping(svg) == []
    lines = [t.text for t in texts(svg)]
    assert "#1 real  sip:bob@[2001:db8::20]:5062" in lines and ";pn-prid=" + "t" * 40 in lines
    assert {"final 200 at 2.303 s", "injected at 1.299 s", "487 at 2.305 s (CANCEL sent)",
            "forked at 0.165 s", "at 0.164 s"} <= set(lines)
    assert "0.163674" not in svg and "2.30344" not in svg
    assert page(svg)[0] < 8 * 72  # fits a page without being scaled down
