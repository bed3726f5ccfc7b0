"""The README's worked examples print exactly what it says: each ``console`` block of the
sections below is run (``$`` starts a command, ``>`` continues it; the rest is its output) from
the repository's root, with ``python`` and ``pushinject`` this interpreter's and ``/tmp/`` a
temporary folder of the test."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SECTIONS = ["Rotated captures and HEP"]


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _examples(title: str) -> list[tuple[str, str]]:
    """(command, expected output) of every command in the section's console blocks."""
    out: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", _section(title), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], ""))
            elif line.startswith("> ") and out and not out[-1][1]:
                out[-1] = (out[-1][0] + "\n" + line[2:], "")
            else:
                assert out, f"output before any command in {title!r}"
                out[-1] = (out[-1][0], out[-1][1] + line + "\n")
    return out


def test_the_examples_are_found() -> None:
    commands = [c.split()[0] for c, _ in _examples(SECTIONS[0])]
    assert commands == ["python", "pushinject", "pushinject", "pushinject", "pushinject", "cat"]


@pytest.mark.parametrize("title", SECTIONS)
def test_readme_examples_print_what_the_readme_shows(title: str, tmp_path: Path) -> None:
    python = shlex.quote(sys.executable)
    for command, expected in _examples(title):
        run = command.replace("/tmp/", f"{tmp_path}/")
        run = re.sub(r"^python ", f"{python} ", run)
        run = re.sub(r"(^|\| )pushinject ", rf"\1{python} -m pushinject ", run)
        done = subprocess.run(["bash", "-c", run], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert (command, done.stdout) == (command, expected)
        assert done.stderr == ""
