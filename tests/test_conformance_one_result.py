"""One model of a judged capture: the whole-capture check (`check_messages`, a loaded capture's
messages through the collector) and the streamed check `pushinject check` runs on files
(`pushinject.conformance.stream.judge_partition`, decoding as it goes, over one or several
partitions; HEP-3) give the same complete result on every bundled capture and on the
slow-phones traffic, without option, with no replay and under every preset (and the knobs its
manifest names): every call with every field (branches and their retransmissions, responses,
CANCELs, registrations, pushes), every violation, the replay's outputs of each call, the
timers read, the latencies, the proxy and the counts, not only what a report prints."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest

from pushinject.capture.recording import group_inputs
from pushinject.conformance.capture import load_capture
from pushinject.conformance.check import CaptureResult, CheckOptions, check_messages
from pushinject.conformance.collector import CallCollector
from pushinject.conformance.parallel import CaptureDone, judge
from pushinject.conformance.stream import JudgedCall
from pushinject.lab.runner import FR_INV_TIMER_MS, FR_TIMER_MS
from pushinject.sim.traffic import load_traffic
from tests import pcap_edit as edit
from tests.conftest import DATA

LAB = {"fr_timeout": FR_TIMER_MS / 1000, "fr_inv_timeout": FR_INV_TIMER_MS / 1000}
SLOW_PRESET = load_traffic(DATA / "traffic" / "slow_phones.toml").preset


PRESETS = ("opensips", "kamailio-tsilo", "rfc8599")


def _ways(path: Path) -> list[CheckOptions]:
    """The default (the routing choices read from the capture), no replay, every preset, and
    for the Kamailio captures (the lab's and its HEP mirror's) kamailio-tsilo with the lab's
    timers, as their manifests name them."""
    lab = path.relative_to(DATA).parts[0] in ("kamailio", "hep")
    return [CheckOptions(), CheckOptions(preset=None), *(CheckOptions(preset=p) for p in PRESETS),
            *([CheckOptions(preset="kamailio-tsilo", knobs=LAB)] if lab else [])]


BUNDLED = sorted(DATA.rglob("*.pcap"))


def differences(whole: Any, streamed: Any, where: str = "") -> Iterator[str]:
    """Where two results differ, field by field (a dataclass, a sequence, a mapping)."""
    if type(whole) is not type(streamed):
        yield f"{where}: {whole!r} != {streamed!r}"
    elif is_dataclass(whole):
        for f in fields(whole):
            yield from differences(getattr(whole, f.name), getattr(streamed, f.name),
                                   f"{where}.{f.name}")
    elif isinstance(whole, (tuple, list)):
        if len(whole) != len(streamed):
            yield f"{where}: {len(whole)} items != {len(streamed)}: {whole!r} != {streamed!r}"
        else:
            for i, (a, b) in enumerate(zip(whole, streamed, strict=True)):
                yield from differences(a, b, f"{where}[{i}]")
    elif isinstance(whole, dict):
        if whole.keys() != streamed.keys():
            yield f"{where}: keys {sorted(whole)} != {sorted(streamed)}"
        for key in whole.keys() & streamed.keys():
            yield from differences(whole[key], streamed[key], f"{where}[{key!r}]")
    elif whole != streamed:
        yield f"{where}: {whole!r} != {streamed!r}"


def _streamed(path: Path, options: CheckOptions, jobs: int = 1
              ) -> tuple[list[JudgedCall], CaptureResult]:
    calls, done = [], []
    for item in judge(group_inputs([path], "separate"), options, jobs=jobs, keep=True):
        if isinstance(item, CaptureDone):
            done.append(item)
        else:
            calls.append(item)
    [capture] = done
    assert (capture.calls, capture.violations) == (
        len(calls), sum(len(j.call.violations) for j in calls if j.call is not None))
    return sorted(calls, key=lambda j: j.frame), capture.result


def _compared(path: Path, options: CheckOptions, jobs: int = 1) -> list[str]:
    """Every difference between the whole-capture and the streamed result of one capture."""
    whole = check_messages(load_capture(path), options)
    calls, merged = _streamed(path, options, jobs)
    found = list(differences(whole.calls, tuple(j.call for j in calls), "calls"))
    for j in calls:
        assert j.call is not None
        if j.judged is None:  # a call judged in another process: its replay was not sent
            assert jobs > 1
            continue
        key = j.call.call.call_id
        if (whole.replay is None) != (j.judged.replay is None):
            found.append(f"replay of {key}: {whole.replay} != {j.judged.replay}")
        elif whole.replay is not None and j.judged.replay is not None:
            for side in ("reference", "actual"):
                found += differences(
                    tuple(o for o in getattr(whole.replay, side) if o.call_id == key),
                    tuple(o for o in getattr(j.judged.replay, side) if o.call_id == key),
                    f"replay of {key}.{side}")
    found += differences(whole.proxy, merged.proxy, "proxy")
    found += differences(whole.latency, merged.latency, "latency")
    found += differences(dict(whole.timing.values), dict(merged.timing.values), "timers")
    found += differences(whole.timing.slack, merged.timing.slack, "timer slack")
    found += differences(
        (whole.capture.frames, whole.capture.sip_messages, dict(whole.capture.skipped)),
        (merged.capture.frames, merged.capture.sip_messages, dict(merged.capture.skipped)),
        "counts")
    return found


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.relative_to(DATA).as_posix())
def test_bundled_capture_has_one_result_whole_or_streamed(path: Path) -> None:
    for options in _ways(path):
        assert _compared(path, options) == [], options


@pytest.mark.parametrize("preset", ["capture", None, *PRESETS])
def test_traffic_has_one_result_whole_or_streamed(slow_phones_pcap: Path, preset: str | None
                                                  ) -> None:
    assert _compared(slow_phones_pcap, CheckOptions(preset=preset)) == []
    if preset == SLOW_PRESET:
        assert _compared(slow_phones_pcap, CheckOptions(preset=preset), jobs=2) == []


def test_a_branch_still_calling_keeps_its_call_open_until_timer_b(tmp_path: Path) -> None:
    """The pushed device's stale contact never answers, so the proxy retransmits its INVITE
    at 0.5 and 1.5 s (Timer A), then gives the branch up with the call's 200 (OSIPS-26); the
    capture cannot tell that from a proxy that goes on until Timer B (TXN-9): the call is
    complete 32 s after that branch opened (Timer B), not 5 s after its last message, and the
    streamed check counts the two retransmissions too."""
    capture = load_capture(DATA / "simulated" / "opensips" / "push_wake_answer.pcap")
    collector = CallCollector(CheckOptions())
    for m in capture.messages:
        assert collector.due(m.time) == []
        collector.add(m, m.time)
    stale = next(m for m in capture.messages if m.frame == 8)
    assert capture.messages[-1].time + 5.0 < stale.time + 32.0
    assert collector.completed(stale.time + 31.999) == []
    [(done_at, judged)] = collector.completed(stale.time + 32.0)
    branch = judged.calls[0].call.branches[1]
    assert (done_at, branch.frame, branch.retransmissions, branch.responses) == (
        stale.time + 32.0, 8, ((12, 0), (17, 0)), ())


def test_differences_name_the_field() -> None:
    assert list(differences((1, (2, 3)), (1, (2, 4)), "x")) == ["x[1][1]: 3 != 4"]
    assert list(differences({"a": [1]}, {"a": [1, 2]})) == [
        "['a']: 1 items != 2: [1] != [1, 2]"]
