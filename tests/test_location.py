"""The registrar and its usrloc contact events (RFC 3261 §10.3, RFC 3327, RFC 5626, RFC 8599;
EVT-8 to EVT-11, INJ-6, PUSH-1 to PUSH-4, PUSH-8 to PUSH-10 and the races of PIT-13)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushinject.core.contact_events import qval
from pushinject.core.ids import CountingIds
from pushinject.core.location import LocationService, PushParams, RegistrarConfig
from pushinject.core.registrar_replay import ReplayRow, replay_registers, same_listing
from pushinject.core.subscriptions import Subscriptions
from pushinject.errors import LocalProtocolError
from pushinject.sip import Request, make_request

DATA = Path(__file__).resolve().parent.parent / "data"
DEVICE = ("192.0.2.10", 5062)
PN = "pn-provider=apns;pn-prid=00fc13;pn-param=TEAM.com.example.voip"


def reg(
    contacts: Sequence[str] = (),
    *,
    user: str = "bob",
    domain: str = "example.com",
    call_id: str = "c1",
    cseq: int = 1,
    expires: int | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> Request:
    headers = [("Contact", c) for c in contacts]
    if expires is not None:
        headers.append(("Expires", str(expires)))
    return make_request(
        "REGISTER", f"sip:{domain}", via="SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-r",
        from_=f"<sip:{user}@{domain}>;tag=f1", to=f"<sip:{user}@{domain}>",
        call_id=call_id, cseq=cseq, extra=[*headers, *extra],
    )


def service(**config: object) -> LocationService:
    return LocationService(RegistrarConfig(**config), CountingIds("reg"))  # type: ignore[arg-type]


def names(result: object) -> list[str]:
    return [e.short_name for e in result.events]  # type: ignore[attr-defined]


# -- adding, refreshing, removing (RFC 3261 §10.3 steps 6–8) --------------------------------------


def test_10_3_new_binding_raises_insert_with_the_opensips_parameters() -> None:
    """EVT-8: names, order and formats of the E_UL_CONTACT_INSERT parameters."""
    loc = service()
    r = loc.register(reg(["<sip:bob@192.0.2.10:5062>"], extra=[("User-Agent", "ua/1")]),
                     DEVICE, 10.0)
    assert r.response.status == 200
    (event,) = r.events
    assert event.name == "E_UL_CONTACT_INSERT" and event.at == 10.0
    assert dict(event.params) == {
        "domain": "location", "aor": "bob", "uri": "sip:bob@192.0.2.10:5062", "received": "",
        "path": "", "qval": "-1", "user_agent": "ua/1", "socket": "udp:127.0.0.1:5060",
        "bflags": "0", "expires": "3610", "callid": "c1", "cseq": "1", "attr": "",
        "latency": "0", "shtag": "",
    }
    assert event.binding.ruid == "reg-ruid-1"
    assert r.response.get_all("Contact") == ["<sip:bob@192.0.2.10:5062>;expires=3600"]
    assert r.response.to.tag == "reg-tag-1"
    assert loc.get_timer() == 3610.0


def test_10_3_step7_refresh_with_higher_cseq_is_an_update_keeping_the_ruid() -> None:
    """EVT-9: a re-REGISTER matching an existing binding raises UPDATE, not INSERT."""
    loc = service()
    loc.register(reg(["<sip:bob@192.0.2.10:5062>"]), DEVICE, 0.0)
    r = loc.register(reg(["<sip:bob@192.0.2.10:5062>"], cseq=2, expires=600), DEVICE, 100.0)
    (event,) = r.events
    assert event.name == "E_UL_CONTACT_UPDATE"
    assert event.binding.ruid == "reg-ruid-1"
    assert (event.params["cseq"], event.params["expires"]) == ("2", "700")
    assert [b.expires_at for b in loc.lookup("bob", 100.0)] == [700.0]


@pytest.mark.parametrize("cseq", [1, 0])
def test_10_3_step7_same_call_id_with_cseq_not_higher_fails_500(cseq: int) -> None:
    loc = service()
    loc.register(reg(["<sip:bob@192.0.2.10:5062>"], cseq=1), DEVICE, 0.0)
    r = loc.register(reg(["<sip:bob@192.0.2.10:5062>"], cseq=cseq, expires=0), DEVICE, 1.0)
    assert (r.response.status, r.events) == (500, ())
    assert len(loc.lookup("bob", 1.0)) == 1


def test_opensips_stale_cseq_lower_is_400_and_repeated_is_a_retransmission() -> None:
    """OpenSIPS update_contacts: get_ucontact -1 (lower CSeq) -> 400 Invalid CSeq number;
    -2 (same CSeq) -> the contact is skipped and the 200 lists the bindings unchanged."""
    loc = service(stale_cseq="opensips")
    loc.register(reg(["<sip:bob@192.0.2.10:5062>"], cseq=5), DEVICE, 0.0)
    lower = loc.register(reg(["<sip:bob@192.0.2.10:5062>"], cseq=4), DEVICE, 1.0)
    assert (lower.response.status, lower.response.get("P-Registrar-Error")) == (
        400, "Invalid CSeq number")
    again = loc.register(reg(["<sip:bob@192.0.2.10:5062>"], cseq=5, expires=0), DEVICE, 2.0)
    assert (again.response.status, again.events) == (200, ())
    assert again.response.get_all("Contact") == ["<sip:bob@192.0.2.10:5062>;expires=3598"]


def test_10_3_step7_other_call_id_updates_whatever_its_cseq() -> None:
    loc = service()
    loc.register(reg(["<sip:bob@192.0.2.10:5062>"], cseq=50), DEVICE, 0.0)
    r = loc.register(reg(["<sip:bob@192.0.2.10:5062>"], call_id="c2", cseq=1), DEVICE, 1.0)
    assert names(r) == ["UPDATE"] and r.events[0].params["callid"] == "c2"


def test_10_3_expires_zero_removes_the_binding_with_delete() -> None:
    loc = service()
    loc.register(reg(["<sip:a@192.0.2.10:5062>", "<sip:b@192.0.2.10:5062>"]), DEVICE, 0.0)
    r = loc.register(reg(["<sip:a@192.0.2.10:5062>;expires=0"], cseq=2), DEVICE, 5.0)
    assert names(r) == ["DELETE"]
    assert r.events[0].params["uri"] == "sip:a@192.0.2.10:5062"
    assert r.response.get_all("Contact") == ["<sip:b@192.0.2.10:5062>;expires=3595"]


def test_10_3_removing_an_unknown_binding_is_a_plain_200() -> None:
    r = service().register(reg(["<sip:x@192.0.2.10>"], expires=0), DEVICE, 0.0)
    assert (r.response.status, r.events, r.response.get_all("Contact")) == (200, (), [])


def test_10_2_1_1_expires_parameter_wins_over_the_header_and_the_default() -> None:
    loc = service()
    r = loc.register(reg(["<sip:a@h1>;expires=120", "<sip:b@h2>"], expires=300), DEVICE, 0.0)
    assert r.response.get_all("Contact") == ["<sip:a@h1>;expires=120", "<sip:b@h2>;expires=300"]
    r = loc.register(reg(["<sip:c@h3>"], call_id="c2"), DEVICE, 0.0)
    assert "<sip:c@h3>;expires=3600" in r.response.get_all("Contact")


def test_10_3_step6_star_with_expires_zero_removes_every_binding() -> None:
    loc = service()
    loc.register(reg(["<sip:a@h1>", "<sip:b@h2>"]), DEVICE, 0.0)
    r = loc.register(reg(["*"], cseq=2, expires=0), DEVICE, 1.0)
    assert (r.response.status, names(r)) == (200, ["DELETE", "DELETE"])
    assert r.response.get_all("Contact") == [] and loc.get_timer() is None


@pytest.mark.parametrize(
    ("contacts", "expires"),
    [(["*"], 3600), (["*"], None), (["*", "<sip:a@h1>"], 0)],
)
def test_10_3_step6_star_misused_is_400(contacts: list[str], expires: int | None) -> None:
    loc = service()
    loc.register(reg(["<sip:a@h1>"]), DEVICE, 0.0)
    r = loc.register(reg(contacts, cseq=2, expires=expires), DEVICE, 1.0)
    assert (r.response.status, r.events) == (400, ())
    assert (r.response.get("P-Registrar-Error") or "").startswith("* used in contact and ")
    assert len(loc.lookup("bob", 1.0)) == 1


def test_10_3_step6_star_respects_the_cseq_check() -> None:
    loc = service()
    loc.register(reg(["<sip:a@h1>"], cseq=5), DEVICE, 0.0)
    assert loc.register(reg(["*"], cseq=5, expires=0), DEVICE, 1.0).response.status == 500


def test_10_3_step8_query_without_contact_lists_remaining_seconds() -> None:
    loc = service()
    loc.register(reg(["<sip:a@h1>"]), DEVICE, 0.0)
    r = loc.register(reg(cseq=2), DEVICE, 100.5)
    assert (r.events, r.response.get_all("Contact")) == ((), ["<sip:a@h1>;expires=3500"])


def test_10_3_min_expires_423_with_min_expires_header() -> None:
    loc = service(min_expires=60)
    r = loc.register(reg(["<sip:a@h1>;expires=30"]), DEVICE, 0.0)
    assert (r.response.status, r.response.get("Min-Expires"), r.events) == (423, "60", ())


def test_opensips_raises_a_short_expiry_to_the_minimum_instead() -> None:
    r = service(raise_short_expires=True).register(reg(["<sip:a@h1>;expires=30"]), DEVICE, 0.0)
    assert r.response.get_all("Contact") == ["<sip:a@h1>;expires=60"]


def test_10_3_max_expires_shortens_the_grant() -> None:
    r = service(max_expires=600).register(reg(["<sip:a@h1>"], expires=7200), DEVICE, 0.0)
    assert r.response.get_all("Contact") == ["<sip:a@h1>;expires=600"]


def test_10_3_step7_all_or_nothing() -> None:
    """One bad contact (expires too brief) and no binding of the request is stored."""
    loc = service()
    r = loc.register(reg(["<sip:a@h1>", "<sip:b@h2>;expires=5"]), DEVICE, 0.0)
    assert (r.response.status, r.events, loc.bindings("bob")) == (423, (), ())


def test_non_register_is_refused() -> None:
    req = make_request("OPTIONS", "sip:example.com", via="SIP/2.0/UDP h;branch=z9hG4bK1",
                       from_="<sip:bob@example.com>;tag=1", to="<sip:bob@example.com>",
                       call_id="x", cseq=1)
    with pytest.raises(LocalProtocolError):
        service().register(req, DEVICE, 0.0)


def test_10_3_step3_other_domain_is_404() -> None:
    r = service(domain="example.com").register(reg(["<sip:a@h1>"], domain="other.net"),
                                               DEVICE, 0.0)
    assert r.response.status == 404


# -- q, instance, Path, received ------------------------------------------------------------------


def test_16_6_lookup_orders_by_q_then_age_and_qval_is_in_thousandths() -> None:
    loc = service()
    r = loc.register(reg(["<sip:n@h1>", "<sip:half@h2>;q=0.5", "<sip:one@h3>;q=1.0",
                          "<sip:half2@h4>;q=0.5"]), DEVICE, 0.0)
    assert [e.params["qval"] for e in r.events] == ["-1", "500", "1000", "500"]
    assert [b.uri.user for b in loc.lookup("bob", 0.0)] == ["one", "half", "half2", "n"]
    assert r.response.get_all("Contact")[:2] == ["<sip:one@h3>;q=1;expires=3600",
                                                 "<sip:half@h2>;q=0.5;expires=3600"]
    assert (qval(0.25), qval(None)) == (250, -1)


def test_rfc5626_instance_and_reg_id_identify_the_binding() -> None:
    inst = '+sip.instance="<urn:uuid:1>"'
    loc = service()
    loc.register(reg([f"<sip:bob@10.0.0.1:5060>;{inst};reg-id=1"]), DEVICE, 0.0)
    r = loc.register(reg([f"<sip:bob@10.0.0.9:6000>;{inst};reg-id=1"], cseq=2), DEVICE, 1.0)
    assert names(r) == ["UPDATE"] and r.events[0].params["uri"] == "sip:bob@10.0.0.9:6000"
    r = loc.register(reg([f"<sip:bob@10.0.0.9:6001>;{inst};reg-id=2"], cseq=3), DEVICE, 2.0)
    assert names(r) == ["INSERT"]
    assert r.response.get_all("Contact")[0] == (
        '<sip:bob@10.0.0.9:6000>;+sip.instance="<urn:uuid:1>";reg-id=1;expires=3599'
    )


def test_rfc5626_6_outbound_registration_is_confirmed_with_require() -> None:
    inst = '+sip.instance="<urn:uuid:1>"'
    r = service().register(reg([f"<sip:bob@10.0.0.1;ob>;{inst};reg-id=1"]), DEVICE, 0.0)
    assert r.response.get("Require") == "outbound"
    plain = service().register(reg([f"<sip:bob@10.0.0.1>;{inst}"]), DEVICE, 0.0)
    assert plain.response.get("Require") is None  # no reg-id: no outbound processing


def test_rfc5627_without_outbound_the_instance_alone_identifies_the_binding() -> None:
    inst = '+sip.instance="<urn:uuid:1>"'
    loc = service(outbound=False)
    loc.register(reg([f"<sip:bob@10.0.0.1>;{inst};reg-id=1"]), DEVICE, 0.0)
    r = loc.register(reg([f"<sip:bob@10.0.0.2>;{inst};reg-id=2"], cseq=2), DEVICE, 1.0)
    assert names(r) == ["UPDATE"] and r.response.get("Require") is None


def test_rfc5627_the_instance_without_reg_id_replaces_the_binding_of_the_device() -> None:
    """KAM-18: a device back from another address with the same `+sip.instance` and no
    `reg-id` refreshes its binding: one binding, an UPDATE."""
    inst = '+sip.instance="<urn:uuid:1>"'
    loc = service()
    loc.register(reg([f"<sip:bob@10.0.0.1:5072>;{inst}"], call_id="a"), DEVICE, 0.0)
    r = loc.register(reg([f"<sip:bob@10.0.0.1:5073>;{inst}"], call_id="b"), DEVICE, 1.0)
    assert names(r) == ["UPDATE"]
    assert [str(b.uri) for b in loc.lookup("bob", 2.0)] == ["sip:bob@10.0.0.1:5073"]


def test_opensips_matches_the_uri_alone_and_the_device_gets_a_second_binding() -> None:
    """OSIPS-33: with `match_instance` off, the same device back from another address is a new
    binding (INSERT) beside its old one; an RFC 5626 flow is still found by instance and
    reg-id."""
    inst = '+sip.instance="<urn:uuid:1>"'
    loc = service(match_instance=False)
    loc.register(reg([f"<sip:bob@10.0.0.1:5072>;{inst}"], call_id="a"), DEVICE, 0.0)
    r = loc.register(reg([f"<sip:bob@10.0.0.1:5073>;{inst}"], call_id="b"), DEVICE, 1.0)
    assert names(r) == ["INSERT"]
    assert sorted(str(b.uri) for b in loc.lookup("bob", 2.0)) == [
        "sip:bob@10.0.0.1:5072", "sip:bob@10.0.0.1:5073"]
    loc.register(reg([f"<sip:carol@10.0.0.2;ob>;{inst};reg-id=1"], user="carol"), DEVICE, 0.0)
    r = loc.register(reg([f"<sip:carol@10.0.0.3;ob>;{inst};reg-id=1"], user="carol", cseq=2),
                     DEVICE, 1.0)
    assert names(r) == ["UPDATE"]


def test_rfc3261_19_1_4_uri_comparison_finds_the_binding() -> None:
    loc = service()
    loc.register(reg(["<sip:bob@HOST.example:5060>"]), DEVICE, 0.0)
    r = loc.register(reg(["<sip:bob@host.example:5060>"], cseq=2), DEVICE, 1.0)
    assert names(r) == ["UPDATE"]
    r = loc.register(reg(["<sip:bob@host.example>"], cseq=3), DEVICE, 2.0)
    assert names(r) == ["INSERT"]  # an explicit port differs from none (§19.1.4)


def test_rfc3327_path_stored_raised_and_echoed_when_supported() -> None:
    path = [("Path", "<sip:edge1.example;lr>"), ("Path", "<sip:edge2.example;lr>")]
    loc = service()
    r = loc.register(reg(["<sip:a@h1>"], extra=[*path, ("Supported", "path")]), DEVICE, 0.0)
    assert r.events[0].params["path"] == "<sip:edge1.example;lr>,<sip:edge2.example;lr>"
    assert r.events[0].binding.path == ("<sip:edge1.example;lr>", "<sip:edge2.example;lr>")
    assert r.response.get_all("Path") == ["<sip:edge1.example;lr>", "<sip:edge2.example;lr>"]
    r = loc.register(reg(["<sip:a@h1>"], cseq=2, extra=path), DEVICE, 1.0)
    assert r.response.get_all("Path") == []


def test_rfc3327_strict_mode_rejects_path_without_support_420() -> None:
    r = service(path_mode="strict").register(
        reg(["<sip:a@h1>"], extra=[("Path", "<sip:edge.example;lr>")]), DEVICE, 0.0)
    assert (r.response.status, r.response.get("Unsupported")) == (420, "path")


def test_no_received_by_default_whatever_the_source_ROUTE_1() -> None:
    loc = service()
    r = loc.register(reg(["<sip:a@192.0.2.10:5062>", "<sip:b@10.0.0.5>"]),
                     ("192.0.2.10", 5062), 0.0)
    assert [e.params["received"] for e in r.events] == ["", ""]
    assert [e.binding.source for e in r.events] == [("192.0.2.10", 5062)] * 2


def test_received_is_the_source_when_it_differs_from_the_contact_ROUTE_2() -> None:
    loc = service(route_to_source=True)
    r = loc.register(reg(["<sip:a@192.0.2.10:5062>", "<sip:b@10.0.0.5>"]),
                     ("192.0.2.10", 5062), 0.0)
    assert [e.params["received"] for e in r.events] == ["", "sip:192.0.2.10:5062"]
    r = loc.register(reg(["<sip:c@10.0.0.5>"], call_id="t"), ("198.51.100.7", 40000), 0.0,
                     transport="TCP")
    assert r.events[0].binding.received == "sip:198.51.100.7:40000;transport=tcp"


def test_evt11_aor_depends_on_use_domain() -> None:
    plain, with_domain = service(), service(use_domain=True)
    assert plain.register(reg(["<sip:a@h1>"]), DEVICE, 0).events[0].params["aor"] == "bob"
    event = with_domain.register(reg(["<sip:a@h1>"]), DEVICE, 0).events[0]
    assert event.params["aor"] == "bob@example.com"
    assert with_domain.lookup("bob", 0) == [] and len(with_domain.lookup("bob@example.com", 0)) == 1


def test_bflags_are_saved_and_raised() -> None:
    r = service().register(reg(["<sip:a@h1>"]), DEVICE, 0.0, bflags=5)
    assert r.events[0].params["bflags"] == "5"


# -- expiry through the timer --------------------------------------------------------------------


def test_expiry_deletes_at_exactly_expires_at() -> None:
    loc = service()
    loc.register(reg(["<sip:a@h1>;expires=60", "<sip:b@h2>;expires=120"]), DEVICE, 5.0)
    assert loc.get_timer() == 65.0
    assert loc.handle_timer(64.999) == []
    assert len(loc.lookup("bob", 64.999)) == 2
    assert loc.lookup("bob", 65.0)[0].uri.user == "b"  # valid while now < expires_at
    (gone,) = loc.handle_timer(65.0)
    assert (gone.name, gone.params["uri"], gone.at) == ("E_UL_CONTACT_DELETE", "sip:a@h1", 65.0)
    assert loc.get_timer() == 125.0
    assert [e.params["uri"] for e in loc.handle_timer(1000.0)] == ["sip:b@h2"]
    assert (loc.get_timer(), loc.aors()) == (None, ())


def test_a_lapsed_binding_that_comes_back_is_deleted_then_inserted() -> None:
    loc = service()
    loc.register(reg(["<sip:a@h1>;expires=60"]), DEVICE, 0.0)
    r = loc.register(reg(["<sip:a@h1>;expires=60"], cseq=2), DEVICE, 61.0)
    assert names(r) == ["DELETE", "INSERT"]
    assert r.events[1].binding.ruid == "reg-ruid-2"


# -- RFC 8599 (PUSH-1 to PUSH-4, PUSH-8 to PUSH-10) ------------------------------------------------


def pn_service(**config: object) -> LocationService:
    return service(pn_providers=("apns", "fcm"), **config)


def test_push1_push_parameters_are_read_from_the_contact_uri() -> None:
    r = pn_service().register(reg([f"<sip:bob@192.0.2.10:5062;{PN}>"]), DEVICE, 0.0)
    assert r.events[0].binding.pn == PushParams("apns", "00fc13", "TEAM.com.example.voip")


def test_push8_supported_pns_gets_feature_caps_on_the_200() -> None:
    r = pn_service().register(reg([f"<sip:bob@192.0.2.10:5062;{PN}>"]), DEVICE, 0.0)
    assert r.response.get_all("Feature-Caps") == ['*;+sip.pns="apns"']


def test_push10_pnsreg_contact_gets_the_refresh_interval() -> None:
    r = pn_service(pnsreg_interval=140).register(
        reg([f"<sip:bob@192.0.2.10:5062;{PN}>;+sip.pnsreg"]), DEVICE, 0.0)
    assert r.response.get_all("Feature-Caps") == ['*;+sip.pns="apns";+sip.pnsreg="140"']
    assert r.events[0].binding.pnsreg is True


def test_push8_unsupported_pns_is_555_and_nothing_is_stored() -> None:
    loc = pn_service()
    r = loc.register(reg(["<sip:bob@h1;pn-provider=webpush;pn-prid=x>"]), DEVICE, 0.0)
    assert (r.response.status, r.response.reason) == (555, "Push Notification Service Not Supported")
    assert loc.bindings("bob") == ()


def test_push8_supported_pns_missing_a_match_parameter_is_555() -> None:
    r = pn_service().register(reg(["<sip:bob@h1;pn-provider=apns;pn-prid=x>"]), DEVICE, 0.0)
    assert r.response.status == 555


def test_push9_capability_query_without_value_lists_every_pns() -> None:
    r = pn_service().register(reg(["<sip:bob@h1;pn-provider>"]), DEVICE, 0.0)
    assert r.response.status == 200
    assert r.response.get_all("Feature-Caps") == ['*;+sip.pns="apns"', '*;+sip.pns="fcm"']


def test_push9_capability_query_for_one_pns() -> None:
    r = pn_service().register(reg(["<sip:bob@h1;pn-provider=fcm>"]), DEVICE, 0.0)
    assert r.response.get_all("Feature-Caps") == ['*;+sip.pns="fcm"']


def test_push8_pns_handled_upstream_gets_no_feature_caps_but_pn_matching() -> None:
    upstream = [("Feature-Caps", '*;+sip.pns="apns"')]
    loc = pn_service()
    r = loc.register(reg([f"<sip:bob@10.0.0.1:5060;{PN}>"], extra=upstream), DEVICE, 0.0)
    assert (r.response.status, r.response.get_all("Feature-Caps")) == (200, [])
    r = loc.register(reg([f"<sip:bob@10.0.0.2:7000;{PN}>"], call_id="c2", extra=upstream),
                     DEVICE, 1.0)
    assert names(r) == ["UPDATE"]


def test_push_support_off_ignores_pn_parameters() -> None:
    r = service().register(reg(["<sip:bob@h1;pn-provider=webpush;pn-prid=x>"]), DEVICE, 0.0)
    assert (r.response.status, r.response.get_all("Feature-Caps")) == (200, [])


def test_evt9_push4_woken_device_with_new_address_is_an_update() -> None:
    """RFC 8599 §5.3 local policy (OpenSIPS pn_enable): pn-* alone identify the binding."""
    loc = pn_service()
    first = loc.register(reg([f"<sip:bob@10.0.0.1:5060;{PN}>"]), ("10.0.0.1", 5060), 0.0)
    woken = loc.register(reg([f"<sip:bob@10.0.0.7:41000;{PN}>"], call_id="c2"),
                         ("10.0.0.7", 41000), 30.0)
    assert names(woken) == ["UPDATE"]
    assert woken.events[0].binding.ruid == first.events[0].binding.ruid
    assert [str(b.uri) for b in loc.lookup("bob", 30.0)] == [f"sip:bob@10.0.0.7:41000;{PN}"]


def test_push4_a_changed_prid_is_another_binding() -> None:
    loc = pn_service()
    loc.register(reg([f"<sip:bob@10.0.0.1:5060;{PN}>"]), DEVICE, 0.0)
    other = PN.replace("00fc13", "77aa01")
    r = loc.register(reg([f"<sip:bob@10.0.0.1:5060;{other}>"], call_id="c2"), DEVICE, 1.0)
    assert names(r) == ["INSERT"]


def test_without_pn_matching_the_woken_device_is_a_second_binding() -> None:
    loc = service()
    loc.register(reg([f"<sip:bob@10.0.0.1:5060;{PN}>"]), DEVICE, 0.0)
    r = loc.register(reg([f"<sip:bob@10.0.0.7:41000;{PN}>"], call_id="c2"), DEVICE, 30.0)
    assert names(r) == ["INSERT"] and len(loc.lookup("bob", 30.0)) == 2


def test_evt10_refresh_event_for_a_push_contact() -> None:
    loc = pn_service()
    binding = loc.register(reg([f"<sip:bob@10.0.0.1:5060;{PN}>"]), DEVICE, 0.0).events[0].binding
    event = loc.refresh_event(binding, reason="ini-INVITE", req_callid="inv-1", now=3.0)
    assert event.name == "E_UL_CONTACT_REFRESH"
    assert list(event.params) == ["domain", "aor", "uri", "received", "user_agent", "socket",
                                  "bflags", "expires", "callid", "attr", "shtag", "reason",
                                  "req_callid"]
    assert (event.params["reason"], event.params["req_callid"]) == ("ini-INVITE", "inv-1")
    plain = loc.register(reg(["<sip:bob@h9>"], call_id="c9"), DEVICE, 0.0).events[0].binding
    with pytest.raises(LocalProtocolError):
        loc.refresh_event(plain, reason="ini-INVITE", req_callid="inv-1", now=3.0)


# -- races of PIT-13 with the subscriptions -------------------------------------------------


def wire(loc: LocationService, subs: Subscriptions, request: Request, now: float) -> list[str]:
    """Register, publish every event, return the routes notified."""
    out = []
    for event in loc.register(request, DEVICE, now).events:
        out += [n.subscription.route for n in subs.publish(event, now)]
    return out


def test_pit1_subscribing_to_insert_misses_the_woken_device() -> None:
    """EVT-9, INJ-6: the woken device refreshes its binding (UPDATE); INSERT-only misses it."""
    loc, subs = pn_service(), Subscriptions(CountingIds("s"))
    loc.register(reg([f"<sip:bob@10.0.0.1:5060;{PN}>"]), DEVICE, 0.0)
    subs.notify_on_event("E_UL_CONTACT_INSERT", ["aor=bob"], "insert_only", 20, txn=1, now=1.0)
    subs.notify_on_event("E_UL_CONTACT_UPDATE", ["aor=bob"], "update", 20, txn=1, now=1.0)
    woken = reg([f"<sip:bob@10.0.0.7:41000;{PN}>"], call_id="c2")
    assert wire(loc, subs, woken, 3.0) == ["update"]


def test_race_pit13_registration_before_the_subscription_is_seen_only_by_lookup() -> None:
    loc, subs = service(), Subscriptions(CountingIds("s"))
    assert wire(loc, subs, reg(["<sip:bob@h1>"]), 0.0) == []
    subs.notify_on_event("E_UL_CONTACT_INSERT", ["aor=bob"], "fork_call", 20, txn=1, now=0.5)
    assert [str(b.uri) for b in loc.lookup("bob", 0.5)] == ["sip:bob@h1"]


def test_race_pit13_inj7_registration_between_subscription_and_lookup_is_seen_twice() -> None:
    """Subscribe first (seed order): a REGISTER landing before lookup() is notified and then
    also returned by lookup, so the caller must de-duplicate (OSIPS-11, INJ-3, INJ-7)."""
    loc, subs = service(), Subscriptions(CountingIds("s"))
    subs.notify_on_event("E_UL_CONTACT_INSERT", ["aor=bob"], "fork_call", 20, txn=1, now=0.0)
    assert wire(loc, subs, reg(["<sip:bob@h1>"]), 0.0) == ["fork_call"]  # seen by the event
    assert [str(b.uri) for b in loc.lookup("bob", 0.0)] == ["sip:bob@h1"]  # and by lookup


def test_pit2_sql_only_lookup_raises_phantom_inserts() -> None:
    """db_mode 3: every lookup() re-inserts the contacts it loads, so a call waiting on INSERT
    is notified for a device that did not register again."""
    loc, subs = service(), Subscriptions(CountingIds("s"))
    loc.register(reg(["<sip:bob@h1>"]), DEVICE, 0.0)
    subs.notify_on_event("E_UL_CONTACT_INSERT", ["aor=bob"], "fork_call", 20, txn=1, now=1.0)
    found, events = loc.sql_only_lookup("bob", 2.0)
    assert [str(b.uri) for b in found] == ["sip:bob@h1"]
    assert [n.subscription.route for e in events for n in subs.publish(e, 2.0)] == ["fork_call"]
    assert events[0].binding.ruid == "reg-ruid-1" and loc.bindings("bob") == tuple(found)


def test_race_registration_after_the_subscription_is_notified() -> None:
    loc, subs = service(), Subscriptions(CountingIds("s"))
    subs.notify_on_event("E_UL_CONTACT_INSERT", ["aor=bob"], "fork_call", 20, txn=1, now=0.0)
    assert wire(loc, subs, reg(["<sip:bob@h1>"]), 4.0) == ["fork_call"]


def test_race_device_registering_twice_is_insert_then_update() -> None:
    loc, subs = service(), Subscriptions(CountingIds("s"))
    subs.notify_on_event("E_UL_CONTACT_INSERT", ["aor=bob"], "fork_call", 20, txn=1, now=0.0)
    assert wire(loc, subs, reg(["<sip:bob@h1>"]), 4.0) == ["fork_call"]
    assert wire(loc, subs, reg(["<sip:bob@h1>"], cseq=2), 5.0) == []  # UPDATE: no second branch


def test_race_registration_after_the_subscription_expired_is_not_notified() -> None:
    """The seed's pitfall PIT-7: a 20 s subscription, a device waking at 20.5 s."""
    loc, subs = service(), Subscriptions(CountingIds("s"))
    subs.notify_on_event("E_UL_CONTACT_INSERT", ["aor=bob"], "fork_call", 20, txn=1, now=0.0)
    assert wire(loc, subs, reg(["<sip:bob@h1>"]), 20.5) == []
    assert loc.register(reg(cseq=2), DEVICE, 20.5).response.status == 200


