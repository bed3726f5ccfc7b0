"""Hostile input never escapes the core (INPUT-1 to INPUT-8): arbitrary bytes and mutated SIP
messages, interleaved with valid calls and with time passing, fed as a live shell feeds them
(parsed leniently; what the parser rejects as `Unparsed`).

Invariants, checked after every input and timer step:

I1. `Proxy.handle` and `Proxy.handle_timer` never raise, and the core's own safety net never
    fires (no ``internal-error`` drop).
I2. The counters add up: every `handle` call is one `inputs.received`, and ``received ==
    processed + answered + dropped``.
I3. Every live context is filed under its transaction id and its server-transaction key and
    has a server transaction; every server key, client branch and transaction id the proxy
    holds belongs to a live context (nothing of a retired call is left).
I4. No timer for a retired owner: every owner in the proxy's timer queue is a live context, and
    each live context is queued at exactly its own earliest deadline (or not at all when it has
    none).
I5. An input the core refuses (answered 400/416, or dropped) leaves its state as it was:
    contexts, transactions, branches, tsilo records, timers, bindings, subscriptions, retired
    calls (INPUT-8).
I6. Every valid call completes: the caller gets 200 for it, and once time has run out every
    context is retired.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import CALLER, Harness
from pushinject.core.actions import Send
from pushinject.core.events import Received, Unparsed
from pushinject.core.proxy import Proxy
from pushinject.presets import get_preset
from pushinject.sip import Request, parse_message

ATTACKER = ("203.0.113.66", 5060)

#: valid messages of a party unrelated to the valid calls (user mallory, its own Call-IDs and
#: branches), which the mutations start from
TEMPLATES = [
    b"INVITE sip:mallory@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK-evil-1;rport\r\n"
    b"Max-Forwards: 70\r\nFrom: \"M\" <sip:eve@evil.example>;tag=e1\r\n"
    b"To: <sip:mallory@example.com>\r\nCall-ID: evil-1@evil.example\r\nCSeq: 1 INVITE\r\n"
    b"Contact: <sip:eve@203.0.113.66:5060>\r\nRoute: <sip:127.0.0.1:5060;lr>\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.66:5070;branch=z9hG4bK-evil-2\r\n"
    b"From: <sip:mallory@example.com>;tag=e2\r\nTo: <sip:mallory@example.com>\r\n"
    b"Call-ID: evil-2\r\nCSeq: 7 REGISTER\r\nExpires: 60\r\n"
    b"Contact: <sip:mallory@203.0.113.66:5070;transport=tcp>;q=0.5;+sip.instance=\"<urn:x>\""
    b";reg-id=1, <sip:mallory@10.0.0.1;pn-provider=fcm;pn-prid=p;pn-param=q>;expires=99\r\n"
    b"Path: <sip:edge.evil.example;lr>\r\nSupported: path, outbound\r\nContent-Length: 0\r\n\r\n",
    b"CANCEL sip:mallory@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK-evil-1\r\nMax-Forwards: 70\r\n"
    b"From: <sip:eve@evil.example>;tag=e1\r\nTo: <sip:mallory@example.com>\r\n"
    b"Call-ID: evil-1@evil.example\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
    b"ACK sip:mallory@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK-evil-1\r\nMax-Forwards: 70\r\n"
    b"From: <sip:eve@evil.example>;tag=e1\r\nTo: <sip:mallory@example.com>;tag=x\r\n"
    b"Call-ID: evil-1@evil.example\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
    b"BYE sip:mallory@203.0.113.67 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK-evil-3\r\nMax-Forwards: 0\r\n"
    b"From: <sip:eve@evil.example>;tag=e1\r\nTo: <sip:mallory@example.com>;tag=x\r\n"
    b"Call-ID: evil-3\r\nCSeq: 2 BYE\r\nRoute: <sip:127.0.0.1:5060;lr>, <sip:203.0.113.9>\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-evil-4\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK-evil-5;rport=5061\r\n"
    b"From: <sip:eve@evil.example>;tag=e1\r\nTo: <sip:mallory@example.com>;tag=y\r\n"
    b"Call-ID: evil-4\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-evil-6\r\n"
    b"From: <sip:eve@evil.example>;tag=e1\r\nTo: <sip:mallory@example.com>;tag=y\r\n"
    b"Call-ID: evil-6\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
]

#: characters that break SIP grammar where they land
NASTY = st.text(alphabet=list("<>;,\"\\:@[]= \t\r\n/%#?&.-09aZ\x00\x7f\u00e9\u2028"),
                max_size=12)

MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 20)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("drop-line"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("dup-line"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("value"), st.integers(0, 20), NASTY),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
)


def mutate(data: bytes, mutations: list[tuple[str, int, Any]]) -> bytes:
    """Apply each mutation in turn (positions wrap around the current length)."""
    for kind, where, what in mutations:
        n = max(len(data), 1)
        if kind == "flip":
            at = where % n
            data = data[:at] + bytes([what]) + data[at + 1:]
        elif kind == "delete":
            at = where % n
            data = data[:at] + data[at + what:]
        elif kind == "insert":
            at = where % (n + 1)
            data = data[:at] + what + data[at:]
        elif kind == "truncate":
            data = data[:where % n]
        else:
            lines = data.split(b"\r\n")
            at = where % len(lines)
            if kind == "drop-line":
                del lines[at]
            elif kind == "dup-line":
                lines.insert(at, lines[at])
            else:
                name, _, _ = lines[at].partition(b":")
                lines[at] = name + b": " + what.encode("utf-8", "surrogatepass")
            data = b"\r\n".join(lines)
    return data


HOSTILE = st.one_of(
    st.binary(max_size=300),
    st.builds(mutate, st.sampled_from(TEMPLATES), st.lists(MUTATION, min_size=1, max_size=4)),
    st.sampled_from(TEMPLATES),
)
OP = st.one_of(
    st.tuples(st.just("hostile"), HOSTILE),
    st.tuples(st.just("step"), st.just(b"")),
    st.tuples(st.just("advance"), st.sampled_from([0.0, 0.1, 0.5])),
)

CALLS = 3


def feed(h: Harness, data: bytes) -> list[Any]:
    """Hand `data` to the core as a live shell does."""
    try:
        event: Received | Unparsed = Received(message=parse_message(data, strict=False),
                                              source=ATTACKER)
    except ValueError as exc:  # SIPParseError; TypeError is not expected for bytes
        event = Unparsed(data=data, source=ATTACKER, error=getattr(exc, "reason", str(exc)))
    return h._record(h.proxy.handle(event, h.now))


def snapshot(p: Proxy) -> tuple[Any, ...]:
    """What I5 compares: the core's state without its counters and its id source."""
    bindings = tuple((aor, p.location.bindings(aor)) for aor in p.location.aors())
    return (dict(p._servers), dict(p._clients), dict(p._own_vias), dict(p._by_txn),
            {k: list(v) for k, v in p._tsilo.items()}, dict(p._timers._entry), bindings,
            p.subscriptions.active, p.location.get_timer(), len(p._retired), dict(p._nists))


