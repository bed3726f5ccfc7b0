"""Scenario files: valid files load into exact values; every fault names its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushinject.errors import UsageError
from pushinject.sim.scenario import (
    CallerSpec,
    DeviceSpec,
    ScenarioError,
    load_scenario,
    parse_scenario,
)

ISSUE_EXAMPLE = """\
name = "one device rings, a second is woken by push and answers"
preset = "opensips"
[proxy]
fr_inv_timeout = 30.0
subscription_timeout = 20.0
[caller]
invite_at = 1.0
cancel_at = 6.0
[[device]]
name = "A"
register_at = 0.0
ring_after = 0.1
answer_after = 2.0
answer = 200
[[device]]
name = "B"
push = true
wake_after = 1.5
ring_after = 0.1
answer_after = 1.0
"""


def test_the_issue_example_loads_with_every_value() -> None:
    s = parse_scenario(ISSUE_EXAMPLE, "example.toml")
    assert s.name == "one device rings, a second is woken by push and answers"
    assert s.preset == "opensips"
    assert dict(s.proxy) == {"fr_inv_timeout": 30.0, "subscription_timeout": 20.0}
    assert s.caller == CallerSpec(invite_at=1.0, cancel_at=6.0)
    assert s.devices == (
        DeviceSpec(name="A", register_at=0.0, ring_after=0.1, answer_after=2.0, answer=200),
        DeviceSpec(name="B", push=True, wake_after=1.5, ring_after=0.1, answer_after=1.0),
    )


def test_minimal_file_takes_defaults_and_the_file_stem_as_name() -> None:
    s = parse_scenario("[caller]\ninvite_at = 2\n", "nobody.toml")
    assert (s.name, s.preset, dict(s.proxy), s.devices) == ("nobody", None, {}, ())
    assert s.caller.invite_at == 2.0 and isinstance(s.caller.invite_at, float)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[caller]\ninvite_at = 1\n[[device]]\nname = "A"\n[[device]]\nname = "B"\n'
         "ring_after = -1\n",
         "s.toml:7: device[1].ring_after: must be at least 0, got -1"),
        ('[caller]\ninvite_at = 1\n[[device]]\nname = "A"\nbogus = 1\n',
         "s.toml:5: device[0].bogus: unknown key"),
        ("[caller]\ncancel_at = 2\n", "s.toml:1: caller.invite_at: missing required key"),
        ("[caller\ninvite_at = 1\n", "s.toml:1: syntax: "),
        ('preset = "asterisk"\n[caller]\ninvite_at = 1\n',
         "s.toml:1: preset: unknown preset 'asterisk'"),
        ("[proxy]\nfr_inv_timeout = 0\n[caller]\ninvite_at = 1\n",
         "s.toml:2: proxy.fr_inv_timeout: must be above 0, got 0"),
        ("[proxy]\nfr_inv = 3\n[caller]\ninvite_at = 1\n", "s.toml:2: proxy.fr_inv: unknown key"),
        ('[caller]\ninvite_at = 1\n[[device]]\nname = "A"\n[[device]]\nname = "A"\n',
         "s.toml:6: device[1].name: duplicate device name 'A'"),
        ('[caller]\ninvite_at = 1\n[[device]]\nname = "A"\nwake_after = 2\n',
         "s.toml:5: device[0].wake_after: only a push device (push = true) is woken"),
        ('[caller]\ninvite_at = 1\n[[device]]\nname = "A"\npush = "yes"\n',
         "s.toml:5: device[0].push: expected true or false, got 'yes'"),
        ('[caller]\ninvite_at = 1\n[[device]]\nname = "A"\nanswer = 99\n',
         "s.toml:5: device[0].answer: must be between 200 and 699, got 99"),
        ("[caller]\ninvite_at = 3\ncancel_at = 2\n",
         "s.toml:3: caller.cancel_at: must come after invite_at"),
        ('name = "x"\n', "s.toml: caller: missing required table [caller]"),
        ("[caller]\ninvite_at = 1\n[devices]\nname = 1\n", "s.toml:3: devices: unknown key"),
        ("[caller]\ninvite_at = 1\n[[device]]\nring_after = 1\n",
         "s.toml:3: device: each device needs a name"),
    ],
)
def test_a_fault_gives_one_error_naming_key_and_line(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.toml")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_scenario_error_is_a_usage_error_so_the_cli_prints_one_line() -> None:
    assert issubclass(ScenarioError, UsageError)


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such scenario file"):
        load_scenario(tmp_path / "absent.toml")


def test_pn_provider_belongs_to_push_devices_and_is_a_token() -> None:
    text = '[caller]\ninvite_at = 1\n[[device]]\nname = "B"\npush = true\npn_provider = "acme"\n'
    assert parse_scenario(text).devices[0].pn_provider == "acme"
    with pytest.raises(ScenarioError, match=r"s.toml:6: device\[0\].pn_provider: only a push"):
        parse_scenario(text.replace("push = true", "push = false"), "s.toml")
    with pytest.raises(ScenarioError, match="not a push service name: 'A CME'"):
        parse_scenario(text.replace("acme", "A CME"), "s.toml")


def test_pnsreg_belongs_to_push_devices() -> None:
    text = '[caller]\ninvite_at = 1\n[[device]]\nname = "B"\npnsreg = true\n'
    with pytest.raises(ScenarioError, match=r"s.toml:5: device\[0\].pnsreg: only a push device"):
        parse_scenario(text, "s.toml")


def test_latency_is_a_top_level_number_of_at_most_one_second() -> None:
    assert parse_scenario("latency = 0.02\n[caller]\ninvite_at = 1\n").latency == 0.02
    assert parse_scenario("[caller]\ninvite_at = 1\n").latency == 0.0
    with pytest.raises(ScenarioError, match="s.toml:1: latency: at most 1 s one way, got 2.0"):
        parse_scenario("latency = 2\n[caller]\ninvite_at = 1\n", "s.toml")


def test_route_to_source_is_a_switch_knob() -> None:
    text = "[proxy]\nroute_to_source = {}\n[caller]\ninvite_at = 1\n"
    assert parse_scenario(text.format(0)).proxy == {"route_to_source": 0.0}
    assert parse_scenario(text.format(1)).proxy == {"route_to_source": 1.0}
    with pytest.raises(ScenarioError,
                       match=r"s.toml:2: proxy.route_to_source: must be 0 \(off\) or 1 \(on\)"):
        parse_scenario(text.format(0.5), "s.toml")


def test_where_a_device_registers_from_and_what_its_contact_names() -> None:
    text = ('[caller]\ninvite_at = 1\n[[device]]\nname = "A"\nregister_from_port = 5090\n'
            'private_contact = true\noutbound = true\n')
    [device] = parse_scenario(text).devices
    assert (device.register_from_port, device.private_contact, device.outbound) == (
        5090, True, True)
    with pytest.raises(ScenarioError, match=r"s.toml:5: device\[0\].register_from_port: 5060 is"):
        parse_scenario(text.replace("5090", "5060"), "s.toml")
    with pytest.raises(ScenarioError, match=r"register_from_port: must be between 1024 and 65535"):
        parse_scenario(text.replace("5090", "80"), "s.toml")
