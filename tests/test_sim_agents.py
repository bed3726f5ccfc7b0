"""Simulated user agents: each reply and each timing follows a UA rule of RFC 3261 / RFC 8599."""

from __future__ import annotations

from pushinject.sim.agents import PN_PARAM, PN_PROVIDER, Caller, Device, Outgoing
from pushinject.push import PushRequest
from pushinject.sim.pushservice import SimulatedPushService
from pushinject.sim.scenario import CallerSpec, DeviceSpec
from pushinject.sip import Request, Response, make_response, parse_message

PROXY = ("127.0.0.1", 5060)


def wire(out: list[Outgoing]) -> list[Request | Response]:
    """What the outgoing messages look like after a trip through the parser."""
    return [parse_message(bytes(o.message)) for o in out]


def first_lines(out: list[Outgoing]) -> list[str]:
    return [bytes(o.message).split(b"\r\n", 1)[0].decode() for o in out]


def invite_for(device: Device, caller: Caller) -> Request:
    (out,) = caller.handle_timer(caller.spec.invite_at)
    invite = parse_message(bytes(out.message))
    assert isinstance(invite, Request)
    return invite


def test_caller_sends_invite_at_invite_at_to_the_proxy() -> None:
    caller = Caller(CallerSpec(invite_at=1.0))
    assert caller.get_timer() == 1.0
    assert caller.handle_timer(0.5) == []
    (out,) = caller.handle_timer(1.0)
    invite = parse_message(bytes(out.message))
    assert isinstance(invite, Request) and out.destination == PROXY
    assert (invite.method, str(invite.uri), invite.cseq.number) == ("INVITE",
                                                                    "sip:bob@example.com", 1)
    assert invite.top_via.branch == "z9hG4bK-alice-1" and invite.from_.tag == "alice-tag-1"
    assert caller.get_timer() is None


def test_caller_acks_a_non_2xx_final_on_the_invite_branch_rfc3261_17_1_1_3() -> None:
    caller = Caller(CallerSpec(invite_at=1.0))
    (out,) = caller.handle_timer(1.0)
    invite = parse_message(bytes(out.message))
    assert isinstance(invite, Request)
    busy = parse_message(bytes(make_response(invite, 486, to_tag="px-tag-1")))
    (ack,) = wire(caller.handle(busy, PROXY, 3.0))
    assert isinstance(ack, Request)
    assert (ack.method, ack.top_via.branch, ack.to.tag, ack.cseq.method) == (
        "ACK", "z9hG4bK-alice-1", "px-tag-1", "ACK")
    assert (caller.final, caller.final_at) == (486, 3.0)


def test_caller_acks_each_2xx_end_to_end_and_byes_the_second_dialog_rfc3261_13_2_2_4() -> None:
    caller = Caller(CallerSpec(invite_at=1.0))
    (out,) = caller.handle_timer(1.0)
    invite = parse_message(bytes(out.message))
    assert isinstance(invite, Request)
    ok_b = make_response(invite, 200, to_tag="B-tag", extra=[("Contact", "<sip:bob@127.0.0.11>")])
    first = caller.handle(parse_message(bytes(ok_b)), PROXY, 3.0)
    assert first_lines(first) == ["ACK sip:bob@127.0.0.11 SIP/2.0"]
    assert first[0].destination == ("127.0.0.11", 5060)
    assert wire(first)[0].top_via.branch != invite.top_via.branch  # a new transaction
    ok_c = make_response(invite, 200, to_tag="C-tag", extra=[("Contact", "<sip:bob@127.0.0.12>")])
    second = caller.handle(parse_message(bytes(ok_c)), PROXY, 3.1)
    assert first_lines(second) == ["ACK sip:bob@127.0.0.12 SIP/2.0",
                                   "BYE sip:bob@127.0.0.12 SIP/2.0"]
    assert (caller.final, caller.final_at, caller.dialogs) == (200, 3.0, ["B-tag", "C-tag"])


def test_caller_cancels_only_while_no_final_arrived_rfc3261_9_1() -> None:
    caller = Caller(CallerSpec(invite_at=1.0, cancel_at=2.0))
    caller.handle_timer(1.0)
    (cancel,) = wire(caller.handle_timer(2.0))
    assert isinstance(cancel, Request)
    assert (cancel.method, cancel.top_via.branch, cancel.cseq.number, cancel.cseq.method) == (
        "CANCEL", "z9hG4bK-alice-1", 1, "CANCEL")
    late = Caller(CallerSpec(invite_at=1.0, cancel_at=2.0))
    (out,) = late.handle_timer(1.0)
    invite = parse_message(bytes(out.message))
    assert isinstance(invite, Request)
    late.handle(parse_message(bytes(make_response(invite, 486, to_tag="t"))), PROXY, 1.5)
    assert late.handle_timer(2.0) == []


