"""Sphinx configuration of the pushinject book.

The book is built from the repository root (`sphinx-build -c docs . build/site`, see the
Makefile's `docs` target) so that every page keeps the path it has in the repository: the
notebooks' relative links (``../docs/glossary.md``, ``01_sip_messages.ipynb``) work in JupyterLab
and on the site alike. Notebooks are shown with their stored outputs and never executed.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import pushinject  # noqa: E402

project = "pushinject"
author = "the pushinject authors"
copyright = "the pushinject authors"  # noqa: A001
release = pushinject.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "docstring_layout",
    "rfc_links",
]

root_doc = "docs/index"
# Only these become pages; everything else in the repository is left alone.
include_patterns = ["docs/**", "notebooks/*.ipynb", "pushinject/catalogue/*.md"]
exclude_patterns = [".venv", ".git", "build", "data", "tests", "**/.ipynb_checkpoints",
                    "docs/_ext", "docs/_templates", "docs/_static"]
templates_path = ["_templates"]


# Notebooks: stored outputs only (their cells are checked by `pytest --nbval`, not here).
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The public API from docstrings, which write `name` for code, as Markdown does.
default_role = "literal"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}

html_theme = "furo"
html_title = f"pushinject {release}"
html_static_path = ["_static"]
# An icon of the site's own, so that no browser asks the server for /favicon.ico.
html_favicon = "_static/favicon.svg"
html_copy_source = False
html_show_sourcelink = False
# The site's front door: build/site/index.html sends the reader to the book's first page.
html_additional_pages = {"index": "redirect.html"}


CATALOGUE = HERE.parent / "pushinject" / "catalogue"


def _catalogue_page(app: object, docname: str, source: list[str]) -> None:
    """While `pushinject/catalogue/` has no rule file, the appendix says so instead of holding
    a glob that matches nothing (Sphinx warns about such a glob)."""
    if docname == "docs/catalogue" and not any(CATALOGUE.glob("*.md")):
        start = source[0].index("```{toctree}")
        source[0] = source[0][:start] + "No rule file has been written yet.\n"


def setup(app: object) -> None:
    app.connect("source-read", _catalogue_page)  # type: ignore[attr-defined]
