"""A progress bar on stderr for long runs, drawn only when stderr is a terminal.

`progress_bar()` returns a callable taking (done, total), or None when stderr is not a terminal
(a pipe, a file, CI): nothing is written then, so logs and captured output stay clean. The bar
is redrawn in place (carriage return) at most once per percent; `finish` clears its line.
"""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["Bar", "progress_bar"]

WIDTH = 30


class Bar:
    """A bar of `WIDTH` cells and a percentage, on `stream`."""

    def __init__(self, stream: TextIO, label: str = "checking") -> None:
        self.stream = stream
        self.label = label
        self._shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = min(100, done * 100 // total) if total > 0 else 100
        if percent == self._shown:
            return
        self._shown = percent
        cells = percent * WIDTH // 100
        self.stream.write(f"\r{self.label} [{'#' * cells}{'.' * (WIDTH - cells)}] {percent:3d}%")
        self.stream.flush()

    def finish(self) -> None:
        """Clear the bar's line (when it was drawn at all)."""
        if self._shown >= 0:
            self.stream.write("\r" + " " * (len(self.label) + WIDTH + 8) + "\r")
            self.stream.flush()


def progress_bar(stream: TextIO | None = None, label: str = "checking") -> Bar | None:
    """A `Bar` on `stream` (default stderr) when it is a terminal, else None.

    >>> import io
    >>> progress_bar(io.StringIO()) is None
    True
    """
    stream = sys.stderr if stream is None else stream
    return Bar(stream, label) if stream.isatty() else None
