"""How long the proxy keeps what it no longer needs, and how it recognises its own branches."""

from __future__ import annotations

import gc
import weakref

from harness import CALLER, Harness
from pushinject.core.actions import Log
from pushinject.core.timers import TimerQueue
from pushinject.sip import make_response

DEV1 = ("192.0.2.20", 5070)


def test_a_cancelled_call_is_retired_and_freed_once_timer_d_ends_its_last_transaction():
    """Once a call's last transaction ended (Timer D, 32 s after the 487 of a cancelled branch,
    RFC 3261 §17.1.1.2), the proxy keeps nothing of it, although the placeholder's deadline
    (fr_inv_timeout, 120 s) has not come."""
    h = Harness()
    h.register(port=5070)
    [inv] = h.invites(h.call())
    h.answer(inv, 180)
    [ctx] = h.proxy.contexts()
    alive = weakref.ref(ctx)
    del ctx
    [cancel] = h.sends(h.cancel(), method="CANCEL")
    h.answer(cancel, 200)
    [final] = [s for s in h.sends(h.answer(inv, 487), to=CALLER)]
    h.ack(final.message)
    h.advance_to(31.9)
    assert len(h.proxy.contexts()) == 1      # Timer D (32 s) still absorbs 487 retransmissions
    h.advance_to(100.0)                      # well before the placeholder's old 120 s deadline
    assert h.proxy.contexts() == []
    gc.collect()
    assert alive() is None
    assert h.proxy.get_timer() == 3600.0     # only the binding is left


def test_a_response_on_a_live_branch_is_matched_by_its_via_text_and_others_are_checked():
    """RFC 3261 §17.1.3: the top Via the proxy put on a branch comes back on its responses;
    a response whose top Via is not the proxy's is dropped with a log line."""
    h = Harness()
    h.register(port=5070)
    [inv] = h.invites(h.call())
    assert h.statuses(h.answer(inv, 180)) == [180]
    foreign = make_response(inv.message, 183, to_tag="dev").without_top_via()
    out = h.deliver(foreign, DEV1)
    assert out == [Log(text="dropped a response whose top Via is not ours: "
                            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-caller-1")]
    assert h.statuses(h.answer(inv, 200)) == [200]
    assert h.statuses(h.log and [a for _, a in h.log], CALLER)[-1] == 200


class _Owner:
    def __init__(self, at: float | None) -> None:
        self.at = at

    def get_timer(self) -> float | None:
        return self.at


def test_the_timer_queue_keeps_no_owner_it_discarded_even_with_its_entries_still_queued():
    """Entries a rescheduled or discarded owner left in the heap do not keep it alive: a
    retired context is freed at once, not when its old deadlines reach the top of the heap."""
    queue = TimerQueue()
    gone, other = _Owner(120.0), _Owner(50.0)
    queue.schedule(gone)
    gone.at = 1.0
    queue.schedule(gone)                     # the 120 s entry stays behind in the heap
    queue.schedule(other)
    assert queue.pop_due(1.0) == [gone] and queue.get_timer() == 50.0
    gone.at = 70.0
    queue.schedule(gone)
    queue.discard(gone)
    alive = weakref.ref(gone)
    del gone
    gc.collect()
    assert alive() is None
    assert queue.get_timer() == 50.0 and len(queue) == 1
    assert queue.pop_due(200.0) == [other] and queue.get_timer() is None
