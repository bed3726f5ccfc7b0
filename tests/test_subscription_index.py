"""The subscription index never changes who is notified (EVT-2 to EVT-4): it is checked
against a plain scan of every subscription, over random filters, events, times and removals."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from pushinject.core.ids import CountingIds
from pushinject.core.subscriptions import Filter, Subscription, Subscriptions

KEYS = ["aor", "AOR", "uri", "aro"]
VALUES = ["bob", "alice", "b*", "al?ce", "[ab]ob", "\\bob", "sip:*"]
EVENTS = ["E_UL_CONTACT_INSERT", "E_UL_CONTACT_UPDATE"]

_filter = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.sampled_from(VALUES))
_uri_filter = st.builds(lambda v: Filter("uri", v, uri_param="pn-prid"),
                        st.sampled_from(["t1", "t*", "x"]))
_sub = st.tuples(
    st.sampled_from(EVENTS),
    st.lists(st.one_of(_filter, _uri_filter), max_size=3),
    st.integers(0, 30),  # timeout
)
_event = st.tuples(
    st.sampled_from(EVENTS),
    st.dictionaries(st.sampled_from(["aor", "Aor", "uri", "callid"]),
                    st.sampled_from(["bob", "alice", "Bob", "sip:bob@h;pn-prid=t1"]),
                    max_size=3),
)
_step = st.one_of(
    st.tuples(st.just("sub"), _sub),
    st.tuples(st.just("event"), _event),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("wait"), st.floats(0, 12, allow_nan=False)),
)


def _naive(subs: list[Subscription], name: str, params: dict[str, str], now: float) -> list[str]:
    return [s.id for s in subs
            if s.event == name and s.alive(now)
            and all(f.check(params) is not False for f in s.filters)]


@settings(max_examples=80, deadline=None)
@given(st.lists(_step, max_size=40), st.booleans())
def test_evt2_evt4_index_delivers_exactly_what_a_full_scan_would(
    steps: list[tuple[str, object]], newest_first: bool
) -> None:
    table = Subscriptions(CountingIds("t"), newest_first=newest_first)
    held: list[Subscription] = []
    now = 0.0
    for kind, arg in steps:
        if kind == "sub":
            event, filters, timeout = arg  # type: ignore[misc]
            held.append(table.notify_on_event(event, filters, "r", timeout, txn=1, now=now))
        elif kind == "event":
            name, params = arg  # type: ignore[misc]
            expected = _naive(held, name, params, now)
            if newest_first:
                expected.reverse()
            got = [n.subscription.id for n in table.raise_event(name, params, now)]
            assert got == expected
            held = [s for s in held if s.alive(now)]
        elif kind == "cancel" and held:
            victim = held.pop(int(arg) % len(held))  # type: ignore[call-overload]
            assert table.cancel(victim) is True
        else:
            now += float(arg)  # type: ignore[arg-type]
        alive = [s for s in held if s.alive(now)]
        expected_timer = min((math.nextafter(s.expires_at, math.inf) for s in held), default=None)
        assert table.get_timer() == expected_timer
        gone = table.handle_timer(now)
        assert sorted(s.id for s in gone) == sorted(s.id for s in held if not s.alive(now))
        held = alive
        assert [s.id for s in table.active] == [s.id for s in held]


def test_many_waiting_calls_each_event_reaches_only_its_own() -> None:
    table = Subscriptions(CountingIds("t"))
    for n in range(500):
        table.notify_on_event("E_UL_CONTACT_UPDATE", f"aor=u{n}", "fork_call", 60,
                              txn=(n, n), now=0.0)
    (note,) = table.raise_event("E_UL_CONTACT_UPDATE", {"aor": "u321"}, 1.0)
    assert note.txn == (321, 321)
    for sub in list(table.active)[:400]:
        table.cancel(sub)  # compacts the index on the way
    assert len(table) == 100
    assert [n.txn for n in table.raise_event("E_UL_CONTACT_UPDATE", {"aor": "u450"}, 2.0)] == [
        (450, 450)
    ]
