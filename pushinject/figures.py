"""Deterministic SVG output for every figure pushinject draws.

Notebook outputs are the specification and nbval compares SVG text, so a figure must give the
same bytes on every run: a fixed `svg.hashsalt` (element ids), no date metadata, text kept as
text (`svg.fonttype = none`, so glyph outlines of the installed font do not leak in).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

__all__ = ["SVG_RC", "BOOK_WIDTH", "svg_text", "SVG", "text_size", "seconds"]

#: matplotlib rc settings that make SVG output reproducible
SVG_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "pushinject",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "path.simplify": False,
}


#: blank margin around every figure, inches: room for a browser font a little wider than ours
MARGIN = 0.2

#: the widest a figure may be, margins included, to show at its own size in the book's column
#: (46 em of 17.6 px, 736 px, 7.67 in at the browser's 96 px an inch), inches: the
#: `max_width` of a ladder with many parties
BOOK_WIDTH = 7.5


def svg_text(fig: Figure) -> str:
    """Render a matplotlib figure to SVG text that is identical run to run.

    The page is cut to what is drawn, plus `MARGIN` (``bbox_inches="tight"``), so no text near
    an edge is clipped and no figure carries an empty band.
    """
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    bbox_inches="tight", pad_inches=MARGIN)
    return buf.getvalue()


def text_size(text: str, fontsize: float) -> tuple[float, float]:
    r"""Width and height in inches of `text` (lines split on newlines) in the figures' font.

    Measured from the font's glyphs (no renderer), so layouts can be computed before drawing.

    >>> w, h = text_size("INVITE", 10)
    >>> round(w, 2), round(h, 2)
    (0.45, 0.14)
    >>> text_size("a\nb", 10)[1] > 2 * text_size("a", 10)[1]
    True
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(family=SVG_RC["font.family"], size=fontsize)
    measure = TextToPath()
    lines = text.split("\n")
    width = max(measure.get_text_width_height_descent(line or " ", prop, ismath=False)[0]
                for line in lines)
    # matplotlib's line spacing is 1.2 font sizes
    height = fontsize * (1.2 * (len(lines) - 1) + 1.0)
    return width / 72.0, height / 72.0


def seconds(value: float) -> str:
    """A time for display: rounded to the millisecond, without trailing zeros.

    >>> seconds(0.808999), seconds(220.0), seconds(20.000000000000004), seconds(121.1)
    ('0.809', '220', '20', '121.1')
    """
    return f"{round(value, 3):g}"


class SVG:
    """SVG text that Jupyter shows as a picture (and nbval compares as text)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_svg_(self) -> str:
        return self.text

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.text)

    def __repr__(self) -> str:
        return f"<SVG {len(self.text)} characters>"