def test_race_registration_at_the_last_instant_of_the_subscription_is_notified() -> None:
    loc, subs = service(), Subscriptions(CountingIds("s"))
    subs.notify_on_event("E_UL_CONTACT_INSERT", ["aor=bob"], "fork_call", 20, txn=1, now=0.0)
    assert wire(loc, subs, reg(["<sip:bob@h1>"]), 20.0) == ["fork_call"]


# -- invariants ------------------------------------------------------------------------------------

_step = st.tuples(
    st.sampled_from(["a", "b", "c"]),  # contact user
    st.sampled_from([0, 60, 120, 3600]),  # expires
    st.sampled_from(["c1", "c2"]),  # Call-ID
    st.floats(0, 200, allow_nan=False),  # time step
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_step, max_size=12))
def test_event_stream_accounts_for_every_stored_binding(steps: list[tuple[str, int, str, float]]) -> None:
    """INSERTs minus DELETEs equals what is stored; lookup never returns an expired binding."""
    loc = service()
    now, cseq, balance = 0.0, 0, 0
    for user, expires, call_id, dt in steps:
        now += dt
        cseq += 1
        r = loc.register(reg([f"<sip:{user}@h>;expires={expires}"], call_id=call_id, cseq=cseq),
                         DEVICE, now)
        balance += names(r).count("INSERT") - names(r).count("DELETE")
        assert all(b.expires_at > now for b in loc.lookup("bob", now))
        assert len(loc.bindings("bob")) == balance
        assert loc.get_timer() == min((b.expires_at for b in loc.bindings("bob")), default=None)
    balance -= len(loc.handle_timer(now + 4000))
    assert balance == 0 and loc.get_timer() is None


