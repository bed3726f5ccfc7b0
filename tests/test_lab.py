"""The capture lab: the committed Kamailio captures, their manifest, and their regeneration.

The fast tests read the committed captures in ``data/kamailio`` and check that each shows what
its manifest table promises. The ``lab``-marked tests run real Kamailio, SIPp and tcpdump in a
private network namespace, regenerate every scenario into ``tmp_path`` and check that the new
capture shows the same facts (not the same bytes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from pushinject.cli import main
from pushinject.commands import lab as lab_command
from pushinject.conformance import CheckOptions, check_capture
from pushinject.lab.facts import (
    CaptureFacts,
    capture_facts,
    differences,
    proxy_sends_after,
    read_sip,
)
from pushinject.lab.manifest import expected_facts, read_manifest, render_manifest
from pushinject.lab.proxies import KAMAILIO as PROXY
from pushinject.lab.runner import (
    LabError,
    namespaces_available,
    render_config,
    run_isolated,
    set_tm_parameters,
)
from pushinject.lab.scenarios import SCENARIOS, role_of_port
from tests.conftest import DATA, require, require_tool

KAMAILIO = DATA / "kamailio"
MANIFEST = read_manifest(KAMAILIO / "manifest.toml")

#: message kinds (sender>receiver what) each capture must contain, beyond its branches
KEY_MESSAGES = {
    "S1": {"reg2>proxy REGISTER", "proxy>dev2 INVITE", "proxy>dev1 CANCEL", "dev1>proxy 487",
           "proxy>caller 200", "caller>proxy BYE"},
    "S2": {"reg1>proxy REGISTER", "proxy>dev1 INVITE", "dev1>proxy 200", "proxy>caller 200"},
    "S3": {"proxy>caller 408", "caller>proxy ACK"},
    "S4": {"caller>proxy CANCEL", "proxy>caller 200", "proxy>caller 487", "caller>proxy ACK"},
    "S5": {"proxy>dev1 INVITE", "proxy>dev2 INVITE", "proxy>dev1 CANCEL", "dev2>proxy 200"},
    "S6": {"dev1>proxy 486", "dev2>proxy 486", "proxy>dev1 ACK", "proxy>caller 486"},
    "S7": {"reg1>proxy REGISTER", "proxy>dev1 INVITE", "dev1>proxy 200", "proxy>caller 200"},
    "S8": {"dev1>proxy 603", "proxy>dev2 CANCEL", "dev2>proxy 487", "proxy>caller 603",
           "reg3>proxy REGISTER"},
    "S9": {"caller>proxy CANCEL", "proxy>caller 487", "reg1>proxy REGISTER"},
    "S10": {"reg1>proxy REGISTER", "proxy>dev1 INVITE", "dev1>proxy 200", "proxy>caller 200"},
    "S11": {"proxy>dev1 INVITE", "reg2>proxy REGISTER", "proxy>dev2 INVITE", "dev2>proxy 200",
            "proxy>caller 200"},
    "S12": {"proxy>dev1 INVITE", "caller>proxy CANCEL", "proxy>caller 200", "proxy>caller 487",
            "caller>proxy ACK"},
    "S13": {"proxy>dev1 INVITE", "reg2>proxy REGISTER", "proxy>dev2 INVITE", "dev2>proxy 180",
            "dev2>proxy 200", "proxy>caller 200"},
    "S14": {"proxy>dev1 INVITE", "reg2>proxy REGISTER", "proxy>dev2 INVITE", "dev2>proxy 180",
            "dev2>proxy 200", "proxy>caller 200"},
}


def _branches(facts: CaptureFacts) -> list[dict[str, object]]:
    return [b.table() for b in facts.branches]


def test_manifest_lists_every_scenario_once_with_its_file() -> None:
    assert list(MANIFEST) == list(SCENARIOS) == [f"S{n}" for n in range(1, 15)]
    for name, table in MANIFEST.items():
        assert table["file"] == (f"timers/{name}.pcap" if name in ("S13", "S14")
                                 else f"{name}.pcap")
        assert table["scenario"] == name
        assert table["expected_verdict"] == "conformant"
        assert (KAMAILIO / table["file"]).is_file()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_manifest_states_the_scenario_expectations(name: str) -> None:
    """The manifest is the scenario's expectation: final status (RFC 3261 §16.7) and branches."""
    table, scenario = MANIFEST[name], SCENARIOS[name]
    assert table["final_status"] == scenario.final_status
    assert table["call_id"] == scenario.call_id
    assert table["pushes"] == scenario.pushes == 1
    assert table["registrations"] == len(scenario.devices) + (name == "S7")
    assert expected_facts(table)["branches"] == [
        {"target": b.target, "injected": b.injected, "cancelled": b.cancelled,
         **({"final_status": b.final_status} if b.final_status else {})}
        for b in scenario.branches
    ]
    assert all(b["via_branch"].startswith("z9hG4bK") for b in table["branches"])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_committed_capture_shows_its_manifest_facts(name: str) -> None:
    """Each committed capture shows its manifest: final status, branches (injected per the issue:
    INVITE after a late REGISTER of its contact), CANCELs (RFC 3261 §16.10), pushes, counts."""
    table = MANIFEST[name]
    facts = capture_facts(KAMAILIO / table["file"])
    assert differences(facts, SCENARIOS[name]) == []
    assert facts.call_id == table["call_id"]
    assert facts.final_status == table["final_status"]
    assert _branches(facts) == table["branches"]
    assert facts.pushes == table["pushes"]
    assert facts.registrations == table["registrations"]
    assert (facts.frames, facts.sip_messages) == (table["frames"], table["sip_messages"])
    assert KEY_MESSAGES[name] <= set(facts.kinds)
    assert facts.duration < (18.0 if name in ("S13", "S14") else 10.0)


