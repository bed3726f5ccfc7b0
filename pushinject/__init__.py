"""pushinject: the reference implementation and conformance kit for SIP push-notification
branch injection (RFC 3261 §16 forking with late branches, RFC 8599 push)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pushinject")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