def check_invariants(p: Proxy, calls: int) -> None:
    live = list(p._by_txn.values())
    ids = {id(c) for c in live}
    for ctx in live:                                                             # I3
        assert ctx.server is not None
        assert p._by_txn[ctx.txn_id] is ctx and p._servers[ctx.server_key] is ctx
    assert all(id(c) in ids for c in p._servers.values())
    assert all(id(c) in ids for c in p._clients.values())
    queued = p._timers._entry                                                     # I4
    nists = {id(n) for n in p._nists.values()}  # TXN-6: each live one waits for Timer J
    assert all(id(owner) in ids or id(owner) in nists for owner in queued)
    assert all(n in queued for n in p._nists.values())
    for ctx in live:
        at = ctx.get_timer()
        assert (queued[ctx][0] if ctx in queued else None) == at, ctx
    counts = p.inputs                                                             # I1, I2
    assert counts.received == calls and counts.balanced()
    assert counts.dropped["internal-error"] == 0, counts.last.get("internal-error")


def check_calls_completed(h: Harness, calls: int) -> None:
    """I6: once time has run out, every valid call got its 200 and every context retired."""
    h.advance(400.0)
    check_invariants(h.proxy, calls)
    finals = {a.message.call_id: a.message.status for _, a in h.log
              if isinstance(a, Send) and a.destination == CALLER
              and not isinstance(a.message, Request) and a.message.status >= 200
              and a.message.call_id.startswith("call-")}
    assert finals == {f"call-{i}": 200 for i in range(CALLS)}
    assert h.proxy.contexts() == []