def test_expected_final_statuses_and_branch_counts() -> None:
    """The issue's six scenarios (S1-S6) and six more (S7-S12), as the captures show them."""
    got = {n: (t["final_status"], len(t["branches"]), sum(b["injected"] for b in t["branches"]))
           for n, t in MANIFEST.items()}
    assert got == {"S1": (200, 2, 1), "S2": (200, 1, 1), "S3": (408, 0, 0), "S4": (487, 0, 0),
                   "S5": (200, 2, 2), "S6": (486, 2, 1), "S7": (200, 1, 0),
                   "S8": (603, 2, 1), "S9": (487, 0, 0), "S10": (200, 1, 1),
                   "S11": (200, 2, 1), "S12": (487, 1, 0), "S13": (200, 2, 1),
                   "S14": (200, 2, 1)}


def test_push_names_the_callee_and_the_call() -> None:
    facts = capture_facts(KAMAILIO / "S2.pcap")
    assert facts.push_bodies == ("wake sip:bob@127.0.0.1:5060 call-id S2-call@127.0.0.1",)


def test_s4_kamailio_sends_487_before_the_200_to_cancel() -> None:
    """Observed Kamailio 5.6 behaviour recorded in the manifest: with no branch pending, the
    487 to the INVITE leaves before the 200 to the CANCEL (RFC 3261 §9.2 allows either order)."""
    _frames, sip = read_sip(KAMAILIO / "S4.pcap")
    to_caller = [(m.kind, m.cseq_method) for m in sip if m.dst == "caller"]
    assert to_caller == [("100", "INVITE"), ("487", "INVITE"), ("200", "CANCEL")]


def test_s7_refresh_of_a_ringing_contact_adds_no_branch() -> None:
    """INJ-2 (RFC 3261 §16.5: a URI already in the target set is not added again), kept by Kamailio
    as INJ-5 says: the refresh REGISTER (CSeq 2) is answered and no second INVITE follows."""
    _frames, sip = read_sip(KAMAILIO / "S7.pcap")
    registers = [(m.call_id, m.via_branch) for m in sip if m.kind == "REGISTER"]
    assert registers == [("S7-dev1-register@127.0.0.1", "z9hG4bK-reg-5081-1"),
                         ("S7-dev1-register@127.0.0.1", "z9hG4bK-reg-5081-2")]
    invites = [m.request_uri for m in sip if m.kind == "INVITE" and m.src == "proxy"]
    assert invites == ["sip:dev1@127.0.0.1:5071"]


