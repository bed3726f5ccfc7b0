"""Views of a finished run: the ladder (text or SVG) and the branch graph (SVG).

The drawing itself belongs to `pushinject.ladder` and `pushinject.graph`; this module only
turns a run into their inputs, in one place. Ladder arrows are the SIP messages on the wire plus
one ``push`` arrow (proxy to device) per push the proxy requested; an arrow between the proxy
and a device is grouped by the proxy branch it belongs to (``branch N``, N its index in the
response context, from the Via branch the proxy put on it).

With ``push_service=True`` the push takes its real path instead (PUSH-6, RFC 8599 §5.6.2): a
``push request`` from the proxy to a ``push service`` column, then the ``push`` from there to
the device (or ``rejected`` back to the proxy when the request failed), and a ``wakes up`` mark
on the device when it woke, just before the REGISTER that refreshes its binding (PUSH-3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pushinject.sip import parse_message

if TYPE_CHECKING:
    from pushinject.sim.run import Run

__all__ = ["arrows", "ladder_text", "ladder_svg", "branch_graph_svg", "PUSH_SERVICE"]

#: the column of the push notification service when a ladder draws it
PUSH_SERVICE = "push service"


def _groups(run: Run) -> dict[str, str]:
    summary = run.summary
    if summary is None:
        return {}
    return {b.via_branch: f"branch {b.index}" for b in summary.branches if b.via_branch}


def arrows(run: Run, push_service: bool = False) -> list[Any]:
    """`pushinject.ladder.Arrow`s for every message and push of `run`, in time order (with
    `push_service`, each push goes through the push service and each wake-up is marked)."""
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
        if not push_service:
            label = "push" if result.ok else "push (failed)"
            items.append((at, 2 * mark - 1, Arrow(at, "proxy", name, label, None)))
            continue
        items.append((at, 2 * mark - 1, Arrow(at, "proxy", PUSH_SERVICE, "push request")))
        answer = Arrow(at, PUSH_SERVICE, name, "push") if result.ok else Arrow(
            at, PUSH_SERVICE, "proxy", "rejected")
        items.append((at, 2 * mark - 1, answer))
    if push_service:
        items += _wakes(run)
    return [arrow for _, _, arrow in sorted(items, key=lambda item: (item[0], item[1]))]


def _wakes(run: Run) -> list[tuple[float, int, Any]]:
    """A ``wakes up`` mark per device wake-up, ordered just before the device's next datagram."""
    from pushinject.ladder import Arrow

    wires = run.simulation.wires
    out: list[tuple[float, int, Any]] = []
    for device in run.simulation.devices:
        for at in device.woke_at:
            after = next((i for i, w in enumerate(wires)
                          if w.source == device.name and w.time >= at), len(wires))
            out.append((at, 2 * after - 1, Arrow(at, device.name, device.name, "wakes up")))
    return out


def _parties(run: Run, push_service: bool) -> list[str]:
    parties = list(run.parties)
    return [*parties[:2], PUSH_SERVICE, *parties[2:]] if push_service else parties


def ladder_text(run: Run, push_service: bool = False) -> str:
    """The call flow as a text ladder (columns: alice, proxy, with `push_service` the push
    service, then the devices)."""
    from pushinject.ladder import ladder_text as draw

    return draw(arrows(run, push_service), _parties(run, push_service))


def ladder_svg(run: Run, title: str | None = None, push_service: bool = False,
               **style: float) -> str:
    """The call flow as a deterministic SVG ladder (columns as in `ladder_text`; `style`:
    `column_width`, `fontsize` and `max_width` of `pushinject.ladder.ladder_svg`)."""
    from pushinject.ladder import ladder_svg as draw

    return draw(arrows(run, push_service), _parties(run, push_service), title=title, **style)


def branch_graph_svg(run: Run) -> str:
    """The call's server transaction and its branches, as a deterministic SVG graph."""
    from pushinject.errors import UsageError
    from pushinject.graph import branch_graph_svg as draw

    if run.summary is None:
        raise UsageError("the caller's INVITE never reached the proxy: no branch graph")
    return draw(run.summary)
