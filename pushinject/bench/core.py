"""`pushinject bench core`: calls per second through the proxy core, and memory per thousand
waiting calls.

Each call: the callee (one of `USERS`) has one registered contact (the initial branch); the
caller's INVITE runs the seed's script (transaction, placeholder, subscription, lookup, relay);
that contact rings (180); a new contact of the callee registers (60 s) and is injected; it
answers 200, which is relayed and CANCELs the first branch, whose device answers the CANCEL 200
and the INVITE 487. One call starts every virtual second, so about 20 of the seed's
subscriptions and 60 short bindings are alive at any time, and expiries run as they fall due.
Each call's INVITE and REGISTER are built just before the call, outside the measured time (as
a proxy receives its messages one at a time; holding every call's requests from the start
would only make the garbage collector's passes inside the proxy longer); the devices'
responses depend on the forwarded requests and are built as the call goes. Time is virtual;
the wall clock is only read here, in the benchmark; the figure is calls per second of CPU time
spent inside `Proxy.handle` and `Proxy.handle_timer` (the machine may be shared; the simulated
devices' work is left out), the wall-clock rate of the whole run is printed beside it.
The run is repeated `--repeat` times, each with a fresh proxy; the figure is the best run
(as `timeit` advises: slower runs measure the machine's other work, not the code), with every
run's rate printed before it. Memory: tracemalloc, over `--waiting` INVITEs nobody answers.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pushinject.core.proxy import Proxy

HELP = ("calls/s through the proxy core (one initial + one injected branch) and memory per "
        "waiting call")

#: callees the calls rotate over (each keeps one long-lived contact: the initial branch)
USERS = 100

__all__ = ["HELP", "add_arguments", "run", "measure_calls", "measure_waiting", "interpreter"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=2000, help="calls to run (default 2000)")
    parser.add_argument("--waiting", type=int, default=2000,
                        help="waiting calls for the memory figure (default 2000)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs of --calls calls, each with a fresh proxy; the best counts "
                             "(default 5)")


def _register(user: str, host: str, port: int, seq: int, expires: int) -> Any:
    from pushinject.sip import make_request

    return make_request(
        "REGISTER", "sip:example.com",
        via=f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK-r{seq}",
        from_=f"<sip:{user}@example.com>;tag=r{seq}", to=f"<sip:{user}@example.com>",
        call_id=f"reg-{seq}", cseq=1, contact=f"<sip:{user}@{host}:{port}>",
        extra=[("Expires", str(expires))])


def _invite(user: str, seq: int) -> Any:
    from pushinject.sip import make_request

    return make_request(
        "INVITE", f"sip:{user}@example.com",
        via=f"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-c{seq}",
        from_=f"<sip:alice@example.com>;tag=a{seq}", to=f"<sip:{user}@example.com>",
        call_id=f"call-{seq}", cseq=1)


def _proxy() -> Proxy:
    from pushinject.core.ids import CountingIds
    from pushinject.core.proxy import Proxy, ProxyConfig
    from pushinject.scripts.opensips_seed import SeedScript

    return Proxy(ProxyConfig(keep_summaries=False), CountingIds("b"), SeedScript())


def _invites(actions: list[Any]) -> list[Any]:
    return [a for a in actions if getattr(getattr(a, "message", None), "method", "") == "INVITE"]


def measure_calls(n: int, step: float = 1.0) -> tuple[float, float, int]:
    """Run `n` calls, one every `step` virtual seconds; returns (calls per second of CPU time
    spent inside the proxy, calls per wall-clock second of the whole run including the devices,
    calls answered)."""
    from pushinject.core.events import Received
    from pushinject.sip import make_response

    proxy = _proxy()
    caller = ("192.0.2.10", 5060)
    for u in range(USERS):  # the callees' first contacts, registered before the clock starts
        first = ("192.0.2.20", 10000 + u)
        proxy.handle(Received(message=_register(f"u{u}", *first, -u, 7200), source=first), 0.0)

    def plan() -> Iterator[tuple[Received, Received]]:
        # each call's requests are built just before it, outside the measured time: a proxy
        # gets its messages one at a time, and thousands held at once by the benchmark would
        # only add to the garbage collector's work inside the measured time
        for i in range(n):
            second = ("192.0.2.21", 20000 + i % 40000)
            yield (Received(message=_invite(f"u{i % USERS}", i), source=caller),
                   Received(message=_register(f"u{i % USERS}", *second, i, 60),
                            source=second))

    answered = 0
    now = 0.0
    cpu = 0.0  # CPU time spent inside the proxy only: the devices' own work is left out

    def core(event: Any) -> list[Any]:
        nonlocal cpu
        t0 = time.process_time()
        out = proxy.handle(event, now)
        cpu += time.process_time() - t0
        return out

    start = time.perf_counter()
    for inv, reg2 in plan():
        now += step
        [first] = _invites(core(inv))
        core(Received(message=make_response(first.message, 180, to_tag="d1"),
                      source=first.destination))
        [injected] = _invites(core(reg2))
        ok = make_response(injected.message, 200, to_tag="d2")
        out = core(Received(message=ok, source=injected.destination))
        answered += sum(1 for a in out if getattr(getattr(a, "message", None), "status", 0) == 200)
        # the first device answers the CANCEL it was sent: 200 to the CANCEL, 487 to the INVITE
        [cancel] = [a for a in out if getattr(a.message, "method", "") == "CANCEL"]
        core(Received(message=make_response(cancel.message, 200, to_tag="d1"),
                      source=first.destination))
        core(Received(message=make_response(first.message, 487, to_tag="d1"),
                      source=first.destination))
        t0 = time.process_time()
        proxy.handle_timer(now)
        cpu += time.process_time() - t0
    wall = time.perf_counter() - start
    return n / max(cpu, 1e-9), n / max(wall, 1e-9), answered


def measure_waiting(n: int) -> float:
    """Bytes allocated per call for `n` INVITEs held by the placeholder (nobody registered)."""
    from pushinject.core.events import Received

    invites = [Received(message=_invite(f"w{i}", i), source=("192.0.2.10", 5060))
               for i in range(n)]
    proxy = _proxy()
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    for i, inv in enumerate(invites):
        proxy.handle(inv, i * 0.0001)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert len(proxy.contexts()) == n
    grown = sum(s.size_diff for s in after.compare_to(base, "filename"))
    return grown / n


def interpreter() -> str:
    """Which Python ran the figures. Its build matters: a CPython built with profile-guided
    optimisation and LTO (as Linux distributions and conda ship it) runs this benchmark about
    15% faster than one built from source with the default options (e.g. by pyenv)."""
    import platform
    import sys

    return (f"{platform.python_implementation()} {platform.python_version()} "
            f"({sys.executable}, {platform.python_compiler()})")


def run(args: argparse.Namespace) -> int:
    from statistics import median

    from pushinject.errors import UsageError

    if args.calls < 1 or args.waiting < 1 or args.repeat < 1:
        raise UsageError("--calls, --waiting and --repeat must be at least 1")
    per_call = measure_waiting(args.waiting)
    print(f"memory: {per_call * 1000 / 1024:.0f} KiB per 1000 waiting calls "
          f"({args.waiting} calls held by the placeholder)")
    runs = [measure_calls(args.calls) for _ in range(args.repeat)]
    rates = [rate for rate, _, _ in runs]
    best = max(range(len(runs)), key=lambda i: rates[i])
    _, wall_rate, answered = runs[best]
    print(f"calls: {args.calls} per run, {answered} answered by the injected branch in the "
          f"best run; {wall_rate:.0f} calls per wall-clock second there")
    print(f"runs: {args.repeat}, calls/s: {' '.join(f'{r:.0f}' for r in rates)} "
          f"(median {median(rates):.0f})")
    print("measured: CPU time inside Proxy.handle and Proxy.handle_timer only "
          "(6 messages and 1 timer pass per call)")
    print(f"interpreter: {interpreter()}")
    print(f"core: {rates[best]:.0f} calls/s")
    return 0