def test_device_registers_at_register_at_by_contact_uri_only() -> None:
    device = Device(DeviceSpec(name="A", register_at=0.5, expires=600), 0)
    assert device.address == ("127.0.0.10", 5060) and device.get_timer() == 0.5
    (register,) = wire(device.handle_timer(0.5))
    assert isinstance(register, Request)
    (contact,) = register.contacts
    assert (register.method, str(contact.uri), register.expires) == (
        "REGISTER", "sip:bob@127.0.0.10:5060", 600)
    assert contact.instance is None  # bindings are matched by URI (RFC 3261 §10.3 step 7)
    assert Device(DeviceSpec(name="X"), 1).get_timer() is None  # never registers


def test_device_answers_100_then_180_then_final_on_its_schedule_rfc3261_17_2_1() -> None:
    device = Device(DeviceSpec(name="A", register_at=0.0, ring_after=0.1, answer_after=2.0), 0)
    device.handle_timer(0.0)
    invite = invite_for(device, Caller(CallerSpec(invite_at=1.0)))
    assert first_lines(device.handle(invite, PROXY, 1.0)) == ["SIP/2.0 100 Trying"]
    assert device.get_timer() == 1.1
    (ringing,) = wire(device.handle_timer(1.1))
    assert device.get_timer() == 3.0
    (ok,) = wire(device.handle_timer(3.0))
    assert isinstance(ringing, Response) and isinstance(ok, Response)
    assert (ringing.status, ok.status) == (180, 200)
    assert ringing.to.tag == ok.to.tag == "A-tag-2"
    assert str(ok.contacts[0].uri) == "sip:bob@127.0.0.10:5060"


def test_device_answers_cancel_200_then_invite_487_rfc3261_9_2() -> None:
    device = Device(DeviceSpec(name="A", register_at=0.0, ring_after=0.1, answer_after=5.0), 0)
    device.handle_timer(0.0)
    caller = Caller(CallerSpec(invite_at=1.0, cancel_at=2.0))
    invite = invite_for(device, caller)
    device.handle(invite, PROXY, 1.0)
    (cancel,) = wire(caller.handle_timer(2.0))
    assert isinstance(cancel, Request)
    out = wire(device.handle(cancel, PROXY, 2.0))
    assert [(m.status, m.cseq.method) for m in out if isinstance(m, Response)] == [
        (200, "CANCEL"), (487, "INVITE")]
    assert device.get_timer() is None  # no 180 or 200 any more


def test_device_refuses_a_merged_request_with_482_rfc3261_8_2_2_2() -> None:
    device = Device(DeviceSpec(name="A", register_at=0.0, answer_after=5.0), 0)
    invite = invite_for(device, Caller(CallerSpec(invite_at=1.0)))
    device.handle(invite, PROXY, 1.0)
    again = invite.with_header("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-other")
    assert first_lines(device.handle(again, PROXY, 1.2)) == ["SIP/2.0 482 Loop Detected"]


def test_push_device_registers_with_pn_params_and_sleeps_until_pushed_rfc8599_4_1() -> None:
    device = Device(DeviceSpec(name="B", push=True, wake_after=1.5, new_port_on_wake=True,
                               answer_after=1.0), 1)
    assert device.get_timer() == 0.0  # registered before the call
    (register,) = wire(device.handle_timer(0.0))
    assert isinstance(register, Request)
    uri = register.contacts[0].uri
    assert (uri.params["pn-provider"], uri.params["pn-param"], uri.params["pn-prid"]) == (
        PN_PROVIDER, PN_PARAM, "tok-B")
    invite = invite_for(device, Caller(CallerSpec(invite_at=1.0)))
    assert device.handle(invite, PROXY, 1.0) == []  # asleep: nothing arrives
    service = SimulatedPushService([device])
    result = service.send(PushRequest(device=str(uri), provider="fcm", prid="tok-B",
                                      param=PN_PARAM, aor="bob", call_id="c", at=1.0), 1.0)
    assert result.ok and device.pushed_at == [1.0] and device.get_timer() == 2.5
    (refresh,) = wire(device.handle_timer(2.5))
    assert isinstance(refresh, Request) and isinstance(register, Request)
    # RFC 8599 §4.1.3: a binding refresh (same Call-ID, next CSeq), same pn-* parameters
    assert (refresh.call_id, refresh.cseq.number) == (register.call_id, 2)
    assert str(refresh.contacts[0].uri) == (
        f"sip:bob@127.0.0.11:5062;pn-provider={PN_PROVIDER};pn-param={PN_PARAM};pn-prid=tok-B")
    assert device.address == ("127.0.0.11", 5062) and not device.asleep


