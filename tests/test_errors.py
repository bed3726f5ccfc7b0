"""Errors shown as the tools show them: one line, never a traceback."""

from __future__ import annotations

import pytest

from pushinject.errors import LocalProtocolError, UsageError, one_line, print_errors
from pushinject.sim.scenario import ScenarioError, parse_scenario


def test_a_project_error_is_printed_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with print_errors():
        parse_scenario('[caller]\ninvite_at = 1\n[[device]]\nname = "B"\nwake_after = 2\n',
                       "typo.toml")
    assert capsys.readouterr().out == (
        "ScenarioError: typo.toml:5: device[0].wake_after: only a push device (push = true)"
        " is woken\n")


def test_only_the_named_kinds_are_caught(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyError):
        with print_errors():
            raise KeyError("x")
    with pytest.raises(LocalProtocolError):
        with print_errors(UsageError):
            raise LocalProtocolError("not a usage error")
    with print_errors(ScenarioError):
        raise ScenarioError("s.toml", 2, "caller.invite_at", "missing")
    assert capsys.readouterr().out == "ScenarioError: s.toml:2: caller.invite_at: missing\n"


def test_nothing_is_printed_when_nothing_is_raised(capsys: pytest.CaptureFixture[str]) -> None:
    with print_errors():
        value = 1 + 1
    assert value == 2 and capsys.readouterr().out == ""
    assert one_line(ValueError("bad")) == "ValueError: bad"
