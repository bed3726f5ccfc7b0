"""Subcommands of the `pushinject` command line, one module each (see `pushinject.cli`)."""
