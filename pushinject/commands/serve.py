"""`pushinject serve`: run a preset's proxy as a live UDP element (the asyncio shell).

`--listen HOST:PORT` (default 127.0.0.1:5060; port 0 picks a free one) is announced on the first
line of output as `listening on HOST:PORT`. Pushes go as SIP MESSAGE to `--push-gateway` when
given (see `pushinject.live.proxy_shell`). `--duration` stops it after that many seconds;
otherwise it runs until SIGINT or SIGTERM, which stop it cleanly. Logs (the script's `xlog`,
pushes, a rate-limited line per kind of refused input, and the input counters when it stops)
go to stderr.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys

from pushinject.errors import UsageError

HELP = "run a preset's proxy live on a UDP socket"


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="opensips",
                        help="opensips (default), kamailio-tsilo or rfc8599")
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 5060),
                        help="HOST:PORT to bind (default 127.0.0.1:5060)")
    parser.add_argument("--push-gateway", type=_address, help="HOST:PORT of the push gateway")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")


async def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from pushinject.core.ids import RandomIds
    from pushinject.live.endpoint import LiveClock
    from pushinject.live.proxy_shell import ProxyShell
    from pushinject.presets import get_preset

    preset = get_preset(args.preset)
    loop = asyncio.get_running_loop()
    clock = LiveClock(loop)
    ids = RandomIds()

    def log(now: float, text: str) -> None:
        print(f"{now:10.3f} {text}", file=sys.stderr, flush=True)

    host, port = args.listen
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    port = sock.getsockname()[1]
    driver = preset.build(ids, None)
    driver.proxy.set_address(host, port)
    shell = ProxyShell(driver, clock, ids, address=(host, port),
                       push_gateway=args.push_gateway, log=log)
    await loop.create_datagram_endpoint(lambda: shell, sock=sock)
    print(f"listening on {host}:{port} (preset {preset.name})", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # stop cleanly, counters printed
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            await asyncio.wait_for(stop.wait(), args.duration)
        except TimeoutError:
            pass
    finally:
        log(clock.now(), shell.input_summary())
        shell.close()
    return 0


def run(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_serve(args))
