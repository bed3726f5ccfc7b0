"""`pushinject simulate`: JSON result, byte-identical pcap, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pushinject.cli import main
from tests.conftest import DATA

SCENARIO = DATA / "scenarios" / "push_wake_answer.toml"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pushinject", "simulate", *args],
                          capture_output=True, text=True)


def test_json_has_the_fields_the_issue_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(SCENARIO), "--preset", "rfc8599", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["final"], data["final_at"], data["messages"]) == (200, 3.5, 24)
    injected = [b for b in data["branches"] if b["injected"]]
    assert [(b["device"], b["opened_at"], b["final"]) for b in injected] == [("B", 2.5, 200)]
    assert data["pushes"] == [{"device": "B", "at": 1.0, "ok": True}]
    assert data["knobs"] == {"bucket_timer": 30.0, "fr_inv_timeout": 120.0, "fr_timeout": 30.0,
                             "route_to_source": 0.0}


def test_preset_option_overrides_the_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(DATA / "scenarios" / "nobody_registered.toml"),
                 "--preset", "rfc8599", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["preset"], data["final"], data["final_at"]) == ("rfc8599", 480, 1.0)


def test_pcap_is_byte_identical_across_processes(tmp_path: Path) -> None:
    first, second = tmp_path / "1.pcap", tmp_path / "2.pcap"
    assert cli(str(SCENARIO), "--json", "--pcap", str(first)).returncode == 0
    assert cli(str(SCENARIO), "--json", "--pcap", str(second)).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"  # libpcap, little-endian


def test_a_bad_scenario_gives_one_line_naming_key_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[caller]\ninvite_at = 1\n[[device]]\nname = "A"\nanswer = "yes"\n')
    done = cli(str(bad), "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == ("pushinject simulate: error: bad.toml:5: device[0].answer: "
                           "expected an integer, got 'yes'\n")


def test_missing_file_and_unknown_preset_exit_2(tmp_path: Path) -> None:
    done = cli(str(tmp_path / "absent.toml"))
    assert (done.returncode, done.stderr.count("\n")) == (2, 1)
    done = cli(str(SCENARIO), "--preset", "asterisk")
    assert done.returncode == 2 and "unknown preset 'asterisk'" in done.stderr


def test_default_output_is_the_ladder_then_the_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(SCENARIO), "--preset", "kamailio-tsilo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "one device rings, a second is woken by push and answers [kamailio-tsilo]"
    assert lines[1].split() == ["time", "alice", "proxy", "A", "B"]
    # the ACK of the 200 goes through the proxy, which record-routed the INVITE (KAM-17)
    assert lines[-1] == "final: 200 at 3.5  messages: 24"
    assert len(lines) == 2 + 24 + 1 + 1  # header lines, messages, the push, the outcome


def test_the_header_says_where_ladder_time_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(DATA / "scenarios" / "cancel_nobody_registered.toml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("the caller cancels while nobody is registered [opensips]; "
                        "ladder times count from 1 s")
    assert lines[-1] == "final: 487 at 5.0  messages: 6"


def test_svg_option_writes_the_branch_graph_identically(tmp_path: Path) -> None:
    first, second = tmp_path / "1.svg", tmp_path / "2.svg"
    assert main(["simulate", str(SCENARIO), "--json", "--svg", str(first)]) == 0
    assert main(["simulate", str(SCENARIO), "--json", "--svg", str(second)]) == 0
    text = first.read_text()
    assert text == second.read_text()
    assert "<svg" in text and "injected at 2.5 s" in text


def test_preset_all_compares_the_presets(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "scenarios" / "busy_then_pushed_answers.toml")
    assert main(["simulate", path, "--preset", "all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:5] for line in lines] == [
        ["opensips", "final", "200", "at", "5.0"],
        ["kamailio-tsilo", "final", "486", "at", "1.5"],
        ["rfc8599", "final", "200", "at", "5.0"]]
    assert main(["simulate", path, "--preset", "all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {name: (d["final"], d["final_at"]) for name, d in data.items()} == {
        "opensips": (200, 5.0), "kamailio-tsilo": (486, 1.5), "rfc8599": (200, 5.0)}


def test_preset_all_refuses_single_capture_outputs(tmp_path: Path) -> None:
    done = cli(str(SCENARIO), "--preset", "all", "--pcap", str(tmp_path / "x.pcap"))
    assert (done.returncode, done.stderr) == (
        2, "pushinject simulate: error: --pcap and --svg need one preset, not all\n")


def test_json_carries_the_script_log(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(SCENARIO), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["log"] == [{"at": 2.5, "text": (
        "user bob registered a new contact sip:bob@127.0.0.11:5062;pn-provider=fcm;"
        "pn-param=pushinject-sim;pn-prid=tok-B, injecting")}]
