"""Behaviours the registrar's and the subscriptions' faster paths rely on, pinned.

- `lookup` sorts a record by q alone: the record keeps its bindings in insertion order, so the
  result equals usrloc's order (highest q first, then oldest first) over any sequence of
  inserts, refreshes, removals and expiries;
- `ContactParams` reads exactly as the dict `contact_params` returns;
- `Binding` and `Subscription`, whose `__init__` is written out, keep the dataclass behaviour;
- `parse_filters` gives the same result for a filter text however often it is asked.
- a REGISTER reads each contact once and still says `Require: outbound` for a contact left
  alone; an unknown filter key passes and is warned about once.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushinject.core.bindings import Binding
from pushinject.core.contact_events import ContactParams, contact_params
from pushinject.core.ids import CountingIds
from pushinject.core.location import LocationService, RegistrarConfig
from pushinject.core.subscriptions import Subscription, parse_filters
from pushinject.sip import make_request, parse_uri

DEVICE = ("192.0.2.10", 5062)


def _register(contacts: list[str], call_id: str, cseq: int) -> object:
    return make_request(
        "REGISTER", "sip:example.com", via=f"SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-{cseq}",
        from_="<sip:bob@example.com>;tag=1", to="<sip:bob@example.com>", call_id=call_id,
        cseq=cseq, extra=[("Contact", c) for c in contacts])


_step = st.tuples(
    st.integers(0, 4),  # which device
    st.sampled_from([None, "0", "0.5", "1"]),  # its q
    st.sampled_from([0, 60, 600]),  # expires (0 removes it)
    st.integers(0, 120),  # seconds before the REGISTER
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_step, max_size=25))
def test_lookup_order_is_q_then_insertion_order(steps: list[tuple[int, str | None, int, int]],
                                                ) -> None:
    loc = LocationService(RegistrarConfig(min_expires=0), CountingIds("eq"))
    now = 0.0
    for cseq, (device, q, expires, wait) in enumerate(steps, start=1):
        now += wait
        contact = f"<sip:bob@192.0.2.{20 + device}>" + (f";q={q}" if q is not None else "")
        contact += f";expires={expires}"
        loc.register(_register([contact], "c1", cseq), DEVICE, now)  # type: ignore[arg-type]
        found = loc.lookup("bob", now)
        inserted = {ruid: seq for ruid, seq in loc._order.items()}
        expected = sorted((b for b in loc.bindings("bob") if b.valid(now)),
                          key=lambda b: (-(b.q if b.q is not None else -1.0), inserted[b.ruid]))
        assert found == expected
        assert [inserted[b.ruid] for b in loc.bindings("bob")] == sorted(
            inserted[b.ruid] for b in loc.bindings("bob"))


def _binding(**changes: object) -> Binding:
    fields: dict[str, object] = dict(
        ruid="r1", aor="bob", uri=parse_uri("sip:bob@192.0.2.20:5070;pn-provider=apns"),
        contact="<sip:bob@192.0.2.20:5070>", expires_at=60.5, q=0.5, path=("<sip:e;lr>",),
        received="sip:192.0.2.10:5062", user_agent="UA", socket="udp:127.0.0.1:5060",
        bflags=3, call_id="c1", cseq=7)
    fields.update(changes)
    return Binding(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("binding", [_binding(), _binding(q=None, received=None, path=(),
                                                           user_agent=None)])
def test_contact_params_read_as_the_dict(binding: Binding) -> None:
    plain = contact_params(binding, domain="location")
    lazy = ContactParams(binding, "location")
    assert repr(lazy) == repr(plain) and lazy == plain and plain == lazy
    assert list(lazy) == list(plain) and list(lazy.items()) == list(plain.items())
    assert list(lazy.keys()) == list(plain.keys()) and list(lazy.values()) == list(plain.values())
    assert dict(lazy) == plain and len(lazy) == len(plain) and "uri" in lazy
    assert lazy.get("nope") is None and lazy.get("aor") == "bob" and lazy["qval"] == plain["qval"]
    assert lazy == ContactParams(binding, "location") and lazy != ContactParams(binding, "t2")
    assert lazy != {**plain, "aor": "x"} and (lazy == 3) is False
    with pytest.raises(TypeError):
        hash(lazy)


def test_binding_and_subscription_keep_dataclass_behaviour() -> None:
    b = _binding()
    assert b == _binding() and hash(b) == hash(_binding()) and b != _binding(cseq=8)
    assert dataclasses.replace(b, cseq=8) == _binding(cseq=8)
    assert [f.name for f in dataclasses.fields(b)][:5] == ["ruid", "aor", "uri", "contact",
                                                          "expires_at"]
    assert _binding(pnsreg=True).pnsreg and Binding(
        ruid="r", aor="a", uri=parse_uri("sip:a@h"), contact="c", expires_at=1.0).cseq == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.cseq = 9  # type: ignore[misc]
    with pytest.raises(TypeError):
        Binding(ruid="r")  # type: ignore[call-arg]
    s = Subscription(id="s1", event="E", filters=(), route="r", timeout=2.0, created=1.0)
    assert (s.txn, s.once, s.expire_notify, s.discarded, s.expires_at) == (None, False, False,
                                                                            (), 3.0)
    assert s == dataclasses.replace(s) and hash(s) == hash(dataclasses.replace(s))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.route = "x"  # type: ignore[misc]


@pytest.mark.parametrize("text", ["aor=bob", "aor=", "callid", "AOR=b*=c"])
def test_parse_filters_is_the_same_each_time(text: str) -> None:
    first = parse_filters(text)
    assert parse_filters(text) == first == parse_filters([text])


def test_register_reads_each_contact_once_and_keeps_its_reply() -> None:
    """One pass over the contacts: `Require: outbound` (also for a contact left alone as a
    retransmission), the Contact values of the 200 and the bindings' request fields."""
    loc = LocationService(RegistrarConfig(stale_cseq="opensips"), CountingIds("eq"))
    flow = '<sip:bob@192.0.2.10:5062>;+sip.instance="<urn:uuid:1>";reg-id=1;q=0.5'
    first = loc.register(_register([flow, "<sip:bob@192.0.2.11>"], "c1", 1), DEVICE, 0.25)
    assert first.response.get_all("Require") == ["outbound"]
    assert first.response.get_all("Contact") == [
        '<sip:bob@192.0.2.10:5062>;q=0.5;+sip.instance="<urn:uuid:1>";reg-id=1;expires=3600',
        "<sip:bob@192.0.2.11>;expires=3600",
    ]
    bound = loc.bindings("bob")
    assert [(b.call_id, b.cseq, b.path, b.instance, b.reg_id, b.pn) for b in bound] == [
        ("c1", 1, (), "urn:uuid:1", 1, None), ("c1", 1, (), None, None, None)]
    again = loc.register(_register([flow], "c1", 1), DEVICE, 1.0)  # same CSeq: left alone
    assert again.events == () and again.response.get_all("Require") == ["outbound"]
    assert bound[0].contact_value(3601.5) == bound[0].contact_value(9999.0) == (
        '<sip:bob@192.0.2.10:5062>;q=0.5;+sip.instance="<urn:uuid:1>";reg-id=1;expires=0')


def test_unknown_filter_keys_warn_once_and_pass() -> None:
    from pushinject.core.subscriptions import Subscriptions

    subs = Subscriptions(CountingIds("eq"))
    sub = subs.notify_on_event("E", ["nokey=1", "aor=b*", "other=x"], "r", 10, txn="T",
                               now=0.0)
    assert [n.subscription for n in subs.raise_event("E", {"AOR": "bob"}, 1.0)] == [sub]
    assert subs.raise_event("E", {"aor": "alice"}, 2.0) == []
    assert [(w.rule, w.text) for w in subs.warnings] == [
        ("EVT-2", "filter key 'nokey' names no parameter of E: it always passes"),
        ("EVT-2", "filter key 'other' names no parameter of E: it always passes"),
    ]
