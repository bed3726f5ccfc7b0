"""Small value types shared by the core and its users.

`Address` is a transport address `(host, port)`. `TxnId` names a server transaction the way
OpenSIPS and Kamailio do, as a pair `(index, label)`: event subscriptions and tsilo records
keep it so that a later route can find the transaction again (SPEC-FACTS R16, R62).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Address", "TxnId", "BranchKind", "Dedup", "Selection"]

#: a transport address: (host, port)
Address = tuple[str, int]

#: a transaction identifier (index, label), as captured by notify_on_event / ts_store
TxnId = tuple[int, int]


class BranchKind(str, Enum):
    """What a branch of a response context is (SPEC-FACTS R27, R65)."""

    #: a forwarded request with its own client transaction
    REAL = "real"
    #: OpenSIPS placeholder of `t_wait_for_new_branches` (`T_UAC_IS_PHONY`), no signalling
    PHONY = "phony"
    #: Kamailio blind UAC added by `t_suspend()`, no signalling
    BLIND = "blind"

    def __str__(self) -> str:
        return self.value


class Dedup(str, Enum):
    """Which injected contacts are skipped as duplicates (SPEC-FACTS R37, R41–R43)."""

    #: OpenSIPS: inject every contact, even one that already has a branch (R37)
    NONE = "none"
    #: Kamailio: skip a location record (same ruid and URI) that already has a branch (R43)
    BY_LOCATION = "by-location"
    #: Flexisip: one branch per device (`+sip.instance`), re-dispatched on reconnect (R41, R42)
    BY_INSTANCE = "by-instance"

    def __str__(self) -> str:
        return self.value


class Selection(str, Enum):
    """How the final response is chosen among the branches (SPEC-FACTS R10, R33)."""

    #: RFC 3261 §16.7 step 6
    RFC3261 = "rfc3261"
    #: OpenSIPS `branch_prio` ranking
    OPENSIPS = "opensips"

    def __str__(self) -> str:
        return self.value