class ValidCalls:
    """Three calls to bob, one step at a time: bob registers, then each call is INVITEd, rung
    and answered 200 by bob's device."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.steps = [self.register]
        for i in range(CALLS):
            self.steps += [self.invite(i), self.answer(180), self.answer(200)]
        self.inv: Send | None = None

    def register(self) -> None:
        self.h.register(port=5070)

    def invite(self, i: int) -> Any:
        def step() -> None:
            out = self.h.call(call_id=f"call-{i}", branch=f"z9hG4bK-caller-{i}")
            [self.inv] = self.h.invites(out)
        return step

    def answer(self, status: int) -> Any:
        def step() -> None:
            assert self.inv is not None
            self.h.answer(self.inv, status)
        return step

    def next(self) -> int:
        """Run the next step; returns how many `handle` calls it made."""
        if not self.steps:
            return 0
        self.steps.pop(0)()
        return 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OP, max_size=60))
def test_hostile_input_never_escapes_and_valid_calls_complete(ops: list[tuple[str, Any]]) -> None:
    h = Harness()
    valid = ValidCalls(h)
    calls = 0
    for kind, arg in ops:
        if kind == "hostile":
            before = snapshot(h.proxy)
            refused = h.proxy.inputs.refused
            feed(h, arg)
            calls += 1
            if h.proxy.inputs.refused != refused:                                # I5
                assert snapshot(h.proxy) == before
        elif kind == "step":
            calls += valid.next()
        else:
            h.advance(arg)
        check_invariants(h.proxy, calls)
    while valid.steps:
        calls += valid.next()
        check_invariants(h.proxy, calls)
    check_calls_completed(h, calls)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_answered_or_counted(data: bytes) -> None:
    h = Harness()
    out = feed(h, data)
    counts = h.proxy.inputs
    assert counts.received == 1 and counts.balanced()
    assert counts.dropped["internal-error"] == 0
    assert all(isinstance(a, Send) for a in out)


def random_mutations(rng: random.Random, count: int) -> list[tuple[str, int, Any]]:
    """`count` mutations drawn from `rng` (the kinds of `MUTATION`)."""
    out: list[tuple[str, int, Any]] = []
    for _ in range(count):
        kind = rng.choice(["flip", "delete", "insert", "drop-line", "dup-line", "value",
                           "truncate"])
        where = rng.randrange(10_000)
        if kind == "flip":
            what: Any = rng.randrange(256)
        elif kind == "delete":
            what = rng.randrange(1, 20)
        elif kind == "insert":
            what = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif kind == "value":
            what = "".join(rng.choice("<>;,\"\\:@[]= \t\r\n/%#?&.-09aZ\x00\x7f\u00e9")
                           for _ in range(rng.randrange(12)))
        else:
            what = 0
        out.append((kind, where, what))
    return out


@pytest.mark.parametrize("preset", ["opensips", "kamailio-tsilo", "rfc8599"])
def test_five_thousand_mutated_messages_interleaved_with_valid_calls(preset: str) -> None:
    """A seeded corpus, larger than the property test's, under each preset's script: the same
    invariants after each input, and the valid calls complete."""
    rng = random.Random(14)
    h = Harness()
    h.proxy = get_preset(preset).build(h.ids).proxy
    valid = ValidCalls(h)
    calls = 0
    for n in range(5000):
        data = mutate(rng.choice(TEMPLATES), random_mutations(rng, rng.randrange(1, 5)))
        before = snapshot(h.proxy)
        refused = h.proxy.inputs.refused
        feed(h, data)
        calls += 1
        if h.proxy.inputs.refused != refused:
            assert snapshot(h.proxy) == before, data
        if n % 500 == 0:
            calls += valid.next()
            h.advance(0.25)
        check_invariants(h.proxy, calls)
    check_calls_completed(h, calls)
    counts = h.proxy.inputs
    # most of the corpus is refused, and some of every kind of outcome happens
    assert counts.processed > 0 and counts.answered and counts.dropped["unparsable"] > 0
