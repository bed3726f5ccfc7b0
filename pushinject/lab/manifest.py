"""The manifest of the lab's captures (``data/kamailio/manifest.toml``,
``data/opensips/manifest.toml``): one table per capture.

Each table is named after its scenario and holds ``file``, ``scenario``, ``title``,
``description`` (what the capture shows, including anything surprising the proxy did),
``expected_verdict`` (what `pushinject check` under the lab proxy's preset must say:
``"conformant"`` for the proxy's real behaviours the checker must accept, ``"violations"`` for a
capture of a pitfall, whose ``violations`` then lists the rules it breaks; where the proxy departs
from RFC 3261 in a way its preset models, ``expected_verdict_without_preset`` and
``violations_without_preset`` say what `pushinject check` with no option must say),
``call_id``, ``proxy``, ``tm`` (only for a scenario that sets its own tm timer parameters:
their names and values, `pushinject.lab.scenarios.Scenario.tm`), ``final_status`` (to the
caller), ``pushes``,
``registrations``, ``branches`` (one inline table per forwarded INVITE, in the order the proxy
sent them: ``target``, ``injected``, ``cancelled``, ``final_status`` (left out for a branch
the device never answered: TOML has no null), and the measured ``via_branch`` of the proxy's
INVITE), and the measured ``frames`` and ``sip_messages`` of the
committed file. Measured values belong to that file; a regeneration shows the same facts with
other branch ids and perhaps other counts. The expected facts come from
`pushinject.lab.scenarios`; the lab writes an entry only for a capture that shows them.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pushinject.lab.facts import CaptureFacts
from pushinject.lab.proxies import KAMAILIO, LabProxy
from pushinject.lab.scenarios import LAB_IP, PROXY_PORT, Scenario

__all__ = ["MANIFEST", "MEASURED", "entry", "expected_facts", "read_manifest", "render_manifest",
           "write_manifest"]

#: keys whose values are measured on the file rather than expected of every regeneration
MEASURED = ("frames", "sip_messages", "via_branch")

MANIFEST = "manifest.toml"


def entry(scenario: Scenario, facts: CaptureFacts) -> dict[str, Any]:
    """The manifest table of ``scenario``'s capture, whose measured facts are ``facts``.

    ``facts`` must show the scenario (`pushinject.lab.facts.differences` is empty).
    """
    verdict: dict[str, Any] = {"expected_verdict": scenario.verdict}
    if scenario.verdict != "conformant":
        verdict["violations"] = list(scenario.violations)
    if scenario.violations_without_preset is not None:
        unscripted = list(scenario.violations_without_preset)
        verdict["expected_verdict_without_preset"] = "violations" if unscripted else "conformant"
        verdict["violations_without_preset"] = unscripted
    return {
        "file": scenario.file,
        "scenario": scenario.name,
        "title": scenario.title,
        "description": scenario.description,
        **verdict,
        "call_id": scenario.call_id,
        "proxy": f"{LAB_IP}:{PROXY_PORT}",
        **({"tm": dict(scenario.tm)} if scenario.tm else {}),
        "final_status": scenario.final_status,
        "pushes": scenario.pushes,
        "registrations": scenario.registrations,
        "frames": facts.frames,
        "sip_messages": facts.sip_messages,
        "branches": [
            {"target": b.target, "injected": b.injected, "cancelled": b.cancelled,
             **({"final_status": b.final_status} if b.final_status else {}),
             "via_branch": seen.via_branch}
            for b, seen in zip(scenario.branches, facts.branches, strict=True)
        ],
    }


def expected_facts(table: dict[str, Any]) -> dict[str, Any]:
    """A manifest table without its measured values: what every regeneration must show.

    >>> expected_facts({"frames": 6, "final_status": 408,
    ...                 "branches": [{"target": "sip:a@b", "via_branch": "z9hG4bK1"}]})
    {'final_status': 408, 'branches': [{'target': 'sip:a@b'}]}
    """
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in MEASURED}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(table)  # type: ignore[no-any-return]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _natural(name: str) -> tuple[str, int]:
    """Sort key putting S2 before S10."""
    stem = name.rstrip("0123456789")
    return stem, int(name[len(stem):] or 0)


def render_manifest(entries: dict[str, dict[str, Any]], proxy: LabProxy = KAMAILIO,
                    header: str | None = None) -> str:
    """TOML text of ``proxy``'s manifest (``header``: another heading comment than the
    proxy's), tables in natural name order (round-trips through `tomllib`).

    >>> text = render_manifest({"S9": {"file": "S9.pcap", "branches": [{"injected": True}]}})
    >>> tomllib.loads(text)["S9"]["branches"][0]["injected"]
    True
    """
    parts = [proxy.manifest_header if header is None else header]
    for name in sorted(entries, key=_natural):
        parts.append(f"\n[{name}]\n")
        for key, value in entries[name].items():
            if isinstance(value, list) and not all(isinstance(v, str) for v in value):
                rows = "".join(f"    {_value(v)},\n" for v in value)
                parts.append(f"{key} = [\n{rows}]\n" if value else f"{key} = []\n")
            else:
                parts.append(f"{key} = {_value(value)}\n")
    return "".join(parts)


def read_manifest(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The tables of a manifest file, by scenario name."""
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def write_manifest(
    folder: Path, entries: dict[str, dict[str, Any]], proxy: LabProxy = KAMAILIO,
    header: str | None = None,
) -> Path:
    """Merge ``entries`` into ``folder``'s manifest (other tables are kept) and write it."""
    path = folder / MANIFEST
    merged = read_manifest(path) if path.exists() else {}
    merged.update(entries)
    path.write_text(render_manifest(merged, proxy, header), encoding="utf-8")
    return path
