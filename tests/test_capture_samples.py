"""The purpose-made captures of data/captures/: rebuilt byte for byte, decoded as stated."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pushinject.capture import Decoder
from pushinject.capture.calls import calls
from tests.capture_samples import write
from tests.conftest import require_tool

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"
MANIFEST = tomllib.loads((CAPTURES / "manifest.toml").read_text())


def test_encapsulations_capture_is_rebuilt_byte_for_byte(tmp_path: Path) -> None:
    rebuilt = tmp_path / "encapsulations.pcap"
    write(rebuilt)
    assert rebuilt.read_bytes() == (CAPTURES / "encapsulations.pcap").read_bytes()


def test_encapsulations_capture_decodes_as_the_manifest_says() -> None:
    facts = MANIFEST["encapsulations"]
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
    [call] = calls(messages)
    assert call.final_status == facts["call_final_status"]
    [branch] = call.branches
    assert list(branch.provisional) == facts["branch_provisional"]
    assert branch.final_status == 200 and not branch.injected


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
