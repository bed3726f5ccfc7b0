"""The SIP Request Push Bucket and its Bucket Timer (RFC 8599 §5.2, §5.3, §5.6.2).

Theory of operation. When a request is addressed to a binding that carries pn-* parameters, the
proxy requests a push and puts the request in the bucket, where a Bucket Timer runs. The request
leaves the bucket in exactly one of three ways (PUSH-5):

1. a 2xx to a refresh REGISTER whose Contact matches the held target arrives: the request is
   forwarded (``forward``);
2. an error reply is due: the push request failed, or the refresh REGISTER was rejected with
   something other than a 401/407 challenge (``reject``, 404 or 480, PUSH-6);
3. the Bucket Timer expires: the proxy MUST reply 480 (``reject`` with 480).

Matching (§5.3, PUSH-4): the Contact of the REGISTER 2xx matches a held Request-URI when both carry
the same pn-provider, pn-prid and pn-param (a parameter present on one side only is a mismatch)
and the two URIs are equal by RFC 3261 §19.1.4. Local policy may match on the pn-* parameters
alone, so that a device that came back on a new address or port is still found
(``pn_only=True``; OpenSIPS does this with ``pn_enable``, OSIPS-15).

The bucket is per request, but one request may wait for several devices (the fork
generalisation of PUSH-7): entries are keyed by (request key, target URI text).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Bucket", "BucketEntry", "BucketOutcome", "pn_params", "pn_match", "HasParams"]

PN_KEYS = ("pn-provider", "pn-prid", "pn-param")


class HasParams(Protocol):
    """A URI as `pushinject.sip` models it: `params` with lower-case keys, RFC 3261 equality."""

    @property
    def params(self) -> Mapping[str, str | None]: ...


def pn_params(uri: HasParams) -> tuple[str | None, str | None, str | None] | None:
    """The (pn-provider, pn-prid, pn-param) of a URI, or None when it has no pn-prid.

    RFC 8599 §4.1.1: a binding is push-capable when it names a provider and a PRID;
    pn-provider may be written without a value.

    >>> class U:
    ...     params = {"pn-provider": "apns", "pn-prid": "tok", "transport": "udp"}
    >>> pn_params(U())
    ('apns', 'tok', None)
    """
    params = uri.params
    if "pn-prid" not in params:
        return None
    return (params.get("pn-provider"), params.get("pn-prid"), params.get("pn-param"))


def pn_match(held: HasParams, contact: HasParams, *, pn_only: bool = False) -> bool:
    """Does a REGISTER 2xx Contact match a held Request-URI? (RFC 8599 §5.3, PUSH-4)

    Every pn-* parameter must be present on both sides with equal values, or absent on both;
    then the URIs must be equal by RFC 3261 §19.1.4, unless local policy `pn_only` accepts the
    pn-* match alone (a device back on a new address).
    """
    for key in PN_KEYS:
        if (key in held.params) != (key in contact.params):
            return False
        if held.params.get(key) != contact.params.get(key):
            return False
    if pn_params(held) is None:
        return False
    return pn_only or held == contact


@dataclass(frozen=True, kw_only=True)
class BucketEntry:
    """One request waiting in the bucket for one device (RFC 8599 §5.2).

    `key` identifies the waiting request (e.g. its transaction), `target` is the binding's
    contact URI the request was addressed to, `payload` whatever the proxy needs to forward it.
    """

    key: Hashable
    target: Any
    held_at: float
    expires_at: float
    payload: Any = None

    @property
    def name(self) -> tuple[Hashable, str]:
        return (self.key, str(self.target))


@dataclass(frozen=True, kw_only=True)
class BucketOutcome:
    """How an entry left the bucket: ``forward`` (to `contact`) or ``reject`` with `status`."""

    entry: BucketEntry
    verdict: str
    status: int | None = None
    contact: Any = None
    rule: str = ""


class Bucket:
    """The SIP Request Push Bucket with one Bucket Timer per entry (RFC 8599 §5.2).

    >>> class U:
    ...     def __init__(self, text, **params):
    ...         self.text, self.params = text, params
    ...     def __eq__(self, other):
    ...         return self.text == other.text
    ...     def __str__(self):
    ...         return self.text
    >>> bucket = Bucket(bucket_timer=30.0)
    >>> held = U("sip:bob@10.0.0.2", **{"pn-provider": "fcm", "pn-prid": "t1"})
    >>> entry = bucket.hold("call-1", held, now=1.0)
    >>> bucket.get_timer()
    31.0
    >>> [o.verdict for o in bucket.on_register_response(held, 200, now=2.5)]
    ['forward']
    >>> bucket.get_timer() is None
    True
    """

    def __init__(self, bucket_timer: float, *, pn_only: bool = False) -> None:
        if bucket_timer <= 0:
            raise ValueError("the Bucket Timer must be positive")
        self.bucket_timer = bucket_timer
        self.pn_only = pn_only
        self._entries: dict[tuple[Hashable, str], BucketEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[BucketEntry]:
        """The waiting entries, oldest first."""
        return sorted(self._entries.values(), key=lambda e: (e.held_at, str(e.target)))

    def hold(self, key: Hashable, target: Any, now: float, payload: Any = None) -> BucketEntry:
        """Put a request for `target` in the bucket and start its Bucket Timer (§5.6.2).

        Holding the same (key, target) twice keeps the first entry and its timer: at most one
        push and one wait per request and device.
        """
        entry = BucketEntry(key=key, target=target, held_at=now,
                            expires_at=now + self.bucket_timer, payload=payload)
        return self._entries.setdefault(entry.name, entry)

    def keys(self) -> list[Hashable]:
        """The requests that have at least one entry, in the order of their oldest entry."""
        return list(dict.fromkeys(e.key for e in self.entries()))

    def release(self, key: Hashable) -> list[BucketEntry]:
        """Drop every entry of request `key` (it was answered or cancelled elsewhere)."""
        gone = [e for name, e in self._entries.items() if name[0] == key]
        for entry in gone:
            del self._entries[entry.name]
        return gone

    def on_push_result(self, key: Hashable, target: Any, status: int | None,
                       now: float) -> list[BucketOutcome]:
        """A push request failed (`status` 404 or 480): the entry leaves with that error
        (PUSH-6)."""
        entry = self._entries.get((key, str(target)))
        if status is None or entry is None:
            return []
        del self._entries[entry.name]
        return [BucketOutcome(entry=entry, verdict="reject", status=status,
                              rule="RFC 8599 §5.6.2: the push request failed")]

    def on_register_response(self, contact: Any, status: int, now: float,
                             key: Hashable | None = None) -> list[BucketOutcome]:
        """A REGISTER for `contact` was answered `status`; release the entries it matches
        (only those of request `key` when it is given).

        2xx: matching entries are forwarded. 401/407: keep waiting (the UA will retry with
        credentials, §5.6.2 MAY). Any other final: matching entries are rejected with 480.
        """
        if status < 200 or status in (401, 407):
            return []
        out = []
        for entry in self.entries():
            if key is not None and entry.key != key:
                continue
            if not pn_match(entry.target, contact, pn_only=self.pn_only):
                continue
            del self._entries[entry.name]
            if 200 <= status < 300:
                out.append(BucketOutcome(entry=entry, verdict="forward", contact=contact,
                                         rule="RFC 8599 §5.6.2: 2xx to a matching REGISTER"))
            else:
                out.append(BucketOutcome(entry=entry, verdict="reject", status=480,
                                         rule="RFC 8599 §5.6.2: the REGISTER was rejected"))
        return out

    def get_timer(self) -> float | None:
        """The earliest Bucket Timer deadline, or None when the bucket is empty."""
        return min((e.expires_at for e in self._entries.values()), default=None)

    def handle_timer(self, now: float) -> list[BucketOutcome]:
        """Expire every entry whose Bucket Timer is due: each MUST get 480 (§5.6.2, PUSH-6)."""
        out = []
        for entry in self.entries():
            if entry.expires_at <= now:
                del self._entries[entry.name]
                out.append(BucketOutcome(entry=entry, verdict="reject", status=480,
                                         rule="RFC 8599 §5.6.2: the Bucket Timer expired"))
        return out
