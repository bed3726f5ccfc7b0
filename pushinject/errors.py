"""One error tree for the whole package (house style: h11 / networkx).

- `PushInjectError` is the base of everything pushinject raises on purpose.
- `LocalProtocolError`: the caller asked the core for something the rules forbid.
- `RemoteProtocolError`: a peer sent something illegal; `status_hint` is the SIP status a UAS
  or proxy should answer with.
- `UsageError`: a command was given input it cannot use (bad file, bad option); the CLI prints
  its message on one line and exits 2.
"""

from __future__ import annotations

__all__ = ["PushInjectError", "LocalProtocolError", "RemoteProtocolError", "UsageError"]


class PushInjectError(Exception):
    """Base class of every error pushinject raises deliberately."""


class LocalProtocolError(PushInjectError):
    """The caller asked for something illegal (e.g. a transition the table does not allow)."""


class RemoteProtocolError(PushInjectError):
    """A peer sent something illegal; answer it with `status_hint` (default 400)."""

    def __init__(self, message: str, *, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class UsageError(PushInjectError):
    """Input a command cannot use: the CLI reports it on one line and exits with status 2."""
