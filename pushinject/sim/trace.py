"""What a simulation records: every message on the wire, in order, with its virtual time.

A `Wire` entry is one UDP datagram: when it left, which party sent it to which, both
addresses and the exact bytes. The ladder, the pcap and the JSON result are all drawn from the
same list of entries, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from pushinject.core.types import Address

__all__ = ["Address", "Wire", "first_line"]


def first_line(data: bytes) -> str:
    """The start line of a SIP message, e.g. ``INVITE sip:bob@example.com SIP/2.0``."""
    return data.split(b"\r\n", 1)[0].decode("utf-8", "replace")


@dataclass(frozen=True, kw_only=True)
class Wire:
    """One datagram: sent at `time` from `source` (party name, address) to `destination`."""

    time: float
    source: str
    destination: str
    source_address: Address
    destination_address: Address
    data: bytes

    @property
    def start_line(self) -> str:
        return first_line(self.data)

    @property
    def label(self) -> str:
        """A short ladder label: ``INVITE`` for requests, ``180 Ringing`` for responses."""
        line = self.start_line
        if line.startswith("SIP/2.0 "):
            return line[len("SIP/2.0 "):]
        return line.split(" ", 1)[0]
