"""Ladder diagrams (message sequence charts): parties as columns, one arrow per message.

Used by `pushinject flow` for captures, and by the simulator and the conformance report. An
arrow's `group` (e.g. the proxy branch, i.e. the Via branch of the client transaction, RFC 3261
§17.1.3) is drawn distinguishably: its own line style in text ("=", "~", "." in turn; "-"
without group), its own colour in SVG, and its name after the label (long names, such as Via
branches, become g1, g2, ... explained in a legend under the diagram). Parties are columns in
the order given, else in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Arrow", "ladder_text", "ladder_svg", "parties_of", "header_lines"]

_LINES = "-=~."
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
            "#17becf", "#bcbd22", "#7f7f7f")


@dataclass(frozen=True)
class Arrow:
    """One message: when, from which party to which, its label and optional group."""

    time: float
    source: str
    destination: str
    label: str
    group: str | None = None


def parties_of(arrows: Sequence[Arrow]) -> list[str]:
    """Parties in order of first appearance (source before destination)."""
    seen: dict[str, None] = {}
    for a in arrows:
        seen.setdefault(a.source)
        seen.setdefault(a.destination)
    return list(seen)


def _columns(arrows: Sequence[Arrow], parties: Sequence[str] | None) -> list[str]:
    """The given parties (else those of `parties_of`), plus any party they leave out."""
    cols = list(parties) if parties is not None else parties_of(arrows)
    for a in arrows:
        for p in (a.source, a.destination):
            if p not in cols:
                cols.append(p)
    return cols


def _groups(arrows: Sequence[Arrow]) -> dict[str, int]:
    groups: dict[str, int] = {}
    for a in arrows:
        if a.group is not None and a.group not in groups:
            groups[a.group] = len(groups)
    return groups


#: group names longer than this are drawn as g1, g2, ... with a legend
SHORT = 10


def _names(groups: dict[str, int]) -> dict[str, str]:
    """Display name of each group: itself when short, else g1, g2, ... in order of appearance."""
    if all(len(g) <= SHORT for g in groups):
        return {g: g for g in groups}
    return {g: f"g{i + 1}" for g, i in groups.items()}


def _legend(names: dict[str, str]) -> list[str]:
    return [f"{short} = {group}" for group, short in names.items() if short != group]


def ladder_text(arrows: Sequence[Arrow], parties: Sequence[str] | None = None) -> str:
    """The ladder as text; time is relative to the first arrow.

    >>> print(ladder_text([Arrow(0.0, "A", "B", "INVITE"), Arrow(0.5, "B", "A", "180")]))
    time       A               B
    0.000      |-----INVITE--->|
    0.500      |<-----180------|
    """
    cols = _columns(arrows, parties)
    groups = _groups(arrows)
    names = _names(groups)
    longest = max([len(a.label) + (len(names[a.group]) + 3 if a.group else 0) for a in arrows]
                  + [8])
    width = max(longest + 6, max((len(c) for c in cols), default=0) + 2, 16)
    start = arrows[0].time if arrows else 0.0
    pos = {c: 11 + i * width for i, c in enumerate(cols)}
    total = 11 + (len(cols) - 1) * width + 1 if cols else 11
    header = "time".ljust(11)
    for c in cols:
        header = header.ljust(pos[c]) + c
    lines = [header.rstrip()]
    for a in arrows:
        row = [" "] * total
        for c in cols:
            row[pos[c]] = "|"
        label = a.label + (f" [{names[a.group]}]" if a.group else "")
        stroke = _LINES[1 + groups[a.group] % 3] if a.group is not None else "-"
        x0, x1 = pos[a.source], pos[a.destination]
        if x0 == x1:
            text = f"|{stroke * 2}> {label}"
            row[x0 : x0 + len(text)] = text
        else:
            left, right = min(x0, x1), max(x0, x1)
            span = right - left - 1
            body = label.center(span, stroke) if len(label) + 2 <= span else label[:span]
            body = (body[:-1] + ">") if x1 > x0 else ("<" + body[1:])
            row[left + 1 : right] = body
        lines.append((f"{a.time - start:<11.3f}" + "".join(row)[11:]).rstrip())
    return "\n".join(lines + _legend(names))


#: font size (points) of the SVG ladder's arrow labels, times and legend (headers: one more)
LABEL_SIZE = 8.0
#: least distance between two columns of the SVG ladder, inches
COLUMN_WIDTH = 1.4
#: headers longer than this are written on two lines (``[2001:db8::10]`` over ``:5060``)
_HEADER_WRAP = 14


def header_lines(party: str) -> str:
    r"""A column header as the SVG ladder writes it: a long ``host:port`` over two lines (split
    before the port), a long name with a blank split at its last blank.

    >>> header_lines("[2001:db8::10]:5060"), header_lines("192.0.2.10:5060"), header_lines("B")
    ('[2001:db8::10]\n:5060', '192.0.2.10\n:5060', 'B')
    >>> header_lines("push service")
    'push service'
    """
    if len(party) <= _HEADER_WRAP:
        return party
    for mark in (":", " "):
        head, sep, tail = party.rpartition(mark)
        if head and head not in ("[", "sip"):
            return head + "\n" + (sep + tail if mark == ":" else tail)
    return party


def _spacing(arrows: Sequence[Arrow], cols: Sequence[str], names: dict[str, str],
             least: float, size: float) -> float:
    """Distance between two columns (inches), at least `least`: every label fits between the
    columns its arrow joins and every header fits over its column."""
    from pushinject.figures import text_size

    need = least
    for a in arrows:
        span = abs(cols.index(a.source) - cols.index(a.destination))
        if span:
            label = a.label + (f" [{names[a.group]}]" if a.group else "")
            need = max(need, (text_size(label, size)[0] + 0.3) / span)
    for c in cols:
        need = max(need, text_size(header_lines(c), size + 1)[0] + 0.25)
    return need


def _fitted(arrows: Sequence[Arrow], cols: Sequence[str], step: float, size: float,
            max_width: float) -> float:
    """The distance between columns that keeps the figure, margins included, within
    `max_width` inches (a mark beside the last column may need more room than `_RIGHT`), but
    never less than two neighbouring headers need side by side."""
    from pushinject.figures import MARGIN, text_size

    widths = [text_size(header_lines(c), size + 1)[0] for c in cols]
    headers = max(((a + b) / 2 + 0.15 for a, b in zip(widths, widths[1:])), default=0.0)
    marks = [text_size(a.label, size)[0] + _MARK for a in arrows
             if a.source == a.destination == cols[-1]]
    right = max([_RIGHT, *marks])
    room = (max_width - 2 * MARGIN - _LEFT - right) / max(len(cols) - 1, 1)
    return min(step, max(room, headers))


#: room left of the first column (the times) and right of the last, inches
_LEFT, _RIGHT = 0.9, 0.5
#: how far right of its column a mark's label starts (0.12 in), plus room for its italic slant
_MARK = 0.17


def ladder_svg(arrows: Sequence[Arrow], parties: Sequence[str] | None = None,
               title: str | None = None, *, column_width: float = COLUMN_WIDTH,
               fontsize: float = LABEL_SIZE, max_width: float | None = None) -> str:
    """The ladder as deterministic SVG text (matplotlib `Figure`, `figures.svg_text`).

    Columns are `column_width` inches apart, or as far as the longest label between them needs
    (`header_lines` puts a long header on two lines); `fontsize` is that of the labels (headers
    one point larger, the title two). An arrow from a party to itself (a mark such as
    ``wakes up``) is a short hook with its label beside it.

    `max_width` (inches, the page's margins included) fits a ladder of many parties into a
    narrow column, such as the book's, without making its text smaller: the columns come
    closer (never closer than their headers need), and a label wider than its arrow runs on
    over the neighbouring lifelines, on a white ground so that they do not cross it, moved
    sideways as little as keeps it within the figure (each row holds one arrow, so labels of
    different rows never meet).
    """
    from matplotlib.figure import Figure

    from pushinject.figures import svg_text, text_size

    cols = _columns(arrows, parties)
    groups = _groups(arrows)
    names = _names(groups)
    legend = _legend(names)
    rows = len(arrows)
    step = _spacing(arrows, cols, names, column_width, fontsize)  # inches between columns
    if max_width is not None:
        step = _fitted(arrows, cols, step, fontsize, max_width)
    row = 0.3 * fontsize / LABEL_SIZE  # inches between rows
    left, right = -_LEFT, step * (max(len(cols), 1) - 1) + _RIGHT
    # the times' column, as wide as the longest time written in it
    times = max((text_size(f"{a.time - arrows[0].time:.3f}", fontsize)[0] for a in arrows),
                default=0.0) + left + 0.15
    high = max((header_lines(c).count("\n") for c in cols), default=0)  # extra header lines
    top = -1.2 - 0.7 * high - (0.6 if title else 0.0)
    fig = Figure(figsize=(right - left, (rows + len(legend) + 0.6 - top) * row))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(left, right)
    ax.set_ylim((rows + len(legend) + 0.6) * row, top * row)
    ax.axis("off")
    if title:
        ax.text(step * (len(cols) - 1) / 2, (top + 0.3) * row, title, ha="center", va="center",
                fontsize=fontsize + 2, fontweight="bold")
    for i, c in enumerate(cols):
        ax.plot([i * step, i * step], [-0.4 * row, (rows + 0.2) * row], color="#999999",
                linewidth=0.8)
        ax.text(i * step, -0.6 * row, header_lines(c), ha="center", va="baseline",
                fontsize=fontsize + 1, linespacing=1.1)
    start = arrows[0].time if arrows else 0.0
    for y, a in enumerate(arrows, start=1):
        colour = _COLOURS[groups[a.group] % len(_COLOURS)] if a.group is not None else "#000000"
        x0, x1 = cols.index(a.source) * step, cols.index(a.destination) * step
        ax.text(left + 0.05, y * row, f"{a.time - start:.3f}", ha="left", va="center",
                fontsize=fontsize)
        label = a.label + (f" [{names[a.group]}]" if a.group else "")
        if x0 == x1:
            ax.annotate("", xy=(x0, (y + 0.15) * row), xytext=(x0, (y - 0.15) * row),
                        arrowprops={"arrowstyle": "->", "color": colour, "linewidth": 1.0,
                                    "connectionstyle": "arc3,rad=-0.9"})
            ax.text(x0 + 0.12, y * row, label, ha="left", va="center", fontsize=fontsize,
                    color=colour, fontstyle="italic")
            continue
        ax.annotate("", xy=(x1, y * row), xytext=(x0, y * row),
                    arrowprops={"arrowstyle": "->", "color": colour, "linewidth": 1.0})
        centre, ground = (x0 + x1) / 2, None
        half = text_size(label, fontsize)[0] / 2
        if half + 0.1 > abs(x1 - x0) / 2:  # only when `max_width` brought the columns closer
            centre = min(max(centre, times + half), right - half - 0.05)
            ground = {"facecolor": "white", "edgecolor": "none", "pad": 0.5}
        ax.text(centre, (y - 0.12) * row, label, ha="center", va="bottom",
                fontsize=fontsize, color=colour, bbox=ground)
    for i, line in enumerate(legend, start=rows + 1):
        group = line.split(" = ", 1)[1]
        ax.text(left + 0.05, i * row, line, ha="left", va="center", fontsize=fontsize,
                color=_COLOURS[groups[group] % len(_COLOURS)])
    return svg_text(fig)