def test_osips17_uri_without_pn_parameters_for_the_branch() -> None:
    loc = pn_service()
    binding = loc.register(reg([f"<sip:bob@10.0.0.1:5060;transport=udp;{PN}>"]), DEVICE,
                           0.0).events[0].binding
    assert str(binding.uri_without_pn()) == "sip:bob@10.0.0.1:5060;transport=udp"


def test_osips16_needs_push_unless_refreshed_within_the_skip_interval() -> None:
    loc = pn_service(pn_skip_interval=30.0)
    push = loc.register(reg([f"<sip:bob@10.0.0.1:5060;{PN}>"]), DEVICE, 0.0).events[0].binding
    plain = loc.register(reg(["<sip:bob@h2>"], call_id="c2"), DEVICE, 0.0).events[0].binding
    assert (loc.needs_push(push, 29.9), loc.needs_push(push, 30.0)) == (False, True)
    assert loc.needs_push(plain, 100.0) is False
    assert service().needs_push(push, 100.0) is False  # push support off


@pytest.mark.parametrize(
    "config",
    [{"path_mode": "loose"}, {"min_expires": 100, "max_expires": 50}, {"stale_cseq": "kamailio"}],
)
def test_bad_registrar_config_is_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RegistrarConfig(**config)  # type: ignore[arg-type]


