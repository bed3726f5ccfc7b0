"""Several files as one recording: which inputs are parts of one (names, headers), the merge by
timestamp, and `check`/`decode` judging a call split across rotated parts as the whole."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scapy.utils import RawPcapWriter

from pushinject.capture import Decoder
from pushinject.capture.recording import (
    Recording, group_inputs, probe, rotation_stem, split_capture,
)
from pushinject.errors import UsageError
from tests.conftest import DATA
from tests.pcap_edit import split

KAMAILIO = DATA / "kamailio"
CHECK = ["--preset", "kamailio-tsilo", "--knob", "fr_timeout=8", "--knob", "fr_inv_timeout=10"]


def _check(*args: str | Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "pushinject", "check", "--json", *CHECK,
                           *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.stderr == ""
    return done.returncode, json.loads(done.stdout)


def _calls(report: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [capture["calls"] for capture in report["captures"]]


@pytest.mark.parametrize(("name", "stem"), [
    ("cap.pcap", "cap.pcap#"), ("cap.pcap7", "cap.pcap#"), ("cap.pcap00", "cap.pcap#"),
    ("cap-20261206-093000.pcap", "cap-#-#.pcap#"), ("ring_00003_20261206093000.pcapng",
                                                   "ring_#_#.pcapng#"),
    ("S1.pcap", "S1.pcap#"), ("S10.pcap", "S10.pcap#"), ("v2-trace.pcap3", "v2-trace.pcap#"),
])
def test_rotation_stem(name: str, stem: str) -> None:
    assert rotation_stem(name) == stem


def test_tcpdump_dash_c_parts_are_one_recording_in_time_order(tmp_path: Path) -> None:
    parts = split(KAMAILIO / "S1.pcap", [7, 14], ["s1.pcap", "s1.pcap1", "s1.pcap2"], tmp_path)
    (recording,) = group_inputs([parts[2], parts[0], parts[1]])
    assert [p.path.name for p in recording.parts] == ["s1.pcap", "s1.pcap1", "s1.pcap2"]
    assert recording.name == "s1.pcap..s1.pcap2 (3 parts)"
    whole = [(r.frame, r.time, r.data) for r in Recording([probe(KAMAILIO / "S1.pcap")])]
    assert [(r.frame, r.time, r.data) for r in recording] == whole
    assert (recording.frames, recording.truncated) == (26, False)


def test_unrelated_names_headers_and_modes(tmp_path: Path) -> None:
    s1, s2 = KAMAILIO / "S1.pcap", KAMAILIO / "S2.pcap"
    assert [r.name for r in group_inputs([s1, s2])] == ["S1.pcap", "S2.pcap"]
    assert [r.name for r in group_inputs([s1, s2], "merge")] == ["S1.pcap..S2.pcap (2 parts)"]
    parts = split(KAMAILIO / "S1.pcap", [7], ["a.pcap0", "a.pcap1"], tmp_path)
    assert [r.name for r in group_inputs(parts, "separate")] == ["a.pcap0", "a.pcap1"]
    # the same names with another link type (Linux cooked) or snapshot length stay apart
    other = tmp_path / "a.pcap2"
    with RawPcapWriter(str(other), linktype=113) as writer:
        writer.write_header(None)
    assert [r.name for r in group_inputs([*parts, other])] == [
        "a.pcap0..a.pcap1 (2 parts)", "a.pcap2"]
    with pytest.raises(UsageError, match="unknown grouping 'join'"):
        group_inputs(parts, "join")
    with pytest.raises(UsageError, match="no such capture file"):
        group_inputs([tmp_path / "missing.pcap"])


@pytest.mark.parametrize("scenario", [f"S{n}" for n in range(1, 11)])
def test_check_judges_rotated_parts_as_the_whole(tmp_path: Path, scenario: str) -> None:
    whole = KAMAILIO / f"{scenario}.pcap"
    frames = sum(1 for _ in Recording([probe(whole)]))
    cuts = [frames // 3 + 1, 2 * frames // 3 + 1]
    parts = split(whole, cuts, [f"{scenario}-{t}.pcap" for t in
                                ("20261206-0930", "20261206-0931", "20261206-0932")], tmp_path)
    status, report = _check(*reversed(parts))
    whole_status, whole_report = _check(whole)
    assert (status, _calls(report)) == (whole_status, _calls(whole_report))
    assert report["captures"][0]["file"] == (f"{scenario}-20261206-0930.pcap.."
                                             f"{scenario}-20261206-0932.pcap (3 parts)")
    assert report["captures"][0]["frames"] == frames


def test_parts_judged_alone_show_why_merging_matters(tmp_path: Path) -> None:
    """Cut between the device's 180 (frame 7) and its forwarded copy (frame 8): alone, the
    first part seems to drop the 180 (the rule and the replay both blame frame 7) and the
    second holds no INVITE transaction at all."""
    parts = split(KAMAILIO / "S1.pcap", [8], ["s1.pcap0", "s1.pcap1"], tmp_path)
    status, merged = _check(*parts)
    assert (status, merged["verdict"]) == (0, "conformant")
    status, alone = _check("--separate", *parts)
    first, second = alone["captures"]
    assert status == 1
    assert [(c["call_id"], [v["frame"] for v in c["violations"]]) for c in first["calls"]] == [
        ("S1-call@127.0.0.1", [7, 7])]
    assert (first["frames"], second["frames"], second["calls"]) == (7, 19, [])


def test_unrelated_captures_keep_their_own_verdicts() -> None:
    s1, s2 = KAMAILIO / "S1.pcap", KAMAILIO / "S2.pcap"
    status, both = _check(s1, s2)
    assert [c["file"] for c in both["captures"]] == ["S1.pcap", "S2.pcap"]
    assert _calls(both) == _calls(_check(s1)[1]) + _calls(_check(s2)[1])
    assert status == 0


def test_decode_lists_a_rotated_set_as_one_capture(tmp_path: Path) -> None:
    parts = split(KAMAILIO / "S3.pcap", [5, 9], ["t.pcap", "t.pcap1", "t.pcap2"], tmp_path)
    whole = Decoder()
    expected = [m.json_line() for m in whole.decode_file(KAMAILIO / "S3.pcap")]
    done = subprocess.run([sys.executable, "-m", "pushinject", "decode", "--json",
                           *map(str, parts)], capture_output=True, text=True, timeout=60)
    lines = done.stdout.splitlines()
    assert (done.returncode, done.stderr) == (0, "")
    assert lines[:-1] == expected
    assert json.loads(lines[-1]) == {"summary": whole.summary.to_json()}


def test_split_capture_keeps_every_byte_and_the_header(tmp_path: Path) -> None:
    """The parts hold the original header each and its records in order, cut short last record
    left out; nanosecond files stay nanosecond."""
    whole = (KAMAILIO / "S1.pcap").read_bytes()
    parts = split_capture(KAMAILIO / "S1.pcap", [2, 26, 30], [
        tmp_path / n for n in ("s.pcap", "s.pcap1", "s.pcap2", "s.pcap3")])
    data = [p.read_bytes() for p in parts]
    assert [d[:24] for d in data] == [whole[:24]] * 4
    assert b"".join(d[24:] for d in data) == whole[24:]
    assert [sum(1 for _ in Recording([probe(p)])) for p in parts] == [1, 24, 1, 0]
    nano = tmp_path / "nano.pcap"
    with RawPcapWriter(str(nano), linktype=101, nano=True) as writer:
        writer.write_header(None)
        for n in range(3):
            writer.write_packet(b"\x45" + bytes(19), sec=100 + n, usec=123456789)
    cut = tmp_path / "nano-cut.pcap"
    cut.write_bytes(nano.read_bytes()[:-5])
    first, second = split_capture(cut, [2], [tmp_path / "n.pcap0", tmp_path / "n.pcap1"])
    assert first.read_bytes()[:4] == b"\x4d\x3c\xb2\xa1"
    assert [(r.frame, r.time) for r in Recording([probe(first), probe(second)])] == [
        (1, 100.123456789), (2, 101.123456789)]


@pytest.mark.parametrize(("cuts", "count", "message"), [
    ([1], 2, "2 parts need 1 increasing cuts (frame numbers from 2), got [1]"),
    ([6, 5], 3, "3 parts need 2 increasing cuts (frame numbers from 2), got [6, 5]"),
    ([5, 5], 3, "3 parts need 2 increasing cuts (frame numbers from 2), got [5, 5]"),
    ([5], 3, "3 parts need 2 increasing cuts (frame numbers from 2), got [5]"),
])
def test_split_capture_refuses_cuts_that_are_not_increasing_frames(
        tmp_path: Path, cuts: list[int], count: int, message: str) -> None:
    names = [tmp_path / f"x.pcap{i}" for i in range(count)]
    with pytest.raises(UsageError, match=re.escape(message)):
        split_capture(KAMAILIO / "S1.pcap", cuts, names)
    assert list(tmp_path.iterdir()) == []


def test_split_capture_reads_classic_pcap_only(tmp_path: Path) -> None:
    pcapng = tmp_path / "x.pcapng"
    pcapng.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(28))
    for source in (pcapng, tmp_path / "missing.pcap"):
        with pytest.raises(UsageError, match="split_capture reads classic pcap files only"):
            split_capture(source, [2], [tmp_path / "a.pcap0", tmp_path / "a.pcap1"])
