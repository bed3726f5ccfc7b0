"""`pushinject bench location`: REGISTERs per second through the registrar and its subscribers.

Builds N REGISTER requests (one RFC 8599 device per user), then on the virtual clock:

1. registers them all (N inserts), each event published to a `Subscriptions` table holding one
   ``aor=<user>`` subscription per user, as N waiting calls would;
2. registers them all again from new ports with a new Call-ID (N pn-matched updates: the woken
   devices of EVT-9);
3. expires them all through `handle_timer` (N deletes).

Requests are parsed before timing starts, so the figures are the registrar's and the
subscriptions' own (the lazy header parsing of each request is part of it, as it is for a
live proxy). Memory per thousand bindings is traced in a separate pass, so that tracing does not
slow the timed ones; it includes the responses' and events' share kept by the table. The last line
is ``location: <N> registers/s`` (steps 1 and 2 together).
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

HELP = "REGISTERs per second through the location service and its subscriptions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=5000, metavar="N",
                        help="devices registered (default 5000)")


def _request(n: int, port: int, call: str) -> object:
    from pushinject.sip import make_request

    pn = f"pn-provider=apns;pn-prid=tok{n:06d};pn-param=T.com.example.voip"
    return make_request(
        "REGISTER", "sip:example.com", via=f"SIP/2.0/UDP 10.1.0.1:{port};branch=z9hG4bK-{n}",
        from_=f"<sip:u{n}@example.com>;tag=t{n}", to=f"<sip:u{n}@example.com>",
        call_id=f"{call}-{n}", cseq=1,
        extra=[("Contact", f"<sip:u{n}@10.1.0.1:{port};{pn}>"), ("Expires", "600")],
    )


def _requests(users: int, port: int, call: str) -> list[object]:
    return [_request(n, port, call) for n in range(users)]


def _table_bytes(users: int) -> int:
    """Memory the location table keeps for `users` bindings: traced in its own pass, each
    request built, registered and dropped, so only what the table holds remains."""
    from pushinject.core.ids import CountingIds
    from pushinject.core.location import LocationService, RegistrarConfig

    loc = LocationService(RegistrarConfig(pn_providers=("apns",)), CountingIds("mem"))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(users):
        loc.register(_request(n, 5060, "mem"), ("10.1.0.1", 5060), 1.0)  # type: ignore[arg-type]
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held


def run(args: argparse.Namespace) -> int:
    from pushinject.core.ids import CountingIds
    from pushinject.core.location import LocationService, RegistrarConfig
    from pushinject.core.subscriptions import Subscriptions
    from pushinject.errors import UsageError

    users = int(args.users)
    if users < 1:
        raise UsageError("--users must be at least 1")
    first = _requests(users, 5060, "boot")
    woken = _requests(users, 41000, "wake")
    loc = LocationService(RegistrarConfig(pn_providers=("apns",)), CountingIds("bench"))
    subs = Subscriptions(CountingIds("bench"))
    for n in range(users):
        subs.notify_on_event("E_UL_CONTACT_UPDATE", f"aor=u{n}", "fork_call", 3600,
                             txn=(n, n), now=0.0)

    def drive(requests: list[object], port: int, now: float) -> tuple[float, int]:
        notified = 0
        start = time.perf_counter()
        for req in requests:
            for event in loc.register(req, ("10.1.0.1", port), now).events:  # type: ignore[arg-type]
                notified += len(subs.publish(event, now))
        return time.perf_counter() - start, notified

    insert_s, _ = drive(first, 5060, 1.0)
    update_s, notified = drive(woken, 41000, 2.0)
    start = time.perf_counter()
    deleted = len(loc.handle_timer(1000.0))
    expire_s = time.perf_counter() - start

    assert notified == users and deleted == users, (notified, deleted)
    table_bytes = _table_bytes(users)
    print(f"users: {users}, one subscription each ({len(subs)} live)")
    print(f"insert: {users / insert_s:,.0f} REGISTER/s (new bindings, INSERT)")
    print(f"update: {users / update_s:,.0f} REGISTER/s (woken devices, pn-matched UPDATE, "
          f"{notified} notifications)")
    print(f"expire: {users / expire_s:,.0f} bindings/s (DELETE through handle_timer)")
    print(f"memory: {table_bytes / users * 1000 / 1024:,.0f} KiB per 1000 bindings")
    print(f"location: {2 * users / (insert_s + update_s):,.0f} registers/s")
    return 0
