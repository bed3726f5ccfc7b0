"""A Scapy `SIP` layer, so that `rdpcap`/`sniff` users get SIP decoded and summarised.

The layer keeps the whole SIP message as one field and delegates parsing to
`pushinject.sip.parse_message(strict=False)`: there is only one SIP parser in the project.
Importing this module binds it to UDP and TCP ports 5060 and 5061 (RFC 3261 §19.1.2 defaults;
on TCP one segment may hold part of a message, reassembly is the decoder's job).
"""

from __future__ import annotations

from typing import Any

from scapy.fields import StrField
from scapy.layers.inet import TCP, UDP
from scapy.packet import Packet, bind_layers

__all__ = ["SIP"]


class SIP(Packet):
    """A SIP message carried by UDP or TCP (RFC 3261 §7).

    >>> from scapy.layers.inet import IP, UDP
    >>> pkt = IP(bytes(IP() / UDP(sport=5060, dport=5060) / b"OPTIONS sip:a@b SIP/2.0\\r\\n"
    ...          b"Call-ID: x\\r\\nCSeq: 1 OPTIONS\\r\\n\\r\\n"))
    >>> pkt[SIP].summary()
    'SIP OPTIONS sip:a@b (Call-ID x)'
    >>> pkt[SIP].message.cseq.number
    1
    """

    name = "SIP"
    fields_desc = [StrField("data", b"")]

    @property
    def message(self) -> Any:
        """The parsed `Request`/`Response` (lenient; its `defects` list what was wrong)."""
        from pushinject.sip import parse_message

        return parse_message(self.data, strict=False)

    def mysummary(self) -> str:
        try:
            msg = self.message
        except ValueError:
            return "SIP (unparsable)"
        line = msg.start_line if isinstance(msg.start_line, str) else msg.start_line()
        head = " ".join(line.split(" ")[:2]) if hasattr(msg, "method") else line
        return f"SIP {head} (Call-ID {msg.get('Call-ID')})"


for _port in (5060, 5061):
    bind_layers(UDP, SIP, sport=_port)
    bind_layers(UDP, SIP, dport=_port)
    bind_layers(TCP, SIP, sport=_port)
    bind_layers(TCP, SIP, dport=_port)
