"""`pushinject parse`: typed decoding of message files, strict errors, lenient defects, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushinject.cli import main
from tests.conftest import DATA

INVITE = str(DATA / "samples" / "invite.sip")
REGISTER = str(DATA / "samples" / "register-pn.sip")


def test_text_output_shows_typed_headers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", INVITE, REGISTER]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"== {INVITE}"
    assert out[1] == "request INVITE [uri=sip:bob@example.com scheme=sip user=bob host=example.com]"
    assert "      transport=UDP host=192.0.2.20 port=5060 branch=z9hG4bK-inv-1" in out
    assert "      number=1 method=INVITE" in out
    assert "  body: 134 bytes" in out
    contact = next(line for line in out if "pn_prid=" in line)
    assert "pn_provider=apns pn_prid=00fc13adff78512 pn_param=ABCD1234.com.example.voip" in contact
    assert "      items: path | outbound" in out


def test_json_output_one_object_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--json", REGISTER]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    doc = json.loads(line)
    assert (doc["file"], doc["method"], doc["body_size"], doc["defects"]) == (
        REGISTER, "REGISTER", 0, [])
    contact = next(h for h in doc["headers"] if h["name"] == "Contact")["typed"][0]
    assert (contact["pn_provider"], contact["reg_id"], contact["expires"]) == ("apns", 1, 3600)
    via = doc["headers"][0]["typed"][0]
    assert (via["transport"], via["port"], via["rport"]) == ("UDP", 5062, "")


def test_strict_failure_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.sip"
    bad.write_bytes(b"OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n")
    assert main(["parse", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (f"pushinject parse: error: {bad}: CSeq method INVITE differs from the "
                   "request method OPTIONS (at byte 25)\n")


def test_lenient_mode_prints_defects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.sip"
    bad.write_bytes(b"OPTIONS  sip:a@b SIP/2.0\r\nTo: Watson, T <sip:t@b>\r\nl: 0\r\n\r\n")
    assert main(["parse", "--lenient", str(bad)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [
        "  defect: request line does not follow RFC 3261 §7.1 spacing: 'OPTIONS  sip:a@b SIP/2.0'",
        "  defect: To: malformed name-addr value 'Watson, T <sip:t@b>'",
    ]
    assert "      display_name=Watson, T uri=[uri=sip:t@b scheme=sip user=t host=b]" in out


def test_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "/nonexistent/x.sip"]) == 2
    assert "no such file" in capsys.readouterr().err
