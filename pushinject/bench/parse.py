"""`pushinject bench parse`: SIP messages parsed per second on one core.

A realistic mix of one call and one registration: INVITE (with SDP), 100, 180, 200 (with SDP),
ACK, BYE, REGISTER (Contact with RFC 8599 pn-* parameters) and 401. Each is serialised once;
the timed loops then parse the bytes (strict mode), first alone, then also reading the fields a
proxy reads for every message (top Via branch, Call-ID, CSeq). Time is the process's CPU time
(`time.process_time`, one thread, so one core), best of three runs: on a shared machine the
wall clock would also count other processes' turns.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

HELP = "SIP messages parsed per second (INVITE/1xx/200/ACK/BYE/REGISTER/401 mix)"

__all__ = ["HELP", "add_arguments", "run", "message_mix", "measure"]

_SDP = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.20\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=sendrecv\r\n"
)


def message_mix() -> list[tuple[str, bytes]]:
    """The benchmark's messages as (label, wire bytes), built with the package's builders."""
    from pushinject.sip import make_request, make_response

    invite = make_request(
        "INVITE", "sip:bob@example.com",
        via="SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK776asdhds;rport",
        from_='"Alice" <sip:alice@example.com>;tag=1928301774',
        to="<sip:bob@example.com>", call_id="a84b4c76e66710@pc33.example.com", cseq=314159,
        contact="<sip:alice@192.0.2.20:5060;transport=udp>",
        extra=[("Record-Route", "<sip:proxy.example.com;lr>"),
               ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, UPDATE"),
               ("Supported", "replaces, timer"), ("User-Agent", "pushinject-bench/1.0")],
        body=_SDP, content_type="application/sdp",
    )
    ack = make_request(
        "ACK", "sip:bob@192.0.2.30:5062", via="SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKnashds8",
        from_='"Alice" <sip:alice@example.com>;tag=1928301774',
        to="<sip:bob@example.com>;tag=a6c85cf", call_id="a84b4c76e66710@pc33.example.com",
        cseq=314159, extra=[("Route", "<sip:proxy.example.com;lr>")],
    )
    bye = make_request(
        "BYE", "sip:alice@192.0.2.20:5060", via="SIP/2.0/UDP 192.0.2.30:5062;branch=z9hG4bKbye1",
        from_="<sip:bob@example.com>;tag=a6c85cf",
        to='"Alice" <sip:alice@example.com>;tag=1928301774',
        call_id="a84b4c76e66710@pc33.example.com", cseq=231,
        extra=[("Route", "<sip:proxy.example.com;lr>")],
    )
    register = make_request(
        "REGISTER", "sip:example.com",
        via="SIP/2.0/UDP 192.0.2.30:5062;branch=z9hG4bKreg77;rport",
        from_="<sip:bob@example.com>;tag=reg-4711", to="<sip:bob@example.com>",
        call_id="reg-8c1e@192.0.2.30", cseq=12,
        contact=("<sip:bob@192.0.2.30:5062;transport=udp;pn-provider=apns;"
                 "pn-prid=00fc13adff78512;pn-param=ABCD1234.com.example.voip>;"
                 '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1'),
        extra=[("Expires", "3600"), ("Supported", "path, outbound, gruu"),
               ("User-Agent", "pushinject-bench/1.0")],
    )
    contact = [("Contact", "<sip:bob@192.0.2.30:5062;transport=udp>")]
    messages = [
        ("INVITE", invite),
        ("100", make_response(invite, 100)),
        ("180", make_response(invite, 180, to_tag="a6c85cf", extra=contact)),
        ("200", make_response(invite, 200, to_tag="a6c85cf", extra=contact, body=_SDP,
                              content_type="application/sdp")),
        ("ACK", ack),
        ("BYE", bye),
        ("REGISTER", register),
        ("401", make_response(register, 401, to_tag="reg-srv-1", extra=[(
            "WWW-Authenticate",
            'Digest realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", '
            'algorithm=MD5, qop="auth"')])),
    ]
    return [(label, bytes(msg)) for label, msg in messages]


def _parse_only(data: bytes) -> object:
    from pushinject.sip import parse_message

    return parse_message(data)


def _parse_and_touch(data: bytes) -> object:
    from pushinject.sip import parse_message

    msg = parse_message(data)
    return (msg.top_via.branch, msg.call_id, msg.cseq.number)


def measure(fn: Callable[[bytes], object], wires: list[bytes], rounds: int) -> float:
    """Messages per second of `fn` over `rounds` passes of `wires` (best of three)."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(rounds):
            for data in wires:
                fn(data)
        best = min(best, time.process_time() - start)
    return rounds * len(wires) / best


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=40000,
                        help="messages to parse per measurement (default 40000)")


def run(args: argparse.Namespace) -> int:
    from pushinject.errors import UsageError

    if args.count < 1:
        raise UsageError("--count must be at least 1")
    mix = message_mix()
    wires = [data for _, data in mix]
    rounds = max(1, args.count // len(wires))
    total = rounds * len(wires)
    _parse_and_touch(wires[0])  # import and warm the caches outside the clock
    print(f"{'measurement':<38}{'bytes':>7}{'messages':>10}{'messages/s':>14}")
    for label, data in mix:
        rate = measure(_parse_only, [data], rounds)
        print(f"{'parse ' + label:<38}{len(data):>7}{rounds:>10}{rate:>14,.0f}")
    size = sum(map(len, wires)) // len(wires)
    rows = [("parse, whole mix", _parse_only),
            ("parse + Via/Call-ID/CSeq, whole mix", _parse_and_touch)]
    figures = []
    for label, fn in rows:
        rate = measure(fn, wires, rounds)
        figures.append(rate)
        print(f"{label:<38}{size:>7}{total:>10}{rate:>14,.0f}")
    print(f"parse: {figures[0]:.0f} messages/s")
    return 0
