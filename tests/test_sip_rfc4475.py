"""RFC 4475 torture messages, carried in tests/rfc4475/ (source and classification in its
README.md, digests in SHA256SUMS)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from pushinject.sip import Message, Request, SIPParseError, header_key, parse_message, split_commas
from pushinject.sip.headers import COMMA_LISTS

VALID = "wsinv intmeth esc01 escnull esc02 lwsdisp longreq dblreq semiuri transports mpart01 " \
        "unreason noreason".split()
INVALID = "badinv01 clerr ncl scalar02 scalarlg quotbal ltgtruri lwsruri badvers baddn " \
          "mismatch01 mismatch02 bigcode".split()
LIBERAL = "lwsstart trws escruri baddate regbadct badaspec".split()
TRANSACTION = ["badbranch"]
APPLICATION = "insuf unkscm novelsc unksm2 bext01 invut regaut01 multi01 mcl01 bcast zeromf " \
              "cparam01 cparam02 regescrt sdp01".split()
BACKWARD = ["inv2543"]
#: RFC 4475 README: a strict parser may refuse these; pushinject refuses the two with repeated
#: single-valued headers (RFC 3261 §7.3.1) and leaves missing headers (insuf) to the accessors
STRICT_REFUSES = {"multi01", "mcl01"}


def _read(folder: Path, name: str) -> bytes:
    return (folder / f"{name}.dat").read_bytes()


def typed_values(msg: Message) -> dict[str, Any]:
    """Everything a parse gives: start line, URI, every header's typed value, body."""
    values: dict[str, Any] = {"body": msg.body, "start": msg.start_line}
    if isinstance(msg, Request):
        values["uri"] = msg.uri
    for attr, header in (("call_id", "Call-ID"), ("cseq", "CSeq"), ("from_", "From"),
                         ("to", "To")):
        values[attr] = getattr(msg, attr) if msg.get(header) is not None else None
    for attr in ("vias", "contacts", "routes", "record_routes", "paths", "max_forwards",
                 "expires", "content_length", "require", "supported", "reasons",
                 "feature_caps"):
        values[attr] = getattr(msg, attr)
    for name, _ in msg.headers:
        values[f"raw:{name.lower()}"] = msg.get_all(name)
    return values


def test_folder_holds_the_50_files(rfc4475_dir: Path) -> None:
    names = {p.stem for p in rfc4475_dir.glob("*.dat")}
    classified = VALID + INVALID + LIBERAL + TRANSACTION + APPLICATION + BACKWARD + ["test"]
    assert len(names) == 50 and names == set(classified)


def test_files_are_the_published_bytes(rfc4475_dir: Path) -> None:
    """Each file has the digest recorded beside it, so no checkout or editor changed a byte
    (line ends included: the messages use CRLF and some deliberately break that)."""
    sums = {}
    for line in (rfc4475_dir / "SHA256SUMS").read_text(encoding="ascii").splitlines():
        digest, name = line.split("  ")
        sums[name] = digest
    assert sorted(sums) == sorted(p.name for p in rfc4475_dir.glob("*.dat"))
    for name, digest in sums.items():
        assert hashlib.sha256((rfc4475_dir / name).read_bytes()).hexdigest() == digest, name


