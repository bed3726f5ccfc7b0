"""`pushinject bench parse`: the mix it measures and the shape of its output."""

from __future__ import annotations

import pytest

from pushinject.bench.parse import message_mix
from pushinject.cli import main
from pushinject.sip import Request, Response, parse_message


def test_mix_covers_the_messages_of_a_call_and_a_registration() -> None:
    mix = message_mix()
    assert [label for label, _ in mix] == [
        "INVITE", "100", "180", "200", "ACK", "BYE", "REGISTER", "401"]
    parsed = [parse_message(data) for _, data in mix]
    assert all(msg.defects == [] for msg in parsed)
    assert isinstance(parsed[0], Request) and len(parsed[0].body) > 0
    assert isinstance(parsed[3], Response) and parsed[3].body == parsed[0].body
    assert parsed[6].contacts[0].pn_provider == "apns"
    assert (parsed[7].get("WWW-Authenticate") or "").startswith("Digest ")


def test_output_ends_with_the_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "parse", "--count", "16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["measurement", "bytes", "messages", "messages/s"]
    assert [line.split()[1] for line in lines[1:9]] == [
        "INVITE", "100", "180", "200", "ACK", "BYE", "REGISTER", "401"]
    assert lines[-1].startswith("parse: ") and lines[-1].endswith(" messages/s")
    assert int(lines[-1].split()[1]) > 0


def test_count_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "parse", "--count", "0"]) == 2
    assert "--count must be at least 1" in capsys.readouterr().err
