"""Any interleaving of registrations, answers, CANCEL, retransmissions and time: the proxy never
raises, the caller gets at most one non-2xx final status (however often Timer G repeats it;
only 2xx may follow it, RFC 3261 §16.7 step 5, CTX-4, CTX-7), and every call ends and is retired
(OSIPS-2, OSIPS-3, KAM-5, RFC 3261 §17), under the seed's script and the tsilo one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness import CALLER, Harness
from pushinject.core.actions import Send
from pushinject.core.proxy import ProxyConfig
from pushinject.core.types import Dedup, Selection
from pushinject.scripts.opensips_seed import SeedScript

STEP = st.one_of(
    st.tuples(st.just("register"), st.sampled_from([5070, 5080, 5090]), st.integers(1, 3)),
    st.tuples(st.just("answer"), st.integers(0, 5),
              st.sampled_from([100, 180, 183, 200, 486, 480, 487, 503, 603])),
    st.tuples(st.just("cancel"), st.just(0), st.just(0)),
    st.tuples(st.just("retransmit"), st.just(0), st.just(0)),
    st.tuples(st.just("ack"), st.just(0), st.just(0)),
    st.tuples(st.just("advance"), st.sampled_from([0.0, 0.5, 5.0, 31.0, 100.0]), st.just(0)),
)


def _finals(h: Harness) -> list[int]:
    return [a.message.status for _, a in h.log
            if isinstance(a, Send) and a.destination == CALLER
            and getattr(a.message, "status", 0) >= 200 and a.message.cseq.method == "INVITE"]


def _scripts(event: str) -> dict[str, object]:
    from test_script_api import Tsilo

    return {"seed": SeedScript(event=f"E_UL_CONTACT_{event}", timeout=60), "tsilo": Tsilo(),
            "tsilo-by-contact": Tsilo(by_contact=True)}


@settings(max_examples=120, deadline=None)
@given(st.lists(STEP, max_size=14), st.sampled_from(list(Dedup)),
       st.sampled_from(list(Selection)), st.sampled_from(["INSERT", "UPDATE"]),
       st.booleans(), st.sampled_from(["seed", "tsilo", "tsilo-by-contact"]))
def test_random_interleavings_keep_the_response_rules(steps, dedup, selection, event, early,
                                                      which):
    script = _scripts(event)[which]
    h = Harness(script=script, config=ProxyConfig(dedup=dedup, selection=selection))
    if early:
        h.register(port=5070)
    h.call()
    answered: set[str] = set()     # a device answers each INVITE with one final status
    for kind, a, b in steps:
        if not h.proxy.contexts():  # the call is over: later stray answers go statelessly
            break
        invites = [act for _, act in h.log if isinstance(act, Send)
                   and getattr(act.message, "method", "") == "INVITE"
                   and act.destination != CALLER]
        if kind == "register":
            h.register(port=a, cseq=b)
        elif kind == "answer" and invites:
            invite = invites[a % len(invites)]
            branch = invite.message.top_via.branch
            if branch not in answered:
                h.answer(invite, b)
                if b >= 200:
                    answered.add(branch)
        elif kind == "cancel":
            h.cancel()
        elif kind == "retransmit":
            h.deliver(h.invite, CALLER)
        elif kind == "ack":
            finals = [act.message for _, act in h.log if isinstance(act, Send)
                      and act.destination == CALLER and getattr(act.message, "status", 0) >= 300]
            if finals:
                h.ack(finals[-1])
        elif kind == "advance":
            h.advance(a)
    h.advance(600.0)
    finals = _finals(h)
    failures = {s for s in finals if s >= 300}
    assert len(failures) <= 1
    summary = h.proxy.summary("call-1")
    assert summary.final_status is not None
    assert h.proxy.contexts() == []
