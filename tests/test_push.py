"""RFC 8599 proxy side: the push request record, push results, and the bucket (PUSH-4 to PUSH-6)."""

from __future__ import annotations

import pytest

from pushinject.push import Bucket, PushRequest, PushResult, pn_match, pn_params
from pushinject.sip import parse_uri

HELD = "sip:bob@127.0.0.10:5060;pn-provider=fcm;pn-param=app;pn-prid=tok-B"


def test_pn_params_read_from_the_contact_uri_rfc8599_4_1_1() -> None:
    assert pn_params(parse_uri(HELD)) == ("fcm", "tok-B", "app")
    assert pn_params(parse_uri("sip:bob@127.0.0.10")) is None
    # pn-provider may be written without a value (§4.1.1)
    assert pn_params(parse_uri("sip:bob@h;pn-provider;pn-prid=t")) == (None, "t", None)


def test_match_needs_equal_uri_and_equal_pn_params_rfc8599_5_3_push4() -> None:
    held = parse_uri(HELD)
    same_reordered = parse_uri("sip:bob@127.0.0.10:5060;pn-prid=tok-B;pn-provider=fcm;pn-param=app")
    assert pn_match(held, same_reordered)
    other_token = parse_uri("sip:bob@127.0.0.10:5060;pn-provider=fcm;pn-param=app;pn-prid=tok-C")
    assert not pn_match(held, other_token)
    no_param = parse_uri("sip:bob@127.0.0.10:5060;pn-provider=fcm;pn-prid=tok-B")
    assert not pn_match(held, no_param)  # present on one side only: no match
    new_port = parse_uri("sip:bob@127.0.0.10:5062;pn-provider=fcm;pn-param=app;pn-prid=tok-B")
    assert not pn_match(held, new_port)
    assert pn_match(held, new_port, pn_only=True)  # local policy: pn-* alone (PUSH-4, OSIPS-15)


def test_bucket_timer_runs_from_the_hold_and_expiry_gives_480_rfc8599_5_6_2() -> None:
    bucket = Bucket(bucket_timer=30.0)
    entry = bucket.hold("call-1", parse_uri(HELD), now=1.0, payload="invite")
    assert (entry.held_at, entry.expires_at, entry.payload) == (1.0, 31.0, "invite")
    assert bucket.get_timer() == 31.0
    assert bucket.handle_timer(30.999) == []
    (outcome,) = bucket.handle_timer(31.0)
    assert (outcome.verdict, outcome.status, outcome.entry) == ("reject", 480, entry)
    assert "Bucket Timer expired" in outcome.rule
    assert len(bucket) == 0 and bucket.get_timer() is None


def test_a_2xx_to_the_matching_register_forwards_the_held_request_push5() -> None:
    bucket = Bucket(bucket_timer=30.0)
    bucket.hold("call-1", parse_uri(HELD), now=1.0)
    other = parse_uri("sip:bob@127.0.0.11:5060;pn-provider=fcm;pn-param=app;pn-prid=tok-C")
    bucket.hold("call-1", other, now=1.0)
    assert bucket.on_register_response(parse_uri(HELD), 100, now=2.0) == []
    (outcome,) = bucket.on_register_response(parse_uri(HELD), 200, now=2.5)
    assert (outcome.verdict, outcome.status, str(outcome.contact)) == ("forward", None, HELD)
    assert [str(e.target) for e in bucket.entries()] == [str(other)]


def test_a_challenge_keeps_waiting_and_a_rejection_gives_480_push6() -> None:
    bucket = Bucket(bucket_timer=30.0)
    bucket.hold("call-1", parse_uri(HELD), now=1.0)
    assert bucket.on_register_response(parse_uri(HELD), 401, now=2.0) == []
    assert bucket.on_register_response(parse_uri(HELD), 407, now=2.0) == []
    (outcome,) = bucket.on_register_response(parse_uri(HELD), 403, now=2.1)
    assert (outcome.verdict, outcome.status) == ("reject", 480)


def test_a_failed_push_request_ends_the_wait_with_404_or_480_push6() -> None:
    assert PushResult(ok=True).status is None
    assert PushResult(ok=False).status == 480
    assert PushResult(ok=False, permanent=True).status == 404
    bucket = Bucket(bucket_timer=30.0)
    bucket.hold("call-1", parse_uri(HELD), now=1.0)
    assert bucket.on_push_result("call-1", parse_uri(HELD), None, now=1.0) == []
    (outcome,) = bucket.on_push_result("call-1", parse_uri(HELD), 404, now=1.0)
    assert (outcome.verdict, outcome.status) == ("reject", 404)
    assert len(bucket) == 0


def test_one_entry_per_request_and_device_and_release_drops_a_request() -> None:
    bucket = Bucket(bucket_timer=10.0)
    first = bucket.hold("call-1", parse_uri(HELD), now=1.0)
    again = bucket.hold("call-1", parse_uri(HELD), now=5.0)
    assert again is first and bucket.get_timer() == 11.0
    bucket.hold("call-2", parse_uri(HELD), now=2.0)
    assert [e.key for e in bucket.release("call-1")] == ["call-1"]
    assert [e.key for e in bucket.entries()] == ["call-2"]


def test_bucket_timer_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Bucket(bucket_timer=0)


def test_push_request_is_a_frozen_record() -> None:
    request = PushRequest(device=HELD, provider="fcm", prid="tok-B", param="app", aor="bob",
                          call_id="c1", at=1.0)
    assert request.reason == "ini-INVITE"
    with pytest.raises(AttributeError):
        request.at = 2.0  # type: ignore[misc]


def test_register_response_can_be_limited_to_one_request() -> None:
    bucket = Bucket(bucket_timer=30.0)
    bucket.hold("call-1", parse_uri(HELD), now=1.0)
    bucket.hold("call-2", parse_uri(HELD), now=1.5)
    assert bucket.keys() == ["call-1", "call-2"]
    (outcome,) = bucket.on_register_response(parse_uri(HELD), 200, now=2.0, key="call-2")
    assert outcome.entry.key == "call-2"
    assert bucket.keys() == ["call-1"]
