"""Event subscriptions: a model of OpenSIPS `notify_on_event` (event_routing module).

Theory of operation (EVT-1 to EVT-7):

- `Subscriptions.notify_on_event(event, filters, route, timeout, txn=..., now=...)` records a
  subscription. It captures the transaction given *at that moment*: subscribing before the
  transaction exists leaves it with none, and its notifications later carry no transaction
  (EVT-1).
- Filters are ``key=value`` strings, all of which must match (AND). A string with no ``=`` or
  with an empty value is discarded, not an error; keys are compared with event parameter names
  regardless of case; a key that names no parameter of the event passes; values are C
  `fnmatch` globs, case-sensitive (EVT-2, EVT-3; see `pushinject.core.globmatch`).
- `raise_event(name, params, now)` returns one `Notification` per live matching subscription,
  in creation order, or newest first with ``Subscriptions(ids, newest_first=True)``: that is
  OpenSIPS's order, which links each new subscription at the head of the event's list
  (`add_ebr_subscription`) and walks it from there. A notify subscription fires any number
  of times: a match does not remove it (EVT-4). A one-shot subscription (`wait_for_event`,
  EVT-7) is removed by its first match.
- An API subscription may filter on one parameter of a URI-valued event parameter
  (`Filter(..., uri_param="pn-prid")`, as the registrar's push code does, OSIPS-16): the URI must
  parse and carry that parameter, whose value is then matched as a glob.
- A subscription lives while ``now <= created + timeout`` and is removed once
  ``now > created + timeout``: by `handle_timer(now)` or when an event is raised (EVT-4). The end
  of its transaction does not remove it. Removal is silent for script subscriptions; every
  removed one is returned by `handle_timer` (those an event removed, at the next call) so a
  caller that asked for an expiry notice (``expire_notify``, EVT-5) can act on it.

OpenSIPS only logs the silent pitfalls (pitfalls PIT-6 and PIT-7); this model records
each as a `SubscriptionWarning` in `Subscriptions.warnings`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from pushinject.core.contact_events import ContactParams
from pushinject.core.globmatch import glob_match
from pushinject.core.subscription_index import SubscriptionIndex
from pushinject.errors import LocalProtocolError
from pushinject.sip import parse_uri

if TYPE_CHECKING:
    from pushinject.core.contact_events import ContactEvent
    from pushinject.core.ids import IdSource

__all__ = [
    "Filter",
    "parse_filters",
    "Subscription",
    "Notification",
    "SubscriptionWarning",
    "Subscriptions",
]


@dataclass(frozen=True)
class Filter:
    """One ``key=value`` filter of a subscription (EVT-2, EVT-3).

    With `uri_param`, the event parameter named `key` is read as a URI and the value of that
    URI parameter is matched instead (OpenSIPS `ebr_filter.uri_param_key`, used for RFC 8599
    pn-* matching, OSIPS-16).

    >>> f = Filter.parse("AOR=alice*")
    >>> f, f.check({"aor": "alice"}), f.check({"aor": "bob"}), f.check({"uri": "x"})
    (Filter(key='AOR', pattern='alice*', uri_param=None), True, False, None)
    >>> Filter("uri", "00fc*", "pn-prid").check({"uri": "sip:b@h;pn-prid=00fc13"})
    True
    """

    key: str
    pattern: str
    uri_param: str | None = None

    @classmethod
    def parse(cls, text: str) -> Filter:
        """Split ``key=value`` at the first ``=``; raise `ValueError` when it cannot be used."""
        key, sep, value = text.partition("=")
        if not sep:
            raise ValueError(f"filter {text!r} has no '=' and is discarded (EVT-2)")
        if not value:
            raise ValueError(f"filter {text!r} has an empty value and is discarded (EVT-2)")
        return cls(key=key, pattern=value)

    def check(self, params: Mapping[str, str]) -> bool | None:
        """Match against event parameters: True/False, or None when no parameter has this key.

        Keys compare without case, values with a case-sensitive glob (EVT-2, EVT-3).
        """
        wanted = self.key.lower()
        for name, value in params.items():
            if name.lower() == wanted:
                return self._match(value)
        return None

    def check_lowered(self, lowered: Mapping[str, str]) -> bool | None:
        """`check` against parameters already keyed by lower-case name (the first of each
        name kept), as `Subscriptions.raise_event` prepares them once per event."""
        value = lowered.get(self.key.lower())
        return None if value is None else self._match(value)

    def _match(self, value: str) -> bool:
        if self.uri_param is not None:
            found = _uri_param(value, self.uri_param)
            return found is not None and glob_match(self.pattern, found)
        return glob_match(self.pattern, value)

    def __str__(self) -> str:
        where = self.key if self.uri_param is None else f"{self.key}[{self.uri_param}]"
        return f"{where}={self.pattern}"


def _uri_param(value: str, name: str) -> str | None:
    """The value of URI parameter `name` in `value` ("" when it has none), or None when the
    text is not a URI or lacks the parameter."""
    try:
        params = getattr(parse_uri(value), "params", {})
    except ValueError:
        return None
    if name.lower() not in params:
        return None
    return params[name.lower()] or ""


@lru_cache(maxsize=1024)
def _parse_one(text: str) -> tuple[tuple[Filter, ...], tuple[str, ...]]:
    """`parse_filters` of one filter string. Filters and reasons are immutable, so the result
    for the same text is shared: at most 1024 recent texts are kept (a script builds its
    filter from the callee, e.g. ``aor=bob``, so the same texts come back call after call)."""
    try:
        return (Filter.parse(text),), ()
    except ValueError as err:
        return (), (str(err),)


def parse_filters(
    filters: str | Filter | Sequence[str | Filter],
) -> tuple[tuple[Filter, ...], tuple[str, ...]]:
    """Parse filters into the kept ones and the reasons the others were discarded.

    A single string is one filter (an AVP with one value); a sequence holds several (EVT-2).
    `Filter` objects (API subscriptions) are kept as they are.

    >>> kept, dropped = parse_filters(["aor=alice", "aor=", "callid"])
    >>> [str(f) for f in kept], dropped
    (['aor=alice'], ("filter 'aor=' has an empty value and is discarded (EVT-2)", \
"filter 'callid' has no '=' and is discarded (EVT-2)"))
    """
    if isinstance(filters, str):
        return _parse_one(filters)
    items = [filters] if isinstance(filters, Filter) else list(filters)
    kept: list[Filter] = []
    dropped: list[str] = []
    for item in items:
        if isinstance(item, Filter):
            kept.append(item)
            continue
        try:
            kept.append(Filter.parse(item))
        except ValueError as err:
            dropped.append(str(err))
    return tuple(kept), tuple(dropped)


@dataclass(frozen=True, kw_only=True, init=False)
class Subscription:
    """A `notify_on_event` subscription (EVT-1 to EVT-5).

    `expires_at` (``created + timeout``) is the last instant at which it still fires (EVT-4).
    `txn` is whatever transaction handle the caller passed when subscribing, or None (EVT-1).

    One is made per subscribing call, so `__init__` is written out: it sets the fields through
    one local name for ``object.__setattr__`` instead of looking it up for each field as a
    frozen dataclass's generated one does. Equality, hashing and immutability are unchanged.
    """

    id: str
    event: str
    filters: tuple[Filter, ...]
    route: str
    timeout: float
    created: float
    txn: object | None = None
    once: bool = False
    expire_notify: bool = False
    discarded: tuple[str, ...] = ()

    def __init__(
        self, *, id: str, event: str, filters: tuple[Filter, ...], route: str, timeout: float,
        created: float, txn: object | None = None, once: bool = False,
        expire_notify: bool = False, discarded: tuple[str, ...] = (),
    ) -> None:
        put = object.__setattr__  # the fields in their declared order
        put(self, "id", id)
        put(self, "event", event)
        put(self, "filters", filters)
        put(self, "route", route)
        put(self, "timeout", timeout)
        put(self, "created", created)
        put(self, "txn", txn)
        put(self, "once", once)
        put(self, "expire_notify", expire_notify)
        put(self, "discarded", discarded)

    @property
    def expires_at(self) -> float:
        """The last instant the subscription is alive: ``created + timeout`` (EVT-4)."""
        return self.created + self.timeout

    @property
    def removal_at(self) -> float:
        """The first instant after `expires_at`: when `handle_timer` removes it (EVT-4)."""
        return math.nextafter(self.expires_at, math.inf)

    def alive(self, now: float) -> bool:
        """True while ``now <= created + timeout`` (EVT-4)."""
        return now <= self.expires_at

    def matches(self, params: Mapping[str, str]) -> bool:
        """True when every filter passes; a filter whose key is absent passes (EVT-2)."""
        return all(f.check(params) is not False for f in self.filters)

    def __repr__(self) -> str:
        flt = ", ".join(str(f) for f in self.filters)
        return (
            f"Subscription({self.id}, {self.event} [{flt}] -> {self.route}, "
            f"{self.created:g}..{self.expires_at:g}, txn={self.txn!r})"
        )


@dataclass(frozen=True, init=False)
class Notification:
    """A subscription that matched a raised event; `params` become the route's AVPs (EVT-6)."""

    subscription: Subscription
    params: Mapping[str, str]

    def __init__(self, subscription: Subscription, params: Mapping[str, str]) -> None:
        put = object.__setattr__  # see `Subscription.__init__`
        put(self, "subscription", subscription)
        put(self, "params", params)

    @property
    def txn(self) -> object | None:
        """The transaction captured when subscribing, or None (EVT-1)."""
        return self.subscription.txn


