"""The project set-up: the console command, and environment.yml in step with pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pushinject
from pushinject.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parent.parent


def _requirement_names(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
        assert match, spec
        out[match.group(1).lower()] = match.group(2).replace(" ", "")
    return out


def test_environment_yml_names_the_same_dependencies_as_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirement_names(project["dependencies"])
    conda: list[str] = []
    section = ""
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if re.match(r"^[a-z]", line):
            section = line.split(":")[0]
        item = re.match(r"^  - ([A-Za-z0-9_.\-]+.*)$", line)
        if section == "dependencies" and item and not item.group(1).startswith(("python", "pip")):
            conda.append(item.group(1))
    assert _requirement_names(conda) == wanted


def test_mandated_dependencies_are_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set(_requirement_names(project["dependencies"]))
    assert {"jupyterlab", "nbval", "scapy", "networkx", "pytest"} <= names
    assert project["requires-python"] == ">=3.11"


def test_console_command_reports_its_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pushinject", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"pushinject {pushinject.__version__}"


def test_help_lists_every_subcommand() -> None:
    text = build_parser().format_help()
    for name in COMMANDS:
        assert name in text


def test_no_subcommand_prints_help_and_exits_2() -> None:
    done = subprocess.run([sys.executable, "-m", "pushinject"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "usage: pushinject" in done.stdout


def test_ci_never_uses_lax_notebook_checking() -> None:
    for name in ("Makefile", ".ci/run", "pyproject.toml"):
        assert "nbval-lax" not in (ROOT / name).read_text()


def test_ci_stops_no_process_by_name_and_runs_the_tests_twice() -> None:
    """.ci/run ends no process it did not start, runs the tests with the external corpus, then
    in a fresh clone with nothing beside it."""
    text = (ROOT / ".ci" / "run").read_text()
    assert not re.search(r"\b(pkill|killall)\b", text)
    assert 'run_tests "run 1"' in text and 'run_tests "run 2"' in text
    assert "git clone" in text and "unset PUSHINJECT_CORPUS" in text
