"""`python -m pushinject` runs the command line."""

from __future__ import annotations

from pushinject.cli import entry

raise SystemExit(entry())