@dataclass(frozen=True, init=False)
class SubscriptionWarning:
    """A pitfall OpenSIPS lets pass silently, made visible (PIT-6, PIT-7; EVT-1, EVT-2).

    The seed script's subscription warns on every call (EVT-4), so `__init__` is written out as
    `Subscription`'s."""

    at: float
    subscription: str
    rule: str
    text: str

    def __init__(self, at: float, subscription: str, rule: str, text: str) -> None:
        put = object.__setattr__
        put(self, "at", at)
        put(self, "subscription", subscription)
        put(self, "rule", rule)
        put(self, "text", text)

    def __str__(self) -> str:
        return f"{self.at:g} {self.subscription} [{self.rule}] {self.text}"


@dataclass
class Subscriptions:
    """The table of live subscriptions, driven by `now` (house style: sans-I/O).

    >>> from pushinject.core.ids import CountingIds
    >>> subs = Subscriptions(CountingIds("t"))
    >>> sub = subs.notify_on_event("E_UL_CONTACT_INSERT", ["aor=alice"], "fork_call", 20,
    ...                            txn="T1", now=0.0)
    >>> [n.subscription.id for n in subs.raise_event("E_UL_CONTACT_INSERT", {"aor": "alice"}, 5.0)]
    ['t-sub-1']
    >>> subs.raise_event("E_UL_CONTACT_INSERT", {"aor": "alice"}, 20.5)
    []
    """

    ids: IdSource
    #: deliver newest subscription first, as OpenSIPS walks its list (else creation order)
    newest_first: bool = False
    _subs: SubscriptionIndex = field(default_factory=SubscriptionIndex)
    warnings: list[SubscriptionWarning] = field(default_factory=list)
    #: the most warnings kept: past it the older half goes (a long-running proxy warns on every
    #: call its script subscribes for too short a time), counted in `warnings_dropped`
    max_warnings: int = 10_000
    warnings_dropped: int = 0
    _warned: set[tuple[str, str]] = field(default_factory=set)
    #: removed when an event was raised, not yet returned by `handle_timer`
    _expired: list[Subscription] = field(default_factory=list)

    # -- subscribing ---------------------------------------------------------------------------

    def notify_on_event(
        self,
        event: str,
        filters: str | Filter | Sequence[str | Filter],
        route: str,
        timeout: float,
        *,
        txn: object | None,
        now: float,
        once: bool = False,
        expire_notify: bool = False,
        txn_deadline: float | None = None,
    ) -> Subscription:
        """Subscribe `route` to `event` for `timeout` seconds from `now` (EVT-1 to EVT-4).

        Discarded filters (no ``=``, empty value), a missing transaction, and a subscription
        that ends before `txn_deadline` (when the caller knows when its transaction will end;
        pitfall PIT-7) are recorded as warnings; they do not fail the call, as in OpenSIPS.
        """
        if timeout < 0:
            raise LocalProtocolError(f"subscription timeout must not be negative: {timeout}")
        kept, dropped = _parse_one(filters) if isinstance(filters, str) else parse_filters(filters)
        sub = Subscription(
            id=self.ids.token("sub"),
            event=event,
            filters=kept,
            route=route,
            timeout=float(timeout),
            created=now,
            txn=txn,
            once=once,
            expire_notify=expire_notify,
            discarded=dropped,
        )
        self._subs.add(sub)
        for reason in dropped:
            self._warn(now, sub, "EVT-2", reason)
        if dropped and not kept:
            self._warn(now, sub, "EVT-2", "no filter left: every event matches")
        if txn is None:
            self._warn(
                now, sub, "EVT-1",
                "subscribed without a transaction: notifications carry none, injection fails (-1)",
            )
        if txn_deadline is not None:
            ends = sub.expires_at
            if ends < txn_deadline:
                self._warn(
                    now, sub, "EVT-4",
                    f"subscription ends at {ends:g}, before its transaction "
                    f"({txn_deadline:g}): later registrations are not seen",
                )
        return sub

    def wait_for_event(
        self,
        event: str,
        filters: str | Filter | Sequence[str | Filter],
        timeout: float,
        *,
        txn: object | None,
        now: float,
    ) -> Subscription:
        """The async `wait_for_event`: resumes once, on the first match or at timeout (EVT-7)."""
        return self.notify_on_event(
            event, filters, "", timeout, txn=txn, now=now, once=True, expire_notify=True
        )

    def cancel(self, sub: Subscription) -> bool:
        """Remove a subscription now (an API caller's choice; scripts cannot).

        True if it was still held."""
        return self._subs.remove(sub)

    # -- events --------------------------------------------------------------------------------

    def raise_event(
        self, name: str, params: Mapping[str, str | int], now: float
    ) -> list[Notification]:
        """Deliver an event: one `Notification` per live matching subscription (EVT-2 to EVT-4), in
        creation order or, with `newest_first`, newest first (OpenSIPS's order).

        Integer parameters are written as decimal strings before matching (EVT-3). Expired
        subscriptions are dropped first, as OpenSIPS checks expiry when an event is raised.
        """
        expired = self._subs.expire(now)
        if expired:
            self._expired += expired
        if not self._subs.watches(name):  # nobody subscribed to this event
            return []
        values: dict[str, str]
        lowered: dict[str, str]  # the first parameter of each name regardless of case
        if isinstance(params, ContactParams):  # lower-case names, string values already
            values = lowered = params.as_dict()
        else:
            values, lowered = {}, {}
            for key, value in params.items():
                text = values[key] = str(value)
                lowered.setdefault(key.lower(), text)
        candidates = self._subs.candidates(name, lowered)
        if not candidates:
            return []
        out: list[Notification] = []
        warned = self._warned
        for sub in reversed(candidates) if self.newest_first else candidates:
            matched = True
            for flt in sub.filters:  # every filter must pass (EVT-2)
                passed = flt.check_lowered(lowered)
                if passed is None:  # a key the event lacks passes: warned once per key
                    if (sub.id, flt.key) not in warned:
                        warned.add((sub.id, flt.key))
                        self._warn(
                            now, sub, "EVT-2",
                            f"filter key {flt.key!r} names no parameter of {name}: "
                            "it always passes",
                        )
                elif not passed:
                    matched = False
            if matched:
                # each notification gets parameters of its own (they become the route's
                # AVPs): the first takes `values` itself, made here and held by no one else
                out.append(Notification(sub, dict(values) if out else values))
                if sub.once:
                    self._subs.remove(sub)
        return out

    def publish(self, event: ContactEvent, now: float) -> list[Notification]:
        """Raise a usrloc contact event (`ContactEvent`) to the subscribers (EVT-6, EVT-8)."""
        return self.raise_event(event.name, event.params, now)

    # -- time ----------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The earliest instant a subscription must be removed at, or None (EVT-4)."""
        best = self._subs.next_removal()
        for sub in self._expired:  # usually none: removed by an event since the last pass
            at = sub.removal_at
            if best is None or at < best:
                best = at
        return best

    def handle_timer(self, now: float) -> list[Subscription]:
        """Remove and return every subscription with ``now > created + timeout`` (EVT-4, EVT-5),
        including those an event already removed since the last call."""
        gone, self._expired = self._expired + self._subs.expire(now), []
        return gone

    # -- reading -------------------------------------------------------------------------------

    @property
    def active(self) -> tuple[Subscription, ...]:
        """The subscriptions still held, in creation order (some may be past expiry until the
        next `handle_timer` or `raise_event`)."""
        return tuple(self._subs)

    def live(self, now: float) -> tuple[Subscription, ...]:
        """The subscriptions alive at `now` (EVT-4)."""
        return tuple(s for s in self._subs if s.alive(now))

    def __len__(self) -> int:
        return len(self._subs)

    # -- internals -----------------------------------------------------------------------------

    def _warn(self, now: float, sub: Subscription, rule: str, text: str) -> None:
        warnings = self.warnings
        warnings.append(SubscriptionWarning(now, sub.id, rule, text))
        if len(warnings) > self.max_warnings:
            dropped = len(warnings) - self.max_warnings // 2
            del warnings[:dropped]
            self.warnings_dropped += dropped

    def warnings_for(self, subs: Iterable[Subscription]) -> list[SubscriptionWarning]:
        """The warnings recorded for the given subscriptions."""
        wanted = {s.id for s in subs}
        return [w for w in self.warnings if w.subscription in wanted]
