"""`pushinject serve`: run a preset's proxy as a live element over UDP, TCP and TLS.

`--listen [udp:|tcp:|tls:]HOST:PORT` is repeatable (default `udp:127.0.0.1:5060`; port 0 picks a
free one; at most one UDP address). The first line of output announces every address bound:
`listening on udp:127.0.0.1:5060 tls:127.0.0.1:5061 (preset opensips)`. A TLS listener presents
`--tls-cert`/`--tls-key`, or a self-signed certificate made at start with the `openssl` command
(see `pushinject.live.tls`). The proxy's own address (Via, Record-Route) is the first listener's,
or `--advertise HOST` (needed when listening on 0.0.0.0 or ::). Its Record-Route names the
listener of the transport the INVITE came over, and, when the branch leaves over another
listener, that one's on top of it (`<sip:HOST:PORT;transport=tcp;r2=on;lr>`, RFC 5658; ROUTE-9).
Pushes go as SIP MESSAGE over UDP to `--push-gateway` when given (see
`pushinject.live.proxy_shell`). `--pcap FILE` writes every message sent and received (connections
as TCP segments, TLS as the SIP it carries). `--duration` stops it after that many seconds;
otherwise it runs until interrupted (SIGINT or SIGTERM end it cleanly). Logs (the script's
`xlog`, pushes, a rate-limited line per kind of refused input, and the input counters when it
stops) go to stderr.

`--workers N` (UDP only) runs N processes, each with its own core on a part of the state, behind
one dispatching process that reads the socket (`pushinject.live.workers`; the partition rule is
`pushinject.live.partition`, WORK-1 to WORK-7): a callee's requests and REGISTERs meet at one
worker, responses come back to the worker that sent the request. TCP and TLS listeners keep
every connection in one process, so they are refused with `--workers` above 1 (WORK-4). Log
lines of a worker read `worker I: ...`; the `inputs:` line when it stops adds up every worker's.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pushinject.errors import UsageError

if TYPE_CHECKING:
    from pushinject.live.listen import Listen

HELP = "run a preset's proxy live over UDP, TCP and TLS"

#: listening hosts that name every address of the machine, none of which a phone can be sent
WILDCARDS = frozenset({"0.0.0.0", "::"})
#: the UDP socket's receive and send buffers, in bytes (the system may cap them)
UDP_BUFFER = 512 * 1024


def _listen(text: str) -> Listen:
    from pushinject.live.listen import parse_listen

    try:
        return parse_listen(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="opensips",
                        help="opensips (default), kamailio-tsilo or rfc8599")
    parser.add_argument("--listen", type=_listen, action="append",
                        help="[udp:|tcp:|tls:]HOST:PORT to bind, repeatable "
                             "(default udp:127.0.0.1:5060)")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate of the TLS listeners "
                        "(default: a self-signed one made at start)")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument("--idle-timeout", type=float, default=120.0,
                        help="close a connection after this many seconds without traffic "
                             "(default 120)")
    parser.add_argument("--advertise", metavar="HOST",
                        help="the address the proxy writes in its Via and Record-Route "
                             "(default: the first listening host; needed when that is 0.0.0.0 "
                             "or ::)")
    parser.add_argument("--push-gateway", type=_address, help="HOST:PORT of the push gateway")
    parser.add_argument("--pcap", type=Path, help="write every message sent and received here")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes running the core, each on a part of the state "
                             "(UDP only; default 1: one process)")
    parser.add_argument("--event-loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="the event loop of the shell: asyncio's own (default) or uvloop's "
                             "(needs the uvloop package)")


def _bind(listen: Listen) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    kind = socket.SOCK_DGRAM if listen.transport == "UDP" else socket.SOCK_STREAM
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_DGRAM:  # room for bursts, as Kamailio's receive buffer probe gives
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, UDP_BUFFER)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listen.host, listen.port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot bind {listen}: {exc.strerror}") from None
    return sock


def _check(args: argparse.Namespace, listens: list[Listen]) -> None:
    if sum(1 for listen in listens if listen.transport == "UDP") > 1:
        raise UsageError("at most one udp: listening address")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.push_gateway is not None and not any(l.transport == "UDP" for l in listens):
        raise UsageError("--push-gateway needs a udp: listening address (pushes go over UDP)")
    if args.idle_timeout <= 0:
        raise UsageError("--idle-timeout must be positive")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")

    if args.workers > 1 and any(listen.transport != "UDP" for listen in listens):
        raise UsageError("--workers above 1 serves UDP only: TCP and TLS connections are "
                         "served by one process (leave --workers out to serve them)")
    if args.advertise is None and listens[0].host in WILDCARDS:
        raise UsageError(f"listening on {listens[0].host} (every address): give --advertise "
                         "HOST, the address phones reach the proxy at")


async def _serve(args: argparse.Namespace) -> int:
    import asyncio
    from dataclasses import replace

    from pushinject.core.ids import RandomIds
    from pushinject.live.endpoint import LiveClock
    from pushinject.live.proxy_shell import KEPT_PUSHES, ProxyShell
    from pushinject.live.tls import self_signed, server_context
    from pushinject.presets import get_preset
    from pushinject.sim.pcap import PcapStream

    listens: list[Listen] = args.listen or [_listen("udp:127.0.0.1:5060")]
    _check(args, listens)
    preset = get_preset(args.preset)
    loop = asyncio.get_running_loop()
    clock = LiveClock(loop)
    ids = RandomIds()

    def log(now: float, text: str) -> None:
        print(f"{now:10.3f} {text}", file=sys.stderr, flush=True)

    with contextlib.ExitStack() as stack:
        sockets = []
        for listen in listens:
            sock = _bind(listen)
            stack.callback(sock.close)
            sockets.append((replace(listen, port=sock.getsockname()[1]), sock))
        bound = [listen for listen, _ in sockets]
        if args.advertise is not None:  # what the Vias on connections name too (CONN-9)
            bound = [replace(listen, host=args.advertise.strip("[]")) for listen in bound]
        tls = None
        if any(listen.transport == "TLS" for listen in bound):
            cert, key = args.tls_cert, args.tls_key
            if cert is None:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                cert, key = self_signed(folder, bound[0].host)
            tls = server_context(cert, key)
        recorder = None
        if args.pcap is not None:
            try:
                out = stack.enter_context(open(args.pcap, "wb"))
            except OSError as exc:
                raise UsageError(f"cannot write {args.pcap}: {exc.strerror}") from None
            recorder = PcapStream(out, epoch=clock.epoch)
        first = next((l for l in bound if l.transport == "UDP"), bound[0])
        driver = preset.build(ids, None)
        driver.proxy.set_address(first.host, first.port)
        driver.proxy.add_aliases((listen.host, listen.port) for listen in bound)  # CONN-14
        # its Record-Route names the listener of each transport, twice when they differ (ROUTE-9)
        driver.proxy.set_interfaces({listen.transport: (listen.host, listen.port)
                                     for listen in reversed(bound)})
        # a live element runs for days: no summary of every call it ended, only the last pushes
        driver.proxy.config = replace(driver.proxy.config, keep_summaries=False)
        shell = ProxyShell(driver, clock, ids, address=(first.host, first.port),
                           push_gateway=args.push_gateway, log=log, listeners=bound,
                           recorder=recorder, idle_timeout=args.idle_timeout,
                           keep_pushes=KEPT_PUSHES)
        servers = []
        for listen, sock in sockets:
            if listen.transport == "UDP":
                await loop.create_datagram_endpoint(lambda: shell, sock=sock)
            else:
                servers.append(await loop.create_server(
                    shell.connections.factory(listen.transport), sock=sock,
                    ssl=tls if listen.transport == "TLS" else None))
        shell.start()
        names = " ".join(str(replace(listen, host=sock.getsockname()[0]))
                         for listen, (_, sock) in zip(bound, sockets, strict=True))
        print(f"listening on {names} (preset {preset.name})", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):  # stop cleanly: the capture is whole
            loop.add_signal_handler(signum, stop.set)
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
        finally:
            log(clock.now(), shell.input_summary())
            if any(listen.stream for listen in bound):
                log(clock.now(), shell.connections.summary())
            if shell.counts["unrecorded"]:
                log(clock.now(), f"capture: {shell.counts['unrecorded']} message(s) not written "
                    "(an address that does not resolve)")
            for server in servers:
                server.close()
            shell.close()
            await asyncio.sleep(0)
    return 0


def _serve_workers(args: argparse.Namespace) -> int:
    """`--workers N`: this process binds the socket, forks the workers and dispatches
    (`pushinject.live.workers`)."""
    import time

    from pushinject.core.ids import RandomIds
    from pushinject.live.partition import Partition
    from pushinject.live.proxy_shell import input_summary
    from pushinject.live.workers import WorkerPlan, WorkerSet, merge_pcaps, sum_inputs
    from pushinject.presets import get_preset

    listens: list[Listen] = args.listen or [_listen("udp:127.0.0.1:5060")]
    _check(args, listens)
    preset = get_preset(args.preset)
    started = time.monotonic()

    def log(text: str) -> None:
        print(f"{time.monotonic() - started:10.3f} {text}", file=sys.stderr, flush=True)

    with contextlib.ExitStack() as stack:
        sock = _bind(listens[0])
        stack.callback(sock.close)
        port = sock.getsockname()[1]
        host = (args.advertise or listens[0].host).strip("[]")
        captures = None
        if args.pcap is not None:
            try:
                args.pcap.open("wb").close()
            except OSError as exc:
                raise UsageError(f"cannot write {args.pcap}: {exc.strerror}") from None
            captures = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="pushinject-serve-")))
        plan = WorkerPlan(preset.name, (host, port), args.push_gateway, captures, args.event_loop)
        # the registrar's own AoR key, so that the partition and the bindings agree (WORK-1)
        partition = Partition(args.workers, preset.build(RandomIds(), None).proxy.location.aor_of)
        workers = WorkerSet(sock, args.workers, plan, partition)
        try:
            name = f"udp:{_host_text(sock.getsockname()[0])}:{port}"
            print(f"listening on {name} (preset {preset.name}, {args.workers} workers, "
                  f"pids {' '.join(map(str, workers.pids))})", flush=True)
            workers.dispatch(args.duration)
        finally:
            workers.stop()
        if workers.failure:
            log(f"stopped: {workers.failure}")
        log(workers.summary())
        missing = args.workers - len(workers.reports)
        log(input_summary(sum_inputs(workers.reports))
            + (f"; {missing} worker(s) gave no report" if missing else ""))
        if captures is not None:
            merge_pcaps(sorted(captures.glob("*.pcap")), args.pcap)
    return 1 if workers.failure else 0


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run(args: argparse.Namespace) -> int:
    from pushinject.live.workers import run_loop

    if getattr(args, "event_loop", "asyncio") == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise UsageError("--event-loop uvloop needs the uvloop package "
                             "(pip install uvloop)") from None
    if getattr(args, "workers", 1) > 1:
        return _serve_workers(args)
    with contextlib.suppress(KeyboardInterrupt):
        return run_loop(_serve(args), getattr(args, "event_loop", "asyncio"))
    return 0
