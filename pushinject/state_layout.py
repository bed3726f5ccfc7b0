"""Where each state, arrow and label of a transition diagram goes (drawn by `pushinject.graph`).

Rules of the layout, in inches, so that every label can be read:

- states stand in one column, top to bottom in their table order (`STEP` apart);
- every row of the table is its own arrow with its own label ``input / effect``: a row to the
  next state curves on the right, a self-loop sits on the right of its state, any other row
  (a skip or a step back) curves on the left, wider the more states it spans;
- a label sits on its arrow, on a white ground; it is moved along the arrow until it overlaps
  neither a state nor another label (`Placement.overlaps` is what the tests check).

The geometry is pure arithmetic on text sizes measured from the font (`figures.text_size`),
so the same table always gives the same picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pushinject.figures import text_size

__all__ = ["STEP", "LABEL_SIZE", "STATE_SIZE", "Box", "Curve", "Placement", "transition_layout"]

#: vertical distance between two states, inches
STEP = 1.5
#: font sizes (points) of edge labels and state names
LABEL_SIZE = 9.0
STATE_SIZE = 11.0
#: padding around a label's text (its white ground) and a state's name (its box), inches
_LABEL_PAD = 0.04
_STATE_PAD = 0.08
#: positions tried along an arrow for its label, in order (0 start, 1 end)
_ALONG = (0.5, 0.38, 0.62, 0.27, 0.73, 0.18, 0.82)
#: vertical distance between two self-loops of one state, inches
_LOOP_GAP = 0.3
#: points taken along each curve to find how far it reaches (`Placement.extent`)
_SAMPLES = 64


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle: centre (x, y), width and height, inches."""

    x: float
    y: float
    width: float
    height: float

    def overlaps(self, other: Box) -> bool:
        """True when the two rectangles share any area."""
        return (abs(self.x - other.x) * 2 < self.width + other.width
                and abs(self.y - other.y) * 2 < self.height + other.height)


@dataclass(frozen=True)
class Curve:
    """One arrow: a quadratic (3 points) or cubic (4 points) Bézier, with its label."""

    points: tuple[tuple[float, float], ...]
    text: str
    label: Box

    def at(self, t: float) -> tuple[float, float]:
        """The point of the curve at parameter `t` (0 start, 1 end)."""
        return _bezier(self.points, t)


@dataclass(frozen=True)
class Placement:
    """The whole picture: each state's box, each row's curve."""

    states: dict[str, Box]
    curves: tuple[Curve, ...]

    def overlaps(self) -> list[tuple[str, str]]:
        """Pairs (label, label or state) whose boxes overlap; empty for a readable picture."""
        found = []
        for i, curve in enumerate(self.curves):
            for name, box in self.states.items():
                if curve.label.overlaps(box):
                    found.append((curve.text, name))
            for other in self.curves[i + 1:]:
                if curve.label.overlaps(other.label):
                    found.append((curve.text, other.text))
        return found

    def extent(self, drawn: bool = False) -> tuple[float, float, float, float]:
        """(left, right, bottom, top) of everything placed, inches: the curves counted by their
        control points, or with `drawn` by the points they pass through (a wide arc's control
        point lies twice as far out as the arc itself)."""
        boxes = [*self.states.values(), *(c.label for c in self.curves)]
        points = ([c.at(k / _SAMPLES) for c in self.curves for k in range(_SAMPLES + 1)]
                  if drawn else [p for c in self.curves for p in c.points])
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        left = min([b.x - b.width / 2 for b in boxes] + xs)
        right = max([b.x + b.width / 2 for b in boxes] + xs)
        bottom = min([b.y - b.height / 2 for b in boxes] + ys)
        top = max([b.y + b.height / 2 for b in boxes] + ys)
        return left, right, bottom, top


def _bezier(points: Sequence[tuple[float, float]], t: float) -> tuple[float, float]:
    """De Casteljau: the point at `t` of the Bézier curve with these control points."""
    pts = list(points)
    while len(pts) > 1:
        pts = [((1 - t) * a[0] + t * b[0], (1 - t) * a[1] + t * b[1])
               for a, b in zip(pts, pts[1:], strict=False)]
    return pts[0]


