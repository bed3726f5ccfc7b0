"""Property tests: generated messages round-trip; no input raises anything but SIPParseError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushinject.sip import SIPParseError, parse_message

TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-.!%*_+`'~", min_size=1,
                max_size=12)
HOST = st.lists(st.text("abcdexyz", min_size=1, max_size=6), min_size=1, max_size=3).map(
    ".".join)
PORT = st.one_of(st.none(), st.integers(min_value=1, max_value=65535))


@st.composite
def sip_uris(draw: st.DrawFn) -> str:
    user = draw(st.one_of(st.none(), st.text("abcxyz019_.+~", min_size=1, max_size=10)))
    port = draw(PORT)
    params = draw(st.lists(st.tuples(st.text("abclrtz-", min_size=1, max_size=6),
                                     st.one_of(st.none(), st.text("abc019", min_size=1,
                                                                  max_size=6))),
                           max_size=3, unique_by=lambda p: p[0]))
    text = "sip:" + (f"{user}@" if user else "") + draw(HOST)
    text += f":{port}" if port is not None else ""
    return text + "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["INVITE", "ACK", "BYE", "REGISTER", "OPTIONS", "X-NEW"]))
    is_request = draw(st.booleans())
    status = draw(st.integers(min_value=100, max_value=699))
    start = (f"{method} {draw(sip_uris())} SIP/2.0" if is_request
             else f"SIP/2.0 {status} {draw(st.from_regex(r'[A-Za-z ]{0,12}', fullmatch=True))}")
    headers = [
        ("Via", f"SIP/2.0/{draw(st.sampled_from(['UDP', 'TCP', 'TLS']))} {draw(HOST)}"
                f";branch=z9hG4bK{draw(TOKEN)}"),
        (draw(st.sampled_from(["From", "f"])), f"<{draw(sip_uris())}>;tag={draw(TOKEN)}"),
        (draw(st.sampled_from(["To", "t", "TO"])), f'"{draw(TOKEN)}" <{draw(sip_uris())}>'),
        (draw(st.sampled_from(["Call-ID", "i"])), f"{draw(TOKEN)}@{draw(HOST)}"),
        ("CSeq", f"{draw(st.integers(min_value=0, max_value=2**31 - 1))} {method}"),
        ("Max-Forwards", str(draw(st.integers(min_value=0, max_value=255)))),
    ]
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        headers.append((draw(st.sampled_from(["Contact", "m", "Route", "Record-Route"])),
                        f"<{draw(sip_uris())}>"))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        headers.append((f"X-{draw(TOKEN)}", draw(st.from_regex(r"[ -~]{0,20}", fullmatch=True))))
    headers = draw(st.permutations(headers))
    body = draw(st.binary(max_size=40))
    lines = [start]
    for name, value in headers:
        colon = draw(st.sampled_from([": ", ":", " : ", "\t:\t", ":   "]))
        at = value.find(">;") + 1 if ">;" in value else (value.find(";") if "<" not in value
                                                            else -1)
        if at > 0 and draw(st.booleans()):  # fold before a header parameter (RFC 3261 §7.3.1)
            fold = draw(st.sampled_from(["\r\n ;", "\r\n\t; ", " ;\r\n  "]))
            value = value[:at] + fold + value[at + 1 :]
        lines.append(f"{name}{colon}{value}")
    lines += [f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


def _values(data: bytes) -> tuple[object, ...]:
    msg = parse_message(data)
    uri = getattr(msg, "uri", None)
    return (msg.start_line, uri, msg.call_id, msg.cseq, msg.vias, msg.from_, msg.to,
            msg.contacts, msg.routes, msg.record_routes, msg.max_forwards, msg.body,
            [msg.get_all(n) for n, _ in msg.headers])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_generated_messages_round_trip_rfc3261_s7(data: bytes) -> None:
    msg = parse_message(data)
    assert msg.defects == []
    wire = bytes(msg)
    again = parse_message(wire)
    assert again == msg
    assert _values(wire) == _values(data)
    assert bytes(again) == wire


SEED = (b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bK1\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        b"Contact: <sip:a@192.0.2.1;pn-prid=x>;expires=10\r\nContent-Length: 3\r\n\r\nabc")


def _survives(data: bytes) -> None:
    for strict in (True, False):
        try:
            msg = parse_message(data, strict=strict)
        except SIPParseError:
            continue
        bytes(msg)
        for attr in ("call_id", "cseq", "vias", "from_", "to", "contacts", "routes",
                     "max_forwards", "expires", "content_length"):
            try:
                getattr(msg, attr)
            except SIPParseError:
                pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_parse_errors(data: bytes) -> None:
    _survives(data)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(SEED)), st.integers(min_value=0, max_value=8),
       st.binary(max_size=6))
def test_mutated_messages_raise_only_parse_errors(at: int, cut: int, insert: bytes) -> None:
    _survives(SEED[:at] + insert + SEED[at + cut :])
