"""The streaming check: every call judged as soon as it is complete, alone or spread over
partitions by callee, gives the verdicts of the whole capture (pushinject.conformance.stream,
pushinject.conformance.parallel; the collector's notion of a complete call, HEP-3)."""

from __future__ import annotations

import io
import json
import tomllib
import zlib
from pathlib import Path
from typing import Any

import pytest

from pushinject.capture.recording import group_inputs
from pushinject.cli import main
from pushinject.commands.check import json_line, jobs_wanted
from pushinject.conformance.capture import load_capture
from pushinject.conformance.check import CheckOptions, check_messages, verdict
from pushinject.conformance.parallel import JUDGING, CaptureDone, judge
from pushinject.conformance.stream import (
    EVERY, ROUTED, JudgedCall, Wanted, cseq_method, owners, partition_key, partition_of,
)
from pushinject.progress import Bar, progress_bar
from tests.conftest import DATA

SIMULATED = tomllib.loads((DATA / "simulated" / "manifest.toml").read_text(encoding="utf-8"))
BUNDLED = sorted((DATA / "kamailio").glob("*.pcap")) + sorted((DATA / "hep").glob("*.pcap")) + [
    DATA / "simulated" / name for name in SIMULATED] + sorted(
    (DATA / "opensips").glob("*.pcap"))


def _whole(path: Path, options: CheckOptions) -> tuple[str, list[dict[str, Any]]]:
    result = check_messages(load_capture(path), options)
    return verdict([result]), [c.to_json() for c in result.calls]


def _streamed(path: Path, options: CheckOptions, jobs: int = 1
              ) -> tuple[str, list[dict[str, Any]]]:
    calls, done = [], []
    for item in judge(group_inputs([path], "separate"), options, jobs=jobs):
        if isinstance(item, CaptureDone):
            done.append(item)
        else:
            calls.append(item)
    [capture] = done
    decided = ("violations" if capture.violations else
               "no-calls" if not capture.calls else "conformant")
    assert capture.calls == len(calls)
    return decided, [j.call.to_json() for j in sorted(calls, key=lambda j: j.frame)]


def _options(path: Path) -> list[CheckOptions]:
    """No option (capture-driven replay), and for a simulated capture its manifest's preset."""
    entry = SIMULATED.get(str(path.relative_to(DATA / "simulated"))) if "simulated" in str(
        path) else None
    return [CheckOptions()] + ([CheckOptions(preset=entry["preset"])] if entry else [])


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_bundled_captures_streamed_as_whole(path: Path) -> None:
    for options in _options(path):
        assert _streamed(path, options) == _whole(path, options)


@pytest.fixture
def traffic(slow_phones_pcap: Path) -> Path:
    return slow_phones_pcap


@pytest.mark.parametrize("preset", [None, "opensips"])
def test_traffic_streamed_and_spread_over_jobs_as_whole(traffic: Path, preset: str | None
                                                        ) -> None:
    options = CheckOptions() if preset is None else CheckOptions(preset=preset)
    whole = _whole(traffic, options)
    assert len(whole[1]) == 32
    assert _streamed(traffic, options) == whole
    assert _streamed(traffic, options, jobs=2) == whole
    assert _streamed(traffic, options, jobs=3) == whole


