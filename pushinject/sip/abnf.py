"""RFC 3261 §25 grammar fragments as regular-expression strings.

Each fragment names the ABNF rule it encodes. They work on header text after line folding has
been undone (RFC 3261 §7.3.1), so linear white space is just spaces and tabs here.
"""

from __future__ import annotations

__all__ = [
    "WS", "LWS1", "TOKEN", "WORD", "QUOTED_STRING", "HOST", "PORT", "PORT16", "GEN_VALUE",
    "GENERIC_PARAM",
    "PARAMS", "CALLID", "DIGITS", "METHOD", "RFC1123_DATE", "SIP_VERSION", "ESCAPED",
    "UNRESERVED", "URI_USER", "URI_PASSWORD", "PARAM_CHARS", "HNV_CHARS", "URI_PARAMS",
    "URI_HEADERS", "URI_PATTERN",
]

#: SWS = [LWS], once folding is undone (§25.1)
WS = r"[ \t]*"
#: LWS where at least one blank is required
LWS1 = r"[ \t]+"
#: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") (§25.1)
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
#: word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" / "(" / ")" /
#: "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}") (§25.1)
WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
#: quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE; qdtext excludes controls (§25.1)
QUOTED_STRING = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]++|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'
#: host = hostname / IPv4address / IPv6reference (§25.1, loosely for hostname labels)
HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?)"
#: port = 1*DIGIT
PORT = r"[0-9]+"
#: a port that fits in 16 bits (0-65535), so one match also checks the range
PORT16 = (r"0*(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}"
          r"|[0-9]{1,4})")
#: gen-value = token / host / quoted-string; IPv6address allowed for Via received (§20.42)
GEN_VALUE = rf"(?:{QUOTED_STRING}|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f.]*+:[0-9A-Fa-f:.]*|{TOKEN})"
#: generic-param = token [ EQUAL gen-value ], with SEMI before it
GENERIC_PARAM = rf"{WS};{WS}{TOKEN}(?:{WS}={WS}{GEN_VALUE})?"
#: *( SEMI generic-param )
PARAMS = rf"(?:{GENERIC_PARAM})*"
#: callid = word [ "@" word ] (§25.1)
CALLID = rf"{WORD}(?:@{WORD})?"
#: 1*DIGIT
DIGITS = r"[0-9]+"
#: Method = INVITEm / ... / extension-method (= token)
METHOD = TOKEN
#: rfc1123-date = wkday "," SP date1 SP time SP "GMT" (§25.1, RFC 2616 §3.3.1)
RFC1123_DATE = (
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)
#: SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT
SIP_VERSION = r"SIP/[0-9]+\.[0-9]+"

# -- URIs (RFC 3261 §19.1.1, §25.1) --
#: escaped = "%" HEXDIG HEXDIG
ESCAPED = r"%[0-9A-Fa-f]{2}"
#: unreserved = alphanum / mark (§25.1)
UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
# Runs of plain characters are matched possessively (`++`): none of these classes holds the
# character that ends the part, so giving characters back could never help a match, and
# matching a run at once is much faster than one character at a time.
#: user = 1*( unreserved / escaped / user-unreserved ) (§25.1)
URI_USER = rf"(?:[{UNRESERVED}&=+$,;?/]++|{ESCAPED})+"
#: password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
URI_PASSWORD = rf"(?:[{UNRESERVED}&=+$,]++|{ESCAPED})*"
#: 1*paramchar, paramchar = param-unreserved / unreserved / escaped
PARAM_CHARS = rf"(?:[{UNRESERVED}\[\]/:&+$]++|{ESCAPED})+"
#: 1*( hnv-unreserved / unreserved / escaped ), for hname and hvalue
HNV_CHARS = rf"(?:[{UNRESERVED}\[\]/?:+$]++|{ESCAPED})+"
#: uri-parameters = *( ";" uri-parameter )
URI_PARAMS = rf"(?:;{PARAM_CHARS}(?:={PARAM_CHARS})?)*"
#: headers = "?" header *( "&" header ), without the "?"
URI_HEADERS = rf"{HNV_CHARS}=(?:{HNV_CHARS})?(?:&{HNV_CHARS}=(?:{HNV_CHARS})?)*"
#: any URI pushinject accepts, as one pattern (for checking without building)
URI_PATTERN = (
    rf"(?:[Ss][Ii][Pp][Ss]?:(?:{URI_USER}(?::{URI_PASSWORD})?@)?{HOST}(?::{PORT16})?"
    rf"{URI_PARAMS}(?:\?{URI_HEADERS})?"
    rf"|[Tt][Ee][Ll]:\+?[0-9A-Fa-f*#\-.()]+(?:;[A-Za-z0-9\-]+(?:=[^;<>\s]+)?)*"
    rf"|(?![Ss][Ii][Pp][Ss]?:|[Tt][Ee][Ll]:)[A-Za-z][A-Za-z0-9+\-.]*:[^\s<>\"]+)"
)