def test_push_service_fails_for_unknown_or_rejected_tokens() -> None:
    bad = Device(DeviceSpec(name="B", push=True, push_fails=True), 0)
    service = SimulatedPushService([bad])
    request = PushRequest(device="sip:bob@x", provider="fcm", prid="tok-B", param=None,
                          aor="bob", call_id="c")
    assert service.send(request, 1.0).status == 404
    unknown = PushRequest(device="sip:bob@x", provider="fcm", prid="tok-Z", param=None,
                          aor="bob", call_id="c")
    assert service.send(unknown, 1.0).status == 404
    assert [name for _, name in service.requests] == ["B", None]
    assert bad.pushed_at == []


def test_caller_acks_a_2xx_along_the_record_route_rfc3261_12_1_2() -> None:
    caller = Caller(CallerSpec(invite_at=1.0))
    (out,) = caller.handle_timer(1.0)
    invite = parse_message(bytes(out.message))
    assert isinstance(invite, Request)
    ok = make_response(invite, 200, to_tag="B-tag", extra=[
        ("Record-Route", "<sip:127.0.0.1:5060;lr>"), ("Contact", "<sip:bob@127.0.0.11>")])
    (ack,) = caller.handle(parse_message(bytes(ok)), PROXY, 3.0)
    assert ack.destination == PROXY
    assert str(ack.message.uri) == "sip:bob@127.0.0.11"  # type: ignore[union-attr]
    assert ack.message.get("Route") == "<sip:127.0.0.1:5060;lr>"


def test_device_copies_record_route_into_180_and_200_rfc3261_12_1_1() -> None:
    device = Device(DeviceSpec(name="A", register_at=0.0, ring_after=0.1, answer_after=1.0), 0)
    device.handle_timer(0.0)
    invite = invite_for(device, Caller(CallerSpec(invite_at=1.0)))
    invite = invite.with_header_prepended("Record-Route", "<sip:127.0.0.1:5060;lr>")
    device.handle(invite, PROXY, 1.0)
    (ringing,) = wire(device.handle_timer(1.1))
    (ok,) = wire(device.handle_timer(2.0))
    assert ringing.get_all("Record-Route") == ok.get_all("Record-Route") == [
        "<sip:127.0.0.1:5060;lr>"]


def test_push_device_names_its_push_service() -> None:
    device = Device(DeviceSpec(name="B", push=True, pn_provider="apns"), 0)
    (register,) = wire(device.handle_timer(0.0))
    assert isinstance(register, Request)
    assert register.contacts[0].uri.params["pn-provider"] == "apns"


def test_device_repeats_its_last_response_to_a_retransmitted_invite_rfc3261_17_2_1() -> None:
    device = Device(DeviceSpec(name="A", register_at=0.0, ring_after=0.1, answer_after=5.0), 0)
    device.handle_timer(0.0)
    invite = invite_for(device, Caller(CallerSpec(invite_at=1.0)))
    assert first_lines(device.handle(invite, PROXY, 1.0)) == ["SIP/2.0 100 Trying"]
    assert first_lines(device.handle(invite, PROXY, 1.05)) == ["SIP/2.0 100 Trying"]
    device.handle_timer(1.1)
    assert first_lines(device.handle(invite, PROXY, 1.5)) == ["SIP/2.0 180 Ringing"]


def test_a_device_registering_from_another_port_or_behind_a_nat() -> None:
    """`register_from_port`: the REGISTER leaves from that port, the Contact names the device's
    own; `private_contact`: the Contact and Via name 10.0.0.10, unreachable; `outbound`: the
    Contact carries +sip.instance and reg-id (RFC 5626 §4.2)."""
    from pushinject.sim.agents import Device
    from pushinject.sim.scenario import DeviceSpec

    sipp = Device(DeviceSpec(name="A", register_at=0.0, register_from_port=5090), 0)
    [out] = sipp.handle_timer(0.0)
    assert out.source == ("127.0.0.10", 5090)
    assert str(out.message.contacts[0].uri) == "sip:bob@127.0.0.10:5060"
    assert str(out.message.top_via).startswith("SIP/2.0/UDP 127.0.0.10:5090;")
    nat = Device(DeviceSpec(name="B", register_at=0.0, private_contact=True, outbound=True), 1)
    [out] = nat.handle_timer(0.0)
    assert out.source is None and nat.address == ("127.0.0.11", 5060)
    [contact] = out.message.contacts
    assert str(contact.uri) == "sip:bob@10.0.0.11:5060"
    assert (contact.instance, contact.reg_id) == (
        "urn:uuid:00000000-0000-4000-8000-000000000042", 1)
    assert str(out.message.top_via).startswith("SIP/2.0/UDP 10.0.0.11:5060;")
