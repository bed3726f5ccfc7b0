"""The SIP message layer: parsing, URIs, typed headers, serialisation, stream framing.

Everything here is sans-I/O (RFC 3261 §7, §19, §20, §25; RFC 8599 §4.1 for push parameters).
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
