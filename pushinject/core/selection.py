"""Choosing the final response of a response context (RFC 3261 §16.7 step 6; CTX-7,
OSIPS-6, OSIPS-7).

Pure functions over the list of final statuses the branches received, in the order received.
Each returns the *index* of the chosen one, or None when there is none (the proxy then
sends 408). Ties go to the response received first.

Two policies:
- `best_rfc3261`: 6xx first, otherwise the lowest class; within 4xx prefer 401, 407, 415, 420,
  484; within 5xx a 503 is picked only if nothing else is there, and is then sent as 500
  (`status_to_send`).
- `best_opensips`: the OpenSIPS ranking (lower wins): 6xx, 3xx, the preferred 4xx, other 4xx,
  5xx, 408, 503 last; 487 first once the caller has cancelled; a 503 is sent as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from pushinject.core.types import Selection

__all__ = [
    "PREFERRED_4XX",
    "best_rfc3261",
    "opensips_rank",
    "best_opensips",
    "best_response",
    "status_to_send",
]

#: RFC 3261 §16.7 step 6: within 4xx these are preferred (they let the caller retry)
PREFERRED_4XX = frozenset({401, 407, 415, 420, 484})


def _rfc3261_key(status: int) -> tuple[int, int]:
    cls = status // 100
    group = 0 if cls == 6 else cls
    if cls == 4:
        return group, 0 if status in PREFERRED_4XX else 1
    if cls == 5:
        return group, 1 if status == 503 else 0
    return group, 0


def _first_min(statuses: Sequence[int], key: object) -> int | None:
    if not statuses:
        return None
    return min(range(len(statuses)), key=lambda i: (key(statuses[i]), i))  # type: ignore[operator]


def best_rfc3261(statuses: Sequence[int]) -> int | None:
    """Index of the best final response (RFC 3261 §16.7 step 6, CTX-7).

    Examples
    --------
    >>> best_rfc3261([486, 603, 404])   # 6xx wins
    1
    >>> best_rfc3261([500, 486, 302])   # otherwise the lowest class
    2
    >>> best_rfc3261([486, 407, 404])   # 407 is a preferred 4xx
    1
    >>> best_rfc3261([503, 500])        # 503 only when nothing else in 5xx
    1
    >>> best_rfc3261([]) is None        # nothing: the proxy sends 408
    True
    """
    return _first_min(statuses, _rfc3261_key)


def opensips_rank(status: int, *, cancelled: bool = False) -> int:
    """OpenSIPS branch priority (OSIPS-7): lower wins.

    >>> [opensips_rank(s) for s in (180, 603, 302, 401, 486, 500, 408, 503)]
    [0, 1, 2, 3, 4, 5, 6, 7]
    >>> opensips_rank(487, cancelled=True)
    -1
    """
    if cancelled and status == 487:
        return -1
    cls = status // 100
    if cls <= 2:
        return 0
    if cls == 6:
        return 1
    if cls == 3:
        return 2
    if status in PREFERRED_4XX:
        return 3
    if status == 408:
        return 6
    if status == 503:
        return 7
    if cls == 4:
        return 4
    return 5


def best_opensips(statuses: Sequence[int], *, cancelled: bool = False) -> int | None:
    """Index of the response OpenSIPS relays (OSIPS-6, OSIPS-7).

    Examples
    --------
    >>> best_opensips([408, 486])      # the placeholder's 408 ranks below a 486
    1
    >>> best_opensips([503, 408])      # 503 last
    1
    >>> best_opensips([408, 487], cancelled=True)
    1
    """
    return _first_min(statuses, lambda s: opensips_rank(s, cancelled=cancelled))


def best_response(
    statuses: Sequence[int], policy: Selection = Selection.RFC3261, *, cancelled: bool = False
) -> int | None:
    """Dispatch to `best_rfc3261` or `best_opensips`.

    >>> best_response([408, 486], Selection.OPENSIPS), best_response([408, 486])
    (1, 0)
    """
    if policy is Selection.OPENSIPS:
        return best_opensips(statuses, cancelled=cancelled)
    return best_rfc3261(statuses)


def status_to_send(chosen: int | None, policy: Selection = Selection.RFC3261) -> int:
    """The status the proxy sends for the chosen one: 408 when there is none (CTX-7, OSIPS-6);
    under RFC 3261 a 503 becomes 500 (CTX-7), OpenSIPS relays 503 unchanged (OSIPS-7).

    >>> status_to_send(None), status_to_send(503), status_to_send(503, Selection.OPENSIPS)
    (408, 500, 503)
    """
    if chosen is None:
        return 408
    if chosen == 503 and policy is Selection.RFC3261:
        return 500
    return chosen
