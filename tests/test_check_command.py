"""`pushinject check` (pushinject/commands/check.py) and its reports
(`pushinject.conformance.report`): exit status 0/1/2, the issue's JSON, JUnit XML."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

import pcap_edit as edit
from pushinject.cli import main
from pushinject.lab.manifest import read_manifest

ROOT = Path(__file__).resolve().parent.parent
KAMAILIO = ROOT / "data" / "kamailio"
LAB = ["--preset", "kamailio-tsilo", "--knob", "fr_timeout=8", "--knob", "fr_inv_timeout=10"]


def test_json_is_the_documented_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json", *LAB, str(KAMAILIO / "S1.pcap")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["verdict", "captures"] and report["verdict"] == "conformant"
    [capture] = report["captures"]
    assert list(capture) == ["file", "frames", "sip_messages", "skipped", "proxy", "timers",
                             "latency", "calls"]
    assert capture["proxy"] == "127.0.0.1:5060"
    assert capture["timers"] == {"slack": 1.0, "tick": 0.1, "timers": [
        {"knob": "fr_inv_timeout", "value": 10.0, "source": "knob", "evidence": None,
         "bounds": None},
        {"knob": "fr_timeout", "value": 8.0, "source": "knob", "evidence": None,
         "bounds": None}]}
    assert capture["latency"]["register_to_invite"]["count"] == 1
    assert capture["latency"]["cancel_to_final"] == {"count": 0, "min": None, "median": None,
                                                     "max": None}
    facts = read_manifest(KAMAILIO / "manifest.toml")["S1"]
    assert (capture["file"], capture["frames"], capture["sip_messages"], capture["skipped"]) == (
        "S1.pcap", facts["frames"], facts["sip_messages"], {})
    [call] = capture["calls"]
    assert list(call) == ["call_id", "proxy", "final_status", "branches", "violations"]
    assert (call["call_id"], call["proxy"], call["final_status"], call["violations"]) == (
        "S1-call@127.0.0.1", "127.0.0.1:5060", 200, [])
    assert [list(b) for b in call["branches"]] == [
        ["target", "via_branch", "injected", "final_status", "cancelled"]] * 2
    assert [(b["target"], b["injected"], b["final_status"], b["cancelled"])
            for b in call["branches"]] == [
        ("sip:dev1@127.0.0.1:5071", False, 487, True),
        ("sip:dev2@127.0.0.1:5072", True, 200, False)]


def test_violations_exit_1_and_name_rule_and_frame(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pkts = edit.read(KAMAILIO / "S4.pcap")
    ok = edit.find(pkts, "SIP/2.0 200", sport=5060, contains="CANCEL")
    path = edit.write(edit.drop(pkts, ok), tmp_path / "S4-broken.pcap")
    junit = tmp_path / "out.xml"
    assert main(["check", "--json", "--junit", str(junit), *LAB, str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "violations"
    [call] = report["captures"][0]["calls"]
    cancel = edit.find(pkts, "CANCEL", sport=5070) + 1
    assert [(v["rule"], v["catalogue_id"], v["frame"]) for v in call["violations"]] == [
        ("cancel-answered", "CTX-9", cancel), ("replay", "KAM-10", cancel)]
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == ("24", "2")
    failed = [case.get("name", "").split(":")[0] for case in root.iter("testcase")
              if case.find("failure") is not None]
    assert failed == ["cancel-answered", "replay"]
    messages = [f.get("message", "") for f in root.iter("failure")]
    assert [m.split(" frame")[0] for m in messages] == [
        "CTX-9 (pushinject/catalogue/ctx.md)", "KAM-10 (pushinject/catalogue/kam.md)"]


def test_text_report_names_the_violation(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--preset", "none", str(KAMAILIO / "S6.pcap")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == ("verdict: conformant (1 capture(s), 1 call(s), "
                                    "0 violation(s); no replay)")
    assert "    branch 1 sip:dev2@127.0.0.1:5072 -> 486 (injected" in out
    assert main(["check", "--preset", "kamailio-tsilo", "--knob", "fr_timeout=5",
                 str(KAMAILIO / "S3.pcap")]) == 1
    out = capsys.readouterr().out
    assert ("VIOLATION TIMING-1 TIMING-1 (pushinject/catalogue/timing.md) at frame 5: fr_timeout "
            "fired 7.977 s after frame 1, late for fr_timeout = 5 s (given) (accepted "
            "4.900..6.000 s)") in out
    assert ("VIOLATION replay KAM-10 (pushinject/catalogue/kam.md) at frame 4: the "
            "kamailio-tsilo reference sends 408 to 127.0.0.1:5070 here; the proxy did not (after "
            "frame 4)") in out


@pytest.mark.parametrize("argv, error", [
    (["missing.pcap"], "no such capture file"),
    (["--knob", "nope=1", "S1"], "has no knob 'nope'"),
    (["--knob", "fr_timeout", "S1"], "--knob wants NAME=SECONDS"),
    (["--knob", "route_to_source=2", "S1"], "route_to_source is a switch: 0 (off) or 1 (on)"),
    (["--preset", "asterisk", "S1"], "unknown preset 'asterisk'"),
    (["--proxy", "localhost", "S1"], "--proxy wants IP:PORT"),
    (["README.md"], "is not a pcap or pcapng file"),
])
def test_bad_input_exits_2_with_one_line(argv: list[str], error: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(KAMAILIO / "S1.pcap") if a == "S1" else
            str(ROOT / a) if a == "README.md" else a for a in argv]
    assert main(["check", *argv]) == 2
    err = capsys.readouterr().err
    assert error in err and len(err.strip().splitlines()) == 1


def test_proxy_option_overrides_detection(capsys: pytest.CaptureFixture[str]) -> None:
    """With --proxy naming the caller, no INVITE reaches that 'proxy': no calls, so verdict
    no-calls and exit status 3, not conformant."""
    assert main(["check", "--json", "--proxy", "127.0.0.1:5070", str(KAMAILIO / "S2.pcap")]) == 3
    report = json.loads(capsys.readouterr().out)
    assert (report["verdict"], report["captures"][0]["calls"]) == ("no-calls", [])


def test_ladder_marks_the_frame_at_fault(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """--ladder: S1 without the relayed 180 of dev1; dev1's 180 (the unforwarded response,
    RFC 3261 §16.7 step 5) is drawn with `!` on branch b0."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    pkts = edit.drop(pkts, edit.find(pkts, "SIP/2.0 180", sport=5060, contains="dev1-"))
    path = edit.write(pkts, tmp_path / "S1-no-180.pcap")
    assert main(["check", "--ladder", "--preset", "none", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["time"])
    assert header.split() == ["time", "caller", "proxy", "127.0.0.1:5071", "127.0.0.1:5072"]
    marked = [line for line in lines if "!" in line and "VIOLATION" not in line]
    assert len(marked) == 1 and "180 ! [b0]" in marked[0]


def test_svg_writes_each_calls_ladder_and_branch_graph(tmp_path: Path) -> None:
    """--svg DIR: a ladder and a branch graph per call, byte-identical from run to run, the
    frame at fault marked in the ladder."""
    pkts = edit.read(KAMAILIO / "S1.pcap")
    pkts = edit.drop(pkts, edit.find(pkts, "SIP/2.0 180", sport=5060, contains="dev1-"))
    path = edit.write(pkts, tmp_path / "S1-no-180.pcap")
    for out in ("one", "two"):
        assert main(["check", "--preset", "none", "--svg", str(tmp_path / out), str(path),
                     str(KAMAILIO / "S3.pcap")]) == 1
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == ["S1-no-180-1-branches.svg", "S1-no-180-1-ladder.svg",
                     "S3-1-branches.svg", "S3-1-ladder.svg"]
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert "180 !" in (tmp_path / "one" / "S1-no-180-1-ladder.svg").read_text()
