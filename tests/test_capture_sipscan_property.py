"""`scan`'s one-pass reading agrees with its general reading on any header block (canonical,
compact and odd-case names, space before the colon, folding, bare CR or LF, repeated headers,
commas in Via), and with `pushinject.sip.parse_message` on well-formed messages (RFC 3261 §7.3)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pushinject.capture.sipscan import _scan_general, fields_of, scan
from pushinject.sip import parse_message

NAMES = {
    "Via": ["Via", "v", "VIA", "via"],
    "From": ["From", "f", "FROM"],
    "To": ["To", "t", "tO"],
    "Call-ID": ["Call-ID", "i", "call-id"],
    "CSeq": ["CSeq", "cseq"],
    "Content-Length": ["Content-Length", "l", "content-length"],
}
TOKENS = st.text("abcXYZ019.-!", min_size=1, max_size=6)


@st.composite
def values(draw: st.DrawFn, name: str) -> str:
    token = draw(TOKENS)
    if name == "Via":
        sep = draw(st.sampled_from([";", " ; ", ";\t"]))
        more = draw(st.sampled_from(["", ",SIP/2.0/TCP h2;branch=z9hG4bK2", ";rport"]))
        return f"SIP/2.0/UDP h:5060{sep}branch=z9hG4bK{token}{more}"
    if name in ("From", "To"):
        tag = draw(st.sampled_from(["", f";tag={token}", f" ;TAG={token}"]))
        inner = draw(st.sampled_from(["", ";tag=inside"]))
        return draw(st.sampled_from([f"<sip:a@x{inner}>{tag}", f"sip:a@x{tag}",
                                     f'"A, B" <sip:a@x>{tag}']))
    if name == "Call-ID":
        return token + draw(st.sampled_from(["", "@host", " ", "\t"]))
    if name == "CSeq":
        return draw(st.sampled_from([f"1 {token}", "2  INVITE", "x INVITE", "3", "7 ACK "]))
    return draw(st.sampled_from(["0", "5", "12", "x", " 3"]))


@st.composite
def messages(draw: st.DrawFn, odd: bool = True) -> bytes:
    start = draw(st.sampled_from(["INVITE sip:b@x SIP/2.0", "SIP/2.0 180 Ringing"]
                                 + (["SIP/2.0 2x0 Odd", "SIP/2.0 20", "NOSPACE"] if odd else [])))
    lines = [start]
    for _ in range(draw(st.integers(0, 9))):
        name = draw(st.sampled_from([*NAMES, "Contact", "Max-Forwards"]))
        if not odd and name not in ("Via", "Contact") and any(
                line.startswith(name + ":") for line in lines):
            continue  # well-formed: singular headers once (RFC 3261 §7.3.1)
        value = draw(values(name)) if name in NAMES else draw(TOKENS)
        spelling = draw(st.sampled_from(NAMES.get(name, [name]))) if odd else name
        colon = draw(st.sampled_from([": ", ":", " : ", ":\t"])) if odd else ": "
        lines.append(f"{spelling}{colon}{value}")
    ends = ["\r\n"] * 8 + (["\n", "\r\n ", "\r\n\t", "\rz\r\n"] if odd else [])
    head = start
    for line in lines[1:]:
        head += draw(st.sampled_from(ends)) + line
    body = draw(st.sampled_from([b"", b"hello", b"v=0\r\n"]))
    lead = draw(st.sampled_from(["", "\r\n"])) if odd else ""
    return (lead + head + "\r\n\r\n").encode() + body


@settings(max_examples=400, deadline=None)
@given(messages())
def test_one_pass_agrees_with_the_general_reading(data: bytes) -> None:
    """Whatever the header block, the fast reading and the general one give the same fields,
    the first time and when the values are remembered."""
    assert scan(data) == _scan_general(data)
    assert scan(data) == _scan_general(data)


@settings(max_examples=150, deadline=None)
@given(messages(odd=False))
def test_one_pass_agrees_with_the_parser(data: bytes) -> None:
    """On well-formed messages the fields are those of the full parser."""
    try:
        parsed = parse_message(data, strict=False)
    except ValueError:
        return
    assert scan(data) == fields_of(parsed)


def test_unusual_spellings_leave_the_one_pass() -> None:
    """A compact or odd-case name ahead of a canonical one wins (the first occurrence,
    RFC 3261 §7.3.1); a bare CR ends a value as it does in the general reading."""
    data = (b"SIP/2.0 200 OK\r\ni: first\r\nCall-ID: second\r\nVia: SIP/2.0/UDP h;branch=b1\r\n"
            b"From: <sip:a@x>;tag=f\rjunk\r\nTo: <sip:b@x>\r\nCSeq: 4 BYE\r\n\r\n")
    f = scan(data)
    assert (f.call_id, f.branch, f.from_tag, f.to_tag, f.cseq_number) == (
        "first", "b1", "f", None, 4)
    assert scan(data.replace(b"i: first\r\n", b"")).call_id == "second"
    assert scan(data.replace(b"\rjunk", b"")).from_tag == "f"


def test_non_ascii_letters_are_not_header_names() -> None:
    """Only ASCII letters fold in header names (RFC 3261 §7.3.1 with §25.1 token): a dotless i
    or a long s does not make a Call-ID or CSeq header."""
    data = "OPTIONS sip:b@x SIP/2.0\r\nCall-\u0131D: x\r\nC\u017feq: 1 OPTIONS\r\n\r\n".encode()
    f = scan(data)
    assert (f.method, f.call_id, f.cseq_number) == ("OPTIONS", None, None)
