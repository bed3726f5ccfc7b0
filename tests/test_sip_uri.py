"""URIs: parsing, printing and RFC 3261 §19.1.4 equality (the examples of §19.1.4)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushinject.sip import SipURI, SIPParseError, TelURI, parse_uri

EQUAL = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
]
NOT_EQUAL = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal_pairs_of_rfc3261_s19_1_4(a: str, b: str) -> None:
    ua, ub = parse_uri(a), parse_uri(b)
    assert ua == ub and ub == ua
    assert hash(ua) == hash(ub)
    assert len({ua, ub}) == 1


@pytest.mark.parametrize(("a", "b"), NOT_EQUAL)
def test_unequal_pairs_of_rfc3261_s19_1_4(a: str, b: str) -> None:
    assert parse_uri(a) != parse_uri(b)


def test_parts_of_a_sip_uri_rfc3261_s19_1_1() -> None:
    u = parse_uri("sips:alice:secret@[2001:db8::10]:5061;transport=tls;LR?Subject=x&h=")
    assert isinstance(u, SipURI)
    assert (u.scheme, u.user, u.password, u.host, u.port) == (
        "sips", "alice", "secret", "[2001:db8::10]", 5061)
    assert u.params == {"transport": "tls", "lr": None}
    assert u.headers == {"Subject": "x", "h": ""}
    assert str(u) == "sips:alice:secret@[2001:db8::10]:5061;transport=tls;lr?Subject=x&h="


def test_pn_parameters_read_and_trimmed_rfc8599_s4_1_1() -> None:
    u = parse_uri("sip:bob@192.0.2.1;pn-provider=apns;pn-prid=00fc;pn-param=T.B.voip")
    assert isinstance(u, SipURI)
    assert u.params["pn-prid"] == "00fc"
    trimmed = u.without_params("pn-provider", "pn-prid", "pn-param")
    assert str(trimmed) == "sip:bob@192.0.2.1"
    assert trimmed == u  # pn-* are not among the always-compared parameters (§19.1.4)
    assert str(trimmed.with_params(pn_prid="ff")) == "sip:bob@192.0.2.1;pn-prid=ff"


def test_tel_uri_rfc3966() -> None:
    t = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert isinstance(t, TelURI)
    assert (t.scheme, t.number, t.params) == ("tel", "+1-201-555-0123",
                                              {"phone-context": "example.com"})
    assert t == parse_uri("tel:+12015550123;phone-context=example.com")
    assert t != parse_uri("tel:+12015550124;phone-context=example.com")
    assert str(t) == "tel:+1-201-555-0123;phone-context=example.com"


@pytest.mark.parametrize("text", [
    "sip:", "bob@example.com", "sip:bob@exa mple.com", "sip:bob@example.com:99999",
    "sip:bob@@example.com", "sip:bob@example.com;", "tel:", "sip:a@b?x",
])
def test_malformed_uris_raise_parse_error_rfc3261_s25(text: str) -> None:
    with pytest.raises(SIPParseError):
        parse_uri(text)


_USER = st.text("abcxyz019-_.!~*'()&=+$,;?/", min_size=1, max_size=10)
_HOSTNAME = st.lists(st.text("abcdexyz", min_size=1, max_size=6), min_size=1, max_size=3).map(
    ".".join)
_PARAMS = st.dictionaries(st.text("abcmrtz-", min_size=1, max_size=6),
                          st.one_of(st.none(), st.text("abcXYZ019", min_size=1, max_size=5)),
                          max_size=4)


def _escape_some(text: str, mask: int) -> str:
    return "".join(f"%{ord(c):02X}" if mask >> (i % 16) & 1 and c.isalnum() else c
                   for i, c in enumerate(text))


@settings(max_examples=150, deadline=None)
@given(_USER, _HOSTNAME, st.one_of(st.none(), st.integers(1, 65535)), _PARAMS,
       st.integers(0, 2**16 - 1), st.randoms(use_true_random=False))
def test_equality_ignores_escapes_host_case_and_parameter_order_rfc3261_s19_1_4(
    user: str, host: str, port: int | None, params: dict[str, str | None], mask: int,
    rnd: random.Random,
) -> None:
    def text(u: str, h: str, names: list[str], upper: bool) -> str:
        items = "".join(
            f";{n.upper() if upper else n}" + ("" if params[n] is None else f"={params[n]}")
            for n in names)
        return f"sip:{u}@{h}" + ("" if port is None else f":{port}") + items

    names = sorted(params)
    shuffled = names[:]
    rnd.shuffle(shuffled)
    a = parse_uri(text(user, host, names, False))
    b = parse_uri(text(_escape_some(user, mask), host.upper(), shuffled, True))
    assert a == b and b == a and hash(a) == hash(b)
    assert parse_uri(str(a)) == a and str(parse_uri(str(a))) == str(a)
    other_port = parse_uri(text(user, host, names, False).replace(f"@{host}", f"@{host}:1", 1)
                           if port is None else text(user, host, names, False).replace(
                               f"@{host}:{port}", f"@{host}", 1))
    assert other_port != a
