"""`pushinject serve --workers N`: one UDP socket, N processes each running the core.

Theory of operation. The serving process binds the UDP socket, forks N workers, then only
dispatches: one blocking `recvfrom` per datagram (signals only set flags, seen within `WAKE`
seconds thanks to the socket's receive timeout), reads each datagram's owner with the
partition rule (`pushinject.live.partition`, WORK-1 to WORK-3 and WORK-7) and passes it, with
its source address, to that worker as one record on a Unix stream socket pair (a stream, not
datagrams: a datagram socket pair holds only `net.unix.max_dgram_qlen`, often 10, records,
and a worker behind by that many would stall the dispatcher and every other worker). Each
worker runs a `ProxyShell` on its own core and clock, with identifiers that name it
(`WorkerIds`), and sends on the shared UDP socket itself, so an answer leaves from the proxy's
one address without a hop back through the dispatcher. Stream transports are not spread (WORK-4).

Stopping (SIGTERM, SIGINT, `--duration`, a worker that ended by itself or took nothing for
`SEND_TIMEOUT` seconds) is bounded and
leaves no process behind (WORK-5): the dispatcher stops reading, sends SIGTERM to each worker
by its PID, waits up to `STOP_TIMEOUT` seconds for each one's report and exit, then SIGKILLs by
PID whoever is still there. A worker whose dispatcher vanished sees its socket pair end and
stops too (and the kernel sends it SIGTERM then, `PR_SET_PDEATHSIG`). Each worker's report (its
input counters, its shell's counts, its pushes) is summed into the one `inputs:` line serve
prints when it stops; with `--pcap`, each worker writes its own capture and the dispatcher
merges them by time into the one file asked for (WORK-6).
"""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import json
import multiprocessing
import os
import select
import signal
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from pushinject.core.admission import InputCounts
from pushinject.live.partition import Partition, WorkerIds

__all__ = ["STOP_TIMEOUT", "WorkerPlan", "WorkerSet", "frame", "unframe", "merge_pcaps",
           "sum_inputs", "run_loop"]

#: seconds a worker has to report and exit after SIGTERM before it is killed
STOP_TIMEOUT = 5.0
#: the dispatcher's side of each socket pair: room for a burst while a worker is busy
CHANNEL_BUFFER = 2 * 1024 * 1024
#: records a worker takes from its socket pair before it lets its event loop run timers
DRAIN = 256
#: the longest a signal waits to be seen by the dispatcher on a quiet socket (seconds)
WAKE = 0.2
#: the longest the dispatcher waits for a worker to make room for one datagram (seconds): a
#: worker that takes nothing for this long is taken for stuck, and serve stops
SEND_TIMEOUT = 5.0
#: bytes a worker reads from its socket pair at a time (many datagrams when it is behind)
_CHUNK = 256 * 1024
_HEADER = struct.Struct("!IHB")
_PR_SET_PDEATHSIG = 1
_T = TypeVar("_T")


def frame(data: bytes, source: tuple[str, int]) -> bytes:
    """A datagram and its source as one record of the stream to a worker: the length of what
    follows the header, the port, the host's length, the host, the datagram.

    >>> records, used = unframe(frame(b"OPTIONS", ("127.0.0.1", 5070)) + b"INV")
    >>> records, used
    ([(b'OPTIONS', ('127.0.0.1', 5070))], 23)
    """
    host = source[0].encode("ascii")
    return _HEADER.pack(len(host) + len(data), source[1], len(host)) + host + data


def unframe(buffer: bytes | bytearray) -> tuple[list[tuple[bytes, tuple[str, int]]], int]:
    """The whole records at the start of `buffer` (see `frame`), and how many bytes they take."""
    records = []
    at, end, size = 0, len(buffer), _HEADER.size
    while end - at >= size:
        length, port, host_length = _HEADER.unpack_from(buffer, at)
        if end - at - size < length:
            break
        host_end = at + size + host_length
        records.append((bytes(buffer[host_end:at + size + length]),
                        (buffer[at + size:host_end].decode("ascii"), port)))
        at += size + length
    return records, at


