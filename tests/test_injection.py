"""Where an injected branch goes (OSIPS-9) and which contacts are duplicates (OSIPS-11,
INJ-3 to INJ-5)."""

from __future__ import annotations

from pushinject.core.context import Branch
from pushinject.core.injection import contact_route, duplicate_reason
from pushinject.core.location import Binding
from pushinject.core.types import BranchKind, Dedup
from pushinject.sip import parse_uri


def _binding(port=5070, ruid="r1", instance=None, **kw):
    return Binding(ruid=ruid, aor="bob", uri=parse_uri(f"sip:bob@192.0.2.20:{port}"),
                   contact=f"<sip:bob@192.0.2.20:{port}>", expires_at=3600.0,
                   instance=instance, **kw)


def _branch(binding, final=None, index=1):
    return Branch(index=index, kind=BranchKind.REAL, opened_at=0.0, binding=binding,
                  final_status=final)


def test_path_wins_over_received_and_becomes_the_route_set_R35():
    b = _binding(path=("<sip:edge.example.com:5062;lr>", "<sip:core.example.com;lr>"),
                 received="sip:198.51.100.1:4000")
    uri, dst, routes = contact_route(b)
    assert (str(uri), dst, routes) == ("sip:bob@192.0.2.20:5070", ("edge.example.com", 5062),
                                       b.path)


def test_without_path_or_received_the_contact_itself_is_the_destination_R35():
    assert contact_route(_binding())[1:] == (("192.0.2.20", 5070), ())


def test_no_dedup_injects_the_same_contact_again_R37():
    b = _binding()
    assert duplicate_reason(Dedup.NONE, [_branch(b)], b) is None


def test_location_dedup_needs_same_ruid_and_same_uri_R43():
    b = _binding()
    assert "INJ-5" in duplicate_reason(Dedup.BY_LOCATION, [_branch(b)], b)
    assert duplicate_reason(Dedup.BY_LOCATION, [_branch(b)], _binding(ruid="r2")) is None
    assert duplicate_reason(Dedup.BY_LOCATION, [_branch(b)], _binding(port=5071)) is None


def test_instance_dedup_rules_R41():
    old = _binding(instance="dev")
    same_place, moved = _binding(instance="dev"), _binding(port=5071, instance="dev")
    pending = [_branch(old)]
    assert "still pending" in duplicate_reason(Dedup.BY_INSTANCE, pending, same_place)
    assert duplicate_reason(Dedup.BY_INSTANCE, pending, moved) is None
    for retry in (408, 503):
        assert duplicate_reason(Dedup.BY_INSTANCE, [_branch(old, retry)], same_place) is None
    assert "answered 486" in duplicate_reason(Dedup.BY_INSTANCE, [_branch(old, 486)], moved)
    assert duplicate_reason(Dedup.BY_INSTANCE, pending, _binding(instance="other")) is None


def test_a_gruu_call_accepts_only_its_instance_R42():
    b = _binding(instance="dev-2")
    assert "INJ-4" in duplicate_reason(Dedup.BY_INSTANCE, [], b, gruu_instance="dev-1")
    assert duplicate_reason(Dedup.BY_INSTANCE, [], b, gruu_instance="dev-2") is None
