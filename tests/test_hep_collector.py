"""The HEP collector: calls judged one by one as they complete give the verdicts of the whole
capture (sans-I/O `CallCollector`), and `pushinject check --hep-listen` does it live over UDP on
loopback, printing each verdict before the stream ends."""

from __future__ import annotations

import json
import re
import select
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from pushinject.capture.recording import group_inputs
from pushinject.conformance.capture import load_capture
from pushinject.conformance.check import CheckOptions, check_messages
from pushinject.conformance.collector import CallCollector
from tests.conftest import DATA
from tests.hep_samples import hep_packets

KAMAILIO = sorted((DATA / "kamailio").glob("*.pcap"))
LAB = CheckOptions(preset="kamailio-tsilo", knobs={"fr_timeout": 8, "fr_inv_timeout": 10})
SIMULATED = tomllib.loads((DATA / "simulated" / "manifest.toml").read_text(encoding="utf-8"))


def _streamed(source: Any, options: CheckOptions) -> tuple[list[Any], list[Any], CallCollector]:
    capture = load_capture(source)
    whole = [c.to_json() for c in check_messages(capture, options).calls]
    collector = CallCollector(options, quiet=2.0)
    results = collector.run((m, m.time) for m in capture.messages)
    return whole, [c.to_json() for r in results for c in r.calls], collector


@pytest.mark.parametrize("path", KAMAILIO, ids=lambda p: p.stem)
def test_each_kamailio_call_judged_alone_as_in_the_whole(path: Path) -> None:
    whole, streamed, collector = _streamed(path, LAB)
    assert streamed == whole
    assert len(whole) == 1 and collector.open_calls == 0
    assert collector.counts["unrelated"] == 2  # the push MESSAGE and its 200


def test_the_lab_calls_in_one_stream_are_judged_one_by_one() -> None:
    """Each call as in the whole; S3, which ends with 408, is held for the 10 s in which a
    device registering would make it a lost call (FIELD-5: dev1 of the next scenario does,
    5.4 s later), so S4 and S5 are judged before it."""
    whole, streamed, collector = _streamed(group_inputs(KAMAILIO, "merge")[0], LAB)
    order = [c["call_id"] for c in whole]
    assert sorted(streamed, key=lambda c: order.index(c["call_id"])) == whole
    assert order == [f"S{n}-call@127.0.0.1" for n in range(1, 13)]
    assert [c["call_id"].split("-")[0] for c in streamed] == [
        "S1", "S2", "S4", "S5", "S3", "S6", "S7", "S8", "S9", "S10", "S11", "S12"]
    assert [v["rule"] for v in whole[2]["violations"]] == ["FIELD-5", "replay"]
    assert dict(collector.counts) == {"call": 154, "registration": 34, "unrelated": 24}


@pytest.mark.parametrize("name", sorted(SIMULATED))
def test_simulated_calls_and_pitfalls_judged_as_in_the_whole(name: str) -> None:
    entry = SIMULATED[name]
    whole, streamed, _ = _streamed(DATA / "simulated" / name, CheckOptions(preset=entry["preset"]))
    assert streamed == whole
    assert [len(c["violations"]) for c in streamed] == [len(entry["violations"])]


def test_a_call_is_judged_after_its_quiet_period_and_released() -> None:
    capture = load_capture(DATA / "kamailio" / "S2.pcap")
    collector = CallCollector(LAB, quiet=5.0)
    for m in capture.messages:
        collector.add(m, m.time)
    last = capture.messages[-1].time
    assert collector.due(last + 4.9) == [] and collector.open_calls == 1
    (result,) = collector.due(last + 5.0)
    assert [(c.call.call_id, c.call.final_status, c.violations) for c in result.calls] == [
        ("S2-call@127.0.0.1", 200, ())]
    assert result.capture.file == "stream call 1"
    assert collector.open_calls == 0
    collector.add(capture.messages[-1], last + 6)
    assert collector.counts["late"] == 1


