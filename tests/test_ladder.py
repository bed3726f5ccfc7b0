"""Ladder diagrams: columns per party, one arrow per message, groups distinguishable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pushinject.ladder import Arrow, ladder_svg, ladder_text, parties_of
from svg_texts import outside, texts
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


def test_svg_ipv6_headers_are_split_before_the_port_and_no_text_runs_into_another() -> None:
    parties = ["[2001:db8::10]:5060", "[2001:db8::1]:5060", "[2001:db8::20]:5062",
               "[2001:db8::21]:5064"]
    arrows = [Arrow(0.0, parties[0], parties[1], "INVITE", "z9hG4bK-c6-up"),
              Arrow(0.2, parties[1], parties[2], "INVITE", "z9hG4bK-c6-down"),
              Arrow(0.3, parties[1], parties[3], "INVITE", "z9hG4bK-c6-down2"),
              Arrow(0.7, parties[2], parties[1], "200 (INVITE)", "z9hG4bK-c6-down")]
    svg = ladder_svg(arrows, title="ipv6")
    lines = [t.text for t in texts(svg)]
    assert lines[:9] == ["ipv6", "[2001:db8::10]", ":5060", "[2001:db8::1]", ":5060",
                         "[2001:db8::20]", ":5062", "[2001:db8::21]", ":5064"]
    placed = texts(svg)
    assert [(a.text, b.text) for i, a in enumerate(placed) for b in placed[i + 1:]
            if a.overlaps(b)] == []
    assert outside(svg) == []


def test_svg_columns_make_room_for_the_longest_label_between_them() -> None:
    wide = [Arrow(0.0, "A", "B", "486 Busy Here [branch 0] with a long reason phrase")]
    placed = {t.text: t for t in texts(ladder_svg(wide))}
    label = placed["486 Busy Here [branch 0] with a long reason phrase"]
    a, b = placed["A"], placed["B"]
    assert (a.left + a.right) / 2 < label.left and label.right < (b.left + b.right) / 2


def test_svg_mark_of_a_party_on_itself_is_written_beside_its_column() -> None:
    placed = {t.text: t for t in texts(ladder_svg([Arrow(0.0, "proxy", "B", "push"),
                                                   Arrow(2.0, "B", "B", "wakes up")]))}
    column = (placed["B"].left + placed["B"].right) / 2
    assert placed["wakes up"].left > column and placed["wakes up"].top > placed["push"].bottom


def test_svg_column_width_and_font_size_can_be_chosen_and_labels_still_fit() -> None:
    arrows = [Arrow(0.0, "A", "B", "INVITE"), Arrow(1.0, "B", "C", "a rather long label here")]
    placed = {t.text: t for t in texts(ladder_svg(arrows, column_width=3.0, fontsize=10.0))}
    centre = {c: (placed[c].left + placed[c].right) / 2 for c in "ABC"}
    assert round(centre["B"] - centre["A"]) == 3 * 72 and placed["INVITE"].size == 10.0
    assert placed["A"].size == 11.0
    narrow = {t.text: t for t in texts(ladder_svg(arrows, column_width=0.5))}
    label = narrow["a rather long label here"]
    assert (narrow["B"].left + narrow["B"].right) / 2 < label.left
    assert label.right < (narrow["C"].left + narrow["C"].right) / 2


def test_lab_capture_columns_named_by_role_show_the_register_and_the_push_message() -> None:
    from pushinject.capture import Decoder
    from pushinject.commands.flow import arrows_of
    from pushinject.lab.scenarios import lab_party

    messages = list(Decoder().decode_file(data_path("kamailio", "S1.pcap")))
    arrows = arrows_of(messages, party=lab_party)
    assert parties_of(arrows) == ["dev1 (REGISTER)", "proxy", "caller", "push service", "dev1",
                                  "dev2 (REGISTER)", "dev2"]
    assert [(a.source, a.destination, a.label) for a in arrows[:4]] == [
        ("dev1 (REGISTER)", "proxy", "REGISTER"), ("proxy", "dev1 (REGISTER)", "200 (REGISTER)"),
        ("caller", "proxy", "INVITE"), ("proxy", "push service", "MESSAGE")]
    assert arrows_of(messages)[3].destination == "127.0.0.1:5090"


def test_svg_column_width_and_fontsize_resize_the_figure_and_its_text() -> None:
    from pushinject.ladder import COLUMN_WIDTH, LABEL_SIZE

    two = [Arrow(0.0, "A", "B", "INVITE"), Arrow(0.5, "B", "A", "180")]
    size = re.compile(r'width="([0-9.]+)pt" height="([0-9.]+)pt"')
    fonts = re.compile(r"font-size: ?([0-9.]+)px")
    default = ladder_svg(two)
    assert default == ladder_svg(two, column_width=COLUMN_WIDTH, fontsize=LABEL_SIZE)
    assert sorted(set(fonts.findall(default))) == ["8", "9"]
    wide = ladder_svg(two, column_width=COLUMN_WIDTH + 1.0)
    grown = float(size.search(wide).group(1)) - float(size.search(default).group(1))
    assert round(grown, 1) == 72.0  # one more inch between the two columns
    compact = ladder_svg(two, title="t", column_width=1.6, fontsize=9)
    assert sorted(set(fonts.findall(compact))) == ["10", "11", "9"]
    assert float(size.search(compact).group(2)) > float(size.search(default).group(2))


def test_svg_max_width_fits_many_parties_without_smaller_text() -> None:
    """S1's seven columns need 756 points; within 7.5 inches (540 points) the columns come
    closer, the text keeps its size, labels wider than their arrow run on over the lifelines
    on a white ground, and no text leaves the canvas or meets another."""
    from pushinject.capture import Decoder
    from pushinject.commands.flow import arrows_of
    from pushinject.lab.scenarios import lab_party

    messages = list(Decoder().decode_file(data_path("kamailio", "S1.pcap")))
    arrows = arrows_of(messages, party=lab_party)
    size = re.compile(r'width="([0-9.]+)pt" height="([0-9.]+)pt"')
    wide = ladder_svg(arrows, title="S1")
    fitted = ladder_svg(arrows, title="S1", max_width=7.5)
    assert [m.groups() for m in map(size.search, (wide, fitted))] == [
        ("755.76", "873.36"), ("540", "873.36")]
    assert ({(t.text, t.size) for t in texts(wide)}
            == {(t.text, t.size) for t in texts(fitted)})
    placed = texts(fitted)
    assert [(a.text, b.text) for i, a in enumerate(placed) for b in placed[i + 1:]
            if a.overlaps(b)] == []
    assert outside(fitted) == []
    # the page's white background, and a white ground for each of the 7 labels wider than
    # their arrow at that distance; none when the columns need not move
    grounds = re.compile(r"<path d=\"M [^\"]+\" style=\"fill: #ffffff")
    assert (len(grounds.findall(wide)), len(grounds.findall(fitted))) == (1, 8)
    assert ladder_svg(arrows, title="S1", max_width=20.0) == wide
    # headers never come closer than they need side by side
    tight = {t.text: t for t in texts(ladder_svg(arrows, max_width=1.0))}
    assert tight["push service"].right < tight["dev1"].left < tight["dev1"].right < min(
        tight["(REGISTER)"].left, tight["dev2"].left)


def test_svg_max_width_leaves_room_for_a_mark_beside_the_last_column() -> None:
    from svg_texts import page

    arrows = [Arrow(0.0, "caller", "proxy", "INVITE with a long label [branch 1]"),
              Arrow(1.0, "proxy", "phone", "push"), Arrow(2.0, "phone", "phone", "wakes up late")]
    natural = page(ladder_svg(arrows))[0]
    fitted = ladder_svg(arrows, max_width=4.0)
    assert natural > 4.0 * 72 >= page(fitted)[0] > 3.9 * 72
    assert outside(fitted) == []
