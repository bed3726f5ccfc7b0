"""The rule catalogue (`pushinject/catalogue/`): its format, and that every rule id cited in the
repository is defined there and that the repository cites nothing outside itself."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from pushinject.catalogue import (
    FOLDER, RESERVED_PREFIXES, CatalogueError, UnknownRule, catalogue, cited_ids, load,
    lookup, parse_area,
)

ROOT = Path(__file__).resolve().parent.parent

GOOD = """# Area

What the area covers.

(ab-1)=
## AB-1: First rule

It says one thing.

And a second paragraph.

Sources: RFC 3261 §16.5;
OpenSIPS tm module documentation.

(ab-2)=
## AB-2: Second rule

Another thing.

Sources: RFC 8599 §5.3.
"""


def tracked_files() -> list[Path]:
    """The repository's tracked files (every file but dot-folders when git is unavailable)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return [p for p in ROOT.rglob("*") if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]
    return [ROOT / name for name in out.split("\0") if name]


def text_files() -> dict[str, str]:
    """Every tracked file that reads as UTF-8 text, by its path in the repository."""
    texts = {}
    for path in tracked_files():
        try:
            texts[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
    return texts


def test_an_area_file_parses_into_entries() -> None:
    first, second = parse_area(GOOD, "ab.md")
    assert (first.id, first.title, first.anchor, first.file, first.area) == (
        "AB-1", "First rule", "ab-1", "ab.md", "Area")
    assert first.statement == "It says one thing.\n\nAnd a second paragraph."
    assert first.sources == "RFC 3261 §16.5; OpenSIPS tm module documentation."
    assert (second.id, second.statement, second.sources) == (
        "AB-2", "Another thing.", "RFC 8599 §5.3.")
    assert first.where == "pushinject/catalogue/ab.md"


@pytest.mark.parametrize("text, error", [
    ("", "ab.md:1: an area file starts with a '# Title' line"),
    ("Area\n", "ab.md:1: an area file starts with a '# Title' line"),
    (GOOD.replace("(ab-2)=\n", ""),
     "ab.md:15: rule heading without a '(ab-2)=' target line before it"),
    (GOOD.replace("(ab-2)=\n", "").replace("## AB-2:", "## AB-2"),
     "ab.md:15: rule heading without a '(id)=' target line before it"),
    (GOOD.replace("(ab-2)=", "(ab-3)="),
     "ab.md:15: target (ab-3)= does not match AB-2: write (ab-2)="),
    (GOOD.replace("## AB-2: Second rule", "## Second rule"),
     "ab.md:16: a target line must be followed by '## PREFIX-N: Title'"),
    (GOOD.replace("(ab-2)=\n## AB-2", "(ab-2)=\n\n## AB-2"),
     "ab.md:16: a target line must be followed by '## PREFIX-N: Title'"),
    (GOOD.replace("## AB-2:", "## ab-2:"),
     "ab.md:16: rule id 'ab-2' is not PREFIX-N (upper-case prefix, number)"),
    (GOOD.replace("Sources: RFC 8599 §5.3.\n", ""),
     "ab.md:16: AB-2 needs a statement and a last paragraph 'Sources: ...'"),
    (GOOD.replace("Another thing.\n\n", ""),
     "ab.md:16: AB-2 needs a statement and a last paragraph 'Sources: ...'"),
    (GOOD.replace("Sources: RFC 8599 §5.3.", "Sources:"), "ab.md:16: AB-2 names no source"),
])
def test_a_malformed_area_file_is_a_clear_error(text: str, error: str) -> None:
    with pytest.raises(CatalogueError) as info:
        parse_area(text, "ab.md")
    assert str(info.value) == error


def test_every_md_file_of_a_folder_is_read_and_an_id_is_defined_once(tmp_path: Path) -> None:
    (tmp_path / "ab.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "cd.md").write_text(GOOD.replace("ab-", "cd-").replace("AB-", "CD-"),
                                    encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not an area", encoding="utf-8")
    assert list(load(tmp_path)) == ["AB-1", "AB-2", "CD-1", "CD-2"]
    (tmp_path / "ef.md").write_text(GOOD, encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"^ef\.md: AB-1 is already defined in ab\.md$"):
        load(tmp_path)


def test_the_package_catalogue_uses_reserved_prefixes_each_in_one_file() -> None:
    entries = catalogue()
    assert entries == load(FOLDER)
    files: dict[str, set[str]] = {}
    for entry in entries.values():
        files.setdefault(entry.id.split("-")[0], set()).add(entry.file)
    assert set(files) <= set(RESERVED_PREFIXES)
    assert all(len(names) == 1 for names in files.values()), files
    assert {p: files[p] for p in ("CTX", "INJ", "OSIPS")} == {
        "CTX": {"ctx.md"}, "INJ": {"inj.md"}, "OSIPS": {"osips.md"}}
    assert lookup("CTX-9").where == "pushinject/catalogue/ctx.md"
    undefined = "KAM-" + "999"  # written in two parts: the citation test would flag it
    with pytest.raises(UnknownRule, match=f"no rule {undefined} in the catalogue"):
        lookup(undefined)


def test_area_files_ship_with_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["pushinject"]
    for path in FOLDER.glob("*.md"):
        inside = path.relative_to(ROOT / "pushinject").as_posix()
        assert any(fnmatch.fnmatch(inside, p) for p in patterns), inside


def test_every_cited_rule_id_is_defined() -> None:
    """Any `PREFIX-N` with a reserved prefix, in any tracked text file (code, tests, notebooks
    with their outputs, data, README, the catalogue itself), must name a catalogue rule."""
    defined = set(catalogue())
    missing = {f"{name}: {rid}" for name, text in text_files().items()
               for rid in cited_ids(text) if rid not in defined}
    assert sorted(missing) == []


#: ways a file could name the folder beside the repository (the words are split so that this
#: file does not match itself)
_BESIDE = "sha" "red"  # the folder's name, written so that no search for it finds this file
OUTSIDE = re.compile("|".join([
    "SPEC" + "-FACTS",                               # the notes the catalogue replaced
    r"\.\./(?:\.\./)*" + _BESIDE,                     # one or more ../ before the name
    r"/work/" + _BESIDE,
    r"""(?:/|joinpath\(|Path\()\s*\\?["']""" + _BESIDE + r"""\\?["']""",  # a path joined to it
    r"""\\?["']""" + _BESIDE + r"""\\?["']\s*/""",       # (quotes escaped too, as in notebooks)
    r"\bSHARED\s*/",
]))


def test_nothing_but_ci_names_the_folder_beside_the_repository() -> None:
    """Tests, notebooks, code and docs need nothing outside the repository: only `.ci/run`
    (which points PUSHINJECT_CORPUS at the third-party captures) may name it."""
    hits = sorted(f"{name}: {m.group(0)}" for name, text in text_files().items()
                  if name != ".ci/run" for m in OUTSIDE.finditer(text))
    assert hits == []


@pytest.mark.parametrize("text", [  # each example in two parts, for the test above
    'PCAPS = Path.cwd().resolve().parent.parent / "sha' + 'red" / "pcaps"',
    "read from ../" + "shared/rfc4475", "SHA" + "RED / 'pcaps'", "see SPEC" + "-FACTS R19",
    "/work/" + "shared/pcaps", "ROOT.parent.joinpath('" + "shared')",
    '"PCAPS = Path.cwd().parent.parent / \\"sha' + 'red\\" / \\"pcaps\\"\\n",',
])
def test_the_outside_pattern_catches_each_way_of_naming_it(text: str) -> None:
    assert OUTSIDE.search(text)


def test_the_outside_pattern_lets_the_word_pass() -> None:
    assert not OUTSIDE.search("values shared from the tables; a shared-library build")
