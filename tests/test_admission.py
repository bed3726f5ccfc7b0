"""What the core does with input it cannot use (INPUT-1 to INPUT-8): 400 or 416 naming the defect
when the request can be answered, a counted drop otherwise, and no change to the core's state."""

from __future__ import annotations

import pytest

from pushinject.core.admission import InputCounts, printable, salvage
from pushinject.core.events import Received, Unparsed
from pushinject.core.ids import CountingIds
from pushinject.core.proxy import Proxy, ProxyConfig
from pushinject.scripts.opensips_seed import SeedScript
from pushinject.sip import Request, parse_message

SOURCE = ("192.0.2.10", 5062)
INVITE = (b"INVITE sip:bob@example.com SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-m1\r\n"
          b"Max-Forwards: 70\r\nFrom: <sip:mallory@example.com>;tag=m1\r\n"
          b"To: <sip:bob@example.com>\r\nCall-ID: m-1\r\nCSeq: 1 INVITE\r\n"
          b"Content-Length: 0\r\n\r\n")
RESPONSE = (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-px-9\r\n"
            b"From: <sip:mallory@example.com>;tag=m1\r\nTo: <sip:bob@example.com>;tag=b\r\n"
            b"Call-ID: m-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def proxy() -> Proxy:
    return Proxy(ProxyConfig(), CountingIds("px"), SeedScript())


def feed(p: Proxy, data: bytes) -> list:
    """The datagram as a live shell hands it over: parsed leniently, else as `Unparsed`."""
    try:
        event: Received | Unparsed = Received(message=parse_message(data, strict=False),
                                              source=SOURCE)
    except ValueError as exc:
        event = Unparsed(data=data, source=SOURCE, error=getattr(exc, "reason", str(exc)))
    return p.handle(event, 0.0)


def state(p: Proxy) -> tuple:
    """Everything a message can change in the core, except the counters and the id source."""
    return (dict(p._servers), dict(p._clients), dict(p._own_vias), dict(p._by_txn),
            dict(p._tsilo), dict(p._timers._entry), tuple(p.location.aors()),
            p.subscriptions.get_timer(), p.location.get_timer(), len(p.summaries()))


@pytest.mark.parametrize(("data", "reason", "warning"), [
    (INVITE.replace(b"Forwards: 70", b"Forwards: ten"), "Bad Max-Forwards",
     "Max-Forwards: malformed Max-Forwards value 'ten'"),
    (INVITE.replace(b"1 INVITE", b"1 BYE"), "Bad CSeq",
     "CSeq method BYE is not the request's INVITE"),
    (INVITE.replace(b"Length: 0", b"Length: 10"), "Bad Content-Length",
     "Content-Length 10 but 0 bytes of body"),
    (INVITE.replace(b"Call-ID: m-1\r\n", b"Call-ID: m-1\r\ni: m-2\r\n"), "Bad Call-ID",
     "Call-ID appears more than once"),
    (INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\nRoute: <sip:a@b\r\n"),
     "Bad Route", "Route: malformed name-addr value '<sip:a@b'"),
])
def test_a_request_that_can_be_answered_gets_400_naming_the_defect_INPUT_3(
        data: bytes, reason: str, warning: str) -> None:
    p = proxy()
    before = state(p)
    [send] = feed(p, data)
    assert (send.message.status, send.message.reason) == (400, reason)
    assert send.message.get("Warning") == f'399 127.0.0.1:5060 "{printable(warning)}"'
    assert send.destination == ("192.0.2.10", 5060)  # the Via's sent-by, as RFC 3261 §18.2.2
    assert send.message.to.tag == "px-tag-1" and send.message.call_id == "m-1"
    assert state(p) == before
    assert (p.inputs.received, p.inputs.processed, sum(p.inputs.answered.values())) == (1, 0, 1)
    assert p.inputs.balanced()


def test_a_request_uri_the_proxy_cannot_route_gets_416_INPUT_4() -> None:
    p = proxy()
    [send] = feed(p, INVITE.replace(b"INVITE sip:bob@example.com", b"INVITE tel:+15551234"))
    assert (send.message.status, send.message.reason) == (416, "Unsupported URI Scheme")
    assert p.inputs.answered == {"416 Request-URI": 1}
    assert p.contexts() == []


@pytest.mark.parametrize(("data", "reason"), [
    (INVITE.replace(b"Call-ID: m-1\r\n", b""), "unreadable-request"),
    (INVITE.replace(b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-m1\r\n", b""),
     "unreadable-request"),
    (INVITE.replace(b"From: <sip:mallory@example.com>;tag=m1", b"From: <<<"),
     "unreadable-request"),
    (INVITE.replace(b"INVITE", b"ACK").replace(b"Forwards: 70", b"Forwards: x"), "malformed-ack"),
    (RESPONSE.replace(b"CSeq: 1 INVITE\r\n", b""), "malformed-response"),
    (RESPONSE.replace(b"Length: 0", b"Length: 5"), "truncated-response"),
    (b"\x16\x03\x01\x02\x00garbage", "unparsable"),
])
def test_what_cannot_be_answered_is_dropped_and_counted_INPUT_2_5_6_7(data: bytes,
                                                                      reason: str) -> None:
    p = proxy()
    before = state(p)
    assert feed(p, data) == []
    assert p.inputs.dropped == {reason: 1}
    assert state(p) == before and p.inputs.balanced()


def test_bytes_the_parser_rejects_are_answered_when_the_headers_can_be_read_INPUT_7() -> None:
    p = proxy()
    [send] = feed(p, INVITE.replace(b"INVITE sip:bob@example.com", b"INVITE sip:bob@[::1"))
    assert (send.message.status, send.message.reason) == (400, "Bad Request-Line")
    assert send.message.get("Warning") == (
        '399 127.0.0.1:5060 "bad Request-URI: not a valid sip: URI: \'sip:bob@[::1\'"')
    assert p.inputs.answered == {"400 Request-Line": 1}


def test_salvage_keeps_the_method_and_headers_of_a_broken_request_line() -> None:
    request = salvage(INVITE.replace(b"sip:bob@example.com", b"sip:bob@[::1", 1))
    assert isinstance(request, Request)
    assert (request.method, request.call_id, request.cseq.number) == ("INVITE", "m-1", 1)
    assert salvage(RESPONSE.replace(b"180", b"999")) is None


def test_a_valid_call_is_processed_and_counted() -> None:
    p = proxy()
    [trying] = feed(p, INVITE)
    assert trying.message.status == 100
    assert (p.inputs.received, p.inputs.processed, p.inputs.refused) == (1, 1, 0)


def test_a_fault_of_the_core_itself_is_counted_never_raised_INPUT_1() -> None:
    class Broken:
        def request_route(self, sip):  # noqa: ANN001 - a test script
            raise RuntimeError("script bug")

    p = Proxy(ProxyConfig(), CountingIds("px"), Broken())
    [log] = feed(p, INVITE)
    assert log.text == "input dropped on an internal error: RuntimeError: script bug"
    assert p.inputs.dropped == {"internal-error": 1} and p.inputs.balanced()


def test_counts_add_up_and_keep_a_printable_last_detail() -> None:
    counts = InputCounts()
    counts.received, counts.processed = 4, 1
    counts.drop("unparsable", "bad\x00line\r\n")
    assert counts.last == {"unparsable": "bad?line??"}
    counts.drop("unparsable", 'x "y"')
    assert counts.balanced() is False  # one input is not accounted for
    counts.received = 3
    assert counts.balanced() is True
    assert counts.last == {"unparsable": "x ?y?"}


def test_a_bare_line_break_in_a_value_is_refused_not_copied_INPUT_3() -> None:
    """A value holding a CR or LF would become a line of its own in a copy: a request is
    refused with a kind that does not depend on the header's name (counters stay bounded);
    in an essential header the request cannot be answered at all."""
    p = proxy()
    [send] = feed(p, INVITE.replace(b"Max-Forwards: 70", b"X-Note: a\rInjected: 1"))
    assert (send.message.status, send.message.reason) == (400, "Bad Header")
    assert send.message.get("Warning") == '399 127.0.0.1:5060 "X-Note holds a bare CR or LF"'
    assert b"Injected" not in bytes(send.message)
    assert feed(p, INVITE.replace(b"Call-ID: m-1", b"Call-ID: m-1\rVia: x")) == []
    assert p.inputs.answered == {"400 Header": 1}
    assert p.inputs.dropped == {"unreadable-request": 1}
