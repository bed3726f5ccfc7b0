"""The ``rfc`` role: a link to an RFC section, written as ``{rfc}`3261#section-16.7```.

The link text names the RFC and the section the way the project writes them in prose
(``RFC 3261 §16.7``); an explicit title (``{rfc}`the bucket <8599#section-5.2>```) replaces it.
Targets are the RFC Editor's HTML pages, whose section anchors are ``section-N``.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from sphinx.util.docutils import ReferenceRole

BASE = "https://www.rfc-editor.org/rfc/rfc{number}"
_TARGET = re.compile(r"^(\d+)(?:#(section|appendix)-([0-9A-Za-z.]+))?$")


def rfc_link(target: str) -> tuple[str, str]:
    """The (text, URL) of an RFC target such as ``3261#section-16.7``.

    >>> rfc_link("3261#section-16.7")
    ('RFC 3261 §16.7', 'https://www.rfc-editor.org/rfc/rfc3261#section-16.7')
    >>> rfc_link("8599")
    ('RFC 8599', 'https://www.rfc-editor.org/rfc/rfc8599')
    """
    match = _TARGET.match(target.strip())
    if match is None:
        raise ValueError(f"not an RFC target (want NUMBER or NUMBER#section-N): {target!r}")
    number, kind, section = match.groups()
    url = BASE.format(number=number)
    if section is None:
        return f"RFC {number}", url
    mark = "§" if kind == "section" else "Appendix "
    return f"RFC {number} {mark}{section}", f"{url}#{kind}-{section}"


class RFCRole(ReferenceRole):
    """``{rfc}`3261#section-16.7``` → a link reading "RFC 3261 §16.7"."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        try:
            text, url = rfc_link(self.target)
        except ValueError as error:
            message = self.inliner.reporter.error(str(error), line=self.lineno)
            problem = self.inliner.problematic(self.rawtext, self.rawtext, message)
            return [problem], [message]
        title = self.title if self.has_explicit_title else text
        return [nodes.reference(self.rawtext, title, refuri=url, classes=["rfc"])], []


def setup(app: Any) -> dict[str, Any]:
    app.add_role("rfc", RFCRole(), override=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
