"""Routing scripts written against `pushinject.core.script_api` (presets are scripts plus knobs)."""
