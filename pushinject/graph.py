"""Graphs of the core, drawn from its own data (house style, principle 4).

- `transition_graph(table)`: a transaction state machine as a networkx `MultiDiGraph`, built
  from its transition table (one edge per (state, input) row), so the picture cannot drift
  from the code; `transition_graph_svg(table)` draws it.
- `branch_graph(summary)`: a call as a networkx `DiGraph`: the server transaction and one node
  per branch (placeholder, blind, real; forked or injected; cancelled; final status), with the
  `BranchSummary` fields as node attributes; `branch_graph_svg(summary)` draws it.

Layouts are explicit (no random seeds), and SVG comes from `pushinject.figures.svg_text`, so
the output is byte-identical run to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx

    from pushinject.core.summary import CallSummary

__all__ = ["transition_graph", "transition_graph_svg", "branch_graph", "branch_graph_svg"]


def _name(member: Any) -> str:
    return str(member.value) if isinstance(member, Enum) else str(member)


def transition_graph(table: Mapping[tuple[Any, Any], tuple[str | None, Any]]) -> nx.MultiDiGraph:
    """A `MultiDiGraph` with one node per state and one edge per row of `table`.

    Edge attributes: `input` (the input's name), `effect` (the side effect or None); the edge
    key is the input's name.

    Examples
    --------
    >>> from pushinject.core.client_txn import TRANSITIONS
    >>> g = transition_graph(TRANSITIONS)
    >>> list(g.nodes)
    ['Calling', 'Proceeding', 'Completed', 'Terminated']
    >>> g.number_of_edges() == len(TRANSITIONS)
    True
    >>> sorted(k for _, v, k in g.out_edges("Calling", keys=True) if v == "Completed")
    ['300-699']
    """
    import networkx as nx

    graph = nx.MultiDiGraph()
    states: list[Any] = []
    for state, _ in table:
        if state not in states:
            states.append(state)
    for _, (_, target) in table.items():
        if target not in states:
            states.append(target)
    enum_type = type(states[0]) if states else None
    if enum_type is not None and issubclass(enum_type, Enum):
        states = [s for s in enum_type if s in states]
    for state in states:
        graph.add_node(_name(state))
    for (state, inp), (effect, target) in table.items():
        graph.add_edge(_name(state), _name(target), key=_name(inp), input=_name(inp),
                       effect=effect)
    return graph


def transition_graph_svg(table: Mapping[tuple[Any, Any], tuple[str | None, Any]],
                         title: str | None = None) -> str:
    """Draw `transition_graph(table)`: states top to bottom in their enum order, each edge
    labelled with its inputs (and effects)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    from pushinject.figures import svg_text

    graph = transition_graph(table)
    states = list(graph.nodes)
    step = 2.0
    fig = Figure(figsize=(8.0, 1.0 + step * len(states) * 0.8))
    ax = fig.add_subplot()
    ax.set_axis_off()
    labels: dict[tuple[str, str], list[str]] = {}
    for u, v, data in graph.edges(data=True):
        text = data["input"] + (f" / {data['effect']}" if data["effect"] else "")
        labels.setdefault((u, v), []).append(text)
    arrow = {"arrowstyle": "-|>", "mutation_scale": 12, "color": "#555555"}
    for (u, v), texts in labels.items():
        i, j = states.index(u), states.index(v)
        label = "\n".join(texts)
        if i == j:  # a self-loop on the right of the box
            y = -step * i
            ax.add_patch(FancyArrowPatch((0.5, y + 0.12), (0.5, y - 0.12),
                                         connectionstyle="arc3,rad=-1.8", **arrow))
            ax.text(0.85, y, label, fontsize=7, ha="left", va="center")
            continue
        # forward edges: next state on the right, skips on the left, wider for longer skips
        y0, y1 = -step * i - 0.25, -step * j + 0.25
        span = abs(j - i)
        rad = -0.8 if span == 1 else 0.35 + 0.1 * span
        ax.add_patch(FancyArrowPatch((0.0, y0), (0.0, y1),
                                     connectionstyle=f"arc3,rad={rad}", **arrow))
        mx, my = 0.5 * rad * (y1 - y0), (y0 + y1) / 2  # midpoint of the arc3 curve
        ax.text(mx + (0.12 if rad < 0 else -0.12), my, label, fontsize=7, va="center",
                ha="left" if rad < 0 else "right")
    for i, state in enumerate(states):
        ax.text(0.0, -step * i, state, ha="center", va="center", fontsize=10,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "#e8eef7", "edgecolor": "#335"})
    ax.set_xlim(-4.0, 4.0)
    ax.set_ylim(-step * (len(states) - 1) - 0.6, 0.6)
    if title:
        ax.set_title(title, fontsize=11)
    return svg_text(fig)