def test_jobs_fork_all_partitions_but_the_first(traffic: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With n jobs, partitions 1..n-1 run in processes forked for them and partition 0 in
    this one, as the merge asks for its items: n processes in all, the verdicts unchanged."""
    from multiprocessing.context import ForkProcess

    started: list[tuple[int, int]] = []
    start = ForkProcess.start

    def counted(self: ForkProcess) -> None:
        started.append((self._args[3], self._args[4]))  # type: ignore[attr-defined]
        start(self)

    monkeypatch.setattr(ForkProcess, "start", counted)
    options = CheckOptions()
    assert _streamed(traffic, options, jobs=3) == _whole(traffic, options)
    assert started == [(1, 3), (2, 3)]
    started.clear()
    assert _streamed(traffic, options, jobs=1) == _whole(traffic, options)
    assert started == []


def _judged(path: Path, options: CheckOptions, wanted: Wanted, jobs: int) -> list[JudgedCall]:
    calls = [item for item in judge(group_inputs([path], "separate"), options, jobs=jobs,
                                    wanted=wanted) if isinstance(item, JudgedCall)]
    return sorted(calls, key=lambda j: j.frame)


@pytest.mark.parametrize("jobs", [1, 2])
def test_each_call_carries_only_what_is_wanted(traffic: Path, jobs: int) -> None:
    """A judged call carries its result, its report lines (drawn with `ladder`) and its JSON
    text only when the report asks for them, in this process and from a forked one."""
    options = CheckOptions(preset="opensips")
    full = _judged(traffic, options, Wanted(), 1)  # the result and its lines, unladdered
    assert len(full) == 32 and all(j.call is not None and j.lines for j in full)
    text = _judged(traffic, options, Wanted(call=False, lines=True), jobs)
    assert [(j.frame, j.lines) for j in text] == [(j.frame, j.lines) for j in full]
    assert {(j.call, j.record, j.judged) for j in text} == {(None, None, None)}
    drawn = _judged(traffic, options, Wanted(call=False, lines=True, ladder=True), jobs)
    assert all(d.lines[:len(f.lines)] == f.lines and len(d.lines) > len(f.lines)
               and d.lines[len(f.lines)].startswith("      ")
               for d, f in zip(drawn, full, strict=True))
    records = _judged(traffic, options, Wanted(call=False, lines=False, record=True), jobs)
    assert [(j.call, j.lines) for j in records] == [(None, ())] * 32
    assert [j.record for j in records] == [json.dumps(j.call.to_json()) for j in full
                                           if j.call is not None]
    results = _judged(traffic, options, Wanted(call=True, lines=False), jobs)
    assert [(j.call, j.lines, j.record) for j in results] == [(j.call, (), None) for j in full]


def test_json_line_is_the_call_after_its_file(traffic: Path) -> None:
    """The JSON line written from a call's JSON text is what ``json.dumps`` writes of its
    capture's name followed by the call's fields (names outside ASCII escaped alike)."""
    result = check_messages(load_capture(traffic), CheckOptions(preset="opensips"))
    for cr in result.calls:
        for name in ("slow.pcap", "caf\u00e9 \"1\".pcap", "\u00e9t\u00e9.pcap"):
            assert json_line(name, json.dumps(cr.to_json())) == json.dumps(
                {"file": name, **cr.to_json()})


def test_workers_forked_with_the_judging_modules_imported_and_frozen(
        traffic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The modules judging imports on first use are imported before the workers fork, with
    the garbage collector's objects frozen then (shared, not copied, by the workers), and
    thawed in this process once they are started."""
    import gc
    import sys
    from multiprocessing.context import ForkProcess

    from pushinject.conformance import parallel

    assert JUDGING == ("pushinject.conformance.collector", "pushinject.conformance.report",
                       "pushinject.core.proxy", "pushinject.core.ids")
    seen: list[tuple[bool, bool]] = []
    start = ForkProcess.start

    def looked(self: ForkProcess) -> None:
        seen.append(("colorsys" in sys.modules, gc.get_freeze_count() > 0))
        start(self)

    monkeypatch.setattr(ForkProcess, "start", looked)
    monkeypatch.setattr(parallel, "JUDGING", ("colorsys",))
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    options = CheckOptions()
    assert _streamed(traffic, options, jobs=3) == _whole(traffic, options)
    assert seen == [(True, True), (True, True)]
    assert gc.get_freeze_count() == 0


def test_jsonl_one_call_a_line_then_the_verdict(traffic: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--preset", "opensips", "--jsonl", str(traffic)]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    *calls, last = lines
    assert len(calls) == 32 and {c["file"] for c in calls} == {"slow.pcap"}
    assert list(calls[0]) == ["file", "call_id", "proxy", "final_status", "branches",
                              "violations"]
    [capture] = last["captures"]
    assert last["verdict"] == "violations"
    assert (capture["calls"], capture["violations"]) == (32, sum(
        len(c["violations"]) for c in calls))
    assert capture["sip_messages"] == 601


def test_json_and_text_the_same_with_two_jobs(traffic: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`--jobs 2` and `--jobs 3` print byte for byte what one job prints: one JSON document,
    JSON lines, and the text report (with ladders too) with each call as it completed."""
    outs = []
    for extra in (["--json"], [], ["--jsonl"], ["--ladder"]):
        for jobs in ("1", "2", "3"):
            assert main(["check", "--preset", "opensips", "--jobs", jobs, *extra,
                         str(traffic)]) == 1
            outs.append(capsys.readouterr().out)
    for k in range(0, 12, 3):
        assert outs[k] == outs[k + 1] == outs[k + 2]
    assert len({outs[0], outs[3], outs[6], outs[9]}) == 4
    assert json.loads(outs[0])["captures"][0]["sip_messages"] == 601
    assert outs[3].splitlines()[-1].startswith("verdict: violations (1 capture(s), 32 call(s)")
    assert len(outs[6].splitlines()) == 33


def test_skipped_frames_counted_once_whatever_the_jobs(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Every partition decodes every frame, but a frame skipped is counted once: `--jobs 2`
    reports the skips of one job (each reason of the encapsulations capture)."""
    capture = DATA / "captures" / "encapsulations.pcap"
    outs = []
    for jobs in ("1", "2"):
        main(["check", "--jobs", jobs, "--json", str(capture)])
        outs.append(json.loads(capsys.readouterr().out)["captures"][0]["skipped"])
    assert outs[0] == outs[1] == {"no-payload": 1, "not-sip": 3, "tcp-retransmission": 1,
                                  "websocket-control": 1}


def test_bad_jobs_and_svg_with_jobs_are_usage_errors(traffic: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--jobs", "0", str(traffic)]) == 2
    assert main(["check", "--jobs", "many", str(traffic)]) == 2
    assert main(["check", "--jobs", "2", "--svg", str(tmp_path), str(traffic)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "pushinject check: error: --jobs wants a whole number of processes, at least 1, or auto, not '0'",
        "pushinject check: error: --jobs wants a whole number of processes, at least 1, or auto, not 'many'",
        "pushinject check: error: --svg draws from the messages of each call: use it with --jobs 1"]


def test_jobs_auto_is_one_process_per_usable_core(traffic: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`--jobs auto` runs one process per core the affinity mask allows, and prints what one
    job prints."""
    import os

    assert jobs_wanted("auto") == len(os.sched_getaffinity(0))
    outs = []
    for jobs in ("1", "auto"):
        assert main(["check", "--preset", "opensips", "--jobs", jobs, str(traffic)]) == 1
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]


def test_partition_key_is_the_callee_of_every_message() -> None:
    invite = b"INVITE sip:bob@10.0.0.2 SIP/2.0\r\nTo: \"Bob\" <sip:bob@x>\r\nCall-ID: a\r\n\r\n"
    register = b"REGISTER sip:x SIP/2.0\r\nTO:<sips:bob@x>\r\ni: b\r\n\r\nTo: <sip:eve@x>"
    assert (partition_key(invite), partition_key(register), partition_key(b"junk")) == (
        b"bob", b"bob", b"")


def test_partition_0_owns_fewer_hash_slots() -> None:
    """Partition 0, judged by the process that also merges and prints, owns 0.94 of an even
    share of the 256 hash slots (rounded), the others the rest in turn."""
    assert owners(2) == (0,) * 120 + (1,) * 136
    assert owners(3) == (0,) * 80 + (1, 2) * 88
    assert owners(4) == (0,) * 60 + (1, 2, 3) * 65 + (1,)
    assert owners(300) == (0,) + tuple(range(1, 256))


def test_partition_of_a_message_is_its_callees_slot_owner(traffic: Path) -> None:
    """Every message of a call and of its callee's registrations has the partition owning
    the slot of its callee's hash; a message of no call and no registration goes to all."""
    from pushinject.capture.decoder import Decoder

    seen: dict[bytes, set[int]] = {}
    every = 0
    for path in (traffic, DATA / "kamailio" / "S1.pcap"):
        for message in Decoder(anomalies=False).decode_file(path):
            where = partition_of(message, 3)
            if cseq_method(message) not in ROUTED:
                assert where == EVERY
                every += 1
                continue
            key = partition_key(message.raw)
            assert where == owners(3)[zlib.crc32(key) % 256]
            seen.setdefault(key, set()).add(where)
    assert all(len(parts) == 1 for parts in seen.values())
    assert {p for parts in seen.values() for p in parts} == {0, 1, 2}
    assert every == 2  # S1's push MESSAGE and its 200


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    assert progress_bar(io.StringIO()) is None
    screen = _Terminal()
    bar = progress_bar(screen)
    assert isinstance(bar, Bar)
    bar(0, 200)
    bar(1, 200)  # same percent: not redrawn
    bar(100, 200)
    bar.finish()
    assert screen.getvalue().split("\r")[1:3] == [
        "checking [..............................]   0%",
        "checking [###############...............]  50%"]


def test_check_prints_no_bar_when_stderr_is_not_a_terminal(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(DATA / "kamailio" / "S1.pcap")]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("raw", [
    b"INVITE sip:b@x SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n",
    b"INVITE sip:b@x SIP/2.0\ncseq :  12\tACK \nTo: <sip:b@x>\n\n",
    b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE extra\r\n\r\n",
    b"SIP/2.0 200 OK\r\nCSeq: x INVITE\r\n\r\n",
    b"SIP/2.0 200 OK\r\nCSeq: 1\r\n INVITE\r\n\r\n",
    b"SIP/2.0 200 OK\r\nCSeq: 1 INV\rITE\r\n\r\n",
    b"NOTIFY sip:a@x SIP/2.0\r\nTo: <sip:a@x>\r\n\r\nCSeq: 1 INVITE\r\n",
    b"SIP/2.0 200 OK",
])
def test_cseq_method_is_the_header_scans(raw: bytes) -> None:
    """The partition's quick CSeq reading gives what the decoder's header scan gives."""
    from pushinject.capture.decoder import DecodedMessage

    message = DecodedMessage(1, 0.0, ("a", 1), ("b", 2), "UDP", raw)
    assert cseq_method(message) == DecodedMessage(1, 0.0, ("a", 1), ("b", 2), "UDP",
                                                   raw).fields.cseq_method


def test_cseq_method_on_every_bundled_message() -> None:
    from pushinject.capture.decoder import Decoder

    seen = 0
    for path in sorted(DATA.rglob("*.pcap")):
        for message in Decoder(anomalies=False).decode_file(path):
            assert cseq_method(message) == message.fields.cseq_method, (path, message.frame)
            seen += 1
    assert seen > 500