def _label_box(text: str, at: tuple[float, float]) -> Box:
    width, height = text_size(text, LABEL_SIZE)
    return Box(at[0], at[1], width + 2 * _LABEL_PAD, height + 2 * _LABEL_PAD)


def _row_text(inp: str, effect: str | None) -> str:
    return inp + (f" / {effect}" if effect else "")


def _control_points(i: int, j: int, nth: int, of: int, boxes: Sequence[Box]) -> tuple[
        tuple[float, float], ...]:
    """The control points of the `nth` of the `of` arrows from state `i` to state `j`."""
    src, dst = boxes[i], boxes[j]
    if i == j:  # loops out of the right side of the box, one under the other
        x = src.width / 2
        y = src.y + _LOOP_GAP * ((of - 1) / 2 - nth)
        top = min(y + 0.05, src.y + src.height / 2 - 0.02)
        bottom = max(y - 0.05, src.y - src.height / 2 + 0.02)
        reach = 0.55
        return ((x, top), (x + reach, y + 0.2), (x + reach, y - 0.2), (x, bottom))
    down = j > i
    y0 = src.y - src.height / 2 if down else src.y + src.height / 2
    y1 = dst.y + dst.height / 2 if down else dst.y - dst.height / 2
    if down and j == i + 1:  # to the next state: on the right
        x, bulge = 0.15, 0.9 + 0.55 * nth
    else:  # skips and steps back: on the left, wider for longer spans
        x, bulge = -0.15, -(0.9 + 0.6 * (abs(j - i) - 1) + 0.55 * nth)
    return ((x, y0), (x + 2 * bulge, (y0 + y1) / 2), (x, y1))


def transition_layout(table: Mapping[tuple[Any, Any], tuple[str | None, Any]]) -> Placement:
    """Place the states and one labelled arrow per row of `table` (see the module's rules).

    Examples
    --------
    >>> from pushinject.core.client_txn import TRANSITIONS
    >>> placed = transition_layout(TRANSITIONS)
    >>> list(placed.states), len(placed.curves) == len(TRANSITIONS), placed.overlaps()
    (['Calling', 'Proceeding', 'Completed', 'Accepted', 'Terminated'], True, [])
    """
    from pushinject.graph import transition_graph

    graph = transition_graph(table)
    names = list(graph.nodes)
    boxes = []
    for i, name in enumerate(names):
        width, height = text_size(name, STATE_SIZE)
        boxes.append(Box(0.0, -STEP * i, width + 2 * _STATE_PAD, height + 2 * _STATE_PAD))
    states = dict(zip(names, boxes, strict=True))
    taken: list[Box] = list(boxes)
    curves: list[Curve] = []
    rows: dict[tuple[int, int], int] = {}
    for u, v in graph.edges():
        rows[names.index(u), names.index(v)] = rows.get((names.index(u), names.index(v)), 0) + 1
    count: dict[tuple[int, int], int] = {}
    for u, v, data in graph.edges(data=True):
        i, j = names.index(u), names.index(v)
        nth = count.get((i, j), 0)
        count[(i, j)] = nth + 1
        points = _control_points(i, j, nth, rows[i, j], boxes)
        text = _row_text(data["input"], data["effect"])
        if i == j:  # beside its loop
            tip = _bezier(points, 0.5)
            width = text_size(text, LABEL_SIZE)[0] + 2 * _LABEL_PAD
            candidates = [_label_box(text, (tip[0] + 0.06 + width / 2, tip[1]))]
        else:
            candidates = [_label_box(text, _bezier(points, t)) for t in _ALONG]
        label = next((c for c in candidates if not any(c.overlaps(b) for b in taken)),
                     candidates[0])
        taken.append(label)
        curves.append(Curve(points, text, label))
    return Placement(states, tuple(curves))
