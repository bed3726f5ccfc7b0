"""The message layer's shortcuts give what the plain path gives: parameters cut without the
grammar, values shared from the tables of parsed texts, and the header index `make_response`
builds as it writes the lines."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pushinject.sip import (
    SIPParseError, make_request, make_response, parse_contact, parse_cseq, parse_name_addr,
    parse_uri, parse_via,
)
from pushinject.sip.abnf import PARAMS
from pushinject.sip.message import _index_of
from pushinject.sip.values import _matched_params, _params

TOKEN = st.text("abcXYZ019-.!%*_+`'~", min_size=1, max_size=8)
BLANK = st.sampled_from(["", "", " ", "\t"])
GEN_VALUE = st.one_of(
    TOKEN,
    st.text("0123abcDEF.:", min_size=1, max_size=8).map(lambda t: t if ":" in t else t + ":"),
    st.text("0123abc:", min_size=1, max_size=8).map(lambda t: f"[{t}]"),
    st.text('ab;= ,\\"', max_size=6).map(lambda t: '"' + t.replace("\\", "").replace('"', "")
                                         + '"'),
)


@st.composite
def params_texts(draw: st.DrawFn) -> str:
    out = []
    spaced = draw(st.booleans())  # else no blank at all (the text is cut without the grammar)

    def blank() -> str:
        return draw(BLANK) if spaced else ""

    for name, value in draw(st.lists(st.tuples(TOKEN, st.one_of(st.none(), GEN_VALUE)),
                                     max_size=4)):
        item = f"{blank()};{blank()}{name}"
        if value is not None:
            item += f"{blank()}={blank()}{value}"
        out.append(item)
    return "".join(out)


@given(params_texts())
def test_parameters_cut_without_the_grammar_match_the_grammar(text: str) -> None:
    assert re.fullmatch(PARAMS, text) is not None
    assert _matched_params(text) == _params(text)
    assert list(_matched_params(text)) == list(_params(text))


@pytest.mark.parametrize("text", [
    "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport",
    "SIP/2.0/TCP [2001:db8::1];received=2001:db8::2;branch=z9hG4bK2",
    'SIP/2.0/UDP h ; branch = z9hG4bK3 ; x="a;b"',
])
def test_a_shared_via_equals_a_fresh_one_in_both_modes(text: str) -> None:
    first = parse_via(text)
    assert parse_via(text) == first and parse_via(text, strict=False) == first
    assert str(parse_via(text, strict=False)) == str(first)


def test_lenient_values_are_not_shared_with_strict_parsing() -> None:
    text = "SIP/2.0/UDP h;;branch=z9hG4bK1"
    assert parse_via(text, strict=False).branch == "z9hG4bK1"
    with pytest.raises(SIPParseError):
        parse_via(text)
    odd = "Bob <sip:b@x >"
    assert parse_name_addr(odd, strict=False).display_name == "Bob"
    with pytest.raises(SIPParseError):
        parse_name_addr(odd)
    ranged = "<sip:b@x>;expires=99999999999"
    assert parse_contact(ranged, strict=False).expires == 99999999999
    with pytest.raises(SIPParseError):
        parse_contact(ranged)


def test_shared_values_are_equal_to_fresh_ones() -> None:
    for _ in range(2):
        assert parse_uri("sip:a@example.com;lr") == parse_uri("sip:a@EXAMPLE.com;lr")
        assert parse_name_addr('"A" <sip:a@x>;tag=1').tag == "1"
        assert parse_contact("<sip:a@x>;expires=60").expires == 60
        assert parse_contact("*").star
        assert parse_cseq("7 INVITE").number == 7


@pytest.mark.parametrize("extra", [
    (), [("Contact", "<sip:b@h>")], [("v", "SIP/2.0/UDP z;branch=z9hG4bKx"), ("Warning", "x")],
    [("CSeq", "2 INVITE"), ("Call-ID", "again")],
])
@pytest.mark.parametrize("status", [100, 180, 487])
def test_the_index_make_response_builds_is_the_index_of_its_lines(
        extra: list[tuple[str, str]], status: int) -> None:
    req = make_request("INVITE", "sip:b@x", via="SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b",
                       from_="<sip:a@x>;tag=1", to="<sip:b@x>", call_id="c", cseq=1,
                       extra=[("Timestamp", "5"), ("v", "SIP/2.0/UDP c;branch=z9hG4bK3")])
    resp = make_response(req, status, to_tag="t", extra=extra, body=b"x" * (status % 2),
                         content_type="text/plain" if status == 487 else None)
    assert resp._index == _index_of(resp.headers)


@pytest.mark.parametrize("extra", [
    (), [("Expires", "60")], [("v", "SIP/2.0/UDP z;branch=z9hG4bKx"), ("Content-Length", "0")],
])
@pytest.mark.parametrize("max_forwards", [70, None])
@pytest.mark.parametrize("contact", [None, "<sip:a@h>"])
def test_the_index_make_request_builds_is_the_index_of_its_lines(
        extra: list[tuple[str, str]], max_forwards: int | None, contact: str | None) -> None:
    for body, content_type in ((b"", None), (b"x", "text/plain")):
        req = make_request("REGISTER", "sip:x", via="SIP/2.0/UDP a;branch=z9hG4bK1",
                           from_="<sip:a@x>;tag=1", to="<sip:a@x>", call_id="c", cseq=1,
                           contact=contact, max_forwards=max_forwards, extra=extra, body=body,
                           content_type=content_type)
        assert req._index == _index_of(req.headers)


@pytest.mark.parametrize("name", ["Record-Route", "Via", "v", "Contact", "X-New"])
def test_a_prepended_line_shifts_the_index_it_had(name: str) -> None:
    req = make_request("INVITE", "sip:b@x", via="SIP/2.0/UDP a;branch=z9hG4bK1",
                       from_="<sip:a@x>;tag=1", to="<sip:b@x>", call_id="c", cseq=1,
                       contact="<sip:a@h>", extra=[("Record-Route", "<sip:r;lr>")])
    once = req.with_header_prepended(name, "<sip:p;lr>")
    twice = once.with_header_prepended(name, "<sip:q;lr>")
    for msg in (once, twice, twice.without_top_via()):
        assert msg._header_index() == _index_of(msg.headers)