def _outcome(branch: Any) -> str:
    if branch.final_status is not None:
        return str(branch.final_status)
    if branch.cancelled:
        return "ended" if branch.kind != "real" else "cancelled"
    return "pending"


def branch_graph(summary: CallSummary) -> nx.DiGraph:
    """The call as a `DiGraph`: node "call" (the server transaction) and one node per branch
    ("branch 0", "branch 1", ...), each edge call → branch.

    Node attributes: for "call" the `CallSummary` fields except branches and pushes; for a
    branch every `BranchSummary` field plus `outcome` ("200", "487", "cancelled", "pending"...).

    Examples
    --------
    >>> from pushinject.core.summary import BranchSummary, CallSummary
    >>> s = CallSummary(call_id="c", caller="sip:a@x", callee="sip:b@x", invite_at=0.0,
    ...     final_status=200, final_at=5.0, branches=(
    ...     BranchSummary(index=0, target="", via_branch=None, kind="phony", injected=False,
    ...                   opened_at=0.0, cancelled=True, cancelled_at=5.0),
    ...     BranchSummary(index=1, target="sip:b@10.0.0.2", via_branch="z9hG4bK-1",
    ...                   kind="real", injected=True, opened_at=4.0, final_status=200,
    ...                   final_at=5.0)))
    >>> g = branch_graph(s)
    >>> list(g.successors("call")), g.nodes["branch 1"]["injected"], g.nodes["branch 0"]["outcome"]
    (['branch 0', 'branch 1'], True, 'ended')
    """
    import networkx as nx

    graph = nx.DiGraph()
    call = summary.to_json()
    call.pop("branches")
    call.pop("pushes")
    graph.add_node("call", **call)
    for branch in summary.branches:
        name = f"branch {branch.index}"
        graph.add_node(name, **branch.to_json(), outcome=_outcome(branch))
        graph.add_edge("call", name, injected=branch.injected, at=branch.opened_at)
    return graph


_COLOURS = {"2": "#b9e4b0", "4": "#f4c7c3", "5": "#f4c7c3", "6": "#e59b95", "3": "#f6e3a8"}


def branch_graph_svg(summary: CallSummary, title: str | None = None) -> str:
    """Draw `branch_graph(summary)`: the call on the left, its branches on the right in index
    order; injected branches have a bold edge, the placeholder and blind branches a dashed box,
    colours by outcome (green 2xx, red 4xx–6xx, grey cancelled, white pending)."""
    from matplotlib.figure import Figure

    from pushinject.figures import svg_text

    graph = branch_graph(summary)
    branches = [n for n in graph.nodes if n != "call"]
    height = max(1, len(branches))
    fig = Figure(figsize=(8.0, 1.2 + 0.9 * height))
    ax = fig.add_subplot()
    ax.set_axis_off()
    call = graph.nodes["call"]
    cy = -(height - 1) / 2
    final = "no final yet" if call["final_status"] is None else (
        f"final {call['final_status']} at {call['final_at']:g} s")
    call_text = f"INVITE {summary.callee}\nat {summary.invite_at:g} s\n{final}"
    if summary.cancelled_by_caller:
        call_text += "\nCANCELled by the caller"
    for i, name in enumerate(branches):
        data = graph.nodes[name]
        y = -i
        ax.annotate("", xy=(0.95, y), xytext=(0.05, cy),
                    arrowprops={"arrowstyle": "-|>", "color": "#333333",
                                "linewidth": 2.2 if data["injected"] else 0.9})
        edge = "injected" if data["injected"] else "forked"
        ax.text(0.5, (y + cy) / 2 + 0.12, f"{edge} at {data['opened_at']:g} s", fontsize=7,
                ha="center", va="bottom")
        outcome = data["outcome"]
        colour = _COLOURS.get(outcome[0], "#dddddd" if outcome in ("cancelled", "ended")
                              else "#ffffff")
        target = data["target"] or "(no signalling)"
        lines = [f"#{data['index']} {data['kind']}  {target}"]
        if data["provisional"]:
            lines.append("provisional " + " ".join(str(p) for p in data["provisional"]))
        when = data["final_at"] if data["final_at"] is not None else data["cancelled_at"]
        lines.append(outcome + ("" if when is None else f" at {when:g} s")
                     + (" (CANCEL sent)" if data["cancelled"] and data["kind"] == "real"
                        else ""))
        ax.text(1.0, y, "\n".join(lines), fontsize=8, ha="left", va="center",
                bbox={"boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "#444444",
                      "linestyle": "--" if data["kind"] != "real" else "-"})
    ax.text(0.0, cy, call_text, fontsize=8, ha="right", va="center",
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "#e8eef7", "edgecolor": "#335"})
    ax.set_xlim(-1.6, 2.6)
    ax.set_ylim(-height + 0.4, 0.6)
    if title:
        ax.set_title(title, fontsize=11)
    return svg_text(fig)
