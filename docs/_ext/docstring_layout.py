"""Read the project's docstrings as the reStructuredText that autodoc expects.

The docstrings follow the numpydoc layout (sections underlined with dashes: ``Parameters``,
``Attributes``, ``Examples``, ``Theory of operation``) and write lists the Markdown way, straight
under the sentence that introduces them. In a docstring, a docutils section title is not allowed
(and two modules with the same one collide on one page), and a list needs a blank line around
it. This hook changes only that layout: each underlined title becomes a ``rubric``, and a blank
line goes before a list that follows a paragraph and after a list that a paragraph follows.
Nothing is reworded.
"""

from __future__ import annotations

import re
from typing import Any

_UNDERLINE = re.compile(r"^\s*(-{3,}|={3,})\s*$")
_ITEM = re.compile(r"^(\s*)([-*+]|\d+\.) \S")


def layout(lines: list[str]) -> list[str]:
    """The docstring's lines with rubrics for section titles and blank lines around lists.

    >>> layout(["Text:", "- one", "- two", "More."])
    ['Text:', '', '- one', '- two', '', 'More.']
    >>> layout(["Examples", "--------", ">>> 1", "1"])
    ['.. rubric:: Examples', '', '>>> 1', '1']
    """
    out: list[str] = []
    i = 0
    in_list = False
    while i < len(lines):
        line = lines[i]
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and _UNDERLINE.match(following) and len(following.strip()) >= len(
                line.strip()) and not _ITEM.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            if out and out[-1].strip():
                out.append("")
            out += [f"{indent}.. rubric:: {line.strip()}", ""]
            i += 2
            in_list = False
            continue
        item = _ITEM.match(line)
        if item and out and out[-1].strip() and not in_list:
            out.append("")
        elif (not item and line.strip() and in_list
              and len(line) - len(line.lstrip()) == 0):
            out.append("")
        if item:
            in_list = True
        elif not line.strip() or len(line) - len(line.lstrip()) == 0:
            in_list = False
        out.append(line)
        i += 1
    while len(out) > 1 and out[-1] == "" and out[-2] == "":
        out.pop()
    return out


def _process(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    lines[:] = layout(lines)


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
