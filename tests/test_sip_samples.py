"""Every bundled sample in data/samples matches its row of data/samples/manifest.toml."""

from __future__ import annotations

import tomllib

import pytest

from pushinject.sip import Request, Response, parse_message

from tests.conftest import DATA

SAMPLES = DATA / "samples"
MANIFEST = tomllib.loads((SAMPLES / "manifest.toml").read_text(encoding="utf-8"))


def test_every_sample_file_is_described() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.sip")) == sorted(MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_sample_matches_manifest(name: str) -> None:
    entry = MANIFEST[name]
    msg = parse_message((SAMPLES / name).read_bytes())
    assert entry["description"]
    if "method" in entry:
        assert isinstance(msg, Request) and msg.method == entry["method"]
    else:
        assert isinstance(msg, Response) and msg.status == entry["status"]
    assert msg.call_id == entry["call_id"]
    assert len(msg.headers) == entry["header_count"]
    assert len(msg.body) == entry["body_size"] == msg.content_length
    assert msg.defects == []


def test_register_sample_carries_push_parameters_rfc8599_s4_1_1() -> None:
    msg = parse_message((SAMPLES / "register-pn.sip").read_bytes())
    (contact,) = msg.contacts
    assert (contact.pn_provider, contact.pn_prid, contact.pn_param) == (
        "apns", "00fc13adff78512", "ABCD1234.com.example.voip")
    assert contact.instance == "urn:uuid:00000000-0000-1000-8000-000A95A0E128"
    assert (contact.reg_id, contact.expires, contact.pn_purr) == (1, 3600, None)
    assert msg.top_via.rport == ""
