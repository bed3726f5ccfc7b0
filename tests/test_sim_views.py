"""Views of a run: ladder arrows (messages grouped by proxy branch, pushes in place) and text."""

from __future__ import annotations

import re

from pushinject.ladder import Arrow
from pushinject.sim.run import run_scenario
from pushinject.sim.scenario import parse_scenario
from pushinject.sim.views import arrows, ladder_svg, ladder_text

WOKEN = parse_scenario('[caller]\ninvite_at = 1\n[[device]]\nname = "B"\npush = true\n'
                       "wake_after = 2\nring_after = 0.1\nanswer_after = 1\n")


def test_arrows_group_device_legs_by_proxy_branch_and_show_the_push() -> None:
    run = run_scenario(WOKEN, "rfc8599")
    assert arrows(run) == [
        Arrow(0.0, "B", "proxy", "REGISTER"),
        Arrow(0.0, "proxy", "B", "200 OK"),
        Arrow(1.0, "alice", "proxy", "INVITE"),
        Arrow(1.0, "proxy", "alice", "100 Trying"),
        Arrow(1.0, "proxy", "B", "push"),
        Arrow(3.0, "B", "proxy", "REGISTER"),
        Arrow(3.0, "proxy", "B", "200 OK"),
        Arrow(3.0, "proxy", "B", "INVITE", "branch 1"),
        Arrow(3.0, "B", "proxy", "100 Trying", "branch 1"),
        Arrow(3.1, "B", "proxy", "180 Ringing", "branch 1"),
        Arrow(3.1, "proxy", "alice", "180 Ringing"),
        Arrow(4.0, "B", "proxy", "200 OK", "branch 1"),
        Arrow(4.0, "proxy", "alice", "200 OK"),
        Arrow(4.0, "alice", "proxy", "ACK"),
        Arrow(4.0, "proxy", "B", "ACK"),
    ]


def test_a_failed_push_is_labelled() -> None:
    failing = parse_scenario('[caller]\ninvite_at = 1\n[[device]]\nname = "B"\npush = true\n'
                             "push_fails = true\n")
    labels = [a.label for a in arrows(run_scenario(failing, "rfc8599"))]
    assert "push (failed)" in labels and "404 Not Found" in labels


def test_ladder_text_has_a_column_per_party_and_is_stable() -> None:
    run = run_scenario(WOKEN, "rfc8599")
    text = ladder_text(run)
    assert text.splitlines()[0].split() == ["time", "alice", "proxy", "B"]
    assert text == ladder_text(run_scenario(WOKEN, "rfc8599"))
    assert "INVITE [branch 1]" in text


def test_ladder_svg_is_byte_identical_run_to_run() -> None:
    first = ladder_svg(run_scenario(WOKEN, "rfc8599"), title="woken")
    assert first.startswith("<") and "woken" in first
    assert first == ladder_svg(run_scenario(WOKEN, "rfc8599"), title="woken")


def test_with_the_push_service_the_push_goes_through_it_and_the_wake_is_marked() -> None:
    run = run_scenario(WOKEN, "rfc8599")
    assert arrows(run, push_service=True)[2:9] == [
        Arrow(1.0, "alice", "proxy", "INVITE"),
        Arrow(1.0, "proxy", "alice", "100 Trying"),
        Arrow(1.0, "proxy", "push service", "push request"),
        Arrow(1.0, "push service", "B", "push"),
        Arrow(3.0, "B", "B", "wakes up"),
        Arrow(3.0, "B", "proxy", "REGISTER"),
        Arrow(3.0, "proxy", "B", "200 OK"),
    ]
    assert len(arrows(run, push_service=True)) == len(arrows(run)) + 2
    header = ladder_text(run, push_service=True).splitlines()[0]
    assert re.split(r"\s{2,}", header) == ["time", "alice", "proxy", "push service", "B"]


def test_with_the_push_service_a_failed_push_is_rejected_back_to_the_proxy() -> None:
    failing = parse_scenario('[caller]\ninvite_at = 1\n[[device]]\nname = "B"\npush = true\n'
                             "push_fails = true\n")
    drawn = arrows(run_scenario(failing, "rfc8599"), push_service=True)
    assert drawn[4:7] == [
        Arrow(1.0, "proxy", "push service", "push request"),
        Arrow(1.0, "push service", "proxy", "rejected"),
        Arrow(1.0, "proxy", "alice", "404 Not Found"),
    ]
    assert not any(a.label == "wakes up" for a in drawn)