def _after(name: str, kind: str, src: str) -> list[str]:
    """Every message kind the proxy sends after the first ``kind`` from ``src``."""
    return proxy_sends_after(KAMAILIO / MANIFEST[name]["file"], kind, src)


def test_s8_603_is_held_until_the_other_branch_is_cancelled_and_nothing_follows() -> None:
    """CTX-5 (RFC 3261 §16.7 step 5): a 6xx is not forwarded at once, pending branches are
    CANCELled and no new branch is created; dev3's later REGISTER is only answered."""
    assert _after("S8", "603", "dev1") == [
        "dev1 ACK", "dev2 CANCEL", "dev2 ACK", "caller 603", "reg3 200"]


def test_s9_no_branch_after_the_callers_cancel() -> None:
    """CTX-9, INJ-8, KAM-3 (no injection after CANCEL): the REGISTER after the CANCEL gets its
    200 and no INVITE leaves the proxy."""
    assert _after("S9", "CANCEL", "caller") == ["caller 487", "caller 200", "reg1 200"]


def test_s10_retransmitted_invite_is_one_branch() -> None:
    """Retransmissions are not branches (RFC 3261 §17.1.1.2 Timer A): the slow device's INVITE
    leaves three times with one Via branch, about 0.5 s then 1 s apart."""
    _frames, sip = read_sip(KAMAILIO / "S10.pcap")
    sent = [m for m in sip if m.kind == "INVITE" and m.src == "proxy"]
    assert len(sent) == 3 and len({m.via_branch for m in sent}) == 1
    gaps = [round(b.time - a.time, 1) for a, b in zip(sent, sent[1:])]
    assert gaps == [0.5, 1.0]
    assert len(capture_facts(KAMAILIO / "S10.pcap").branches) == 1


def _sent(name: str, src: str, dst: str) -> list[tuple[str, float]]:
    """What ``src`` sent ``dst`` in capture ``name``: (kind, seconds after the caller's INVITE)."""
    _frames, sip = read_sip(KAMAILIO / MANIFEST[name]["file"])
    start = next(m.time for m in sip if m.src == "caller" and m.kind == "INVITE")
    return [(m.kind, round(m.time - start, 1)) for m in sip if (m.src, m.dst) == (src, dst)]


def test_s11_a_silent_branch_is_dropped_at_the_200_without_cancel() -> None:
    """KAM-11: dev1 never answers; its INVITE leaves at 0, 0.5 and 1.5 s (RFC 3261 Timer A), and
    once the caller has dev2's 200 (about 3.1 s) the proxy sends dev1 nothing: no copy at 3.5 s,
    no CANCEL (RFC 3261 §9.1). The branch is one branch with no final response."""
    assert _sent("S11", "proxy", "dev1") == [("INVITE", 0.0), ("INVITE", 0.5), ("INVITE", 1.5)]
    assert _sent("S11", "dev1", "proxy") == []
    answered = next(t for kind, t in _sent("S11", "proxy", "caller") if kind == "200")
    assert 3.0 <= answered < 3.5
    assert _after("S11", "200", "dev2") == ["caller 200", "dev2 ACK", "dev2 BYE", "caller 200"]


def test_s12_a_cancelled_silent_branch_gets_no_cancel_and_487_waits_for_fr_timer() -> None:
    """KAM-12: the caller's CANCEL at 2 s gets its 200 at once; dev1, which never answered, is
    sent no CANCEL (RFC 3261 §9.1) and its INVITE goes on being retransmitted (Timer A); the
    caller's 487 leaves when the branch's fr_timer (8 s) fires."""
    assert _sent("S12", "proxy", "dev1") == [("INVITE", t) for t in (0.0, 0.5, 1.5, 3.5, 7.5)]
    assert _after("S12", "CANCEL", "caller") == [
        "caller 200", "dev1 INVITE", "dev1 INVITE", "caller 487"]
    to_caller = _sent("S12", "proxy", "caller")
    assert [kind for kind, _ in to_caller] == ["100", "200", "487"]
    assert to_caller[1][1] == 2.0 and 7.9 <= to_caller[2][1] < 9.0


