"""Event subscriptions modelled on OpenSIPS notify_on_event (EVT-1 to EVT-7, pitfalls PIT-6, 7)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushinject.core.globmatch import glob_match
from pushinject.core.ids import CountingIds
from pushinject.core.subscriptions import Filter, Subscriptions, parse_filters
from pushinject.errors import LocalProtocolError

INSERT = "E_UL_CONTACT_INSERT"
UPDATE = "E_UL_CONTACT_UPDATE"


def make() -> Subscriptions:
    return Subscriptions(CountingIds("t"))


# -- filters: EVT-2, EVT-3 -------------------------------------------------------------------------


def test_evt2_filter_split_at_first_equals() -> None:
    assert Filter.parse("uri=sip:*;a=b") == Filter("uri", "sip:*;a=b")


@pytest.mark.parametrize("text", ["aor=", "aor", ""])
def test_evt2_filter_without_equals_or_value_is_discarded(text: str) -> None:
    kept, dropped = parse_filters([text, "callid=c1"])
    assert kept == (Filter("callid", "c1"),)
    assert len(dropped) == 1 and "discarded (EVT-2)" in dropped[0]


def test_evt2_single_string_is_one_filter() -> None:
    assert parse_filters("aor=alice") == ((Filter("aor", "alice"),), ())


def test_evt2_keys_match_parameter_names_regardless_of_case() -> None:
    assert Filter("AoR", "alice").check({"aor": "alice"}) is True
    assert Filter("aor", "alice").check({"AOR": "alice"}) is True


def test_evt3_values_are_case_sensitive_globs() -> None:
    f = Filter("aor", "alice")
    assert f.check({"aor": "Alice"}) is False
    assert Filter("aor", "ali*").check({"aor": "alice"}) is True
    assert Filter("aor", "ali?e").check({"aor": "alice"}) is True
    assert Filter("aor", "ali?e").check({"aor": "aliice"}) is False


def test_evt2_unknown_key_passes() -> None:
    assert Filter("aro", "alice").check({"aor": "bob"}) is None


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*", "", True),
        ("*", "a/b/.c", True),  # no FNM_PATHNAME / FNM_PERIOD
        ("a\\*", "a*", True),  # backslash quotes (no FNM_NOESCAPE)
        ("a\\*", "ab", False),
        ("[!a]x", "bx", True),
        ("[^a]x", "ax", False),
        ("[]]", "]", True),
        ("[a-c]", "b", True),
        ("[a-c]", "d", False),
        ("[[:digit:]]*", "5060", True),
        ("[[:digit:]]*", "x5060", False),
        ("[abc", "[abc", True),  # an unclosed bracket is an ordinary character
        ("a-c", "a-c", True),
        ("[a-]", "-", True),
        ("sip:*@127.0.0.1:*", "sip:bob@127.0.0.1:5070", True),
    ],
)
def test_evt3_glob_follows_c_fnmatch_with_no_flags(pattern: str, value: str,
                                                  expected: bool) -> None:
    assert glob_match(pattern, value) is expected


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="abcXYZ.:@/-_0123456789", max_size=20))
def test_evt3_a_value_without_glob_characters_matches_only_itself(value: str) -> None:
    assert glob_match(value, value)
    assert glob_match(value + "x", value) is False
    assert glob_match("*", value)


# -- subscribing: EVT-1 ----------------------------------------------------------------------------


def test_evt1_subscription_captures_the_transaction_given_at_subscribe_time() -> None:
    subs = make()
    sub = subs.notify_on_event(INSERT, ["aor=alice"], "fork_call", 20, txn=(7, 42), now=1.0)
    (n,) = subs.raise_event(INSERT, {"aor": "alice"}, 2.0)
    assert n.subscription is sub and n.txn == (7, 42)
    assert subs.warnings == []


def test_evt1_subscription_without_transaction_carries_none_and_warns() -> None:
    subs = make()
    subs.notify_on_event(INSERT, ["aor=alice"], "fork_call", 20, txn=None, now=0.0)
    (n,) = subs.raise_event(INSERT, {"aor": "alice"}, 1.0)
    assert n.txn is None
    assert [(w.rule, w.subscription) for w in subs.warnings] == [("EVT-1", "t-sub-1")]


def test_negative_timeout_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        make().notify_on_event(INSERT, ["aor=a"], "r", -1, txn=1, now=0.0)


# -- matching: EVT-2, EVT-3 and the filter pitfalls PIT-6 ------------------------------------------


def test_evt2_all_filters_must_match() -> None:
    subs = make()
    subs.notify_on_event(INSERT, ["aor=alice", "user_agent=Linphone*"], "r", 20, txn=1, now=0)
    assert subs.raise_event(INSERT, {"aor": "alice", "user_agent": "Zoiper"}, 1) == []
    assert len(subs.raise_event(INSERT, {"aor": "alice", "user_agent": "Linphone/5"}, 1)) == 1


def test_pit6_empty_aor_filter_matches_every_registration() -> None:
    """`"aor="+$rU` with an empty $rU: the filter is dropped, so every AoR matches (EVT-2)."""
    subs = make()
    subs.notify_on_event(INSERT, ["aor="], "fork_call", 20, txn=1, now=0)
    assert len(subs.raise_event(INSERT, {"aor": "mallory"}, 1)) == 1
    texts = [w.text for w in subs.warnings]
    assert texts == [
        "filter 'aor=' has an empty value and is discarded (EVT-2)",
        "no filter left: every event matches",
    ]


def test_pit6_misspelled_key_matches_everything_and_warns_once() -> None:
    subs = make()
    subs.notify_on_event(INSERT, ["aro=alice"], "fork_call", 20, txn=1, now=0)
    assert len(subs.raise_event(INSERT, {"aor": "bob"}, 1)) == 1
    assert len(subs.raise_event(INSERT, {"aor": "carol"}, 2)) == 1
    assert [(w.at, w.rule, w.text) for w in subs.warnings] == [
        (1, "EVT-2", "filter key 'aro' names no parameter of E_UL_CONTACT_INSERT: it always passes")
    ]


def test_pit6_case_of_the_value_matters() -> None:
    subs = make()
    subs.notify_on_event(INSERT, ["aor=Alice"], "fork_call", 20, txn=1, now=0)
    assert subs.raise_event(INSERT, {"aor": "alice"}, 1) == []


def test_evt3_integer_parameters_are_matched_as_decimal_strings() -> None:
    subs = make()
    subs.notify_on_event(INSERT, ["cseq=1?"], "r", 20, txn=1, now=0)
    (n,) = subs.raise_event(INSERT, {"cseq": 12}, 1)
    assert n.params == {"cseq": "12"}


def test_only_the_subscribed_event_fires() -> None:
    subs = make()
    subs.notify_on_event(INSERT, ["aor=alice"], "r", 20, txn=1, now=0)
    assert subs.raise_event(UPDATE, {"aor": "alice"}, 1) == []


@pytest.mark.parametrize("newest_first", [False, True])
def test_notification_order_creation_or_newest_first_as_opensips(newest_first: bool) -> None:
    """OpenSIPS add_ebr_subscription links at the head; notify_ebr_subscriptions walks it."""
    subs = Subscriptions(CountingIds("t"), newest_first=newest_first)
    a = subs.notify_on_event(INSERT, ["aor=alice"], "r1", 20, txn=1, now=0)
    b = subs.notify_on_event(INSERT, ["aor=al*"], "r2", 20, txn=2, now=0)
    expected = [b, a] if newest_first else [a, b]
    assert [n.subscription for n in subs.raise_event(INSERT, {"aor": "alice"}, 1)] == expected


def test_osips16_uri_parameter_filter_matches_the_pn_prid_of_the_contact() -> None:
    subs = make()
    prid = Filter("uri", "00fc13", uri_param="pn-prid")
    subs.notify_on_event(UPDATE, [prid, Filter("uri", "apns", "pn-provider")], "pn", 6,
                         txn=1, now=0)
    woken = {"uri": "sip:bob@10.0.0.7:41000;pn-provider=apns;pn-prid=00fc13"}
    other = {"uri": "sip:bob@10.0.0.7:41000;pn-provider=apns;pn-prid=77aa"}
    bare = {"uri": "sip:bob@10.0.0.7:41000"}
    assert len(subs.raise_event(UPDATE, woken, 1)) == 1
    assert subs.raise_event(UPDATE, other, 1) == []
    assert subs.raise_event(UPDATE, bare, 1) == []  # a missing URI parameter does not match
    assert subs.raise_event(UPDATE, {"uri": "not a uri"}, 1) == []
    assert str(prid) == "uri[pn-prid]=00fc13"


# -- lifetime: EVT-4, EVT-5, EVT-7 -----------------------------------------------------------------


def test_evt4_fires_any_number_of_times_until_created_plus_timeout() -> None:
    subs = make()
    subs.notify_on_event(INSERT, ["aor=alice"], "fork_call", 20, txn=1, now=10.0)
    assert len(subs.raise_event(INSERT, {"aor": "alice"}, 11.0)) == 1
    assert len(subs.raise_event(INSERT, {"aor": "alice"}, 12.0)) == 1
    assert len(subs.raise_event(INSERT, {"aor": "alice"}, 30.0)) == 1  # now == created + timeout
    assert subs.raise_event(INSERT, {"aor": "alice"}, 30.001) == []  # now > created + timeout
    assert len(subs) == 0


def test_evt4_exact_expiry_deadline_through_the_timer() -> None:
    subs = make()
    sub = subs.notify_on_event(INSERT, ["aor=alice"], "fork_call", 20, txn=1, now=10.0)
    assert sub.expires_at == 30.0
    assert subs.get_timer() == math.nextafter(30.0, math.inf)
    assert subs.handle_timer(30.0) == []
    assert subs.handle_timer(subs.get_timer()) == [sub]
    assert subs.get_timer() is None


def test_evt4_timer_is_the_earliest_of_several() -> None:
    subs = make()
    subs.notify_on_event(INSERT, ["aor=a"], "r", 20, txn=1, now=0)
    b = subs.notify_on_event(INSERT, ["aor=b"], "r", 5, txn=1, now=1)
    assert subs.get_timer() == math.nextafter(6.0, math.inf)
    assert subs.handle_timer(7.0) == [b]
    assert subs.get_timer() == math.nextafter(20.0, math.inf)


def test_evt4_end_of_transaction_does_not_remove_the_subscription() -> None:
    """The model knows nothing of the transaction's end: only the timeout removes it."""
    subs = make()
    subs.notify_on_event(INSERT, ["aor=alice"], "fork_call", 20, txn=(1, 1), now=0)
    # the transaction ends at 3.0 (its owner does not tell the table): still delivered at 15
    (n,) = subs.raise_event(INSERT, {"aor": "alice"}, 15.0)
    assert n.txn == (1, 1)