@dataclass(frozen=True)
class WorkerPlan:
    """What every worker is given: the preset, the proxy's address, the push gateway, the
    folder its capture goes to (None: no capture) and its event loop."""

    preset: str
    address: tuple[str, int]
    push_gateway: tuple[str, int] | None
    captures: Path | None
    #: "asyncio" or "uvloop" (`run_loop`)
    event_loop: str = "asyncio"


def sum_inputs(reports: Sequence[dict[str, object]]) -> InputCounts:
    """The input counters of every worker's report, added up (INPUT-1 holds for the sum).

    >>> sum_inputs([{"inputs": {"received": 2, "processed": 1, "answered": {},
    ...                         "dropped": {"unparsable": 1}}},
    ...             {"inputs": {"received": 1, "processed": 1, "answered": {}, "dropped": {}}}])
    ... # doctest: +NORMALIZE_WHITESPACE
    InputCounts(received=3, processed=2, answered=Counter(), dropped=Counter({'unparsable': 1}),
                last={}, refused=1)
    """
    total = InputCounts()
    for report in reports:
        inputs = report["inputs"]
        assert isinstance(inputs, dict)
        total.received += int(inputs["received"])
        total.processed += int(inputs["processed"])
        total.answered.update(Counter(inputs["answered"]))
        total.dropped.update(Counter(inputs["dropped"]))
    total.refused = sum(total.answered.values()) + sum(total.dropped.values())
    return total


