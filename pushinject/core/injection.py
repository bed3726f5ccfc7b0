"""Injecting a registered contact as a new branch: where it goes, and whether it is a duplicate.

- `contact_route(binding)`: the Request-URI, the next hop and the Route set of the branch built
  from a contact event (OpenSIPS `t_inject_branches("event")`, OSIPS-9): the R-URI is the contact;
  with a Path the first hop is the destination and the Path becomes the Route set; otherwise a
  `received` address (stored only with NAT handling or for an RFC 5626 flow, ROUTE-2, ROUTE-3)
  is the destination, and the Contact URI itself when there is none (ROUTE-1).
- `duplicate_reason(policy, branches, binding, gruu_instance)`: the de-duplication policy as a
  pure function (OSIPS-11 none, INJ-5 by location record, INJ-3 and INJ-4 by instance). It
  returns why the contact must be skipped, or None to inject it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pushinject.core.messages import uri_address
from pushinject.core.types import BranchKind, Dedup
from pushinject.sip import parse_name_addr, parse_uri

if TYPE_CHECKING:
    from pushinject.core.context import Branch
    from pushinject.core.location import Binding
    from pushinject.core.types import Address
    from pushinject.sip import URI

__all__ = ["contact_route", "duplicate_reason", "RETRY_STATUSES"]

#: INJ-3: a device whose branch ended with one of these may be dispatched again
RETRY_STATUSES = frozenset({408, 503})


def _address_of(uri: URI) -> Address:
    return uri_address(str(getattr(uri, "host", "")), getattr(uri, "port", None))


def contact_route(binding: Binding) -> tuple[URI, Address, tuple[str, ...]]:
    """Request-URI, destination and Route values of a branch to `binding` (OSIPS-9, ROUTE-1
    to ROUTE-3).

    >>> from pushinject.core.location import Binding
    >>> from pushinject.sip import parse_uri
    >>> b = Binding(ruid="r1", aor="bob", uri=parse_uri("sip:bob@10.0.0.9:5070"),
    ...             contact="<sip:bob@10.0.0.9:5070>", expires_at=60.0,
    ...             received="sip:192.0.2.7:40000")
    >>> uri, dst, routes = contact_route(b)
    >>> str(uri), dst, routes
    ('sip:bob@10.0.0.9:5070', ('192.0.2.7', 40000), ())
    """
    if binding.path:
        first = parse_name_addr(binding.path[0]).uri
        return binding.uri, _address_of(first), tuple(binding.path)
    if binding.received:
        return binding.uri, _address_of(parse_uri(binding.received)), ()
    return binding.uri, _address_of(binding.uri), ()


def _hostport(uri: object) -> tuple[str, int | None]:
    return (str(getattr(uri, "host", "")).lower(), getattr(uri, "port", None))


def duplicate_reason(
    policy: Dedup,
    branches: Sequence[Branch],
    binding: Binding,
    gruu_instance: str | None = None,
) -> str | None:
    """Why `binding` must not be injected into a context holding `branches` (None: inject it).

    - `Dedup.NONE`: never a duplicate, OpenSIPS injects the same contact again (OSIPS-11).
    - `Dedup.BY_LOCATION`: a branch to the same location record (ruid) and URI exists (INJ-5).
    - `Dedup.BY_INSTANCE`: per device (`+sip.instance`, else the contact URI) (INJ-3): skip when
      that device already answered (a final other than 408/503) or still has a pending branch
      to the same host:port; dispatch again after 408/503 or when it reconnected elsewhere. A
      call to a GRUU only accepts the GRUU's instance (INJ-4).
    """
    if policy is Dedup.NONE:
        return None
    real = [b for b in branches if b.kind is BranchKind.REAL and b.binding is not None]
    if policy is Dedup.BY_LOCATION:
        for b in real:
            assert b.binding is not None
            if b.binding.ruid == binding.ruid and b.binding.uri == binding.uri:
                return f"location record {binding.ruid} already has branch {b.index} (INJ-5)"
        return None
    if gruu_instance is not None and binding.instance != gruu_instance:
        return f"the call targets the GRUU of instance {gruu_instance} (INJ-4)"
    same = [(b, b.binding) for b in real if b.binding and _same_device(b.binding, binding)]
    for b, _ in same:
        if b.final_status is not None and b.final_status not in RETRY_STATUSES:
            return f"device already answered {b.final_status} on branch {b.index} (INJ-3)"
    for b, old in same:
        if b.final_status is None and _hostport(old.uri) == _hostport(binding.uri):
            return f"branch {b.index} to the same host:port is still pending (INJ-3)"
    return None


def _same_device(a: Binding, b: Binding) -> bool:
    if a.instance is not None or b.instance is not None:
        return a.instance == b.instance
    return a.uri == b.uri
