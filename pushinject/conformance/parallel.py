"""Run the streaming check's partitions on local processes or a Dask cluster, and merge.

`judge(sources, options, jobs=n)` runs `pushinject.conformance.stream.judge_partition` for
partitions 0..n-1 (partition 0 in this process, each other one in a process forked from it,
so that n jobs are n processes) and yields every judged call in the order (capture, time
judged, place of the INVITE in capture order, CAP-9), each capture's merged result
(`CaptureDone`) after its last call. Each worker's output is already in that order, so the
merge streams (`heapq.merge`) and is deterministic: the same as one job's. A worker sends
only what the report in use prints of each call (`pushinject.conformance.stream.Wanted`: the
report lines for the text, the JSON text for JSON lines), and forks with the judging modules
already imported and the garbage collector's objects frozen (`JUDGING`); partition 0, judged
by the process that also merges and prints, owns a smaller share of the callees
(`pushinject.conformance.stream.owners`).

With `scheduler` (the address of a Dask distributed scheduler, ``tcp://host:8786``) the same
partitions run as Dask tasks, one per partition (`jobs`, else one per worker of the cluster),
each sending its batches through a Dask queue of its own as it goes, merged the same way: the
report is the same and streams as the local one does. Every worker must read the capture
files at the same path.
"""

from __future__ import annotations

import gc
import heapq
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pushinject.conformance.check import CaptureResult, CheckOptions
from pushinject.conformance.stream import (
    EVERYTHING, JudgedCall, Tally, Wanted, judge_partition, merge_tallies,
)
from pushinject.errors import UsageError

if TYPE_CHECKING:
    from pushinject.capture.recording import Recording

__all__ = ["CaptureDone", "judge"]

#: items a worker sends at once (fewer, larger messages between processes)
BATCH = 64

_LAST = float("inf")


@dataclass(frozen=True)
class CaptureDone:
    """A capture fully judged: its merged result (no calls held), calls and violations, and
    the calls not judged because the capture lacks some of their messages (CAP-7)."""

    result: CaptureResult
    calls: int
    violations: int
    lacking: int = 0


def _order(item: JudgedCall | Tally) -> tuple[int, float, int, int]:
    if isinstance(item, Tally):
        return item.capture, _LAST, 1 << 62, 0
    return item.order


def judge(sources: Sequence[Recording], options: CheckOptions, *, jobs: int = 1,
          quiet: float = 5.0, wanted: Wanted = EVERYTHING, keep: bool = False,
          progress: Callable[[int, int], None] | None = None, scheduler: str | None = None
          ) -> Iterator[JudgedCall | CaptureDone]:
    """Every judged call of `sources`, carrying what is `wanted`, and each capture's
    `CaptureDone`, over `jobs` local processes or on the Dask `scheduler` (see the module
    docstring). `keep` (one local job only) keeps each call's judged capture for its ladder
    drawings."""
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if scheduler is not None:
        yield from _on_dask(scheduler, sources, options, jobs, quiet, wanted)
        return
    if jobs == 1:
        streams: list[Iterator[JudgedCall | Tally]] = [judge_partition(
            sources, options, quiet=quiet, wanted=wanted, keep=keep, progress=progress)]
        yield from _merged(streams, options)
        return
    # partition 0 runs here, as the merge asks for its items: one process fewer than jobs
    # forked, whose memory the whole would count again (a forked process is resident with
    # all this one had at the fork)
    _before_fork()
    context = multiprocessing.get_context("fork")
    queues = [context.Queue(maxsize=256) for _ in range(1, jobs)]
    workers = [context.Process(target=_worker, daemon=True, args=(
        queue, sources, options, k, jobs, quiet, wanted))
        for k, queue in enumerate(queues, start=1)]
    for w in workers:
        w.start()
    gc.unfreeze()  # this process's own objects are collected again as usual
    try:
        own = judge_partition(sources, options, part=0, parts=jobs, quiet=quiet, wanted=wanted,
                              progress=progress)
        yield from _merged([own, *(_received(q) for q in queues)], options)
    finally:
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
                w.join()