def merge_pcaps(parts: Sequence[Path], out: Path) -> int:
    """Merge the captures `parts` (each in time order) into `out` by time; returns how many
    packets were written."""
    from scapy.utils import RawPcapWriter

    from pushinject.capture.records import read_records

    streams = [read_records(part) for part in parts if part.exists() and part.stat().st_size]
    count = 0
    with open(out, "wb") as handle:
        writer = RawPcapWriter(handle, linktype=1, sync=False)
        writer.write_header(None)
        for record in heapq.merge(*streams, key=lambda r: r.time):
            micros = round(record.time * 1_000_000)
            writer.write_packet(record.data, sec=micros // 1_000_000, usec=micros % 1_000_000)
            count += 1
        writer.flush()
    return count


class _SharedSocket:
    """The UDP socket shared by every worker, as the shell's datagram transport."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closing = False

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        self.sock.sendto(data, address)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


def run_loop(main: Coroutine[Any, Any, _T], event_loop: str = "asyncio") -> _T:
    """Run `main` on asyncio's own event loop, or on uvloop's (`event_loop="uvloop"`, when
    the uvloop package is installed)."""
    import asyncio

    if event_loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def _timeval(seconds: float) -> bytes:
    """A `struct timeval` for SO_RCVTIMEO and SO_SNDTIMEO."""
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000))


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to send this process SIGTERM when its parent ends (Linux); end now if
    the parent already has."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _worker_main(index: int, plan: WorkerPlan, udp: socket.socket, channel: socket.socket,
                 others: list[socket.socket], parent: int) -> None:
    """The body of worker `index` (a forked process)."""
    _die_with_parent(parent)
    for other in others:
        other.close()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the dispatcher decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    run_loop(_worker(index, plan, udp, channel), plan.event_loop)
    sys.stdout.flush()
    sys.stderr.flush()


async def _worker(index: int, plan: WorkerPlan, udp: socket.socket, channel: socket.socket
                  ) -> None:
    import asyncio

    from pushinject.live.endpoint import LiveClock
    from pushinject.live.listen import Listen
    from pushinject.live.proxy_shell import KEPT_PUSHES, ProxyShell
    from pushinject.presets import get_preset
    from pushinject.sim.pcap import PcapStream

    loop = asyncio.get_running_loop()
    clock = LiveClock(loop)
    ids = WorkerIds(index)

    def log(now: float, text: str) -> None:
        # one write per line: the workers and the dispatcher share stderr, and a line written
        # in two pieces could be split by another process's line
        sys.stderr.flush()
        os.write(sys.stderr.fileno(), f"{now:10.3f} worker {index}: {text}\n".encode())

    with contextlib.ExitStack() as stack:
        recorder = None
        if plan.captures is not None:
            out = stack.enter_context(open(plan.captures / f"{index}.pcap", "wb"))
            recorder = PcapStream(out, epoch=clock.epoch)
        driver = get_preset(plan.preset).build(ids, None)
        host, port = plan.address
        driver.proxy.set_address(host, port)
        # as `serve` in one process: no summary of every call ended, only the last pushes
        driver.proxy.config = replace(driver.proxy.config, keep_summaries=False)
        shell = ProxyShell(driver, clock, ids, address=plan.address,
                           push_gateway=plan.push_gateway, log=log,
                           listeners=[Listen("UDP", host, port)], recorder=recorder,
                           keep_pushes=KEPT_PUSHES)
        shell.transport = _SharedSocket(udp)  # type: ignore[assignment]
        shell.start()
        stop = asyncio.Event()
        channel.setblocking(False)
        receive = shell.receive

        pending = bytearray()

        def readable() -> None:
            """What the dispatcher wrote (many datagrams when this worker is behind), then one
            re-arming of the timer."""
            try:
                chunk = channel.recv(_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:  # the dispatcher is gone
                loop.remove_reader(channel.fileno())
                stop.set()
                return
            pending.extend(chunk)
            records, used = unframe(pending)
            del pending[:used]
            try:
                for data, source in records:
                    receive(data, source)
            finally:
                shell.rearm()

        loop.add_reader(channel.fileno(), readable)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(channel.fileno())
        log(clock.now(), shell.input_summary())
        shell.close()
        inputs = driver.proxy.inputs
        report = {"worker": index, "counts": dict(shell.counts), "pushes": len(shell.pushes),
                  "inputs": {"received": inputs.received, "processed": inputs.processed,
                             "answered": dict(inputs.answered),
                             "dropped": dict(inputs.dropped)}}
        channel.setblocking(True)
        channel.settimeout(1.0)
        with contextlib.suppress(OSError):
            channel.sendall(json.dumps(report).encode())
            channel.shutdown(socket.SHUT_WR)


class WorkerSet:
    """N forked workers behind the UDP socket `udp`, and the dispatcher that feeds them."""

    def __init__(self, udp: socket.socket, workers: int, plan: WorkerPlan,
                 partition: Partition) -> None:
        self.udp = udp
        self.plan = plan
        self.partition = partition
        self.channels: list[socket.socket] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.reports: list[dict[str, object]] = []
        #: datagrams no worker could take (its socket pair full for `SEND_TIMEOUT`, or closed)
        self.undelivered = 0
        #: why serving stopped early (a worker ended), or ""
        self.failure = ""
        context = multiprocessing.get_context("fork")
        ends = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(workers)]
        try:
            for index, (mine, theirs) in enumerate(ends):
                others = [s for pair in ends for s in pair if s is not theirs]
                process = context.Process(target=_worker_main, name=f"pushinject-worker-{index}",
                                          args=(index, plan, udp, theirs, others, os.getpid()),
                                          daemon=False)
                process.start()
                self.processes.append(process)
        finally:
            for mine, theirs in ends:
                theirs.close()
        for mine, _ in ends:
            mine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CHANNEL_BUFFER)
            mine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(SEND_TIMEOUT))
            self.channels.append(mine)
        #: datagrams passed to each worker
        self.passed = [0] * workers

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def dispatch(self, duration: float | None = None) -> None:
        """Pass datagrams to their owners until SIGTERM or SIGINT, `duration` seconds, or the
        end of a worker.

        One blocking `recvfrom` per datagram; the socket's receive timeout
        (`SO_RCVTIMEO`, `WAKE` seconds) bounds how long a signal, which only sets a flag, waits
        to be seen on a quiet socket.
        """
        signals: list[int] = []

        def note(signum: int, frame: object) -> None:
            signals.append(signum)

        watched = (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGCHLD)
        previous = {signum: signal.signal(signum, note) for signum in watched}
        try:
            if duration is not None:
                signal.setitimer(signal.ITIMER_REAL, max(duration, 1e-3))
            self.udp.setblocking(True)
            self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(WAKE))
            while True:
                self._pump(signals)
                if self.failure or set(signals) & {signal.SIGTERM, signal.SIGINT, signal.SIGALRM}:
                    return
                signals.clear()  # SIGCHLD: has a worker ended?
                ended = [i for i, p in enumerate(self.processes) if not p.is_alive()]
                if ended:
                    # a signal to the whole process group reaches the workers and this
                    # process together: give it the time to arrive here too
                    settle = time.monotonic() + 1.0
                    while not signals and time.monotonic() < settle:
                        time.sleep(0.05)
                    if set(signals) & {signal.SIGTERM, signal.SIGINT, signal.SIGALRM}:
                        return
                    process = self.processes[ended[0]]
                    self.failure = (f"worker {ended[0]} (pid {process.pid}) ended by itself "
                                    f"(exit code {process.exitcode})")
                    return
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _pump(self, signals: list[int]) -> None:
        """Dispatch until a signal has been noted."""
        recvfrom, owner, channels = self.udp.recvfrom, self.partition.owner, self.channels
        passed = self.passed
        while not signals:
            try:
                data, source = recvfrom(65536)
            except OSError:  # the receive timeout, or an ICMP error reported on the socket
                continue
            index = owner(data)
            try:
                channels[index].sendall(frame(data, source[:2]))
            except OSError:  # the worker took nothing for SEND_TIMEOUT, or is gone
                self.undelivered += 1
                self.failure = self.failure or (
                    f"worker {index} (pid {self.processes[index].pid}) took nothing for "
                    f"{SEND_TIMEOUT:g} s")
                return
            passed[index] += 1

    def summary(self) -> str:
        """One line: what the dispatcher passed to each worker, and what the workers sent."""
        counts = self.counts()
        return (f"dispatched {sum(self.passed)} datagrams ("
                + ", ".join(f"worker {i}: {n}" for i, n in enumerate(self.passed))
                + f"), {self.undelivered} undelivered; the workers sent {counts['sent']}, "
                  f"{counts['unsent']} unsent")

    def stop(self) -> None:
        """SIGTERM each worker by its PID, gather the reports, and SIGKILL by PID whoever has
        not ended within `STOP_TIMEOUT` seconds (WORK-5)."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        waiting = {channel.fileno(): channel for channel in self.channels}
        texts = {fd: bytearray() for fd in waiting}
        while waiting and time.monotonic() < deadline:
            ready, _, _ = select.select(list(waiting.values()), [], [],
                                        max(0.0, deadline - time.monotonic()))
            for channel in ready:
                try:
                    chunk = channel.recv(_CHUNK)
                except OSError:
                    chunk = b""
                if chunk:
                    texts[channel.fileno()].extend(chunk)
                    continue
                text = texts[channel.fileno()]
                waiting.pop(channel.fileno())
                with contextlib.suppress(ValueError):
                    if text:
                        self.reports.append(json.loads(text))
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1.0)
        for channel in self.channels:
            channel.close()

    def counts(self) -> Counter[str]:
        """The shells' counts (datagrams sent, unsent, ...), added up over the reports."""
        total: Counter[str] = Counter()
        for report in self.reports:
            counts = report.get("counts")
            if isinstance(counts, dict):
                total.update(counts)
        return total

