"""The `pushinject` program sets the cyclic garbage collector for long runs; `main` does not."""

from __future__ import annotations

import gc
import subprocess
import sys

from pushinject import cli


def test_entry_freezes_what_is_loaded_and_raises_the_young_threshold(monkeypatch) -> None:
    seen: list[object] = []
    monkeypatch.setattr(cli.gc, "freeze", lambda: seen.append("freeze"))
    monkeypatch.setattr(cli.gc, "set_threshold", lambda *levels: seen.append(levels))
    monkeypatch.setattr(cli, "main", lambda: seen.append("main") or 7)
    assert cli.entry() == 7
    assert seen == ["freeze", (10_000, 20, 50), "main"]


def test_main_leaves_the_collector_as_it_is(capsys) -> None:
    before = (gc.get_threshold(), gc.get_freeze_count())
    assert cli.main([]) == 2  # no command: the help, exit status 2
    assert "COMMAND" in capsys.readouterr().out
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_python_dash_m_runs_the_program_entry() -> None:
    probe = ("import gc, runpy, sys\n"
             "sys.argv = ['pushinject', '--version']\n"
             "try:\n"
             "    runpy.run_module('pushinject', run_name='__main__')\n"
             "except SystemExit as done:\n"
             "    print(done.code, gc.get_threshold(), gc.get_freeze_count() > 0)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[-1] == "0 (10000, 20, 50) True"
