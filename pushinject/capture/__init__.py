"""Decoding real captures: pcap/pcapng records to SIP messages, every frame accounted for.

`decode(path)` yields `DecodedMessage` values; `Decoder` also keeps the `CaptureSummary`.
Modules: `records` (file reading), `layers` (fast slicing) and `scapy_path` (Scapy slicing),
`ip_reassembly`, `tcp_reassembly`, `websocket`, `sctp`, `sipscan` (SIP by content),
`decoder` (the pipeline), `sip_layer` (a Scapy `SIP` layer), `transactions` and `calls` (a
view of the checker's call model as `CallSummary` values).
"""

from __future__ import annotations

from pushinject.capture.decoder import CaptureSummary, DecodedMessage, Decoder, decode

__all__ = ["CaptureSummary", "DecodedMessage", "Decoder", "decode"]