def test_max_contacts_503() -> None:
    loc = service(max_contacts=2)
    loc.register(reg(["<sip:a@h1>", "<sip:b@h2>"]), DEVICE, 0.0)
    r = loc.register(reg(["<sip:c@h3>"], cseq=2), DEVICE, 1.0)
    assert (r.response.status, r.response.get("P-Registrar-Error"), r.events) == (
        503, "Too many registered contacts", ())
    assert names(loc.register(reg(["<sip:a@h1>"], cseq=3), DEVICE, 2.0)) == ["UPDATE"]


def test_evt10_push10_reg_refresh_push_before_expiry() -> None:
    """RFC 8599 §5.5: push at least 120 s before expiry, unless the device wakes itself."""
    loc = pn_service(refresh_before=120.0)
    loc.register(reg([f"<sip:bob@10.0.0.1:5060;{PN}>;expires=600",
                      f"<sip:bob@10.0.0.2:5060;{PN.replace('00fc13', 'self')}>;+sip.pnsreg;"
                      "expires=600"]), DEVICE, 0.0)
    assert loc.get_timer() == 480.0
    assert loc.handle_timer(479.0) == []
    (refresh,) = loc.handle_timer(480.0)
    assert (refresh.name, refresh.params["reason"], refresh.params["req_callid"]) == (
        "E_UL_CONTACT_REFRESH", "reg-refresh", "")
    assert refresh.params["uri"].startswith("sip:bob@10.0.0.1:5060")
    assert loc.get_timer() == 600.0 and loc.handle_timer(500.0) == []  # raised once
    r = loc.register(reg([f"<sip:bob@10.0.0.1:5060;{PN}>;expires=600"], cseq=2), DEVICE, 550.0)
    assert names(r) == ["UPDATE"] and loc.get_timer() == 600.0  # the pnsreg binding expires
    assert names_of(loc.handle_timer(600.0)) == ["DELETE"]
    assert loc.get_timer() == 1030.0


