"""The deterministic simulator: scenarios, simulated user agents, a virtual-clock loop,
traces and byte-identical captures."""

from __future__ import annotations
