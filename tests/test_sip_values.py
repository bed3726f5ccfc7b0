"""Typed header values: Via, name-addr, Contact, CSeq and numbers (RFC 3261 §20, §25)."""

from __future__ import annotations

import pytest

from pushinject.sip import (
    SIPParseError, parse_contact, parse_cseq, parse_feature_cap, parse_name_addr, parse_reason,
    parse_via,
)
from pushinject.sip.values import check_contact, check_name_addr, check_via, parse_int


def test_via_parts_and_blanks_around_separators_rfc3261_s20_42() -> None:
    v = parse_via("SIP / 2.0 / tls  [2001:db8::9] : 5061 ; branch = z9hG4bKx ;maddr=239.1.1.1"
                  ";ttl=16")
    assert (v.protocol, v.transport, v.host, v.port) == ("SIP/2.0", "TLS", "[2001:db8::9]", 5061)
    assert (v.branch, v.maddr, v.ttl, v.received, v.rport) == (
        "z9hG4bKx", "239.1.1.1", "16", None, None)
    assert str(v) == "SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKx;maddr=239.1.1.1;ttl=16"
    assert v.sent_by == "[2001:db8::9]:5061"


def test_via_received_ipv6_and_rport_value_rfc3581() -> None:
    v = parse_via("SIP/2.0/UDP h;received=2001:db8::1;rport=5062;BRANCH=z9hG4bK1")
    assert (v.received, v.rport, v.branch) == ("2001:db8::1", "5062", "z9hG4bK1")


@pytest.mark.parametrize("text", [
    "SIP/2.0/UDP", "SIP/2.0 UDP h", "SIP/2.0/UDP h;;", "SIP/2.0/UDP h:70000",
    "SIP/2.0/UDP h;branch=", "SIP/2.0/UDP h x",
])
def test_malformed_via_rejected_rfc3261_s25(text: str) -> None:
    with pytest.raises(SIPParseError):
        parse_via(text)
    with pytest.raises(SIPParseError):
        check_via(text)


def test_name_addr_forms_rfc3261_s20_10() -> None:
    quoted = parse_name_addr('"A \\\\ B" <sip:a@b>;tag=1;x')
    assert (quoted.display_name, quoted.tag) == ("A \\ B", "1")
    assert quoted.params == {"tag": "1", "x": None}
    tokens = parse_name_addr("Alice  Smith<sip:a@b>")
    assert tokens.display_name == "Alice  Smith"
    spec = parse_name_addr("sip:a@b;tag=7")
    assert (spec.display_name, str(spec.uri), spec.tag) == (None, "sip:a@b", "7")
    tel = parse_name_addr("<tel:+331234;phone-context=+33>")
    assert tel.uri.scheme == "tel" and tel.uri.params == {"phone-context": "+33"}


@pytest.mark.parametrize("text", [
    "Bell, Alexander <sip:a@b>", '"unbalanced <sip:a@b>', "< sip:a@b >",
    "sip:a@b?subject=x", "<sip:a@b", "<sip:a@b>;;",
])
def test_strict_name_addr_faults_rfc4475_s3_1_2(text: str) -> None:
    with pytest.raises(SIPParseError):
        parse_name_addr(text)
    with pytest.raises(SIPParseError):
        check_name_addr(text)


def test_lenient_name_addr_recovers_the_values() -> None:
    assert parse_name_addr("Bell, Alexander <sip:a@b>;tag=4", strict=False).display_name == (
        "Bell, Alexander")
    assert str(parse_name_addr("< sip:a@b >", strict=False).uri) == "sip:a@b"
    assert parse_name_addr("sip:a@b?subject=x", strict=False).uri.headers == {"subject": "x"}
    with pytest.raises(SIPParseError):
        parse_name_addr("nothing here", strict=False)


def test_contact_star_and_ranges_rfc3261_s20_10_s10_2_1_1() -> None:
    star = parse_contact("*")
    assert star.star and star.uri is None and str(star) == "*"
    c = parse_contact("<sip:a@b>;q=1.000;expires=0;reg-id=2")
    assert (c.q, c.expires, c.reg_id, c.instance) == (1.0, 0, 2, None)
    for bad in ("<sip:a@b>;q=1.5", "<sip:a@b>;expires=4294967296", "<sip:a@b>;expires=-1"):
        with pytest.raises(SIPParseError):
            parse_contact(bad)
        with pytest.raises(SIPParseError):
            check_contact(bad)
    assert parse_contact("<sip:a@b>;q=1.5", strict=False).q == 1.5


def test_contact_push_parameters_rfc8599_s4_1_1() -> None:
    c = parse_contact("<sip:a@b;pn-provider;pn-purr=p-1>")
    assert (c.pn_provider, c.pn_prid, c.pn_param, c.pn_purr) == ("", None, None, "p-1")
    assert parse_contact("<sip:a@b>").pn_provider is None


def test_cseq_and_numbers_rfc3261_s8_1_1_5_s20_22() -> None:
    assert parse_cseq("2147483647 INVITE").number == 2**31 - 1
    for bad in ("2147483648 INVITE", "1", "x INVITE", "-1 INVITE", "1 INVITE x"):
        with pytest.raises(SIPParseError):
            parse_cseq(bad)
    assert parse_int("255", 255, "Max-Forwards") == 255
    for bad in ("256", "", "1.0", "٣"):
        with pytest.raises(SIPParseError):
            parse_int(bad, 255, "Max-Forwards")


def test_values_are_hashable_and_equal_by_value() -> None:
    a = parse_contact("<sip:a@B;transport=tcp>;expires=5")
    b = parse_contact("<sip:a@b;transport=TCP>;expires=5")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    vias = {parse_via("SIP/2.0/UDP h;branch=z9hG4bK1"), parse_via("SIP/2.0/udp h;branch=z9hG4bK1")}
    assert len(vias) == 1
    assert hash(parse_name_addr("<sip:a@b>;tag=1")) == hash(parse_name_addr("<sip:a@b>;TAG=1"))
    assert len({parse_reason("SIP;cause=200"), parse_feature_cap('*;+sip.pns="apns"')}) == 2
