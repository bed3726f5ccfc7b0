"""The real Kamailio captures of the lab (data/kamailio/) decoded and rebuilt as calls.

Each capture's manifest entry states what it must show (frames, SIP messages, the call's final
status, pushes, and every branch: target, Via branch, injected, cancelled, final status). The
decoder and `calls()` must find exactly that, from the bytes alone (RFC 3261 §16.6, §17.1.3;
Kamailio tsilo `ts_append`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pushinject.capture import Decoder
from pushinject.capture.calls import calls

KAMAILIO = Path(__file__).resolve().parent.parent / "data" / "kamailio"
MANIFEST = tomllib.loads((KAMAILIO / "manifest.toml").read_text())
ENTRIES = sorted(k for k, v in MANIFEST.items() if isinstance(v, dict))
FIELDS = ("target", "injected", "cancelled", "final_status", "via_branch")


def test_every_lab_capture_is_listed() -> None:
    """Every capture is in the manifest, but those of load/ and load/loss/, which have their
    own (tests/test_lab_load.py, tests/test_capture_loss.py)."""
    assert len(ENTRIES) >= 6
    load = KAMAILIO / "load"
    assert {MANIFEST[name]["file"] for name in ENTRIES} == {
        str(p.relative_to(KAMAILIO)) for p in KAMAILIO.rglob("*.pcap")
        if load not in (p.parent, p.parent.parent)}
    assert sorted(p.name for p in load.glob("*.pcap")) == ["L1.pcap"]
    assert sorted(p.name for p in (load / "loss").glob("*.pcap")) == ["K150-loss.pcap"]


@pytest.mark.parametrize("name", ENTRIES)
def test_lab_capture_decodes_to_its_manifest_facts(name: str) -> None:
    entry = MANIFEST[name]
    decoder = Decoder()
    messages = list(decoder.decode_file(KAMAILIO / entry["file"]))
    assert decoder.summary.frames == entry["frames"]
    assert len(messages) == entry["sip_messages"]
    host, port = entry["proxy"].rsplit(":", 1)
    for proxy in ((host, int(port)), None):  # named, then recognised from what it does
        [call] = calls(messages, origin=messages[0].time, proxy=proxy)
        assert call.call_id == entry["call_id"]
        assert call.final_status == entry["final_status"]
        assert len(call.pushes) == entry["pushes"]
        got = [{"target": b.target, "injected": b.injected, "cancelled": b.cancelled,
                "final_status": b.final_status, "via_branch": b.via_branch}
               for b in call.branches]
        # a branch the device never answered has no final_status in the manifest (S11)
        assert got == [{k: b.get(k) for k in FIELDS} for b in entry["branches"]]
