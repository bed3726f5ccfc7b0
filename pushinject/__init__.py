"""pushinject: the reference implementation and conformance kit for SIP push-notification
branch injection (RFC 3261 §16 forking with late branches, RFC 8599 push)."""

from __future__ import annotations

#: the package version (pyproject.toml reads it from here)
__version__ = "0.1.0"

__all__ = ["__version__"]