def test_a_call_without_final_response_is_judged_when_too_old() -> None:
    capture = load_capture(DATA / "kamailio" / "S2.pcap")
    invite = next(m for m in capture.messages if m.label == "INVITE")
    collector = CallCollector(CheckOptions(preset=None), quiet=1.0, max_age=30.0)
    collector.add(invite, 0.0)
    assert collector.due(29.9) == []
    (result,) = collector.due(30.0)
    assert result.calls == ()  # no proxy can be found from the caller's INVITE alone


def test_calls_complete_in_order_of_their_deadlines_as_their_messages_move_them() -> None:
    """A call is complete `quiet` seconds after its last message once final: a later message
    moves it later, one stamped earlier (a clock going back) earlier, and calls complete at
    the same look come in order of that time, then of arrival."""
    a, b, c = (load_capture(DATA / "kamailio" / f"{n}.pcap").messages for n in ("S2", "S4", "S1"))
    collector = CallCollector(CheckOptions(preset=None), quiet=5.0)
    for m in a:
        collector.add(m, 10.0)  # complete at 15
    for m in b:
        collector.add(m, 11.0)  # complete at 16
    collector.add(a[-1], 12.0)  # now 17
    assert collector.completed(15.9) == []
    ((done, result),) = collector.completed(16.0)
    assert (done, result.calls[0].call.call_id) == (16.0, "S4-call@127.0.0.1")
    for m in c:
        collector.add(m, 20.0)  # complete at 25
    collector.add(c[-1], 13.0)  # a clock gone back: complete at 18, looked at by 17
    assert [(done, r.calls[0].call.call_id) for done, r in collector.completed(17.0)] == [
        (17.0, "S2-call@127.0.0.1")]
    assert [(done, r.calls[0].call.call_id) for done, r in collector.completed(18.0)] == [
        (18.0, "S1-call@127.0.0.1")]
    assert collector.open_calls == 0 and collector.completed(1000.0) == []


# -- live, over UDP on loopback ----------------------------------------------------------------

