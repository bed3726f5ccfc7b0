"""Choosing the final response (RFC 3261 §16.7 step 6, CTX-7, OSIPS-6, OSIPS-7)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushinject.core.selection import (
    best_opensips, best_rfc3261, opensips_rank, status_to_send,
)
from pushinject.core.types import Selection

RFC_CASES = [
    ([], None, 408),                 # nothing answered: 408
    ([486, 603, 404], 603, 603),     # 6xx first
    ([500, 486, 302], 302, 302),     # else the lowest class
    ([404, 486, 401], 401, 401),     # preferred 4xx
    ([503], 503, 500),               # a lone 503 is sent as 500
    ([503, 502], 502, 502),          # 503 only when nothing else in 5xx
    ([408, 486], 408, 408),          # same class: the first received
]


@pytest.mark.parametrize("statuses,chosen,sent", RFC_CASES)
def test_rfc3261_best_response_R10(statuses, chosen, sent):
    i = best_rfc3261(statuses)
    got = None if i is None else statuses[i]
    assert (got, status_to_send(got)) == (chosen, sent)


OS_CASES = [
    ([408, 486], False, 486),        # the placeholder's 408 ranks below a 486 (OSIPS-6)
    ([503, 408], False, 408),        # 503 last
    ([500, 480], False, 480),        # 4xx before 5xx
    ([484, 302], False, 302),        # 3xx before the preferred 4xx
    ([486, 487], True, 487),         # 487 first once cancelled
    ([487, 401], False, 401),        # ...but not otherwise
]


@pytest.mark.parametrize("statuses,cancelled,chosen", OS_CASES)
def test_opensips_ranking_R33(statuses, cancelled, chosen):
    assert statuses[best_opensips(statuses, cancelled=cancelled)] == chosen


def test_opensips_relays_503_unchanged_R33():
    assert status_to_send(503, Selection.OPENSIPS) == 503


FINALS = st.sampled_from([301, 302, 400, 401, 404, 407, 408, 480, 484, 486, 487, 500, 502,
                          503, 600, 603, 604])


@settings(max_examples=80, deadline=None)
@given(st.lists(FINALS, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_choice_depends_only_on_rank_not_on_order_R10_R33(statuses, rnd):
    shuffled = list(statuses)
    rnd.shuffle(shuffled)
    a, b = statuses[best_rfc3261(statuses)], shuffled[best_rfc3261(shuffled)]
    assert a // 100 == b // 100
    assert (a in (401, 407, 415, 420, 484)) == (b in (401, 407, 415, 420, 484))
    x, y = statuses[best_opensips(statuses)], shuffled[best_opensips(shuffled)]
    assert opensips_rank(x) == opensips_rank(y) == min(opensips_rank(s) for s in statuses)
    if any(s >= 600 for s in statuses):
        assert a >= 600 and x >= 600
