"""Judge captures as a stream: each call judged and released as soon as it is complete.

Frames flow once through decoding, parsing, call assembly, the rules and the replay
(`pushinject.conformance.collector.CallCollector`, whose notion of a *complete* call this
module shares: its final response went to the caller and nothing of it arrived for `quiet`
seconds of capture time, or `lost_within` after a 408/480 for FIELD-5). Memory follows the
calls in progress and the live registrations, not the length of the capture.

The work splits into *partitions* by the callee's address of record: a message belongs to the
partition of the user part of its To URI (`partition_key`), which every message of a call and
every REGISTER of the callee carry (RFC 3261 §8.1.1.2, §10.2), so the REGISTER that causes an
injection, with its own Call-ID, is judged with the call it wakes. A message of no call and no
registration (its CSeq method is none of `ROUTED`: a push MESSAGE, OPTIONS) goes to every
partition, as the collector gives it to every call in progress. Partition ``k`` of ``n``
decodes every frame (cheap: slicing and a header scan) but parses and judges only its own
messages, in time order. `judge_partition` is one partition's work; `pushinject.conformance.
parallel` runs several on local processes and merges their output by (capture, time judged,
place of the INVITE in capture order), which is also the order one partition alone yields.
"""

from __future__ import annotations

import re
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING

from pushinject.conformance.check import CallResult, CaptureResult, CheckOptions
from pushinject.conformance.timing import TimerValue, Timing, precedence

if TYPE_CHECKING:
    from pushinject.capture.decoder import DecodedMessage
    from pushinject.capture.recording import Recording
    from pushinject.conformance.capture import Address, Capture, Order
    from pushinject.conformance.replay import Output, ReplayResult

__all__ = ["JudgedCall", "Wanted", "EVERYTHING", "Tally", "partition_key", "partition_of",
           "judge_partition", "judge_messages", "merge_tallies", "ROUTED", "EVERY"]

