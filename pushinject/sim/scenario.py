"""Scenario files: a call described in TOML, loaded into frozen dataclasses.

A scenario names a caller (when it sends its INVITE, optionally when it CANCELs), zero or more
devices of the callee ``bob`` (when each registers, whether it sleeps until a push wakes it, how
fast it rings and answers) and optional proxy knobs that override the chosen preset's.

Rule of this module: a bad file never gives a traceback. Every problem raises one
`ScenarioError` (a `UsageError`) whose message names the file, the line and the key: the line
comes from tomllib for syntax errors and from the text itself for semantic ones.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pushinject.errors import UsageError
from pushinject.presets.base import SWITCHES

__all__ = [
    "ScenarioError",
    "TableReader",
    "CallerSpec",
    "DeviceSpec",
    "Scenario",
    "PRESET_NAMES",
    "PROXY_KNOBS",
    "load_scenario",
    "parse_scenario",
    "read_file",
]

#: presets a scenario may name (``pushinject.presets`` implements them)
PRESET_NAMES: tuple[str, ...] = ("opensips", "kamailio-tsilo", "rfc8599")

#: proxy knobs a scenario may override, with their meaning (seconds unless stated)
PROXY_KNOBS: dict[str, str] = {
    "fr_inv_timeout": "placeholder / INVITE branch final-response timer (OpenSIPS tm, OSIPS-2)",
    "fr_timeout": "branch timer until the first provisional (OpenSIPS tm fr_timeout, OSIPS-3)",
    "subscription_timeout": "lifetime of the contact-event subscription (notify_on_event, EVT-4)",
    "bucket_timer": "RFC 8599 §5.2 Bucket Timer: how long a request waits for the device",
    "route_to_source": "0 or 1: branches go to the REGISTER's source, not the Contact (ROUTE-2)",
    "t1": "RFC 3261 T1 (0.5 s): INVITE retransmissions T1, 2*T1... apart, Timer B 64*T1",
    "t2": "RFC 3261 T2 (4 s): the longest retransmission interval of non-INVITE requests "
          "(and of INVITEs under the opensips and kamailio-tsilo presets, TXN-10)",
    "relay_pn": "0 or 1: kamailio-tsilo relays to contacts with pn-* parameters too (TIMING-2)",
}


class ScenarioError(UsageError):
    """A scenario file that cannot be used; `key` and `line` say where (line 0: unknown)."""

    def __init__(self, source: str, line: int, key: str, problem: str) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {key}: {problem}")
        self.source = source
        self.line = line
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class CallerSpec:
    """The caller ``alice``: sends the INVITE at `invite_at`, CANCELs at `cancel_at` if set."""

    invite_at: float
    cancel_at: float | None = None


@dataclass(frozen=True)
class DeviceSpec:
    """One device of the callee ``bob``.

    `push` devices are registered with RFC 8599 pn-* parameters before the call and sleep until
    pushed; `wake_after` seconds after the push they send a refresh REGISTER (RFC 8599 §4.1.3),
    from a new port when `new_port_on_wake` (a mobile reconnecting, PIT-11).
    `pn_provider` names its push service (RFC 8599 §4.1.1; one a proxy may not support);
    `pnsreg` adds the ``+sip.pnsreg`` feature tag: it can refresh by itself (§4.1.4).
    `register_at` registers a (new) contact at that time; `reregister_at` sends refreshes of the
    same binding (same Call-ID, higher CSeq). `ring_after` / `answer_after` count from the INVITE.
    `register_from_port` sends the REGISTERs from that port of the device's host while it
    listens on its Contact (SIPp's usual recipe); `private_contact` puts a private address
    nobody can reach in its Contact (behind a NAT: only the REGISTER's source reaches it);
    `outbound` registers an RFC 5626 flow (``+sip.instance`` and ``reg-id``).
    """

    name: str
    register_at: float | None = None
    push: bool = False
    wake_after: float | None = None
    new_port_on_wake: bool = False
    push_fails: bool = False
    pn_provider: str = "fcm"
    pnsreg: bool = False
    reregister_at: tuple[float, ...] = ()
    ring_after: float | None = None
    answer_after: float | None = None
    answer: int = 200
    expires: int = 3600
    register_from_port: int | None = None
    private_contact: bool = False
    outbound: bool = False


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file, validated."""

    name: str
    caller: CallerSpec
    devices: tuple[DeviceSpec, ...] = ()
    preset: str | None = None
    proxy: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    source: str = "<scenario>"
    #: one-way delay of every datagram, seconds (default 0: everything arrives when sent)
    latency: float = 0.0


# -- locating keys in the text -------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(#.*)?$")


def _line_of(text: str, table: str | None, index: int, key: str | None) -> int:
    """The 1-based line of `key` in `[table]` (or in the `index`-th `[[table]]`, or at the top
    level when `table` is None); the table's header line when the key is absent or None; 0 when
    neither is found. Enough for the flat files this module reads (no dotted keys).
    """
    current: str | None = None
    count = -1
    header_line = 0
    assignment = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=") if key is not None else None
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            current = header.group(2)
            if table is None and current == key:  # a misspelt top-level table
                return number
            if current == table:
                count = count + 1 if header.group(1) == "[[" else index
                if count == index:
                    header_line = number
            continue
        here = current == table and (table is None or count == index)
        if here and assignment is not None and assignment.match(raw):
            return number
    return header_line


class TableReader:
    """Typed access to one table of a parsed TOML file (a scenario or a traffic file),
    reporting errors at the right line."""

    def __init__(self, text: str, source: str, data: Mapping[str, Any], table: str | None,
                 index: int = 0) -> None:
        self.text, self.source, self.data = text, source, data
        self.table, self.index = table, index

    def _name(self, key: str) -> str:
        if self.table is None:
            return key
        suffix = f"[{self.index}]" if self.table == "device" else ""
        return f"{self.table}{suffix}.{key}"

    def fail(self, key: str | None, problem: str) -> ScenarioError:
        line = _line_of(self.text, self.table, self.index, key)
        return ScenarioError(self.source, line, self._name(key) if key else str(self.table),
                             problem)

    def check_keys(self, allowed: Mapping[str, object] | tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(key, f"unknown key (known: {known})")

    def number(self, key: str, *, required: bool = False, positive: bool = False
               ) -> float | None:
        if key not in self.data:
            if required:
                line = _line_of(self.text, self.table, self.index, None)
                raise ScenarioError(self.source, line, self._name(key), "missing required key")
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number of seconds, got {value!r}")
        if value < 0 or (positive and value == 0):
            raise self.fail(key, f"must be {'above' if positive else 'at least'} 0, got {value}")
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low} and {high}, got {value}")
        return value

    def boolean(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {value!r}")
        return value

    def numbers(self, key: str) -> tuple[float, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or any(
            isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in value
        ):
            raise self.fail(key, f"expected a list of times (seconds, at least 0), got {value!r}")
        return tuple(float(v) for v in value)

    def sub(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table [{key}], got {value!r}")
        return value


_TOP = ("name", "description", "preset", "latency", "proxy", "caller", "device")
_CALLER = ("invite_at", "cancel_at")
_DEVICE = tuple(DeviceSpec.__dataclass_fields__)


def _device(reader: TableReader) -> DeviceSpec:
    reader.check_keys(_DEVICE)
    name = reader.string("name")
    if not name or not re.fullmatch(r"[A-Za-z0-9_\-]{1,16}", name):
        raise reader.fail("name" if "name" in reader.data else None,
                          f"each device needs a name of 1-16 letters, digits, - or _, got {name!r}")
    device = DeviceSpec(
        name=name,
        register_at=reader.number("register_at"),
        push=reader.boolean("push"),
        wake_after=reader.number("wake_after"),
        new_port_on_wake=reader.boolean("new_port_on_wake"),
        push_fails=reader.boolean("push_fails"),
        pn_provider=reader.string("pn_provider", "fcm") or "fcm",
        pnsreg=reader.boolean("pnsreg"),
        reregister_at=reader.numbers("reregister_at"),
        ring_after=reader.number("ring_after"),
        answer_after=reader.number("answer_after"),
        answer=reader.integer("answer", 200, 200, 699),
        expires=reader.integer("expires", 3600, 1, 86400),
        register_from_port=(reader.integer("register_from_port", 5062, 1024, 65535)
                            if "register_from_port" in reader.data else None),
        private_contact=reader.boolean("private_contact"),
        outbound=reader.boolean("outbound"),
    )
    if device.register_from_port == 5060:
        raise reader.fail("register_from_port", "5060 is the port the device listens on")
    if device.wake_after is not None and not device.push:
        raise reader.fail("wake_after", "only a push device (push = true) is woken")
    if device.push_fails and not device.push:
        raise reader.fail("push_fails", "only a push device (push = true) is pushed")
    if device.pnsreg and not device.push:
        raise reader.fail("pnsreg", "only a push device (push = true) uses +sip.pnsreg")
    if "pn_provider" in reader.data and not device.push:
        raise reader.fail("pn_provider", "only a push device (push = true) names a push service")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{0,31}", device.pn_provider):
        raise reader.fail("pn_provider", f"not a push service name: {device.pn_provider!r}")
    if device.new_port_on_wake and not device.push:
        raise reader.fail("new_port_on_wake", "only a push device (push = true) wakes")
    if device.ring_after is not None and device.answer_after is not None \
            and device.ring_after >= device.answer_after:
        raise reader.fail("ring_after", "must come before answer_after")
    return device


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate scenario text; raise `ScenarioError` naming the key and line of any fault.

    Examples
    --------
    >>> s = parse_scenario('[caller]\\ninvite_at = 1.0\\n[[device]]\\nname = "A"\\n')
    >>> s.caller.invite_at, [d.name for d in s.devices]
    (1.0, ['A'])
    >>> parse_scenario('[caller]\\ninvite_at = "soon"\\n', "x.toml")
    Traceback (most recent call last):
    ...
    pushinject.sim.scenario.ScenarioError: x.toml:2: caller.invite_at: expected a number of seconds, got 'soon'
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(match.group(1)) if match else 0
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ScenarioError(source, line, "syntax", problem) from None
    top = TableReader(text, source, data, None)
    top.check_keys(_TOP)
    preset = top.string("preset")
    if preset is not None and preset not in PRESET_NAMES:
        raise top.fail("preset", f"unknown preset {preset!r} (known: {', '.join(PRESET_NAMES)})")

    proxy_data = top.sub("proxy")
    proxy_reader = TableReader(text, source, proxy_data, "proxy")
    proxy_reader.check_keys(PROXY_KNOBS)
    proxy = {key: proxy_reader.number(key, positive=key not in SWITCHES) for key in proxy_data}
    for key in SWITCHES & set(proxy):
        if proxy[key] not in (0.0, 1.0):
            raise proxy_reader.fail(key, f"must be 0 (off) or 1 (on), got {proxy_data[key]!r}")

    if "caller" not in data:
        raise ScenarioError(source, 0, "caller", "missing required table [caller] with invite_at")
    caller_reader = TableReader(text, source, top.sub("caller"), "caller")
    caller_reader.check_keys(_CALLER)
    invite_at = caller_reader.number("invite_at", required=True)
    assert invite_at is not None
    cancel_at = caller_reader.number("cancel_at")
    if cancel_at is not None and cancel_at <= invite_at:
        raise caller_reader.fail("cancel_at", "must come after invite_at")

    raw_devices = data.get("device", [])
    if not isinstance(raw_devices, list):
        raise top.fail("device", "devices are written as [[device]] tables")
    devices: list[DeviceSpec] = []
    for index, raw in enumerate(raw_devices):
        reader = TableReader(text, source, raw, "device", index)
        device = _device(reader)
        if device.name in {d.name for d in devices}:
            raise reader.fail("name", f"duplicate device name {device.name!r}")
        devices.append(device)

    name = top.string("name", Path(source).stem) or Path(source).stem
    latency = top.number("latency") or 0.0
    if latency > 1.0:
        raise top.fail("latency", f"at most 1 s one way, got {latency}")
    return Scenario(
        name=name,
        caller=CallerSpec(invite_at=invite_at, cancel_at=cancel_at),
        devices=tuple(devices),
        preset=preset,
        proxy={k: v for k, v in proxy.items() if v is not None},
        description=top.string("description", "") or "",
        source=source,
        latency=latency,
    )


def read_file(path: Path, kind: str = "scenario") -> str:
    """The text of a `kind` file, or a one-line `UsageError` saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such {kind} file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {kind} file {path}: {exc}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (see `parse_scenario`)."""
    path = Path(path)
    return parse_scenario(read_file(path), path.name)