def test_readme_table_is_the_classification_used_here(rfc4475_dir: Path) -> None:
    readme = (rfc4475_dir / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([A-Za-z ]+?) \| [^|]+ \| [^|]+ \| ([a-z0-9 ]+) \|$", readme, re.M)
    assert {cls: files.split() for cls, files in rows if cls != "class"} == {
        "valid": VALID, "invalid": INVALID, "liberal": LIBERAL, "transaction": TRANSACTION,
        "application": APPLICATION, "backward": BACKWARD, "not SIP": ["test"]}


@pytest.mark.parametrize("name", VALID)
def test_valid_messages_parse_strict_and_round_trip_rfc4475_s3_1_1(
    rfc4475_dir: Path, name: str
) -> None:
    msg = parse_message(_read(rfc4475_dir, name))
    again = parse_message(bytes(msg))
    assert typed_values(again) == typed_values(msg)
    assert bytes(parse_message(bytes(again))) == bytes(again)
    for header, value in msg.headers:  # every header reachable by its name, any case
        assert msg.get(header.upper()) == msg.get(header.lower()) is not None
        items = split_commas(value) if header_key(header) in COMMA_LISTS else [value]
        assert all(item in msg.get_all(header) for item in items if item)


def test_wsinv_values_through_folding_and_blanks_rfc4475_s3_1_1_1(rfc4475_dir: Path) -> None:
    msg = parse_message(_read(rfc4475_dir, "wsinv"))
    assert msg.to.tag == "1918181833n" and msg.from_.tag == "98asjd8"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.max_forwards == 68 and msg.cseq.number == 9
    assert [(v.transport, v.host, v.branch) for v in msg.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert msg.contacts[0].q == 0.33 and msg.contacts[0].params["newparam"] == "newvalue"
    assert msg.get("s") == "" and msg.get("NewFangledHeader") == (
        "newfangled value continued newfangled value")


def test_escapes_and_semicolons_in_user_rfc4475_s3_1_1_3_and_9(rfc4475_dir: Path) -> None:
    esc01 = parse_message(_read(rfc4475_dir, "esc01"))
    assert esc01.uri.user == "sips%3Auser%40example.com" and esc01.uri.host == "example.net"
    semi = parse_message(_read(rfc4475_dir, "semiuri"))
    assert semi.uri.user == "user;par=u%40example.net" and semi.uri.params == {}
    esc02 = parse_message(_read(rfc4475_dir, "esc02"))
    assert isinstance(esc02, Request) and esc02.method == "RE%47IST%45R"
    assert len(esc02.contacts) == 2 and esc02.get("C%6Fntact") is not None


def test_dblreq_keeps_only_the_first_message_rfc4475_s3_1_1_12(rfc4475_dir: Path) -> None:
    msg = parse_message(_read(rfc4475_dir, "dblreq"))
    assert isinstance(msg, Request) and msg.method == "REGISTER"
    assert msg.body == b"" and msg.defects == ["450 bytes after the Content-Length body ignored"]


@pytest.mark.parametrize("name", INVALID)
def test_invalid_messages_rejected_strict_rfc4475_s3_1_2(rfc4475_dir: Path, name: str) -> None:
    data = _read(rfc4475_dir, name)
    with pytest.raises(SIPParseError) as err:
        parse_message(data)
    assert 0 <= err.value.offset <= len(data)
    try:
        lenient = parse_message(data, strict=False)
    except SIPParseError:
        return  # nothing recoverable (e.g. bigcode's status code)
    assert lenient.defects


@pytest.mark.parametrize("name", LIBERAL)
def test_liberal_group_flags_a_defect_when_accepted_rfc4475_s3_1_2(
    rfc4475_dir: Path, name: str
) -> None:
    data = _read(rfc4475_dir, name)
    with pytest.raises(SIPParseError):
        parse_message(data)
    assert parse_message(data, strict=False).defects


@pytest.mark.parametrize("name", TRANSACTION + APPLICATION + BACKWARD)
def test_transaction_application_and_2543_messages_parse_rfc4475_s3_2_to_3_4(
    rfc4475_dir: Path, name: str
) -> None:
    data = _read(rfc4475_dir, name)
    if name in STRICT_REFUSES:
        with pytest.raises(SIPParseError):
            parse_message(data)
        assert parse_message(data, strict=False).defects
    else:
        msg = parse_message(data)
        assert msg.defects == []
        typed_values(msg)


def test_application_layer_values_rfc4475_s3_3(rfc4475_dir: Path) -> None:
    assert parse_message(_read(rfc4475_dir, "unkscm")).uri.scheme == "nobodyknowsthisscheme"
    assert parse_message(_read(rfc4475_dir, "zeromf")).max_forwards == 0
    assert parse_message(_read(rfc4475_dir, "badbranch")).top_via.branch == "z9hG4bK"
    inv = parse_message(_read(rfc4475_dir, "inv2543"))
    assert inv.top_via.branch is None and inv.cseq.number == 56


def test_insuf_parses_and_accessors_name_the_missing_headers_rfc4475_s3_3_1(
    rfc4475_dir: Path,
) -> None:
    msg = parse_message(_read(rfc4475_dir, "insuf"))
    for attr, header in (("call_id", "Call-ID"), ("from_", "From"), ("to", "To")):
        with pytest.raises(SIPParseError, match=header):
            getattr(msg, attr)
    assert msg.max_forwards is None


def test_not_a_sip_message_is_rejected(rfc4475_dir: Path) -> None:
    data = _read(rfc4475_dir, "test")
    for strict in (True, False):
        with pytest.raises(SIPParseError, match="not a SIP request or status line"):
            parse_message(data, strict=strict)


def test_lenient_values_of_badinv01_rfc4475_s3_1_2_1(rfc4475_dir: Path) -> None:
    msg = parse_message(_read(rfc4475_dir, "badinv01"), strict=False)
    assert [(v.transport, v.host, v.params) for v in msg.vias] == [("UDP", "192.0.2.15", {})]
    assert [c.display_name for c in msg.contacts] == ["Joe"]
    assert msg.defects[0] == "Via: malformed Via value 'SIP/2.0/UDP 192.0.2.15;;'"
