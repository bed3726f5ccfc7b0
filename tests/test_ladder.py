"""Ladder diagrams: columns per party, one arrow per message, groups distinguishable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pushinject.ladder import Arrow, ladder_svg, ladder_text, parties_of
from pushinject.paths import data_path

ARROWS = [
    Arrow(10.0, "caller", "proxy", "INVITE"),
    Arrow(10.1, "proxy", "phone", "INVITE", "b1"),
    Arrow(10.2, "phone", "proxy", "180 (INVITE)", "b1"),
    Arrow(10.3, "proxy", "phone2", "INVITE", "b2"),
]


def test_text_ladder_has_one_row_per_message_and_group_strokes() -> None:
    text = ladder_text(ARROWS)
    lines = text.splitlines()
    assert lines[0].split() == ["time", "caller", "proxy", "phone", "phone2"]
    assert len(lines) == 5
    assert lines[1].startswith("0.000") and lines[4].startswith("0.300")
    assert "-INVITE-" in lines[1] and lines[1].count(">") == 1
    assert "=INVITE [b2]=" not in lines[2] and "INVITE [b1]" in lines[2]
    assert "<" in lines[3] and "=" in lines[3]          # group b1 drawn with '='
    assert "~INVITE [b2]~" in lines[4].replace("~~", "~")  # group b2 drawn with '~'


def test_long_group_names_become_short_with_a_legend() -> None:
    arrows = [Arrow(0.0, "A", "B", "INVITE", "z9hG4bK-very-long-1"),
              Arrow(0.1, "B", "A", "100 (INVITE)", "z9hG4bK-very-long-1"),
              Arrow(0.2, "A", "B", "ACK", "z9hG4bK-very-long-2")]
    lines = ladder_text(arrows).splitlines()
    assert "INVITE [g1]" in lines[1] and "ACK [g2]" in lines[3]
    assert lines[-2:] == ["g1 = z9hG4bK-very-long-1", "g2 = z9hG4bK-very-long-2"]
    assert "g2 = z9hG4bK-very-long-2" in ladder_svg(arrows)


def test_explicit_parties_fix_the_column_order() -> None:
    header = ladder_text(ARROWS, ["phone2", "phone", "proxy", "caller"]).splitlines()[0]
    assert header.split() == ["time", "phone2", "phone", "proxy", "caller"]
    assert parties_of(ARROWS) == ["caller", "proxy", "phone", "phone2"]


def test_svg_is_byte_identical_run_to_run() -> None:
    one, two = ladder_svg(ARROWS, title="call"), ladder_svg(ARROWS, title="call")
    assert one == two
    assert one.startswith("<?xml") and "INVITE [b1]" in one and "#d62728" in one


def test_flow_command_text_and_svg(tmp_path: Path) -> None:
    capture = data_path("captures", "cooked-ipv6.pcap")
    cmd = [sys.executable, "-m", "pushinject", "flow", str(capture)]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    assert text[0].split() == ["time", "[2001:db8::10]:5060", "[2001:db8::1]:5060",
                               "[2001:db8::20]:5062"]
    assert [line.split("|")[1:] != [] for line in text[1:12]] == [True] * 11
    assert ["INVITE [g2]" in text[3], "183 (INVITE) [g1]" in text[5], "ACK [g4]" in text[11]] == [
        True, True, True]
    assert text[12:] == ["g1 = z9hG4bK-c6-up", "g2 = z9hG4bK-c6-down", "g3 = z9hG4bK-c6-ack",
                         "g4 = z9hG4bK-c6-ack2"]
    out = tmp_path / "flow.svg"
    done = subprocess.run(cmd + ["--svg", str(out)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"wrote {out} (11 messages)"
    assert "183 (INVITE)" in out.read_text()
    missing = subprocess.run(cmd + ["--call-id", "nope"], capture_output=True, text=True)
    assert missing.returncode == 2 and "no SIP messages with Call-ID nope" in missing.stderr


def test_svg_column_width_and_fontsize_resize_the_figure_and_its_text() -> None:
    two = [Arrow(0.0, "A", "B", "INVITE"), Arrow(0.5, "B", "A", "180")]
    size = re.compile(r'width="([0-9.]+)pt" height="([0-9.]+)pt"')
    fonts = re.compile(r"font-size: ?([0-9.]+)px")
    default = ladder_svg(two)
    assert default == ladder_svg(two, column_width=2.6, fontsize=7.0)
    assert size.search(default).groups() == ("446.4", "135.36")  # (2.6 * 2 + 1) * 72
    assert sorted(set(fonts.findall(default))) == ["7", "8"]
    compact = ladder_svg(two, title="t", column_width=1.6, fontsize=9)
    # (1.6 * 2 + 1) * 72 wide; rows 9/7 as tall: (1.2 + 0.34 * 2 * 9 / 7) * 72
    assert size.search(compact).groups() == ("302.4", "149.348571")
    assert sorted(set(fonts.findall(compact))) == ["10", "12", "9"]