def test_s13_t1_at_250_ms_copies_double_up_to_t2_and_stop_at_the_200() -> None:
    """KAM-13: with retr_timer1 at 250 ms the silent branch's copies leave 0.25, 0.75, 1.75, 3.75,
    7.75 s after the INVITE (RFC 3261 Timer A, T1 = 0.25 s), then 4 s apart at 11.75 and
    15.75 s (TXN-10: the interval stops doubling at T2), and nothing follows dev2's 200."""
    assert _sent("S13", "proxy", "dev1") == [
        ("INVITE", t) for t in (0.0, 0.2, 0.7, 1.7, 3.7, 7.7, 11.7, 15.7)]
    _frames, sip = read_sip(KAMAILIO / MANIFEST["S13"]["file"])
    copies = [m.time for m in sip if (m.src, m.dst, m.kind) == ("proxy", "dev1", "INVITE")]
    assert [round(b - a, 2) for a, b in zip(copies, copies[1:])] == [
        0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    answered = next(t for kind, t in _sent("S13", "proxy", "caller") if kind == "200")
    assert 16.0 <= answered < 17.0
    assert _after("S13", "200", "dev2") == ["caller 200", "dev2 ACK", "dev2 BYE", "caller 200"]


def test_s13_check_reads_t1_and_names_the_capped_copy_only_without_preset() -> None:
    """TIMING-3 reads t1 = 0.25 s from the copies; with no option the copy at 11.75 s, 4 s after
    the one before as that one was, is an RFC 3261 departure (FIELD-9, naming TXN-10); the
    kamailio-tsilo preset caps the interval at T2 as tm does and finds nothing, with no knob
    and with the scenario's tm timers as knobs."""
    pcap = KAMAILIO / MANIFEST["S13"]["file"]
    plain = check_capture(pcap, CheckOptions())
    assert [(v.rule, v.catalogue_id, v.frame, v.message) for c in plain.calls
            for v in c.violations] == [(
        "replay", "FIELD-9", 18,
        "the proxy sent INVITE sip:dev1@127.0.0.1:5071 to 127.0.0.1:5071 (frame 18); the "
        "capture reference sent no such message within 0.5 s: this copy left 4.000 s after the "
        "one before, which left 4.000 s after its own: the interval stopped doubling at T2 "
        "(TXN-10), where RFC 3261 §17.1.1.2 doubles it each time")]
    assert plain.timing.to_json()["timers"] == [
        {"knob": "t1", "value": 0.25, "source": "capture", "bounds": None,
         "evidence": {"call_id": "S13-call@127.0.0.1", "frames": [6, 8], "observed": 0.246252}}]
    knobs = PROXY.knobs(SCENARIOS["S13"].tm)
    assert knobs == {"t1": 0.25, "fr_timeout": 20.0, "fr_inv_timeout": 30.0}
    for options in (CheckOptions(preset="kamailio-tsilo"),
                    CheckOptions(preset="kamailio-tsilo", knobs=knobs)):
        assert [c.violations for c in check_capture(pcap, options).calls] == [()]


def test_s14_t2_at_2_s_copies_double_up_to_it_and_stop_at_the_200() -> None:
    """KAM-14: with retr_timer2 at 2000 ms the silent branch's copies leave 0.48, 1.48 and
    3.48 s after the INVITE (0.48, 1, 2 s apart: the first on tm's timer tick), then every 2 s
    up to 15.48 s (TXN-10: the interval stops doubling at T2), and nothing follows dev2's
    200."""
    _frames, sip = read_sip(KAMAILIO / MANIFEST["S14"]["file"])
    copies = [m.time for m in sip if (m.src, m.dst, m.kind) == ("proxy", "dev1", "INVITE")]
    assert [round(b - a, 3) for a, b in zip(copies, copies[1:])] == [
        0.482, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    answered = next(t for kind, t in _sent("S14", "proxy", "caller") if kind == "200")
    assert 16.0 <= answered < 17.0
    assert _after("S14", "200", "dev2") == ["caller 200", "dev2 ACK", "dev2 BYE", "caller 200"]


def test_s14_check_reads_t2_and_names_the_capped_copy_only_without_preset() -> None:
    """TIMING-4 reads t2 = 2 s from the copies; with no option the copy at 5.48 s, 2 s after
    the one before as that one was, is an RFC 3261 departure (FIELD-9, naming TXN-10); the
    kamailio-tsilo preset caps the interval at the T2 read as tm does and finds nothing, with
    no knob and with the scenario's tm timers as knobs."""
    pcap = KAMAILIO / MANIFEST["S14"]["file"]
    plain = check_capture(pcap, CheckOptions())
    assert [(v.rule, v.catalogue_id, v.frame) for c in plain.calls for v in c.violations] == [
        ("replay", "FIELD-9", 16)]
    assert plain.timing.to_json()["timers"] == [
        {"knob": "t2", "value": 2, "source": "capture", "bounds": None,
         "evidence": {"call_id": "S14-call@127.0.0.1", "frames": [15, 21], "observed": 2.000003}}]
    knobs = PROXY.knobs(SCENARIOS["S14"].tm)
    assert knobs == {"t2": 2.0, "fr_timeout": 20.0, "fr_inv_timeout": 30.0}
    for options in (CheckOptions(preset="kamailio-tsilo"),
                    CheckOptions(preset="kamailio-tsilo", knobs=knobs)):
        assert [c.violations for c in check_capture(pcap, options).calls] == [()]


def test_s2_resumed_branch_follows_the_hidden_suspended_one() -> None:
    """t_suspend() takes branch index 0 without sending it; the resumed INVITE is branch .1."""
    facts = capture_facts(KAMAILIO / "S2.pcap")
    assert [b.via_branch.rsplit(".", 1)[1] for b in facts.branches] == ["1"]


def test_role_of_port_names_the_lab_parties() -> None:
    assert [role_of_port(p) for p in (5060, 5070, 5071, 5079, 5082, 5090, 5091)] == [
        "proxy", "caller", "dev1", "dev9", "reg2", "push", "?"]


def test_render_config_fills_every_placeholder() -> None:
    text = render_config(log_prefix="T")
    assert "{{" not in text
    assert "listen=udp:127.0.0.1:5060" in text
    assert 'modparam("tm", "fr_timer", 8000)' in text
    assert "ts_store();" in text and "t_suspend()" in text and "t_continue(" in text


def _without_tcp_mirror(config: str) -> str:
    """`config` as it was before ``-A WITH_HEP_TCP`` (`pushinject lab --hep-transport tcp`) and
    ``-A HEP_VERSION`` (`--hep-version`)."""
    for lines, before in (
            (["#!ifdef WITH_HEP_TCP", "listen=tcp:127.0.0.1:5060", "#!endif"], []),
            (["#!ifdef WITH_HEP_TCP",
              'modparam("siptrace", "duplicate_uri", "sip:127.0.0.1:9060;transport=tcp")',
              "#!else", 'modparam("siptrace", "duplicate_uri", "sip:127.0.0.1:9060")',
              "#!endif"], ['modparam("siptrace", "duplicate_uri", "sip:127.0.0.1:9060")']),
            (["# core's receive and send events, no script call needed); with -A WITH_HEP_TCP "
              "as well", "# (--hep-transport tcp), over a TCP connection, which needs a TCP "
              "socket to send from; with", "# -A HEP_VERSION=1 or 2 (--hep-version), as HEPv1 "
              "or HEPv2, siptrace's older headers."],
             ["# core's receive and send events, no script call needed)."]),
            (["#!ifndef HEP_VERSION", "#!define HEP_VERSION 3", "#!endif",
              'modparam("siptrace", "hep_version", HEP_VERSION)'],
             ['modparam("siptrace", "hep_version", 3)'])):
        added = "".join(line + "\n" for line in lines)
        assert config.count(added) == 1
        config = config.replace(added, "".join(line + "\n" for line in before))
    return config


def test_only_s13_and_s14_set_tm_timers_and_every_other_config_is_unchanged() -> None:
    """A scenario's ``tm`` changes its config only: S1-S12 run the lab config as it always was
    (its SHA-256 pinned; the HEP mirror over TCP and its older versions, added since, only
    under their own defines), S13
    sets T1 and longer FR timers, S14 T2 and the same FR timers, three lines apart."""
    plain = render_config(log_prefix="S")
    assert hashlib.sha256(plain.encode()).hexdigest() == (
        "fa23d1287f02a3718407d2d3846f866b1d3aedf909a0a6834e3216cb08af1a6a")
    assert hashlib.sha256(_without_tcp_mirror(plain).encode()).hexdigest() == (
        "c8497bc11bbb3d40560aa93c577066cd757afd1a426cec7098187555ed642a9f")
    assert [n for n, s in SCENARIOS.items() if s.tm] == ["S13", "S14"]
    for scenario in SCENARIOS.values():
        if not scenario.tm:
            assert render_config(log_prefix="S", tm=scenario.tm) == plain
    s13 = render_config(log_prefix="S", tm=SCENARIOS["S13"].tm).splitlines()
    assert [line for line in s13 if line not in plain.splitlines()] == [
        'modparam("tm", "retr_timer1", 250)', 'modparam("tm", "fr_timer", 20000)',
        'modparam("tm", "fr_inv_timer", 30000)']
    assert len(s13) == len(plain.splitlines()) + 1
    s14 = render_config(log_prefix="S", tm=SCENARIOS["S14"].tm).splitlines()
    assert [line for line in s14 if line not in plain.splitlines()] == [
        'modparam("tm", "retr_timer2", 2000)', 'modparam("tm", "fr_timer", 20000)',
        'modparam("tm", "fr_inv_timer", 30000)']
    assert len(s14) == len(plain.splitlines()) + 1


def test_a_tm_parameter_needs_the_tm_module() -> None:
    with pytest.raises(LabError, match='cannot set tm parameter T1_timer: the config loads no "tm.so"'):
        set_tm_parameters('loadmodule "sl.so"\n', (("T1_timer", 250),))


def test_manifest_round_trips_through_toml() -> None:
    text = (KAMAILIO / "manifest.toml").read_text()
    assert render_manifest(MANIFEST) == text


def test_lab_list_and_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "S1  one device ringing, a second injected that answers"
    assert len(lines) == 14
    assert main(["lab", "S99"]) == 2
    assert "unknown scenario S99" in capsys.readouterr().err


def test_lab_refuses_clearly_without_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["lab", "S1"]) == 2
    assert capsys.readouterr().err == (
        "pushinject lab: error: the lab needs root (private network namespaces, tcpdump)\n")


def test_missing_packages_names_the_debian_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    present = {"kamailio", "ip"}
    monkeypatch.setattr(lab_command.shutil, "which", lambda tool: tool if tool in present else None)
    assert lab_command.missing_packages() == ["sip-tester", "tcpdump", "util-linux"]


def test_kamailio_accepts_the_lab_config(tmp_path: Path) -> None:
    """``kamailio -c`` parses the rendered config and loads tm, tmx, tsilo, registrar, htable."""
    kamailio = require_tool("kamailio")
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(render_config())
    done = subprocess.run([kamailio, "-c", "-f", str(cfg)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.tshark
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_tshark_sees_the_same_sip_messages(name: str) -> None:
    tshark = require_tool("tshark")
    done = subprocess.run(
        [tshark, "-r", str(KAMAILIO / MANIFEST[name]["file"]), "-Y", "sip", "-T", "fields",
         "-e", "udp.srcport", "-e", "udp.dstport", "-e", "sip.Method", "-e", "sip.Status-Code"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = [line.split("\t") for line in done.stdout.splitlines()]
    _frames, sip = read_sip(KAMAILIO / MANIFEST[name]["file"])
    ours = [[role_of_port(int(s)), role_of_port(int(d)), method or status]
            for s, d, method, status in seen]
    assert ours == [[m.src, m.dst, m.kind] for m in sip]


@pytest.mark.lab
def test_a_failing_scenario_run_is_reported_not_hidden(tmp_path: Path) -> None:
    """The runner in its namespace refuses an unknown scenario; run_isolated says so."""
    require_tool("unshare")
    require(os.geteuid() == 0 and namespaces_available(), "needs root and network namespaces")
    with pytest.raises(LabError, match="(?s)scenario S0 failed: .*invalid choice: 'S0'"):
        run_isolated(["S0"], tmp_path)


@pytest.mark.lab
def test_lab_regenerates_every_capture_with_the_same_facts(tmp_path: Path) -> None:
    """``pushinject lab --out TMP``: real Kamailio 5.6 + SIPp + tcpdump in private namespaces.
    Each new capture shows the facts of its committed manifest table, and the new manifest is
    the committed one but for the measured frame counts (about 75 s for the twelve scenarios)."""
    for tool in ("kamailio", "sipp", "tcpdump", "unshare", "ip"):
        require_tool(tool)
    require(os.geteuid() == 0, "the lab needs root (unshare -n, tcpdump)")
    require(namespaces_available(), "this machine refuses network namespaces (unshare -n)")
    assert main(["lab", "--keep-logs", "--out", str(tmp_path)]) == 0
    regenerated = read_manifest(tmp_path / "manifest.toml")
    assert {n: expected_facts(t) for n, t in regenerated.items()} == {
        n: expected_facts(t) for n, t in MANIFEST.items()}
    for name, table in sorted(MANIFEST.items()):
        facts = capture_facts(tmp_path / table["file"])
        assert differences(facts, SCENARIOS[name]) == [], name
        assert facts.final_status == table["final_status"], name
        assert expected_facts({"b": _branches(facts)})["b"] == expected_facts(table)["branches"]
        assert KEY_MESSAGES[name] <= set(facts.kinds), name
    assert _processes_under(tmp_path) == []


#: per scenario with its own tm timers: the silent branch's intervals, the timer read
REGENERATED = {"S13": ([0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0], ("t1", 0.25)),
               "S14": ([0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0], ("t2", 2))}


@pytest.mark.lab
@pytest.mark.parametrize("name", sorted(REGENERATED))
def test_lab_regenerates_its_timers_captures(tmp_path: Path, name: str) -> None:
    """``pushinject lab S13`` and ``S14`` (about 25 s each): a fresh Kamailio with retr_timer1
    250 ms sends the silent branch's copies 0.25, 0.5, 1, 2 s apart, then every 4 s (KAM-13),
    with retr_timer2 2000 ms 0.5, 1, 2 s apart, then every 2 s (KAM-14), and `pushinject
    check` reads T1 or T2 from them and judges the new capture as the manifest says, with and
    without the preset."""
    for tool in ("kamailio", "sipp", "tcpdump", "unshare", "ip"):
        require_tool(tool)
    require(os.geteuid() == 0, "the lab needs root (unshare -n, tcpdump)")
    require(namespaces_available(), "this machine refuses network namespaces (unshare -n)")
    assert main(["lab", name, "--out", str(tmp_path)]) == 0
    table = MANIFEST[name]
    pcap = tmp_path / table["file"]
    _frames, sip = read_sip(pcap)
    copies = [m.time for m in sip if (m.src, m.dst, m.kind) == ("proxy", "dev1", "INVITE")]
    gaps, read = REGENERATED[name]
    # tm's timers run on a 1/16 s tick: each copy may leave up to one tick early or late
    assert [b - a for a, b in zip(copies, copies[1:])] == pytest.approx(gaps, abs=0.07)
    preset = check_capture(pcap, CheckOptions(preset="kamailio-tsilo"))
    plain = check_capture(pcap, CheckOptions())
    assert [c.violations for c in preset.calls] == [()]
    assert sorted({v.rule for c in plain.calls for v in c.violations}) == table[
        "violations_without_preset"]
    assert [(t["knob"], t["value"]) for t in plain.timing.to_json()["timers"]] == [read]

def _processes_under(folder: Path) -> list[int]:
    """Processes whose working directory or command line is inside ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(folder)) or str(folder) in cmdline:
            found.append(int(entry.name))
    return found