def test_pit7_subscription_shorter_than_its_transaction_warns() -> None:
    """The seed: a 20 s subscription inside a 120 s transaction (fr_inv_timeout)."""
    subs = make()
    subs.notify_on_event(INSERT, ["aor=alice"], "fork_call", 20, txn=1, now=0, txn_deadline=120)
    assert [(w.rule, w.text) for w in subs.warnings] == [
        ("EVT-4", "subscription ends at 20, before its transaction (120): later registrations "
                "are not seen")
    ]
    assert subs.raise_event(INSERT, {"aor": "alice"}, 25) == []


def test_evt5_expired_subscriptions_are_returned_with_their_expire_notify_flag() -> None:
    subs = make()
    subs.notify_on_event(INSERT, ["aor=a"], "r", 6, txn=1, now=0, expire_notify=True)
    (gone,) = subs.handle_timer(7)
    assert gone.expire_notify is True


def test_evt5_a_subscription_an_event_removed_is_still_returned_by_the_timer() -> None:
    subs = make()
    sub = subs.notify_on_event(INSERT, ["aor=a"], "r", 6, txn=1, now=0, expire_notify=True)
    assert subs.raise_event(INSERT, {"aor": "a"}, 7) == []  # removed here (EVT-4) ...
    assert len(subs) == 0 and subs.get_timer() == sub.removal_at
    assert subs.handle_timer(7) == [sub]  # ... and reported once, for EVT-5's notice
    assert subs.handle_timer(8) == [] and subs.get_timer() is None


