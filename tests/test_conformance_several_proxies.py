"""A capture of several proxies, as a HEP collector fed by a cluster records it: each call is
judged with the proxy its own messages show, and the report names every proxy, with its
calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushinject.cli import main
from tests.conftest import DATA

S1 = DATA / "kamailio" / "S1.pcap"
S5 = DATA / "kamailio" / "S5.pcap"


def _moved(tmp_path: Path) -> Path:
    """S5 as if run on another host: every 127.0.0.1, in the IP headers and in the SIP text
    (same length, so no length changes), made 127.0.0.2."""
    data = S5.read_bytes()
    body = data[24:].replace(b"127.0.0.1", b"127.0.0.2").replace(bytes([127, 0, 0, 1]),
                                                                 bytes([127, 0, 0, 2]))
    out = tmp_path / "S5-other-host.pcap"
    out.write_bytes(data[:24] + body)
    return out


def test_each_call_keeps_its_own_proxy_and_the_report_names_both(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = _moved(tmp_path)
    assert main(["check", "--json", "--separate", str(S1), str(other)]) == 0
    alone = [c for r in json.loads(capsys.readouterr().out)["captures"] for c in r["calls"]]
    assert main(["check", "--json", "--merge", str(S1), str(other)]) == 0
    [both] = json.loads(capsys.readouterr().out)["captures"]
    assert both["calls"] == alone
    assert [c["proxy"] for c in both["calls"]] == ["127.0.0.1:5060", "127.0.0.2:5060"]
    assert (both["proxy"], both["other_proxies"]) == (
        "127.0.0.1:5060", [{"proxy": "127.0.0.2:5060", "calls": 1}])
    assert main(["check", "--merge", str(S1), str(other)]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if "; proxy " in line]
    assert line.endswith("; proxy 127.0.0.1:5060; other proxies 127.0.0.2:5060 (1 call(s))")


def test_one_proxy_or_a_proxy_given_names_no_other(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json", str(S1)]) == 0
    assert "other_proxies" not in json.loads(capsys.readouterr().out)["captures"][0]
    other = _moved(tmp_path)
    main(["check", "--json", "--merge", "--proxy", "127.0.0.2:5060", str(S1), str(other)])
    [both] = json.loads(capsys.readouterr().out)["captures"]
    assert both["proxy"] == "127.0.0.2:5060" and "other_proxies" not in both


def test_another_port_of_the_proxys_host_is_the_same_proxy() -> None:
    """A WebSocket listener beside the UDP one is the proxy again (CONN-12), not another."""
    from collections import Counter

    from pushinject.conformance.stream import _other_proxies

    calls = Counter({("10.0.0.1", 5060): 3, ("10.0.0.1", 8080): 2, ("10.0.0.2", 5060): 1})
    ranked = sorted(calls, key=lambda a: (-calls[a], a))
    assert _other_proxies(ranked, calls, ("10.0.0.1", 5060), False) == ((("10.0.0.2", 5060), 1),)
    assert _other_proxies(ranked, calls, ("10.0.0.1", 5060), True) == ()
