"""One error tree for the whole package (house style: h11 / networkx).

- `PushInjectError` is the base of everything pushinject raises on purpose.
- `LocalProtocolError`: the caller asked the core for something the rules forbid.
- `RemoteProtocolError`: a peer sent something illegal; `status_hint` is the SIP status a UAS
  or proxy should answer with.
- `UsageError`: a command was given input it cannot use (bad file, bad option); the CLI prints
  its message on one line and exits 2.

`one_line(exc)` and `print_errors()` show an error the way the tools do, one line and never a
traceback, for the notebooks and any other reader-facing output.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PushInjectError", "LocalProtocolError", "RemoteProtocolError", "UsageError",
           "one_line", "print_errors"]


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


def one_line(exc: BaseException) -> str:
    """`exc` on one line: its class name, then its message.

    >>> one_line(UsageError("no such scenario file: x.toml"))
    'UsageError: no such scenario file: x.toml'
    """
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def print_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Run the block; if it raises one of `kinds` (default: any `PushInjectError`), print the
    error as `one_line` writes it instead of a traceback. Other exceptions pass through.

    >>> with print_errors():
    ...     raise LocalProtocolError("input RECV_2XX is not allowed in state COMPLETED")
    LocalProtocolError: input RECV_2XX is not allowed in state COMPLETED
    >>> with print_errors(ValueError):
    ...     int("five")
    ValueError: invalid literal for int() with base 10: 'five'
    """
    try:
        yield
    except kinds or (PushInjectError,) as exc:
        print(one_line(exc))
