"""Where the project's data lives: `data/` in the repository, beside the package.

The project runs from its repository (`make` installs it in editable mode), so captures,
scenarios and samples are found relative to the package, never to the current directory.
"""

from __future__ import annotations

from pathlib import Path

from pushinject.errors import UsageError

__all__ = ["DATA", "data_path"]

#: the repository's data folder
DATA = Path(__file__).resolve().parent.parent / "data"


def data_path(*parts: str) -> Path:
    """A file or folder under `data/`; `UsageError` when it is not there (the package was
    installed without its repository).

    >>> data_path("captures", "manifest.toml").name
    'manifest.toml'
    """
    path = DATA.joinpath(*parts)
    if not path.exists():
        raise UsageError(f"{path} not found: pushinject's data/ folder comes with its repository")
    return path
