"""The message layer's shortcuts give what the plain path gives: parameters cut without the
grammar, values shared from the tables of parsed texts, and the header index `make_response`
builds as it writes the lines."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pushinject.sip import (
    SIPParseError, make_request, make_response, parse_contact, parse_cseq, parse_name_addr,
    parse_uri, parse_via,
)
from pushinject.sip.abnf import PARAMS
from pushinject.sip.message import _index_of
from pushinject.sip.values import Contact, NameAddr, _matched_params, _params

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


LINE_PIECES = st.sampled_from([
    "Via", "v", "X-A.b", "Bad Name", "", ":", " ", "\t", "  ", "\r", "\n", "a", "b c", "<sip:x>",
    ";tag=1", '"q:r"', "\x00", "é", "\udc80",
])


@st.composite
def header_blocks(draw: st.DrawFn) -> tuple[str, str, bool]:
    """(separator, header block, whether every line is a plain `name: value` line)."""
    sep = draw(st.sampled_from(["\r\n", "\n"]))
    lines = []
    plain = True
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):  # a plain line, blanks maybe around the colon and the value
            name = draw(st.sampled_from(["Via", "v", "CSeq", "X-Odd.!%*_+`'~"]))
            value = "".join(draw(st.lists(LINE_PIECES.filter(lambda p: p not in "\r\n"),
                                          max_size=4)))
            value = value.rstrip(" \t")  # (trailing blanks are cut line by line)
            lines.append(f"{name}{draw(BLANK)}:{draw(BLANK) if value else ''}{value}")
        else:  # anything: folded, no colon, bad name, blanks at the end
            lines.append("".join(draw(st.lists(LINE_PIECES, max_size=5))))
            plain = False
    return sep, sep.join(["OPTIONS sip:x SIP/2.0", *lines]), plain


@given(header_blocks())
def test_header_lines_found_at_once_are_the_lines_found_one_by_one(
        block: tuple[str, str, bool]) -> None:
    from pushinject.sip.parser import _any_lines, _Faults, _plain_lines

    sep, text, plain = block
    if sep == "\n" and "\r\n" in text:
        return  # the parser never gives such a block (bare-LF messages lose their CRs first)
    found = _plain_lines(text, text.find(sep), sep) if sep in text else []
    if plain:
        assert found is not None
    if not found:
        return
    faults = _Faults(strict=True)  # raises on the first fault: a plain block has none
    headers, line_of = _any_lines(text.split(sep), faults, lambda no: 0)
    assert found == headers
    assert line_of == list(range(1, len(found) + 1))


def test_header_lines_found_at_once_cover_the_common_shapes() -> None:
    from pushinject.sip.parser import _plain_lines

    text = "INVITE sip:x SIP/2.0\r\nVia :\tSIP/2.0/UDP h\r\nX-A: a b\nc\r\nl:"
    assert _plain_lines(text, text.find("\r\n"), "\r\n") == [
        ("Via", "SIP/2.0/UDP h"), ("X-A", "a b\nc"), ("l", "")]
    for odd in ("\r\n folded", "\r\nNo-colon", "\r\nBad name: 1", "\r\nX: trailing ",
                "\r\nX: \t", "\r\nX: bare\rCR", "\r\nX: CR at the end\r"):
        assert _plain_lines(text + odd, text.find("\r\n"), "\r\n") is None
    lf = "INVITE sip:x SIP/2.0\nVia: a\rb\nl:"
    assert _plain_lines(lf, lf.find("\n"), "\n") == [("Via", "a\rb"), ("l", "")]
    assert _plain_lines(lf + " ", lf.find("\n"), "\n") is None


@pytest.mark.parametrize(("key", "value"), [
    ("via", "SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/TCP g"),
    ("from", '"A" <sip:a@x>;tag=1'), ("to", "sip:b@x"), ("call-id", "abc@h"),
    ("cseq", "1 INVITE"), ("contact", "<sip:a@h>;expires=60, <sip:b@h>"),
    ("max-forwards", "70"), ("supported", ""), ("require", "100rel, timer"),
    ("date", "Sat, 13 Nov 2010 23:29:00 GMT"), ("content-type", "application/sdp"),
])
def test_a_value_that_passed_its_check_passes_again(key: str, value: str) -> None:
    from pushinject.sip.parser import _PASSED, check_header

    _PASSED[key].clear()
    check_header(key, value)
    assert value in _PASSED[key] or value == ""
    check_header(key, value)


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("via", "SIP/2.0/UDP", "malformed Via value 'SIP/2.0/UDP'"),
    ("contact", "<sip:a@h>;expires=99999999999",
     "Contact expires out of range: '99999999999'"),
    ("cseq", "2147483648 INVITE", "CSeq number 2147483648 is not below 2**31"),
    ("max-forwards", "256", "Max-Forwards value 256 is above 255"),
    ("require", "a b", "malformed option-tag list 'a b'"),
])
def test_a_value_that_failed_its_check_fails_again_with_the_same_reason(
        key: str, value: str, reason: str) -> None:
    from pushinject.sip.parser import _PASSED, check_header

    for _ in range(2):
        with pytest.raises(SIPParseError) as caught:
            check_header(key, value)
        assert caught.value.reason == reason
        assert value not in _PASSED[key]


def test_a_malformed_message_is_refused_each_time_with_the_same_error() -> None:
    from pushinject.sip import parse_message

    good = (b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\n"
            b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n")
    bad = good.replace(b"Max-Forwards: 70", b"Max-Forwards: 300")
    for _ in range(2):
        parse_message(good)
        with pytest.raises(SIPParseError) as caught:
            parse_message(bad)
        assert str(caught.value) == (
            "Max-Forwards: Max-Forwards value 300 is above 255 (at byte 88)")
        assert parse_message(bad, strict=False).defects == [
            "Max-Forwards: Max-Forwards value 300 is above 255"]


@pytest.mark.parametrize("value", [
    '"A" <sip:a@x>;tag=1', "sip:b@x;tag=2", "<sip:c@x>;expires=60;q=0.5",
])
def test_values_parsed_leniently_first_are_what_strict_parsing_gives(value: str) -> None:
    from pushinject.sip.values import _CONTACTS, _NAME_ADDRS

    for lenient_first in (True, False):
        _CONTACTS.clear()
        _NAME_ADDRS.clear()
        modes = (False, True) if lenient_first else (True, False)
        name_addrs = [parse_name_addr(value, strict) for strict in modes]
        contacts = [parse_contact(value, strict) for strict in modes]
        assert name_addrs[0] is name_addrs[1] and contacts[0] is contacts[1]
        _NAME_ADDRS.clear()
        _CONTACTS.clear()
        assert parse_name_addr(value) == name_addrs[0] and parse_contact(value) == contacts[0]


def test_typed_values_read_again_follow_the_lines_of_each_message() -> None:
    req = make_request("INVITE", "sip:b@x", via="SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b",
                       from_="<sip:a@x>;tag=1", to="<sip:b@x>", call_id="c1", cseq=1)
    assert (req.call_id, req.top_via.branch, req.from_.tag) == ("c1", "z9hG4bK1", "1")
    vias = req.vias
    vias.clear()  # a caller's list is its own
    assert [v.host for v in req.vias] == ["a", "b"]
    other = req.with_header("Call-ID", "c2").with_header("From", "<sip:a@x>;tag=2")
    assert (other.call_id, other.from_.tag, req.call_id) == ("c2", "2", "c1")
    forwarded = req.with_header_prepended("Via", "SIP/2.0/UDP p;branch=z9hG4bKp")
    assert (forwarded.top_via.branch, [v.host for v in forwarded.vias]) == (
        "z9hG4bKp", ["p", "a", "b"])
    assert forwarded.without_top_via().top_via.branch == "z9hG4bK1"
    with pytest.raises(SIPParseError, match="the message has no Call-ID header"):
        req.without_header("Call-ID").call_id


@given(st.text(',<>"\\ a;=', max_size=16))
def test_commas_found_without_a_character_loop_are_the_commas_the_loop_finds(value: str
                                                                              ) -> None:
    from pushinject.sip.headers import _split_quoted, split_commas

    assert split_commas(value) == _split_quoted(value)
    assert split_commas(value.replace('"', "")) == _split_quoted(value.replace('"', ""))


def _outcome(parse: Any, data: bytes, strict: bool) -> tuple[Any, ...]:
    """Everything a parse gives (type, start line parts, lines, index, body, defects, mode),
    or the error it raises (type, text and offset)."""
    try:
        msg = parse(data, strict)
    except (SIPParseError, ValueError) as exc:
        return ("error", type(exc).__name__, str(exc))
    return (type(msg).__name__, msg.start_line, getattr(msg, "_uri", None),
            getattr(msg, "reason", None), msg.version, msg.headers, msg._header_index(),
            msg.body, msg.defects, msg.strict)


def _both_paths(data: bytes) -> None:
    """`parse_message` (plain path first) gives what the step-by-step path gives, in both
    modes, with its tables of known lines empty and then filled."""
    from pushinject.sip import parse_message
    from pushinject.sip.parser import _LINES, _REQUEST_LINES, _STATUS_LINES, _parse_any

    for strict in (True, False):
        for table in (_LINES, _REQUEST_LINES, _STATUS_LINES):
            table.clear()
        expected = _outcome(_parse_any, data, strict)
        for _ in range(2):  # the second time, from the tables
            assert _outcome(lambda d, s: parse_message(d, strict=s), data, strict) == expected


GOOD_LINES = st.sampled_from([
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport",
    "v: SIP/2.0/UDP h;branch=z9hG4bK2, SIP/2.0/TCP g", "From: <sip:a@x>;tag=1",
    'f: "A \\"q\\"" <sip:a@x>', "From: sip:a@x;tag=9", "To: <sip:b@x>",
    "t: Bob <sips:b@[2001:db8::1]:5061>;tag=2", "Call-ID: c1@h", "i: c2", "CSeq: 1 INVITE",
    "CSeq: 2 BYE", "Contact: <sip:a@h>;expires=60", "m: *", "Contact: sip:c@h;expires=1",
    "Contact: <sip:a@h>;q=0.5, <tel:+1234>", "Max-Forwards: 70", "Expires: 60",
    "Content-Length: 0", "l: 3", "Route: <sip:p;lr>", "Record-Route: <sip:q;lr>",
    "Supported:", "Require: 100rel, timer", "Date: Sat, 13 Nov 2010 23:29:00 GMT",
    "X-Odd.!%*_+`'~: anything, at all", "User-Agent: x", "Via : SIP/2.0/UDP h;branch=z9hG4bK3",
    "X-Lf: a\nb",
])
ODD_LINES = st.sampled_from([
    "Via: SIP/2.0/UDP", "Via: ", "From: <sip:a@x", "To: <sip:b@x:99999>", "Call-ID: a b",
    "CSeq: x", "Contact: <sip:a@h>;expires=99999999999", "Max-Forwards: 300",
    "Content-Length: 99", "X-Trailing: a ", " folded", "No colon", "Bad Name: 1",
    "X-Bare: a\rb", "X-Utf8: \udc80", "",
])
LINES = st.one_of(GOOD_LINES, GOOD_LINES, GOOD_LINES, GOOD_LINES, ODD_LINES)
GOOD_START_LINES = st.sampled_from([
    "INVITE sip:b@x SIP/2.0", "BYE sip:b@x SIP/2.0", "REGISTER sip:x SIP/2.0", "SIP/2.0 200 OK",
    "SIP/2.0 180 Ringing ", "SIP/2.0 487", "sip/2.0 200 OK",
])
ODD_START_LINES = st.sampled_from([
    "INVITE <sip:b@x> SIP/2.0", "INVITE sip:b@x?subject=a SIP/2.0", "INVITE sip:b@x SIP/3.0",
    "INVITE sip:b@x:99999 SIP/2.0", "INVITE  sip:b@x SIP/2.0", "SIP/2.0 099 Low",
    "SIP/3.0 200 OK", "not a start line",
])
START_LINES = st.one_of(GOOD_START_LINES, GOOD_START_LINES, ODD_START_LINES)


@given(START_LINES, st.lists(LINES, max_size=8), st.sampled_from(["", "x", "abc", "abcd"]),
       st.sampled_from(["", "", "", "\r\n", "\n"]), st.sampled_from(["\r\n", "\r\n", "\n"]))
def test_the_plain_path_gives_what_the_step_by_step_path_gives(
        start: str, lines: list[str], body: str, lead: str, sep: str) -> None:
    text = lead + sep.join([start, *lines]) + sep + sep + body
    _both_paths(text.encode("utf-8", "surrogateescape"))


def test_the_plain_path_gives_what_the_step_by_step_path_gives_for_rfc4475(
        rfc4475_dir: Path) -> None:
    for path in sorted(rfc4475_dir.glob("*.dat")):
        _both_paths(path.read_bytes())


@pytest.mark.parametrize("data", [
    b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nv: SIP/2.0/UDP g\r\n"
    b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
    b"Content-Length: 2\r\n\r\nabc",
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
    b"\r\n",
])
def test_a_message_without_a_fault_takes_the_plain_path(data: bytes) -> None:
    from pushinject.sip.parser import _parse_any, _parse_plain

    for strict in (True, False):
        plain = _parse_plain(data, strict)
        assert plain is not None
        assert _outcome(lambda d, s: plain, data, strict) == _outcome(_parse_any, data, strict)


def _reads(msg: Any) -> tuple[Any, ...]:
    """What the accessors `Message.prime` stands for give, or the first error they raise."""
    try:
        return (msg.call_id, msg.cseq, msg.vias, msg.to, msg.from_, msg.contacts, msg.expires,
                msg.paths, msg.routes, getattr(msg, "uri", None))
    except (SIPParseError, ValueError) as exc:
        return ("error", type(exc).__name__, str(exc))


@given(START_LINES, st.lists(LINES, max_size=8))
def test_prime_caches_what_the_accessors_give(start: str, lines: list[str]) -> None:
    from pushinject.sip import parse_message

    data = "\r\n".join([start, *lines, "", ""]).encode("utf-8", "surrogateescape")
    for strict in (True, False):
        try:
            fresh, primed = parse_message(data, strict=strict), parse_message(data, strict=strict)
        except SIPParseError:
            continue
        expected = _reads(fresh)
        try:
            primed.prime()
        except (SIPParseError, ValueError) as exc:
            assert expected == ("error", type(exc).__name__, str(exc))
            continue
        assert primed._cache == fresh._cache
        assert _reads(primed) == expected


@pytest.mark.parametrize("value", [
    '"A \\"q\\"" <sip:a@x>;tag=1', "Bob Smith <sips:b@[2001:db8::1]:5061;lr>;x=\"a;b\"",
    "<tel:+1-234;ext=5>", "<urn:service:sos>;q=1", " <sip:c@h>", "<sip:c@h>;expires=60;q=0.5",
])
def test_name_addrs_and_contacts_built_by_their_check_are_what_parsing_builds(
        value: str) -> None:
    from pushinject.sip.values import (
        _CONTACTS, _NAME_ADDRS, _grammar_parts, check_contact, check_name_addr,
    )

    _NAME_ADDRS.clear()
    _CONTACTS.clear()
    check_name_addr(value)
    check_contact(value)
    parts = _grammar_parts(value)
    assert parts is not None
    assert _NAME_ADDRS[value] == NameAddr(*parts)
    assert list(_NAME_ADDRS[value].params) == list(parts[2])
    assert _CONTACTS[value] == Contact(*parts)


def test_an_absent_numeric_header_is_read_once_and_stays_absent_until_written() -> None:
    req = make_request("REGISTER", "sip:x", via="SIP/2.0/UDP a;branch=z9hG4bK1",
                       from_="<sip:a@x>;tag=1", to="<sip:a@x>", call_id="c", cseq=1,
                       max_forwards=None)
    assert (req.expires, req.max_forwards) == (None, None)
    assert req._cache["expires"] is None and req._cache["max-forwards"] is None
    assert (req.expires, req.max_forwards) == (None, None)
    written = req.with_header("Expires", "60").with_header("Max-Forwards", "7")
    assert (written.expires, written.max_forwards, req.expires) == (60, 7, None)
    assert written.without_header("Expires").expires is None
