"""Small value types shared by the core and its users.

`Address` is a transport address `(host, port)`. `TxnId` names a server transaction the way
OpenSIPS and Kamailio do, as a pair `(index, label)`: event subscriptions and tsilo records
keep it so that a later route can find the transaction again (EVT-1, KAM-2).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["Address", "TxnId", "BranchKind", "Dedup", "Selection", "start_line"]

#: a transport address: (host, port)
Address = tuple[str, int]

#: a transaction identifier (index, label), as captured by notify_on_event / ts_store
TxnId = tuple[int, int]


class BranchKind(StrEnum):
    """What a branch of a response context is (OSIPS-1, KAM-5)."""

    #: a forwarded request with its own client transaction
    REAL = "real"
    #: OpenSIPS placeholder of `t_wait_for_new_branches` (`T_UAC_IS_PHONY`), no signalling
    PHONY = "phony"
    #: Kamailio blind UAC added by `t_suspend()`, no signalling
    BLIND = "blind"


class Dedup(StrEnum):
    """Which injected contacts are skipped as duplicates (OSIPS-11, INJ-3 to INJ-5)."""

    #: OpenSIPS: inject every contact, even one that already has a branch (OSIPS-11)
    NONE = "none"
    #: Kamailio: skip a location record (same ruid and URI) that already has a branch (INJ-5)
    BY_LOCATION = "by-location"
    #: Flexisip: one branch per device (`+sip.instance`), re-dispatched on reconnect (INJ-3, INJ-4)
    BY_INSTANCE = "by-instance"


class Selection(StrEnum):
    """How the final response is chosen among the branches (CTX-7, OSIPS-7)."""

    #: RFC 3261 §16.7 step 6
    RFC3261 = "rfc3261"
    #: OpenSIPS `branch_prio` ranking
    OPENSIPS = "opensips"


def start_line(message: Any) -> str:
    """The first line of a request or response, without "SIP/2.0", for short reprs."""
    if hasattr(message, "method"):
        return f"{message.method} {message.uri}"
    return f"{message.status} {message.reason}"