def _line(stream: IO[str], timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "the collector printed nothing in time"
    return stream.readline()


def test_live_collector_prints_each_verdict_as_the_call_completes() -> None:
    """Four lab calls sent as HEP in the order they were captured (the callee is the same user
    in all, so the registrations of one call are known to the next, as in the merged capture:
    the verdicts equal those of `check --merge` on the four files, where the reference still
    holds the bindings of earlier calls that the lab's freshly started Kamailio did not)."""
    four = [p.path for p in group_inputs(KAMAILIO, "merge")[0].parts][:4]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pushinject", "check", "--hep-listen", "127.0.0.1:0", "--json",
         "--quiet", "0.3", "--duration", "60", "--preset", "kamailio-tsilo",
         "--knob", "fr_timeout=8", "--knob", "fr_inv_timeout=10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        announced = _line(proc.stderr, 30)
        assert announced.startswith("listening for HEP on 127.0.0.1:")
        port = int(announced.rsplit(":", 1)[1])
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        calls = []
        for path in four[:3]:
            for _, data in hep_packets(path):
                sender.sendto(data, ("127.0.0.1", port))
                time.sleep(0.002)
            calls.append(json.loads(_line(proc.stdout, 20)))  # judged before the next is sent
        for _, data in hep_packets(four[3]):
            sender.sendto(data, ("127.0.0.1", port))
        sender.sendto(b"HEP3\x00\x07x", ("127.0.0.1", port))
        sender.close()
        time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    rest = [json.loads(line) for line in out.splitlines()]
    calls += rest[:-1]
    merged = check_messages(load_capture(group_inputs(four, "merge")[0]), LAB)
    assert [c["calls"] for c in calls] == [[c.to_json()] for c in merged.calls]
    assert [len(c.violations) for c in merged.calls] == [0, 1, 1, 1]
    assert [c["file"] for c in calls] == [
        f"HEP 127.0.0.1:{port} call {n}" for n in range(1, 5)]
    frames = sum(len(hep_packets(p)) for p in four) + 1
    assert rest[-1] == {"summary": {
        "verdict": "violations", "listen": f"127.0.0.1:{port}", "datagrams": frames,
        "sip_messages": frames - 1, "calls": 4, "violations": 3,
        "skipped": {"hep-malformed": 1},
        "messages": {"call": 43, "registration": 6, "unrelated": 8}}}
    assert (proc.returncode, err) == (1, "")


@pytest.mark.parametrize(("argv", "message"), [
    (["--hep-listen", "nowhere"], "--hep-listen wants HOST:PORT, got 'nowhere'"),
    (["--hep-listen", "127.0.0.1:0", "x.pcap"],
     "--hep-listen takes no capture files, --junit or --svg"),
    (["--hep-listen", "127.0.0.1:0", "--duration", "0"],
     "--duration must be positive and --quiet not negative"),
    (["--hep-listen", "192.0.2.1:9060", "--duration", "1"],
     "cannot listen on 192.0.2.1:9060: Cannot assign requested address"),
    ([], "give capture files, or --hep-listen HOST:PORT"),
])
def test_collector_usage_errors_are_one_line(argv: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pushinject", "check", *argv],
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.strip().endswith(message)
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_call_the_checker_cannot_judge_is_counted_and_the_stream_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import pushinject.conformance.collector as collector_module
    from pushinject.errors import PushInjectError

    calls = {"n": 0}
    real = collector_module.judge_calls

    def flaky(capture: Any, options: CheckOptions, timers: Any = None, **more: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise PushInjectError("cannot judge this one")
        return real(capture, options, timers, **more)

    monkeypatch.setattr(collector_module, "judge_calls", flaky)
    capture = load_capture(group_inputs(KAMAILIO[:2], "merge")[0])
    collector = CallCollector(LAB, quiet=2.0)
    results = collector.run((m, m.time) for m in capture.messages)
    assert [len(r.calls) for r in results] == [0, 1]
    assert collector.counts["unjudged"] == 1


def _stale_instance(tmp_path: Path, before: float) -> Path:
    """S1 with dev2 made dev1 on port 5072, both contacts of one ``+sip.instance``, and dev1's
    first REGISTER (Expires: 300) and its 200 moved `before` seconds before the call: the
    proxy still forks to that contact, and the REGISTER names its device (FIELD-1)."""
    from tests import pcap_edit as edit

    pkts = edit.read(DATA / "kamailio" / "S1.pcap")
    pkts = edit.replace(pkts, "sip:dev2@127.0.0.1:5072", "sip:dev1@127.0.0.1:5072")
    for port in (5071, 5072):
        pkts = edit.replace(pkts, f"<sip:dev1@127.0.0.1:{port}>",
                            f'<sip:dev1@127.0.0.1:{port}>;+sip.instance="<urn:uuid:d1>"')
    return edit.write(edit.later(pkts, 2, before), tmp_path / "S1-stale.pcap")


@pytest.mark.parametrize("before, settled", [(301.0, 2), (299.0, 0)])
def test_a_settled_register_still_names_the_device_of_a_later_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: float, settled: int) -> None:
    """A REGISTER whose binding expired before the call (here 301 s after it, Expires 300) is
    settled: left out of the call's transactions and replay, still read by FIELD-1 for the
    device its contact stood for, as in the whole capture; 299 s after, it is not settled."""
    from pushinject.conformance import collector as collector_module

    seen: list[int] = []
    real = collector_module.judge_calls

    def spy(capture: Any, options: CheckOptions, timers: Any = None, *,
            settled: Any = (), **more: Any) -> Any:
        seen.append(len(settled))
        return real(capture, options, timers, settled=settled, **more)

    monkeypatch.setattr(collector_module, "judge_calls", spy)
    path = _stale_instance(tmp_path, before)
    whole, streamed, _ = _streamed(path, CheckOptions())
    assert seen == [settled, settled]  # the whole capture's one call, then the collector's
    assert streamed == whole
    judged = CallCollector(CheckOptions(), quiet=2.0).run(
        (m, m.time) for m in load_capture(path).messages)
    assert [(v.rule, v.frame, v.message) for r in judged for c in r.calls
            for v in c.violations if v.rule.startswith("FIELD")] == [
        ("FIELD-1", 12, 'branch 1 to sip:dev1@127.0.0.1:5072 after REGISTER frame 10 is a '
         'second branch to device instance urn:uuid:d1 (branch 0, frame 6, still pending)')]


def test_without_its_register_the_stale_contact_is_another_device(tmp_path: Path) -> None:
    """The same capture without dev1's first REGISTER: branch 0's contact names no device
    but its URI, so FIELD-1 finds nothing (the REGISTER is what the rule needs)."""
    from tests import pcap_edit as edit

    pkts = edit.drop(edit.read(_stale_instance(tmp_path, 301.0)), 0, 1)
    judged = CallCollector(CheckOptions(), quiet=2.0).run(
        (m, m.time) for m in load_capture(edit.write(pkts, tmp_path / "x.pcap")).messages)
    assert [v.rule for r in judged for c in r.calls for v in c.violations
            if v.rule.startswith("FIELD")] == []


def _with_bytes(path: Path) -> list[tuple[Any, bytes]]:
    """Each message of a capture parsed for checking, with the bytes it was parsed from."""
    from pushinject.capture.decoder import Decoder
    from pushinject.conformance.capture import to_wire

    out = []
    for decoded in Decoder(anomalies=False).decode_file(path):
        wire = to_wire(decoded)
        assert wire is not None
        out.append((wire, decoded.raw))
    return out


def _held(collector: CallCollector) -> list[tuple[int, bool, bool]]:
    """(frame, parsed message held, bytes held) of every registration message kept."""
    return [(e[1].frame, e[2] is not None, e[3] is not None)
            for entries in collector._registrations.values() for e in entries]


def _reparsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from pushinject.conformance import collector as collector_module

    frames: list[int] = []
    real = collector_module._parsed

    def spy(entry: Any) -> Any:
        frames.append(entry[1].frame)
        return real(entry)

    monkeypatch.setattr(collector_module, "_parsed", spy)
    return frames


def test_a_registration_no_call_needs_is_let_go_and_parsed_again_for_its_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """S1 with the call 30 s after dev1's REGISTER (Expires 300): when the clock passes, no
    call needs the REGISTER and its 200 whole, so only their digests and bytes are kept; the
    call, which they are not settled for, gets them parsed again and is judged as in the
    whole capture."""
    from tests import pcap_edit as edit

    path = edit.write(edit.later(edit.read(DATA / "kamailio" / "S1.pcap"), 2, 30.0),
                      tmp_path / "S1-later.pcap")
    reparsed = _reparsed(monkeypatch)
    messages = _with_bytes(path)
    collector = CallCollector(CheckOptions(), quiet=2.0)
    for wire, raw in messages[:2]:
        collector.due(wire.time)
        collector.add(wire, wire.time, raw)
    assert _held(collector) == [(1, True, True), (2, True, True)]
    collector.due(messages[2][0].time)  # the clock moves on: the next look at what is kept
    assert _held(collector) == [(1, False, True), (2, False, True)]
    results = []
    for wire, raw in messages[2:]:
        results.extend(collector.due(wire.time))
        collector.add(wire, wire.time, raw)
    results.extend(collector.flush())
    assert reparsed == [1, 2]
    whole = check_messages(load_capture(path), CheckOptions())
    assert [c.to_json() for r in results for c in r.calls] == [
        c.to_json() for c in whole.calls]


def test_a_registration_settled_for_every_later_call_keeps_only_its_digest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The REGISTER 301 s before the call (Expires 300): let go when the call starts, its
    bytes kept until dev2's REGISTER comes after its binding expired, and from then on only
    its digest, which still names the device for FIELD-1; dev2's REGISTER, needed whole by no
    call once the call is judged, keeps its digest and bytes. Nothing is parsed again."""
    reparsed = _reparsed(monkeypatch)
    path = _stale_instance(tmp_path, 301.0)
    collector = CallCollector(CheckOptions(), quiet=2.0)
    results = []
    for wire, raw in _with_bytes(path):
        results.extend(collector.due(wire.time))
        collector.add(wire, wire.time, raw)
        if wire.frame == 3:
            assert _held(collector) == [(1, False, True), (2, False, True)]
    last = wire.time
    results.extend(collector.due(last + 60.0))
    assert collector.open_calls == 0
    assert _held(collector) == [(1, False, False), (2, False, False), (10, False, True),
                                (11, False, True)]
    assert reparsed == []
    assert [(v.rule, v.frame) for r in results for c in r.calls for v in c.violations
            if v.rule.startswith("FIELD")] == [("FIELD-1", 12)]


def test_without_the_bytes_a_registration_is_let_go_only_once_settled_for_every_call(
        tmp_path: Path) -> None:
    """Fed without the bytes it was parsed from (a HEP collector's messages), a registration
    no call needs whole keeps its parsed message until a later REGISTER makes it settled for
    every call to come."""
    path = _stale_instance(tmp_path, 301.0)
    collector = CallCollector(CheckOptions(), quiet=2.0)
    for wire in load_capture(path).messages:
        collector.due(wire.time)
        collector.add(wire, wire.time)
    collector.due(wire.time + 60.0)
    assert _held(collector) == [(1, False, False), (2, False, False), (10, True, False),
                                (11, True, False)]


def test_what_is_kept_to_find_the_next_registration_to_forget_follows_the_users() -> None:
    """One time per user however often it changes: the heap of `_Due` keeps at most about
    twice as many pairs as users, and gives each user once, at its last time."""
    from pushinject.conformance.collector import _Due

    due = _Due()
    for step in range(1000):
        due.set("bob", float(step))
        due.set("carol", 5000.0 - step)
    assert len(due._heap) <= 2 * 2 + 64
    due.set("alice", 1.0)
    due.set("alice", None)
    assert due.due(999.0) == []
    assert due.due(4001.0) == ["bob"]
    assert due.due(4001.5) == ["carol"]
    assert due.due(float("inf")) == [] and due._heap == []


def test_the_collectors_clock_need_not_be_the_messages(tmp_path: Path) -> None:
    """Live, a call's quiet period runs on the collector's own clock (monotonic), not on the
    timestamps its messages carry (the capture agent's). S3 without its 408, the stream going
    on with another user's REGISTER 700 s after the INVITE: past `max_age`, the call is judged
    without a final response, and FIELD-8 counts the 700 s on the messages' clock, as the
    whole capture does, whatever the collector's clock reads."""
    from tests import pcap_edit as edit

    pkts = edit.read(DATA / "kamailio" / "S3.pcap")[:4]
    register = edit.read(DATA / "kamailio" / "S1.pcap")[0]
    pkts.append(edit.with_sip(register, edit.sip(register).replace(b"sip:bob@", b"sip:carol@"),
                              time=float(pkts[0].time) + 700.0))
    capture = load_capture(edit.write(pkts, tmp_path / "open.pcap"))
    whole = [c.to_json() for c in check_messages(capture, CheckOptions()).calls]
    assert [v["message"] for v in whole[0]["violations"] if v["rule"] == "FIELD-8"] == [
        "no final response: the call went silent at 0.000 s and the capture goes on 700.000 s "
        "more (limit 180 s)"]
    for offset in (0.0, -1.7e9, 5000.0):
        collector = CallCollector(CheckOptions())
        results = collector.run((m, m.time + offset) for m in capture.messages)
        assert [c.to_json() for r in results for c in r.calls] == whole


# -- live, over TCP on loopback ------------------------------------------------------------------

def _start_collector(*extra: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pushinject", "check", "--hep-listen", "127.0.0.1:0",
         "--quiet", "0.3", "--duration", "60", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    announced = _line(proc.stderr, 30)
    assert announced.startswith("listening for HEP on 127.0.0.1:")
    return proc, int(announced.rsplit(":", 1)[1])


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        proc.send_signal(signal.SIGTERM)
        return proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _as_merged(out: str, four: list[Path]) -> Any:
    """The summary the collector printed last, its verdicts before it asserted equal to those
    of the `four` lab captures merged. Sent in one burst, calls that go quiet together may be
    judged in either order (their quiet periods run on the collector's clock), so the verdicts
    are compared call by call, whatever their order."""
    lines = [json.loads(line) for line in out.splitlines()]
    merged = check_messages(load_capture(group_inputs(four, "merge")[0]), LAB)
    printed = sorted((call for c in lines[:-1] for call in c["calls"]),
                     key=lambda call: call["call_id"])
    assert [len(c["calls"]) for c in lines[:-1]] == [1] * len(merged.calls)
    assert printed == sorted((c.to_json() for c in merged.calls),
                             key=lambda call: call["call_id"])
    return lines[-1]["summary"]


def test_live_collector_takes_hep_over_tcp_cut_anywhere() -> None:
    """A capture agent may send HEP over TCP (HEP-4): the four lab calls on one connection,
    written in pieces that cut packets anywhere, give the verdicts they give over UDP; a
    second connection out of step is counted once and closed, and the first goes on."""
    four = [p.path for p in group_inputs(KAMAILIO, "merge")[0].parts][:4]
    proc, port = _start_collector("--json", "--preset", "kamailio-tsilo", "--knob",
                                  "fr_timeout=8", "--knob", "fr_inv_timeout=10")
    try:
        stream = b"".join(data for path in four for _, data in hep_packets(path))
        agent = socket.create_connection(("127.0.0.1", port), timeout=10)
        stray = socket.create_connection(("127.0.0.1", port), timeout=10)
        half = len(stream) // 2
        for at in range(0, half, 701):
            agent.sendall(stream[at : min(at + 701, half)])
            time.sleep(0.001)
        stray.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert stray.recv(10) == b""  # closed by the collector
        stray.close()
        agent.sendall(stream[half:])
        agent.close()
        time.sleep(0.2)
    finally:
        out, err = _stop(proc)
    summary = _as_merged(out, four)
    packets = sum(len(hep_packets(p)) for p in four)
    assert (summary["datagrams"], summary["tcp"], summary["sip_messages"], summary["calls"],
            summary["skipped"]) == (0, {"connections": 2, "packets": packets}, packets, 4,
                                    {"hep-malformed": 1})
    assert (proc.returncode, err) == (1, "")


def _four_calls_in_datagrams(version: int = 3, json_payload: bool = False,
                             broken: Callable[[bytes], bytes] = lambda data: data[:20]) -> None:
    """The four lab calls sent to a live collector as HEP `version` datagrams (with
    `json_payload`, each message inside JSON), then one datagram made by `broken` from the
    first: the verdicts are those of the four captures merged, and the broken one is counted
    as malformed."""
    four = [p.path for p in group_inputs(KAMAILIO, "merge")[0].parts][:4]
    datagrams = [data for path in four
                 for _, data in hep_packets(path, version=version, json_payload=json_payload)]
    proc, port = _start_collector("--json", "--preset", "kamailio-tsilo", "--knob",
                                  "fr_timeout=8", "--knob", "fr_inv_timeout=10")
    try:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for data in datagrams:
            sender.sendto(data, ("127.0.0.1", port))
            time.sleep(0.001)
        sender.sendto(broken(datagrams[0]), ("127.0.0.1", port))
        sender.close()
        time.sleep(0.2)
    finally:
        out, err = _stop(proc)
    summary = _as_merged(out, four)
    assert (summary["datagrams"], summary["sip_messages"], summary["calls"],
            summary["skipped"]) == (len(datagrams) + 1, len(datagrams), 4,
                                    {"hep-malformed": 1})
    assert (proc.returncode, err) == (1, "")


def test_live_collector_reads_hepv2_datagrams() -> None:
    """Kamailio's siptrace with `hep_version` 2 (HEP-5): the four lab calls in HEPv2 datagrams,
    with a HEPv2 datagram cut inside its time header, give the verdicts they give in HEPv3."""
    _four_calls_in_datagrams(version=2)


def test_live_collector_reads_sip_inside_json() -> None:
    """OpenSIPS's proto_hep with `homer5_on` 0 (HEP-6): the four lab calls with each message
    inside a JSON object give the verdicts they give as plain HEPv3; a JSON payload without its
    message is counted as malformed."""
    assert b'{\n\t"payload":\t"' in hep_packets(DATA / "kamailio" / "S1.pcap", json_payload=True)[0][1]
    _four_calls_in_datagrams(json_payload=True,
                             broken=lambda data: data.replace(b'"payload"', b'"message"'))


def test_live_collector_serves_a_bounded_number_of_connections() -> None:
    """Connections beyond `MAX_CONNECTIONS` are closed at once and counted; a connection
    closed inside a packet counts that packet malformed; the text summary names both."""
    from pushinject.capture.hep import HEPPacket, encode_hep
    from pushinject.live.hep_collector import MAX_CONNECTIONS

    proc, port = _start_collector()
    conns = []
    try:
        conns = [socket.create_connection(("127.0.0.1", port), timeout=10)
                 for _ in range(MAX_CONNECTIONS + 1)]
        assert conns[-1].recv(10) == b""
        packet = encode_hep(HEPPacket(("10.0.0.1", 1), ("10.0.0.2", 2), 0, payload=b"x"))
        conns[0].sendall(packet + packet[:20])
        time.sleep(0.2)
    finally:
        for conn in conns:
            conn.close()
        time.sleep(0.2)
        out, err = _stop(proc)
    assert out == (
        f"verdict: conformant (0 HEP datagram(s), 1 HEP packet(s) over {MAX_CONNECTIONS} TCP "
        f"connection(s) on 127.0.0.1:{port}, 0 call(s), 0 violation(s); skipped: "
        "hep-connection-refused 1, hep-malformed 1, not-sip 1)\n")
    assert (proc.returncode, err) == (0, "")


@pytest.mark.parametrize("json_lines", [False, True])
def test_live_collector_counts_the_datagrams_the_kernel_dropped(json_lines: bool) -> None:
    """A collector that falls behind loses datagrams in the kernel (its receive buffer full):
    stopped while a burst arrives, it counts every one it lost, so what it received and what
    it was told it dropped add up to what was sent (CAP-8)."""
    from pushinject.capture.hep import HEPPacket, encode_hep

    proc, port = _start_collector("--receive-buffer", "64", *(["--json"] if json_lines else []))
    sent = 3000
    try:
        packets = [encode_hep(HEPPacket(  # a second apart: none is a duplicate (CAP-11)
            ("10.0.0.1", 1), ("10.0.0.2", 2), n,
            payload=b"OPTIONS sip:a@b SIP/2.0\r\n" + bytes(400))) for n in range(sent)]
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        proc.send_signal(signal.SIGSTOP)
        for packet in packets[:-1]:
            sender.sendto(packet, ("127.0.0.1", port))
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.5)
        sender.sendto(packets[-1], ("127.0.0.1", port))  # brings the count of the drops before it
        sender.close()
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGCONT)
        out, err = _stop(proc)
    if json_lines:
        summary = json.loads(out.splitlines()[-1])["summary"]
        received, dropped = summary["datagrams"], summary["dropped"]
    else:
        received, dropped = (int(n) for n in re.fullmatch(
            r"verdict: conformant \((\d+) HEP datagram\(s\) on 127\.0\.0\.1:\d+, 0 call\(s\), "
            r"0 violation\(s\); (\d+) datagram\(s\) dropped by the kernel: the collector fell "
            r"behind \(a larger --receive-buffer may help\); skipped: unparsable-sip \1\)\n",
            out).groups())
    assert 0 < dropped < sent and received + dropped == sent
    assert (proc.returncode, err) == (0, "")


def test_receive_buffer_and_duration_go_with_the_collector(
        capsys: pytest.CaptureFixture[str]) -> None:
    from pushinject.cli import main

    for argv in (["--duration", "5"], ["--receive-buffer", "64"]):
        assert main(["check", *argv, str(KAMAILIO[0])]) == 2
        assert capsys.readouterr().err == (
            "pushinject check: error: --duration and --receive-buffer go with --hep-listen\n")
    assert main(["check", "--hep-listen", "127.0.0.1:0", "--receive-buffer", "0"]) == 2
    assert capsys.readouterr().err == (
        "pushinject check: error: --receive-buffer wants KiB from 1 to 1048576\n")
