"""The SIP message layer: parsing, URIs, typed headers, serialisation, stream framing.

Everything here is sans-I/O (RFC 3261 §7, §19, §20, §25; RFC 8599 §4.1 for push parameters).
`parse_message` checks the start line, the framing and the grammar of the headers the
transaction and proxy layers rely on; typed values are built when first read and cached.
Messages are immutable: the `with_*` / `without_*` methods return new ones.

>>> msg = parse_message(b"REGISTER sip:example.com SIP/2.0\\r\\n"
...     b"v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-1\\r\\nf: <sip:bob@example.com>;tag=t\\r\\n"
...     b"t: <sip:bob@example.com>\\r\\ni: r1\\r\\nCSeq: 2 REGISTER\\r\\n"
...     b"m: <sip:bob@192.0.2.1;pn-provider=fcm;pn-prid=tok>;expires=600\\r\\nl: 0\\r\\n\\r\\n")
>>> msg.method, msg.cseq.number, msg.contacts[0].pn_prid, msg.contacts[0].expires
('REGISTER', 2, 'tok', 600)
>>> ok = make_response(msg, 200, to_tag="reg", extra=[("Contact", msg.get("m") or "")])
>>> ok.start_line, ok.to.tag, ok.get_all("Contact") == msg.get_all("Contact")
('SIP/2.0 200 OK', 'reg', True)
"""

from __future__ import annotations

from pushinject.sip.build import make_request, make_response, reason_phrase
from pushinject.sip.errors import SIPParseError
from pushinject.sip.framer import StreamFramer
from pushinject.sip.headers import COMPACT_FORMS, display_name, header_key, split_commas
from pushinject.sip.message import Message, Request, Response
from pushinject.sip.parser import parse_message
from pushinject.sip.uri import URI, AbsoluteURI, SipURI, TelURI, parse_uri
from pushinject.sip.values import (
    Contact, CSeq, FeatureCap, NameAddr, Reason, Via, parse_contact, parse_cseq,
    parse_feature_cap, parse_name_addr, parse_reason, parse_via,
)

__all__ = [
    "parse_message", "SIPParseError", "Message", "Request", "Response",
    "URI", "SipURI", "TelURI", "AbsoluteURI", "parse_uri",
    "Via", "NameAddr", "Contact", "CSeq", "Reason", "FeatureCap",
    "parse_via", "parse_name_addr", "parse_contact", "parse_cseq", "parse_reason",
    "parse_feature_cap",
    "make_request", "make_response", "reason_phrase", "StreamFramer",
    "COMPACT_FORMS", "header_key", "display_name", "split_commas",
]
