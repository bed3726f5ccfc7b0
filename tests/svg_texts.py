"""The text of a figure's SVG, each piece with the box it takes on the page (tests only).

matplotlib writes one ``<text>`` per line, positioned by ``x``/``y`` or a ``translate``, with
its font size and anchor in the style; the width comes from the same font metrics the figures
use (`pushinject.figures.text_size`), converted to SVG points.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from pushinject.figures import text_size

_TEXT = re.compile(r"<text ([^>]*)>([^<]*)</text>")
_SIZE = re.compile(r"font-size: ([\d.]+)px")
_ANCHOR = re.compile(r"text-anchor: (\w+)")
_AT = re.compile(r'x="([-\d.]+)" y="([-\d.]+)"|translate\(([-\d.]+) ([-\d.]+)\)')
_PAGE = re.compile(r'viewBox="0 0 ([\d.]+) ([\d.]+)"')


@dataclass(frozen=True)
class Placed:
    """One line of text: its string, font size and box (left, right, top, bottom) in points."""

    text: str
    size: float
    left: float
    right: float
    top: float
    bottom: float

    def overlaps(self, other: Placed) -> bool:
        return (self.left < other.right and other.left < self.right
                and self.top < other.bottom and other.top < self.bottom)


def page(svg: str) -> tuple[float, float]:
    """Width and height of the page, points."""
    match = _PAGE.search(svg)
    assert match, "no viewBox"
    return float(match.group(1)), float(match.group(2))


def texts(svg: str) -> list[Placed]:
    """Every line of text of `svg` with its box."""
    out = []
    for attrs, body in _TEXT.findall(svg):
        text = html.unescape(body)
        size = float(_SIZE.search(attrs).group(1))  # type: ignore[union-attr]
        anchor_match = _ANCHOR.search(attrs)
        anchor = anchor_match.group(1) if anchor_match else "start"
        at = _AT.search(attrs)
        assert at, attrs
        x, y = (float(at.group(1)), float(at.group(2))) if at.group(1) else (
            float(at.group(3)), float(at.group(4)))
        width = text_size(text, size)[0] * 72
        left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
        out.append(Placed(text, size, left, left + width, y - 0.8 * size, y + 0.2 * size))
    return out


def outside(svg: str) -> list[str]:
    """Lines of text that do not lie wholly on the page (clipped in a browser)."""
    width, height = page(svg)
    return [t.text for t in texts(svg)
            if t.left < 0 or t.right > width or t.top < 0 or t.bottom > height]
