"""A message's digest: the facts the proxy's detection, the field rules and the latencies read of
a message outside its call, so that a registration kept for them needs no parsed message
(pushinject.conformance.digest); checked with settled registrations known only by their
digests, a capture is judged as with their parsed messages (FIELD-1 still names the device)."""

from __future__ import annotations

from pathlib import Path

from pushinject.conformance.capture import Capture, WireMessage, load_capture
from pushinject.conformance.check import CheckOptions, check_messages, judge_calls
from pushinject.conformance.digest import Digest, digests, with_values_of
from pushinject.conformance.proxy_detect import as_one_proxy
from pushinject.sip import parse_message
from tests.conftest import DATA

SAMPLES = DATA / "samples"
CONTACT = ("sip:bob@192.0.2.10:5062;transport=udp;pn-provider=apns;pn-prid=00fc13adff78512;"
           "pn-param=ABCD1234.com.example.voip")


def _sample(name: str, source: tuple[str, int], destination: tuple[str, int]) -> WireMessage:
    message = parse_message((SAMPLES / name).read_bytes(), strict=False)
    return WireMessage(7, 1.5, source, destination, message)


def test_a_register_digest_holds_its_address_of_record_contact_device_and_lifetime() -> None:
    d = Digest.of(_sample("register-pn.sip", ("192.0.2.10", 5062), ("192.0.2.1", 5060)))
    assert d == Digest(
        frame=7, time=1.5, source=("192.0.2.10", 5062), destination=("192.0.2.1", 5060),
        transport="UDP", within=0, is_request=True, label="REGISTER", status=0, branch="z9hG4bK-reg-1",
        call_id="reg-callid-1@192.0.2.10", cseq_number=1, cseq_method="REGISTER",
        to_tag=None, vias=1, second_branch="", via_address=None, user="bob", contact=CONTACT,
        device="instance urn:uuid:00000000-0000-1000-8000-000A95A0E128", paths=(),
        lifetime=3600.0)


def test_a_response_digest_holds_its_status_and_to_tag_and_no_registration() -> None:
    d = Digest.of(_sample("200-register-pn.sip", ("192.0.2.1", 5060), ("192.0.2.10", 5062)))
    assert (d.is_request, d.label, d.status, d.to_tag, d.cseq_method, d.cseq_number,
            d.branch, d.user, d.contact, d.device, d.lifetime) == (
        False, "200", 200, "registrar-1", "REGISTER", 1, "z9hG4bK-reg-1", "", "", "", 0.0)


def test_a_forwarded_request_digest_holds_the_branch_it_was_forwarded_for() -> None:
    """Kamailio's Via names no port (no address to read); the proxy's CANCEL (frame 17) is its
    own, with one Via."""
    forwarded = [d for d in digests(load_capture(DATA / "kamailio" / "S1.pcap").messages)
                 if d.second_branch]
    assert [(d.frame, d.label, d.vias, d.second_branch, d.via_address) for d in forwarded] == [
        (6, "INVITE", 2, "z9hG4bK-s1-alice-invite", None),
        (12, "INVITE", 2, "z9hG4bK-s1-alice-invite", None),
        (20, "ACK", 2, "z9hG4bK-s1-alice-ack", None),
        (24, "BYE", 2, "z9hG4bK-s1-alice-bye", None)]
    [v6, ack] = [d for d in digests(load_capture(DATA / "captures" / "cooked-ipv6.pcap").messages)
                 if d.second_branch]
    assert [(d.frame, d.label, d.second_branch, d.via_address) for d in (v6, ack)] == [
        (5, "INVITE", "z9hG4bK-c6-up", ("2001:db8::1", 5060)),
        (13, "ACK", "z9hG4bK-c6-ack", ("2001:db8::1", 5060))]


def test_shared_takes_equal_values_from_the_digests_kept_before() -> None:
    register = Digest.of(_sample("register-pn.sip", ("192.0.2.10", 5062), ("192.0.2.1", 5060)))
    ok = Digest.of(_sample("200-register-pn.sip", ("192.0.2.1", 5060), ("192.0.2.10", 5062)))
    same = with_values_of(ok, [register])
    assert same == ok
    assert (same.source is register.destination, same.destination is register.source,
            same.call_id is register.call_id, same.branch is register.branch) == (
        True, True, True, True)
    assert with_values_of(register, []) is register
    assert digests([register, ok]) == [register, ok]  # a digest stands for itself


def test_every_address_of_one_proxy_is_written_as_the_first_in_digests_too() -> None:
    d = Digest.of(_sample("register-pn.sip", ("192.0.2.10", 5062), ("192.0.2.2", 5061)))
    [moved] = as_one_proxy([d], [("192.0.2.1", 5060), ("192.0.2.2", 5061)])
    assert (moved.source, moved.destination, moved.contact) == (
        ("192.0.2.10", 5062), ("192.0.2.1", 5060), CONTACT)


def _stale_instance(tmp_path: Path) -> Path:
    """S1 with dev2 made dev1 on port 5072, both contacts of one ``+sip.instance``, and the
    call 301 s after dev1's first REGISTER (Expires: 300): that REGISTER is settled for the
    call, and names the device of the stale contact the proxy still forks to (FIELD-1)."""
    from tests import pcap_edit as edit

    pkts = edit.read(DATA / "kamailio" / "S1.pcap")
    pkts = edit.replace(pkts, "sip:dev2@127.0.0.1:5072", "sip:dev1@127.0.0.1:5072")
    for port in (5071, 5072):
        pkts = edit.replace(pkts, f"<sip:dev1@127.0.0.1:{port}>",
                            f'<sip:dev1@127.0.0.1:{port}>;+sip.instance="<urn:uuid:d1>"')
    return edit.write(edit.later(pkts, 2, 301.0), tmp_path / "S1-stale.pcap")


def test_settled_registrations_given_as_digests_judge_the_call_as_the_whole(
        tmp_path: Path) -> None:
    """The REGISTER and its 200 given only as digests (as the collector keeps them once
    settled): the same calls, violations, latencies and proxy as with the whole capture."""
    capture = load_capture(_stale_instance(tmp_path))
    whole = check_messages(capture, CheckOptions())
    rest = Capture(capture.file, capture.frames, capture.messages[2:])
    split = judge_calls(rest, CheckOptions(), settled=digests(capture.messages[:2]))
    assert [c.to_json() for c in split.calls] == [c.to_json() for c in whole.calls]
    assert (split.proxy, split.latency) == (whole.proxy, whole.latency)
    assert [(v.rule, v.frame, v.message) for c in split.calls for v in c.violations
            if v.rule.startswith("FIELD")] == [
        ("FIELD-1", 12, "branch 1 to sip:dev1@127.0.0.1:5072 after REGISTER frame 10 is a "
         "second branch to device instance urn:uuid:d1 (branch 0, frame 6, still pending)")]
    # without the settled REGISTER, its stale contact names no device: FIELD-1 finds nothing
    alone = check_messages(rest, CheckOptions())
    assert [v.rule for c in alone.calls for v in c.violations if v.rule == "FIELD-1"] == []
