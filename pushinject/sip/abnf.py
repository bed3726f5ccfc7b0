"""RFC 3261 §25 grammar fragments as regular-expression strings.

Each fragment names the ABNF rule it encodes. They work on header text after line folding has
been undone (RFC 3261 §7.3.1), so linear white space is just spaces and tabs here.
"""

from __future__ import annotations

__all__ = [
    "WS", "LWS1", "TOKEN", "WORD", "QUOTED_STRING", "HOST", "PORT", "PORT16", "GEN_VALUE",
    "GENERIC_PARAM",
    "PARAMS", "CALLID", "DIGITS", "METHOD", "RFC1123_DATE", "SIP_VERSION",
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