#: the modules judging imports on first use (the collector, the report's lines, the reference
#: core the replay drives), imported before the fork: each worker would import them again
JUDGING = ("pushinject.conformance.collector", "pushinject.conformance.report",
           "pushinject.core.proxy", "pushinject.core.ids")


def _before_fork() -> None:
    """Import `JUDGING`, then freeze the garbage collector's objects: the forked workers share
    those pages with this process instead of importing the modules again, and their collector
    neither scans nor, by writing to them, copies what is frozen (`gc.freeze`)."""
    import importlib

    for name in JUDGING:
        importlib.import_module(name)
    gc.freeze()


def _on_dask(address: str, sources: Sequence[Recording], options: CheckOptions, jobs: int,
             quiet: float, wanted: Wanted) -> Iterator[JudgedCall | CaptureDone]:
    """The partitions run as tasks on the Dask cluster at `address`, each sending its batches
    through a Dask queue of its own as it goes: merged as they come."""
    import uuid

    from distributed import Client, Queue

    try:
        client = Client(address, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {address} ({exc})") from None
    with client:
        parts = jobs if jobs > 1 else max(1, len(client.scheduler_info()["workers"]))
        names = [f"pushinject-check-{uuid.uuid4().hex}-{k}" for k in range(parts)]
        queues = [Queue(name, client=client) for name in names]
        futures = [client.submit(_dask_worker, names[k], sources, options, k, parts, quiet,
                                 wanted, pure=False) for k in range(parts)]
        try:
            yield from _merged([_from_dask(q, f) for q, f in zip(queues, futures,
                                                                 strict=True)], options)
        finally:
            client.cancel(futures)


def _dask_worker(name: str, sources: Sequence[Recording], options: CheckOptions, part: int,
                 parts: int, quiet: float, wanted: Wanted) -> None:
    """One partition as a Dask task: its batches into the queue `name`, as `_worker`."""
    from distributed import Queue

    _worker(Queue(name), sources, options, part, parts, quiet, wanted)


def _from_dask(queue: Any, future: Any) -> Iterator[JudgedCall | Tally]:
    """A Dask task's items as they come; its failure, reported in one line."""

    def batches() -> Iterator[Any]:
        while True:
            try:
                yield queue.get(timeout=1)
            except TimeoutError:
                if future.status == "error":
                    exc = future.exception()
                    raise UsageError(f"a Dask task failed: {type(exc).__name__}: {exc}"
                                     ) from None
                if future.status == "cancelled":
                    raise UsageError("a Dask task was cancelled") from None

    yield from _items(batches(), "a Dask task failed")


def _merged(streams: list[Iterator[JudgedCall | Tally]], options: CheckOptions
            ) -> Iterator[JudgedCall | CaptureDone]:
    pending: list[Tally] = []
    for item in heapq.merge(*streams, key=_order):
        if isinstance(item, Tally):
            pending.append(item)
            if len(pending) == len(streams):
                yield CaptureDone(*merge_tallies(pending, options))
                pending = []
        else:
            yield item


def _worker(queue: Any, sources: Sequence[Recording], options: CheckOptions, part: int,
            parts: int, quiet: float, wanted: Wanted) -> None:
    """One partition in a child process: batches of items, then None (or an error text)."""
    batch: list[Any] = []
    try:
        for item in judge_partition(sources, options, part=part, parts=parts, quiet=quiet,
                                    wanted=wanted):
            batch.append(item)
            if len(batch) >= BATCH:
                queue.put(batch)
                batch = []
        queue.put(batch)
        queue.put(None)
    except Exception as exc:  # reported by the parent as a one-line error
        queue.put(batch)
        queue.put(f"{type(exc).__name__}: {exc}")


def _received(queue: Any) -> Iterator[JudgedCall | Tally]:
    yield from _items(iter(queue.get, object()))


def _items(batches: Iterator[Any], who: str = "a worker failed") -> Iterator[JudgedCall | Tally]:
    """The items of a worker's batches, until its None (a text: its error, told as `who`)."""
    for batch in batches:
        if batch is None:
            return
        if isinstance(batch, str):
            raise UsageError(f"{who}: {batch}")
        yield from batch
