"""The purpose-made captures of data/captures/: rebuilt byte for byte, decoded as stated
(every frame accounted for, CAP-1; split messages at their completing frame, CAP-3; a damaged
file counted, CAP-4; both decoding paths alike, CAP-5; the drops a pcapng file counts, CAP-8)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pushinject.capture import Decoder
from pushinject.capture.calls import calls
from pushinject.capture.records import read_records
from pushinject.capture.samples import RECIPES, write
from pushinject.paths import data_path
from tests.conftest import require_tool
from tests.tshark_rows import decoder_rows, tshark_rows

CAPTURES = data_path("captures")
MANIFEST = tomllib.loads((CAPTURES / "manifest.toml").read_text())


def test_every_capture_has_a_recipe_and_an_entry() -> None:
    assert sorted(e["file"] for e in MANIFEST.values()) == sorted(RECIPES) == sorted(
        p.name for p in CAPTURES.glob("*.pcap*"))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_capture_is_rebuilt_byte_for_byte(name: str, tmp_path: Path) -> None:
    facts = MANIFEST[name]
    rebuilt = tmp_path / facts["file"]
    write(facts["file"], rebuilt)
    assert rebuilt.read_bytes() == (CAPTURES / facts["file"]).read_bytes()
    assert {r.linktype for r in read_records(rebuilt)} == {facts["linktype"]}


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_capture_decodes_as_the_manifest_says(name: str) -> None:
    facts = MANIFEST[name]
    for full in (False, True):
        decoder = Decoder(full=full)
        messages = list(decoder.decode_file(CAPTURES / facts["file"]))
        assert [m.label for m in messages] == facts["labels"]
        assert [m.transport for m in messages] == facts["transports"]
        assert [m.frame for m in messages] == facts["message_frames"]
        s = decoder.summary
        assert (s.frames, s.sip_frames, s.carried) == (
            facts["frames"], len(facts["labels"]), facts["carried"])
        assert dict(s.skipped) == facts["skipped"]
        assert dict(s.anomalies) == facts["faults"]
        assert s.dropped == facts.get("dropped", 0) and not s.truncated_file
    if "defects" in facts:
        assert [m.message.defects for m in messages] == facts["defects"]
    if "call_final_status" in facts:
        [call] = calls(messages)
        assert call.final_status == facts["call_final_status"]
        [branch] = call.branches
        assert list(branch.provisional) == facts["branch_provisional"]
        assert branch.final_status == 200 and not branch.injected


def test_a_cut_capture_reports_a_truncated_file(tmp_path: Path) -> None:
    """The damaged capture cut inside its last record: the first message survives, and the
    summary counts the cut record instead of raising."""
    cut = tmp_path / "cut.pcap"
    cut.write_bytes((CAPTURES / "damaged.pcap").read_bytes()[:-40])
    decoder = Decoder()
    assert [m.label for m in decoder.decode_file(cut)] == ["INVITE"]
    assert decoder.summary.truncated_file and dict(decoder.summary.skipped) == {
        "truncated-file": 1}


def test_tshark_sees_only_what_the_manifest_says() -> None:
    """The documented difference: tshark does not reorder TCP segments by default and needs
    both WebSocket handshake halves, so it misses the 180 over TCP and both WebSocket messages."""
    import subprocess

    tshark = require_tool("tshark")
    done = subprocess.run(
        [tshark, "-r", str(CAPTURES / "encapsulations.pcap"), "-Y", "sip", "-T", "fields",
         "-e", "frame.number", "-e", "sip.Method", "-e", "sip.Status-Code"],
        capture_output=True, text=True, check=True)
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert [int(r[0]) for r in rows if r[1] or r[2]] == MANIFEST["encapsulations"]["tshark_frames"]


@pytest.mark.tshark
@pytest.mark.parametrize("name", ["cooked-ipv6.pcap", "damaged.pcap", "dropped.pcapng",
                                  "mirrored.pcap"])
def test_tshark_lists_the_same_messages(name: str) -> None:
    """Linux cooked frames, IPv6 fragments, raw IP, malformed Content-Length values and a port
    mirror's copies: tshark and the decoder list the same messages in the same frames."""
    tshark = require_tool("tshark")
    ours, _ = decoder_rows(CAPTURES / name)
    assert ours == tshark_rows(tshark, CAPTURES / name)
    assert len(ours) == len(MANIFEST[name.split(".")[0]]["labels"])