def names_of(events: object) -> list[str]:
    return [e.short_name for e in events]  # type: ignore[attr-defined]


def test_refresh_push_is_off_by_default() -> None:
    loc = pn_service()
    loc.register(reg([f"<sip:bob@10.0.0.1:5060;{PN}>;expires=600"]), DEVICE, 0.0)
    assert loc.get_timer() == 600.0


# -- replaying real registrars: the 200 lists what they listed -------------------------------------


def _replay(path: Path) -> list[ReplayRow]:
    from pushinject.capture.decoder import decode

    return replay_registers(decode(path), service())


@pytest.mark.parametrize(("capture", "accepted"), [
    ("S1", 2), ("S2", 1), ("S5", 2), ("S6", 2), ("S7", 2), ("S8", 3), ("S9", 1), ("S10", 1)])
def test_10_3_step8_our_200_lists_what_kamailio_listed(capture: str, accepted: int) -> None:
    """The project's own captures of Kamailio 5.6.3 (data/kamailio; S3 and S4 register
    nobody): after each accepted REGISTER, the same bindings, q and remaining expires as
    Kamailio listed in its 200."""
    rows = _replay(DATA / "kamailio" / f"{capture}.pcap")
    assert len(rows) == accepted
    for row in rows:
        assert row.agrees, (row.ours.get_all("Contact"), row.theirs.get_all("Contact"))


def test_same_listing_tolerates_one_second_and_nothing_more() -> None:
    loc = service()
    ours = loc.register(reg(["<sip:a@h1>;q=0.5"]), DEVICE, 0.0).response
    theirs = loc.register(reg(["<sip:a@h1>;q=0.5;expires=3599"], cseq=2), DEVICE, 0.0).response
    assert same_listing(ours, theirs)
    other = loc.register(reg(["<sip:a@h1>;q=0.5;expires=3000"], cseq=3), DEVICE, 0.0).response
    assert not same_listing(ours, other)
    assert not same_listing(ours, loc.register(reg(["<sip:b@h2>"], call_id="x"), DEVICE,
                                               0.0).response)
