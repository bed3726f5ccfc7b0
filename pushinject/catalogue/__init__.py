"""The project's catalogue of behaviour rules, one Markdown file per area.

Code, tests, notebooks and `pushinject check` cite rules by id (``CTX-4``). Each area file in
this folder reads::

    # Area title

    A paragraph on what the area covers.

    (ctx-4)=
    ## CTX-4: One-line title

    The statement, one or more paragraphs.

    Sources: RFC 3261 §16.7 step 5; ...

The ``(ctx-4)=`` line is a MyST target, so a book can link to each rule; it must be the id in
lower case. Every ``*.md`` file here is read; a malformed one raises `CatalogueError` naming the
file and line.

>>> lookup("CTX-4").title
'Provisional responses and 2xx are forwarded at once; 100 never is'
>>> lookup("CTX-4").where
'pushinject/catalogue/ctx.md'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pushinject.errors import PushInjectError

__all__ = [
    "Entry", "CatalogueError", "UnknownRule", "RESERVED_PREFIXES", "CITATION", "FOLDER",
    "load", "parse_area", "lookup", "catalogue", "cited_ids",
]

#: where the area files live
FOLDER = Path(__file__).resolve().parent

#: every prefix reserved for an area of the catalogue
RESERVED_PREFIXES: tuple[str, ...] = (
    "CTX", "TXN", "INJ", "REG", "EVT", "PUSH", "OSIPS", "KAM", "FLX", "PIT", "MSG", "CAP",
    "ROUTE", "INPUT", "CONN", "FIELD", "TIMING", "HEP", "WORK",
)

#: a rule id as cited in text: a reserved prefix, a hyphen, a number
CITATION = re.compile(r"(?<![A-Za-z0-9_-])(?:" + "|".join(RESERVED_PREFIXES)
                      + r")-[0-9]+(?![0-9A-Za-z_])")

_ID = re.compile(r"[A-Z]+-[1-9][0-9]*")
_TARGET = re.compile(r"\((?P<anchor>[^)]*)\)=\s*")
_HEADING = re.compile(r"## (?P<id>\S+): (?P<title>\S.*)")
_SOURCES = "Sources:"


class CatalogueError(PushInjectError):
    """An area file does not follow the catalogue's format."""


class UnknownRule(PushInjectError, KeyError):
    """A rule id the catalogue does not define."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Entry:
    """One rule: its id, title, statement, sources, and where it is written."""

    id: str
    title: str
    statement: str
    sources: str
    #: the area file's name, e.g. ``ctx.md``
    file: str
    #: the MyST target, the id in lower case
    anchor: str
    #: the area's title (the file's ``#`` heading)
    area: str

    @property
    def where(self) -> str:
        """The area file's path in the repository, e.g. ``pushinject/catalogue/ctx.md``."""
        return f"pushinject/catalogue/{self.file}"


def parse_area(text: str, file: str) -> list[Entry]:
    """The entries of one area file's `text`; `file` names it in entries and errors.

    >>> text = "# Area\\n\\nAbout.\\n\\n(ab-1)=\\n## AB-1: Title\\n\\nBody.\\n\\nSources: RFC 1.\\n"
    >>> [(e.id, e.title, e.statement, e.sources, e.anchor) for e in parse_area(text, "ab.md")]
    [('AB-1', 'Title', 'Body.', 'RFC 1.', 'ab-1')]
    >>> parse_area("Area\\n", "ab.md")
    Traceback (most recent call last):
    ...
    pushinject.catalogue.CatalogueError: ab.md:1: an area file starts with a '# Title' line
    """
    lines = text.splitlines()

    def fail(line: int, why: str) -> CatalogueError:
        return CatalogueError(f"{file}:{line}: {why}")

    if not lines or not lines[0].startswith("# ") or not lines[0][2:].strip():
        raise fail(1, "an area file starts with a '# Title' line")
    area = lines[0][2:].strip()
    starts = [i for i, line in enumerate(lines) if _TARGET.fullmatch(line)]
    entries = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        entries.append(_entry(lines[start:end], start, file, area, fail))
    for i, line in enumerate(lines):
        if line.startswith("## ") and (i - 1) not in starts:
            m = _HEADING.fullmatch(line)
            want = f"({m['id'].lower()})=" if m else "(id)="
            raise fail(i + 1, f"rule heading without a '{want}' target line before it")
    return entries


def _entry(block: list[str], start: int, file: str, area: str,
           fail: Callable[[int, str], CatalogueError]) -> Entry:
    anchor = _TARGET.fullmatch(block[0])
    assert anchor is not None
    heading = _HEADING.fullmatch(block[1]) if len(block) > 1 else None
    if heading is None:
        raise fail(start + 2, "a target line must be followed by '## PREFIX-N: Title'")
    rid = heading["id"]
    if not _ID.fullmatch(rid):
        raise fail(start + 2, f"rule id {rid!r} is not PREFIX-N (upper-case prefix, number)")
    if anchor["anchor"] != rid.lower():
        raise fail(start + 1, f"target ({anchor['anchor']})= does not match {rid}: "
                              f"write ({rid.lower()})=")
    paragraphs = [p.strip() for p in "\n".join(block[2:]).strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2 or not paragraphs[-1].startswith(_SOURCES):
        raise fail(start + 2, f"{rid} needs a statement and a last paragraph 'Sources: ...'")
    sources = " ".join(paragraphs[-1][len(_SOURCES):].split())
    if not sources:
        raise fail(start + 2, f"{rid} names no source")
    return Entry(rid, heading["title"].strip(), "\n\n".join(paragraphs[:-1]), sources, file,
                 rid.lower(), area)


def load(folder: Path = FOLDER) -> dict[str, Entry]:
    """Every entry of every ``*.md`` file in `folder`, by id; an id defined twice is an error."""
    found: dict[str, Entry] = {}
    for path in sorted(folder.glob("*.md")):
        for entry in parse_area(path.read_text(encoding="utf-8"), path.name):
            if entry.id in found:
                raise CatalogueError(f"{path.name}: {entry.id} is already defined in "
                                     f"{found[entry.id].file}")
            found[entry.id] = entry
    return found


@cache
def catalogue() -> dict[str, Entry]:
    """The package's catalogue (read once)."""
    return load()


def lookup(rule_id: str) -> Entry:
    """The entry of `rule_id`; `UnknownRule` when the catalogue does not define it.

    >>> lookup("NOPE-1")
    Traceback (most recent call last):
    ...
    pushinject.catalogue.UnknownRule: no rule NOPE-1 in the catalogue (pushinject/catalogue/)
    """
    try:
        return catalogue()[rule_id]
    except KeyError:
        raise UnknownRule(f"no rule {rule_id} in the catalogue (pushinject/catalogue/)") from None


def cited_ids(text: str) -> list[str]:
    """The rule ids cited in `text` with a reserved prefix, in order of appearance.

    >>> cited_ids("forwarded at once (CTX-4, INJ-8); not XCTX-4 nor CTX-4a")
    ['CTX-4', 'INJ-8']
    """
    return CITATION.findall(text)
