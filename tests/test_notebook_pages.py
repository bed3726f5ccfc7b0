"""The chapters read as a course: checks out of the reader's way, no noise in what is shown.

The book hides cells tagged ``remove-cell`` (the checks nbval still runs) and folds those tagged
``hide-cell`` (exercise solutions). Everything else is what a reader sees, so it must hold no
``assert``, no nbval marker comment, no traceback, no private name, no path of the machine that
ran it and no float noise; each chapter opens with what it teaches and ends with exercises whose
solutions the package computes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHAPTERS = [p for p in NOTEBOOKS if not p.name.startswith("00_")]

_PRIVATE = re.compile(r"(?<!\w)_[A-Za-z]\w*")
_PATH = re.compile(r"(?<![\w.])/(?:tmp|work|home|root|usr|var)/")
_NOISE = re.compile(r"\d\.\d*(?:0{8,}|9{8,})\d")


def _cells(path: Path) -> list[dict[str, object]]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]  # type: ignore[no-any-return]


def _tags(cell: dict[str, object]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))  # type: ignore[union-attr]


def _text(cell: dict[str, object]) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else str(source)


def _shown_outputs(cell: dict[str, object]) -> list[str]:
    """The text outputs of a cell (SVG pictures excluded: their ids are not for reading)."""
    texts = []
    for out in cell.get("outputs", []):  # type: ignore[union-attr]
        if out["output_type"] == "stream":
            texts.append("".join(out["text"]))
        elif out["output_type"] == "error":
            texts.append("Traceback: " + out["ename"])
        else:
            texts.append("".join(out.get("data", {}).get("text/plain", "")))
    return texts


def _visible_code(path: Path) -> list[str]:
    return [_text(c) for c in _cells(path)
            if c["cell_type"] == "code" and "remove-cell" not in _tags(c)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checks_are_in_removed_cells_and_no_nbval_marker_shows(path: Path) -> None:
    shown = [line.strip() for code in _visible_code(path) for line in code.splitlines()]
    assert [line for line in shown if line.startswith("assert ")] == []
    assert [line for line in shown if "NBVAL_" in line] == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_traceback_machine_path_or_float_noise_is_shown(path: Path) -> None:
    outputs = [text for cell in _cells(path) if "remove-cell" not in _tags(cell)
               for text in _shown_outputs(cell)]
    assert [t for t in outputs if "Traceback" in t] == []
    assert [m.group(0) for t in outputs for m in [_PATH.search(t)] if m] == []
    assert [m.group(0) for t in outputs for m in [_NOISE.search(t)] if m] == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_reader_meets_no_private_name(path: Path) -> None:
    names = {m.group(0) for code in _visible_code(path) for m in _PRIVATE.finditer(code)}
    assert sorted(names) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_opens_with_what_it_teaches_and_ends_with_solved_exercises(path: Path) -> None:
    cells = _cells(path)
    assert "**In this chapter you will**" in _text(cells[0])
    headings = [line for c in cells if c["cell_type"] == "markdown"
                for line in _text(c).splitlines() if line.startswith("## ")]
    assert "## Exercises" in headings
    start = next(i for i, c in enumerate(cells) if "## Exercises" in _text(c))
    solutions = [c for c in cells[start:] if "hide-cell" in _tags(c)]
    assert len(solutions) >= 2 and all(c.get("outputs") for c in solutions)


def test_the_private_name_pattern_finds_what_it_should() -> None:
    found = {m.group(0) for m in _PRIVATE.finditer(
        "from x import _Reader\nreader._device(x)\n_ = 1\nobj.__class__\nsome_name\n")}
    assert found == {"_Reader", "_device"}
