"""Views of a finished run: the ladder (text or SVG) and the branch graph (SVG).

The drawing itself belongs to `pushinject.ladder` and `pushinject.graph`; this module only
turns a run into their inputs, in one place. Ladder arrows are the SIP messages on the wire plus
one ``push`` arrow (proxy to device) per push the proxy requested; an arrow between the proxy
and a device is grouped by the proxy branch it belongs to (``branch N``, N its index in the
response context, from the Via branch the proxy put on it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pushinject.sip import parse_message

if TYPE_CHECKING:
    from pushinject.sim.run import Run

__all__ = ["arrows", "ladder_text", "ladder_svg", "branch_graph_svg"]


def _groups(run: Run) -> dict[str, str]:
    summary = run.summary
    if summary is None:
        return {}
    return {b.via_branch: f"branch {b.index}" for b in summary.branches if b.via_branch}


def arrows(run: Run) -> list[Any]:
    """`pushinject.ladder.Arrow`s for every message and push of `run`, in time order."""
    from pushinject.ladder import Arrow

    groups = _groups(run)
    items: list[tuple[float, int, Any]] = []
    for order, wire in enumerate(run.simulation.wires):
        group = None
        if "proxy" in (wire.source, wire.destination) and "alice" not in (
                wire.source, wire.destination):
            branch = parse_message(wire.data).top_via.branch
            group = groups.get(str(branch))
        items.append((wire.time, 2 * order, Arrow(wire.time, wire.source, wire.destination,
                                                   wire.label, group)))
    marks = run.simulation.push_marks
    for (name, at, result), mark in zip(run.simulation.pushes, marks, strict=True):
        # drawn between the datagrams sent before and after the proxy asked for it
        label = "push" if result.ok else "push (failed)"
        items.append((at, 2 * mark - 1, Arrow(at, "proxy", name, label, None)))
    return [arrow for _, _, arrow in sorted(items, key=lambda item: (item[0], item[1]))]


def ladder_text(run: Run) -> str:
    """The call flow as a text ladder (columns: alice, proxy, then the devices)."""
    from pushinject.ladder import ladder_text as draw

    return draw(arrows(run), list(run.parties))


def ladder_svg(run: Run, title: str | None = None) -> str:
    """The call flow as a deterministic SVG ladder."""
    from pushinject.ladder import ladder_svg as draw

    return draw(arrows(run), list(run.parties), title=title)


def branch_graph_svg(run: Run) -> str:
    """The call's server transaction and its branches, as a deterministic SVG graph."""
    from pushinject.errors import UsageError
    from pushinject.graph import branch_graph_svg as draw

    if run.summary is None:
        raise UsageError("the caller's INVITE never reached the proxy: no branch graph")
    return draw(run.summary)
