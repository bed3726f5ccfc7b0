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

__all__ = ["SVG_RC", "svg_text", "SVG"]

#: matplotlib rc settings that make SVG output reproducible
SVG_RC: dict[str, Any] = {
    "svg.hashsalt": "pushinject",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "path.simplify": False,
}


def svg_text(fig: Figure) -> str:
    """Render a matplotlib figure to SVG text that is identical run to run."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


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