_TO = re.compile(rb"\n(?:to|t)[ \t]*:[^\r\n]*?(?:sips?|tel):([^@;>?\s]+)", re.IGNORECASE)
_CALL_ID = re.compile(rb"\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)


def partition_key(raw: bytes) -> bytes:
    """The callee's address of record a message belongs to: the user part of its To URI
    (a ``tel:`` number too), else its Call-ID, else nothing (RFC 3261 §8.1.1.2, §10.2).

    >>> partition_key(b"INVITE sip:bob@p SIP/2.0\\r\\nTo: <sip:bob@x>\\r\\n\\r\\n")
    b'bob'
    >>> partition_key(b"SIP/2.0 200 OK\\r\\nt: sip:alice@x;tag=1\\r\\ni: c1\\r\\n\\r\\n")
    b'alice'
    >>> partition_key(b"OPTIONS sip:p SIP/2.0\\r\\nCall-ID: c9\\r\\n\\r\\n")
    b'c9'
    """
    head = raw.split(b"\r\n\r\n", 1)[0]
    found = _TO.search(head) or _CALL_ID.search(head)
    return found.group(1).strip() if found else b""


#: CSeq methods of the messages that belong to one callee's partition: a call's and a
#: registration's (RFC 3261 §12, §10; RFC 3262, 3311, 6086)
ROUTED = frozenset({"INVITE", "ACK", "CANCEL", "BYE", "PRACK", "UPDATE", "INFO", "REGISTER"})

#: `partition_of` for a message every partition takes
EVERY = -1


_CSEQ = re.compile(rb"\ncseq[ \t]*:[ \t]*[0-9]+[ \t]+([^\s]+)[ \t]*\r?\n", re.IGNORECASE)


def cseq_method(message: DecodedMessage) -> str | None:
    """The method of the message's CSeq (RFC 3261 §20.16), as the decoder's header scan reads
    it, found by one search of the header block when its first well-formed CSeq line is plain
    ``NUMBER METHOD``, else by that scan (every partition reads every frame: a whole scan
    there would cost each of them more than their share of the parsing).

    >>> from pushinject.capture.decoder import DecodedMessage
    >>> raw = b"SIP/2.0 200 OK\\r\\nCSeq: 7 REGISTER\\r\\n\\r\\nCSeq: 1 INVITE\\r\\n"
    >>> cseq_method(DecodedMessage(1, 0.0, ("a", 1), ("b", 2), "UDP", raw))
    'REGISTER'
    """
    raw = message.raw
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    found = _CSEQ.search(raw, 0, end + 2 if end >= 0 else len(raw))
    return found.group(1).decode("latin-1") if found else message.fields.cseq_method


def partition_of(message: DecodedMessage, parts: int) -> int:
    """Which of `parts` partitions judges the message (`owners` of a stable hash of
    `partition_key`), or `EVERY` for a message of no call and no registration."""
    if cseq_method(message) not in ROUTED:
        return EVERY
    return owners(parts)[zlib.crc32(partition_key(message.raw)) % SLOTS] if parts > 1 else 0


#: the hash slots shared out among the partitions
SLOTS = 256

#: partition 0's part of an even share of the slots: it runs in the process that also merges
#: and prints the others' calls (`pushinject.conformance.parallel`), so it judges fewer
LIGHTER = 0.94


@cache
def owners(parts: int) -> tuple[int, ...]:
    """The partition owning each of the `SLOTS` hash slots: partition 0 the first
    ``round(SLOTS / parts * LIGHTER)`` of them (at least one), the others the rest in turn.

    >>> owners(2).count(0), owners(2).count(1)
    (120, 136)
    >>> [owners(3).count(k) for k in range(3)]
    [80, 88, 88]
    """
    first = max(1, round(SLOTS / parts * LIGHTER))
    return (0,) * first + tuple(1 + k % (parts - 1) for k in range(SLOTS - first))


@dataclass(frozen=True)
class JudgedCall:
    """One call as judged: the capture it belongs to (its index among the inputs), the capture
    time at which it was complete (`CallCollector.completed`; inf: still open at the end), the
    frame of its INVITE, and what the report asks of it (`Wanted`): its result, its report
    lines, its JSON text, and with `keep` its own judged capture (ladders); `within`, its
    INVITE's place among the messages of that frame (CAP-9)."""

    capture: int
    done_at: float
    frame: int
    call: CallResult | None
    lines: tuple[str, ...]
    judged: CaptureResult | None = None
    record: str | None = None
    within: int = 0

    @property
    def invite(self) -> Order:
        """Where its INVITE is in capture order (CAP-9)."""
        return self.frame, self.within

    @property
    def order(self) -> tuple[int, float, int, int]:
        return self.capture, self.done_at, self.frame, self.within


@dataclass(frozen=True)
class Wanted:
    """What a judged call carries, as the report in use needs it (the rest is not made, nor
    sent between processes): its `CallResult` (JSON document, JUnit), its report lines (text;
    with `ladder`, drawn) and its JSON text (`CallResult.to_json`, for JSON lines)."""

    call: bool = True
    lines: bool = True
    ladder: bool = False
    record: bool = False


#: what `judge_partition` makes when not told: the result and the report lines
EVERYTHING = Wanted()


@dataclass
class Tally:
    """What one partition saw of one capture: counts, proxies, timers read, latencies (kept
    as arrays of doubles: every call adds some, and the median needs them all)."""

    capture: int
    file: str
    frames: int = 0
    messages: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    proxies: Counter[tuple[str, int]] = field(default_factory=Counter)
    timers: dict[str, TimerValue] = field(default_factory=dict)
    latency: tuple[array[float], array[float], array[float]] = field(
        default_factory=lambda: (array("d"), array("d"), array("d")))
    calls: int = 0
    violations: int = 0
    #: calls not judged: the capture lacks some of their messages (CAP-7)
    lacking: int = 0
    #: packets the file says its recording dropped (CAP-8)
    dropped: int = 0


def judge_partition(sources: Sequence[Recording], options: CheckOptions, *, part: int = 0,
                    parts: int = 1, quiet: float = 5.0, wanted: Wanted = EVERYTHING,
                    keep: bool = False, progress: Callable[[int, int], None] | None = None
                    ) -> Iterator[JudgedCall | Tally]:
    """Judge partition `part` of `parts` of every capture in `sources`: yields each call as it
    completes (`JudgedCall`, in `JudgedCall.order`, carrying what is `wanted`), then the
    capture's `Tally`. `progress` is called now and then with (bytes read, bytes in all), for
    a progress bar."""
    from pushinject.capture.decoder import Decoder
    from pushinject.conformance.capture import capture_name, screened
    from pushinject.conformance.collector import CallCollector
    from pushinject.conformance.duplicates import Duplicates

    total = sum(s.size for s in sources)
    before = 0
    for index, source in enumerate(sources):
        name = capture_name(source)
        tally = Tally(index, name)
        collector = CallCollector(options, name=name, quiet=quiet)
        decoder = Decoder(anomalies=False)  # the report counts skips, not anomalies
        duplicates = Duplicates(options.duplicates_within)
        step = 0
        for decoded in decoder.decode_file(source):
            # every frame's time moves the clock, so a call completes at the same message
            # whichever partition judges it
            for done_at, judged in collector.completed(decoded.time):
                yield from _calls(judged, index, done_at, tally, wanted, keep)
            mine = True  # counted here (a message every partition takes: in partition 0)
            if parts > 1:
                where = partition_of(decoded, parts)
                if where != part and where != EVERY:
                    continue
                mine = where == part or part == 0
            wire = screened(decoded, duplicates)  # a copy hashes to its original's partition
            if isinstance(wire, str):
                tally.skipped[wire] += mine
                continue
            tally.messages += mine
            collector.add(wire, wire.time, decoded.raw)
            step += 1
            if progress is not None and step % 2048 == 0 and decoder.reader is not None:
                progress(before + decoder.reader.position, total)
        flushed = collector.flush()
        for judged in sorted(flushed, key=lambda r: r.calls[0].call.order if r.calls else (0, 0)):
            yield from _calls(judged, index, float("inf"), tally, wanted, keep)
        tally.frames = decoder.summary.frames
        if part == 0:  # every partition decoded every frame: its counts are taken once
            tally.skipped.update(decoder.summary.skipped)
            tally.dropped = decoder.summary.dropped
        tally.skipped["unjudged-call"] += collector.counts["unjudged"]
        tally.skipped += Counter()  # drop zero counts
        tally.timers = dict(collector.timers)
        before += source.size
        if progress is not None:
            progress(before, total)
        yield tally


def _other_proxies(ranked: Sequence[Address], calls: Counter[Address], proxy: Address | None,
                   given: bool) -> tuple[tuple[Address, int], ...]:
    """The proxies of `ranked` (most calls first) on another host than `proxy`, with their
    calls: another address on its host is the same proxy listening there (CONN-12, CAP-10);
    none when the proxy was given."""
    if given or proxy is None:
        return ()
    return tuple((a, calls[a]) for a in ranked if a[0] != proxy[0])


def judge_messages(capture: Capture, options: CheckOptions, *, quiet: float = 5.0
                   ) -> CaptureResult:
    """A loaded capture judged as `judge_partition` judges a file alone: its messages through
    a `CallCollector`, each call judged once complete; the result holds every call in order
    of its INVITE, the capture's messages, the timers, latencies and counts of the merged
    tally (`merge_tallies`), and the replays of the calls as one."""
    from pushinject.conformance.collector import CallCollector

    tally = Tally(0, capture.file, frames=capture.frames, messages=capture.sip_messages,
                  skipped=Counter(capture.skipped), dropped=capture.dropped)
    collector = CallCollector(options, name=capture.file, quiet=quiet)
    parts: list[CaptureResult] = []
    for m in capture.messages:
        parts += collector.due(m.time)
        collector.add(m, m.time)
    parts += collector.flush()
    calls = [j.call for part in parts for j in _calls(part, 0, 0.0, tally, _RESULT, False)
             if j.call is not None]
    tally.skipped["unjudged-call"] += collector.counts["unjudged"]
    tally.skipped += Counter()  # drop zero counts
    tally.timers = dict(collector.timers)
    merged, *_ = merge_tallies([tally], options)
    late = {c.call.call_id: v for part in parts for c in part.calls
            if (v := part.timing.violations.get(c.call.call_id))}
    return replace(merged, capture=replace(capture, skipped=merged.capture.skipped),
                   calls=tuple(sorted(calls, key=lambda c: c.call.order)),
                   replay=_replays(parts),
                   timing=replace(merged.timing, violations=late))


#: what `judge_messages` wants of a judged call: its result
_RESULT = Wanted(call=True, lines=False)


def _replays(parts: Sequence[CaptureResult]) -> ReplayResult | None:
    """The replays of the calls judged one by one, as one: each call's outputs, in time
    order, and its divergence."""
    from pushinject.conformance.replay import ReplayResult

    done = [(p.replay, {c.call.call_id for c in p.calls}) for p in parts
            if p.replay is not None]
    if not done:
        return None

    def of(side: str) -> tuple[Output, ...]:
        return tuple(sorted((o for r, ids in done for o in getattr(r, side)
                             if o.call_id in ids), key=lambda o: o.time))

    return ReplayResult(done[0][0].preset, of("reference"), of("actual"),
                        {k: r.divergences.get(k) for r, ids in done for k in ids})


def _calls(judged: CaptureResult, index: int, done_at: float, tally: Tally, wanted: Wanted,
           keep: bool) -> Iterator[JudgedCall]:
    import json

    from pushinject.conformance.report import call_lines

    if judged.proxy is not None and judged.calls:
        tally.proxies[judged.proxy] += 1
    for mine, theirs in zip(tally.latency, (judged.latency.push_to_register,
                                           judged.latency.register_to_invite,
                                           judged.latency.cancel_to_final), strict=True):
        mine.extend(theirs)
    for cr in judged.calls:
        tally.calls += 1
        tally.violations += len(cr.violations)
        tally.lacking += cr.loss is not None
        yield JudgedCall(index, done_at, cr.call.frame, cr if wanted.call else None,
                         tuple(call_lines(judged, cr, ladder=wanted.ladder))
                         if wanted.lines else (),
                         judged if keep else None,
                         json.dumps(cr.to_json()) if wanted.record else None, cr.call.within)


def merge_tallies(tallies: Sequence[Tally], options: CheckOptions
                  ) -> tuple[CaptureResult, int, int, int]:
    """One capture's result from its partitions' tallies (no calls held: they were reported
    as they completed), with its number of calls and violations. A timer read in several
    partitions takes the value that stands first (`pushinject.conformance.timing.precedence`),
    as in the whole capture."""
    from pushinject.conformance.capture import Capture
    from pushinject.conformance.field_rules import Latencies

    first = tallies[0]
    skipped: Counter[str] = Counter()
    proxies: Counter[tuple[str, int]] = Counter()
    timers: dict[str, TimerValue] = {k: TimerValue(k, v, None) for k, v in options.knobs.items()}
    for t in tallies:
        skipped.update(t.skipped)
        proxies.update(t.proxies)
    found = sorted(((precedence(v), k, v) for t in tallies for k, v in t.timers.items()
                    if v.evidence is not None), key=lambda e: (e[0], e[1]))
    for _, knob, value in found:
        timers.setdefault(knob, value)
    latency = Latencies(*(tuple(sorted(x for t in tallies for x in t.latency[i]))
                          for i in range(3)))
    ranked = sorted(proxies, key=lambda a: (-proxies[a], a))
    proxy = options.proxy or (ranked[0] if ranked else None)
    capture = Capture(file=first.file, frames=first.frames, messages=(),
                      skipped=dict(sorted(skipped.items())),
                      counted=sum(t.messages for t in tallies),
                      dropped=sum(t.dropped for t in tallies))
    calls = sum(t.calls for t in tallies)
    result = CaptureResult(capture, proxy, (), None, Timing(timers, options.timer_slack, {}),
                           latency, other_proxies=_other_proxies(ranked, proxies, proxy,
                                                                 bool(options.proxy)))
    return (result, calls, sum(t.violations for t in tallies),
            sum(t.lacking for t in tallies))
