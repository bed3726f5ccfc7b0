"""The checker's ladder of a call, alone or with the exchanges that explain an injection."""

from __future__ import annotations

from pushinject.conformance import CheckOptions, check_capture
from pushinject.conformance.report import around_call, call_arrows
from pushinject.ladder import parties_of
from pushinject.paths import data_path


def _s1():  # type: ignore[no-untyped-def]
    return check_capture(data_path("kamailio", "S1.pcap"), CheckOptions(preset=None))


def test_the_call_alone_has_only_its_own_call_id() -> None:
    s1 = _s1()
    arrows = call_arrows(s1, s1.calls[0], ndigits=0)
    assert len(arrows) == 20 and {a.label for a in arrows} >= {"INVITE", "CANCEL", "487"}
    assert "push service" not in parties_of(arrows)


def test_with_context_the_push_message_and_the_register_are_drawn_in_time_order() -> None:
    s1 = _s1()
    keys, services = around_call(s1, s1.calls[0])
    assert sorted(method for _, _, method in keys) == ["MESSAGE", "REGISTER"]
    assert services == {("127.0.0.1", 5090)}
    arrows = call_arrows(s1, s1.calls[0], ndigits=0, context=True)
    assert len(arrows) == 24
    assert [(a.time, a.source, a.destination, a.label) for a in arrows
            if a.label in ("MESSAGE", "200 (MESSAGE)", "REGISTER", "200 (REGISTER)")] == [
        (0.0, "proxy", "push service", "MESSAGE"),
        (0.0, "push service", "proxy", "200 (MESSAGE)"),
        (1.0, "127.0.0.1:5082", "proxy", "REGISTER"),
        (1.0, "proxy", "127.0.0.1:5082", "200 (REGISTER)")]
    register = next(i for i, a in enumerate(arrows) if a.label == "REGISTER")
    injected = next(i for i, a in enumerate(arrows) if a.group == "b1")
    assert register < injected
