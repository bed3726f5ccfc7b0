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

__all__ = ["transition_graph", "transition_graph_svg", "branch_graph", "branch_graph_svg",
           "wrap_uri"]


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
    ['Calling', 'Proceeding', 'Completed', 'Accepted', 'Terminated']
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
                         title: str | None = None, *, max_width: float | None = None) -> str:
    """Draw `transition_graph(table)` as `pushinject.state_layout` places it: states top to
    bottom in their enum order, one arrow per row of the table, each with its own label
    (``input / effect``) on a white ground, no label over another or over a state.

    `max_width` (inches, the page's margins included) is for a narrow column such as the
    book's: the page is cut to the arrows as drawn, not to their control points, which leaves
    out the empty band beside the widest arcs; text keeps its size, so a diagram still wider
    than `max_width` is a `UsageError`.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    from pushinject.errors import UsageError
    from pushinject.figures import MARGIN, svg_text, text_size
    from pushinject.state_layout import LABEL_SIZE, STATE_SIZE, transition_layout

    placed = transition_layout(table)
    left, right, bottom, top = placed.extent(drawn=max_width is not None)
    if max_width is not None:
        left, right = left - _LINE, right + _LINE  # an arc's apex keeps its whole line
        wide = max(right - left, text_size(title, _TITLE_SIZE)[0] if title else 0.0)
        if wide + 2 * MARGIN > max_width:
            raise UsageError(f"the transition diagram is {wide + 2 * MARGIN:.2f} in wide, "
                             f"more than max_width={max_width:g} in")
    fig = Figure(figsize=(right - left, top - bottom))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    for curve in placed.curves:
        code = Path.CURVE3 if len(curve.points) == 3 else Path.CURVE4
        path = Path(curve.points, [Path.MOVETO] + [code] * (len(curve.points) - 1))
        ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=12,
                                     color="#555555", linewidth=1.0))
    for curve in placed.curves:
        ax.text(curve.label.x, curve.label.y, curve.text, ha="center", va="center",
                fontsize=LABEL_SIZE, bbox={"boxstyle": "square,pad=0.15",
                                           "facecolor": "white", "edgecolor": "none"})
    for state, box in placed.states.items():
        ax.text(box.x, box.y, state, ha="center", va="center", fontsize=STATE_SIZE,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "#e8eef7", "edgecolor": "#335"})
    if title:
        ax.text((left + right) / 2, top + 0.25, title, ha="center", va="bottom",
                fontsize=_TITLE_SIZE)
    return svg_text(fig)


#: font size of a transition diagram's title, points
_TITLE_SIZE = 12
#: an arrow's line width (1 point), inches
_LINE = 1.0 / 72


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
#: font size of the boxes and of the edge labels, points
_BOX_SIZE, _EDGE_SIZE = 9.0, 8.0
#: URIs longer than this many characters are broken before their parameters
_WRAP = 36


def wrap_uri(uri: str, width: int = _WRAP) -> list[str]:
    """`uri` cut into lines of at most `width` characters, each break before a ``;`` (a line
    may be longer when a single parameter is).

    >>> wrap_uri("sip:bob@127.0.0.11:5062;pn-provider=fcm;pn-param=pushinject-sim;pn-prid=tok-B")
    ['sip:bob@127.0.0.11:5062', ';pn-provider=fcm', ';pn-param=pushinject-sim', ';pn-prid=tok-B']
    >>> wrap_uri("sip:a@x;transport=udp;lr")
    ['sip:a@x;transport=udp;lr']
    >>> wrap_uri("sip:bob@example.com")
    ['sip:bob@example.com']
    """
    head, *params = uri.split(";")
    lines = [head]
    for param in params:
        if len(lines[-1]) + 1 + len(param) <= width:
            lines[-1] += ";" + param
        else:
            lines.append(";" + param)
    return lines


def _branch_text(data: dict[str, Any]) -> str:
    from pushinject.figures import seconds

    target = wrap_uri(data["target"]) if data["target"] else ["(no signalling)"]
    lines = [f"#{data['index']} {data['kind']}  {target[0]}", *target[1:]]
    if data["provisional"]:
        lines.append("provisional " + " ".join(str(p) for p in data["provisional"]))
    when = data["final_at"] if data["final_at"] is not None else data["cancelled_at"]
    lines.append(data["outcome"] + ("" if when is None else f" at {seconds(when)} s")
                 + (" (CANCEL sent)" if data["cancelled"] and data["kind"] == "real" else ""))
    return "\n".join(lines)


def _call_text(summary: CallSummary, call: dict[str, Any]) -> str:
    from pushinject.figures import seconds

    final = "no final yet" if call["final_status"] is None else (
        f"final {call['final_status']} at {seconds(call['final_at'])} s")
    lines = [*wrap_uri(f"INVITE {summary.callee}"), f"at {seconds(summary.invite_at)} s", final]
    if summary.cancelled_by_caller:
        lines.append("CANCELled by the caller")
    return "\n".join(lines)


def branch_graph_svg(summary: CallSummary, title: str | None = None) -> str:
    """Draw `branch_graph(summary)`: the call on the left, its branches on the right in index
    order; injected branches have a bold edge, the placeholder and blind branches a dashed box,
    colours by outcome (green 2xx, red 4xx–6xx, grey cancelled, white pending). Boxes are sized
    to their text (long URIs broken before a parameter, `wrap_uri`), times are rounded to the
    millisecond, and the page is cut to what is drawn, so nothing is clipped."""
    from matplotlib.figure import Figure

    from pushinject.figures import seconds, svg_text, text_size

    graph = branch_graph(summary)
    branches = [n for n in graph.nodes if n != "call"]
    texts = [_branch_text(graph.nodes[n]) for n in branches]
    pad, gap, span = 0.1, 0.3, 2.2  # box padding, space between boxes, call-to-branch distance
    heights = [text_size(t, _BOX_SIZE)[1] + 2 * pad for t in texts]
    tops = [-sum(heights[:i]) - gap * i for i in range(len(texts))]
    ys = [top - h / 2 for top, h in zip(tops, heights, strict=True)]
    bottom = min([top - h for top, h in zip(tops, heights, strict=True)], default=-0.5)
    cy = bottom / 2
    call_text = _call_text(summary, graph.nodes["call"])
    call_width = text_size(call_text, _BOX_SIZE)[0] + 2 * pad
    right = span + max([text_size(t, _BOX_SIZE)[0] + 2 * pad for t in texts], default=0.0)
    fig = Figure(figsize=(call_width + right, -bottom + 0.2))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(-call_width, right)
    ax.set_ylim(bottom - 0.1, 0.1)
    for name, text, y in zip(branches, texts, ys, strict=True):
        data = graph.nodes[name]
        ax.annotate("", xy=(span - 0.08, y), xytext=(0.12, cy),
                    arrowprops={"arrowstyle": "-|>", "color": "#333333", "shrinkA": 0,
                                "shrinkB": 0, "linewidth": 2.2 if data["injected"] else 0.9})
        edge = "injected" if data["injected"] else "forked"
        along = 0.62  # where the label sits on its arrow: where the arrows are far apart
        ax.text(0.12 + along * (span - 0.2), cy + along * (y - cy),
                f"{edge} at {seconds(data['opened_at'])} s", fontsize=_EDGE_SIZE, ha="center",
                va="center", bbox={"boxstyle": "square,pad=0.1", "facecolor": "white",
                                   "edgecolor": "none"})
        outcome = data["outcome"]
        colour = _COLOURS.get(outcome[0], "#dddddd" if outcome in ("cancelled", "ended")
                              else "#ffffff")
        ax.text(span, y, text, fontsize=_BOX_SIZE, ha="left", va="center",
                bbox={"boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "#444444",
                      "linestyle": "--" if data["kind"] != "real" else "-"})
    ax.text(0.0, cy, call_text, fontsize=_BOX_SIZE, ha="right", va="center",
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "#e8eef7", "edgecolor": "#335"})
    if title:
        ax.text((right - call_width) / 2, 0.35, title, fontsize=11,
                ha="center", va="bottom")
    return svg_text(fig)