def test_evt7_wait_for_event_resumes_once() -> None:
    subs = make()
    subs.wait_for_event(UPDATE, ["aor=alice"], 10, txn=1, now=0)
    assert len(subs.raise_event(UPDATE, {"aor": "alice"}, 1)) == 1
    assert subs.raise_event(UPDATE, {"aor": "alice"}, 2) == []


def test_live_and_cancel() -> None:
    subs = make()
    a = subs.notify_on_event(INSERT, ["aor=a"], "r", 5, txn=1, now=0)
    b = subs.notify_on_event(INSERT, ["aor=b"], "r", 50, txn=1, now=0)
    assert subs.live(10) == (b,) and subs.active == (a, b)
    assert subs.cancel(b) is True and subs.cancel(b) is False


# -- races of PIT-13 -----------------------------------------------------------------------


def test_race_pit13_registration_before_the_subscription_is_not_delivered() -> None:
    subs = make()
    assert subs.raise_event(INSERT, {"aor": "alice"}, 1.0) == []  # nobody listening yet
    subs.notify_on_event(INSERT, ["aor=alice"], "fork_call", 20, txn=1, now=1.5)
    assert subs.raise_event(INSERT, {"aor": "alice"}, 2.0)[0].params == {"aor": "alice"}


@settings(max_examples=50, deadline=None)
@given(
    created=st.floats(0, 1000, allow_nan=False),
    timeout=st.integers(0, 300),
    delay=st.floats(0, 600, allow_nan=False),
)
def test_evt4_delivery_exactly_while_now_is_at_most_created_plus_timeout(
    created: float, timeout: int, delay: float
) -> None:
    subs = make()
    subs.notify_on_event(INSERT, ["aor=x"], "r", timeout, txn=1, now=created)
    now = created + delay
    delivered = subs.raise_event(INSERT, {"aor": "x"}, now)
    assert bool(delivered) is (now <= created + timeout)


def test_warnings_are_bounded_keeping_the_newest_and_counting_the_dropped() -> None:
    """A long-running proxy whose script subscribes for less than its transaction lasts warns
    on every call (pitfall PIT-7): the list keeps at most `max_warnings`, the newest."""
    subs = make()
    subs.max_warnings = 4
    for i in range(7):
        subs.notify_on_event(INSERT, ["aor=alice"], "fork_call", 20, txn=None, now=float(i))
    # the fifth warning went past 4: the oldest three went, the newest two stayed
    assert [w.subscription for w in subs.warnings] == ["t-sub-4", "t-sub-5", "t-sub-6",
                                                       "t-sub-7"]
    assert subs.warnings_dropped == 3
