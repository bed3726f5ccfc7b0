"""Identifier sources: every branch, tag, Call-ID and record id the core mints comes from one.

The core never draws random numbers itself (house style, principle 1): it asks an `IdSource`.
`CountingIds` gives readable, reproducible identifiers for tests, notebooks and the simulator;
`RandomIds` gives unguessable ones for a live proxy. Via branches always start with the
RFC 3261 magic cookie `z9hG4bK` (RFC 3261 §8.1.1.7).
"""

from __future__ import annotations

import secrets
from typing import Protocol

__all__ = ["MAGIC_COOKIE", "IdSource", "CountingIds", "RandomIds"]

#: RFC 3261 §8.1.1.7: a branch that starts with this cookie was made by an RFC 3261 element
MAGIC_COOKIE = "z9hG4bK"


class IdSource(Protocol):
    """Where the core gets new identifiers from."""

    def branch(self) -> str:
        """A new Via branch parameter, starting with `MAGIC_COOKIE`."""
        ...

    def tag(self) -> str:
        """A new From/To tag (RFC 3261 §19.3)."""
        ...

    def call_id(self) -> str:
        """A new Call-ID (RFC 3261 §8.1.1.4)."""
        ...

    def token(self, kind: str) -> str:
        """A new opaque identifier of the named kind (record ids, subscription ids, ...)."""
        ...


class CountingIds:
    """Deterministic identifiers: `z9hG4bK-<prefix>-1`, `<prefix>-tag-1`, ... counting per kind.

    >>> ids = CountingIds("px")
    >>> ids.branch(), ids.branch(), ids.tag(), ids.token("ruid")
    ('z9hG4bK-px-1', 'z9hG4bK-px-2', 'px-tag-1', 'px-ruid-1')
    """

    def __init__(self, prefix: str = "pi") -> None:
        self.prefix = prefix
        self._counts: dict[str, int] = {}

    def _next(self, kind: str) -> int:
        count = self._counts.get(kind, 0) + 1
        self._counts[kind] = count
        return count

    def branch(self) -> str:
        return f"{MAGIC_COOKIE}-{self.prefix}-{self._next('branch')}"

    def tag(self) -> str:
        return f"{self.prefix}-tag-{self._next('tag')}"

    def call_id(self) -> str:
        return f"{self.prefix}-call-{self._next('call')}"

    def token(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-{self._next(kind)}"

    def __repr__(self) -> str:
        return f"CountingIds({self.prefix!r})"


class RandomIds:
    """Unguessable identifiers for a live proxy (RFC 3261 §8.1.1.7 asks branches to be unique)."""

    def branch(self) -> str:
        return MAGIC_COOKIE + secrets.token_hex(8)

    def tag(self) -> str:
        return secrets.token_hex(6)

    def call_id(self) -> str:
        return secrets.token_hex(12)

    def token(self, kind: str) -> str:
        return f"{kind}-{secrets.token_hex(8)}"
