"""The value types of the location service: a registered binding and its push parameters.

A `Binding` is one Contact of one address-of-record, as the registrar stores it (RFC 3261
§10.3 step 7): the contact URI, when it expires, the Call-ID/CSeq that last touched it, and the
extension data the proxy needs later: q (§16.6), `+sip.instance`/`reg-id` (RFC 5626 §6), the
Path vector (RFC 3327 §5.3), where the REGISTER came from and the `received` address branches
go to (ROUTE-2, ROUTE-3), and the RFC 8599
push parameters (`PushParams`, §4.1).

Bindings are frozen; the registrar replaces one by a refreshed copy that keeps its `ruid`.
The registrar builds one per registered contact, so `Binding.__init__` is written out: it sets
the fields through one local name for ``object.__setattr__``, where a frozen dataclass's
generated `__init__` looks that function up anew for each of the 21 fields. (Writing the
instance dictionary instead would be faster still, but gives every binding a dictionary of its
own, some 280 bytes more each.) Equality, hashing, the fields, `dataclasses.replace` and the
refusal of assignment are the dataclass's own.
`pushinject.core.location` re-exports both names (the contract others import from).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pushinject.core.types import Address
    from pushinject.sip import URI

__all__ = ["PN_PARAMS", "PushParams", "Binding", "format_q"]

#: the RFC 8599 §4.1 contact URI parameters that identify a push subscription
PN_PARAMS = ("pn-provider", "pn-prid", "pn-param")


@dataclass(frozen=True)
class PushParams:
    """The RFC 8599 §4.1.1 contact URI parameters: PNS type, push resource id, PNS parameter.

    >>> from pushinject.sip import parse_uri
    >>> PushParams.from_uri(parse_uri("sip:a@h;pn-provider=apns;pn-prid=00fc;pn-param=T.b.voip"))
    PushParams(provider='apns', prid='00fc', param='T.b.voip')
    >>> PushParams.from_uri(parse_uri("sip:a@h")) is None
    True
    """

    provider: str | None
    prid: str | None
    param: str | None

    @classmethod
    def from_uri(cls, uri: URI) -> PushParams | None:
        """Read the pn-* parameters of a contact URI; None when it has no `pn-provider`."""
        params = getattr(uri, "params", {})
        if "pn-provider" not in params:
            return None
        return cls(params.get("pn-provider"), params.get("pn-prid"), params.get("pn-param"))


def format_q(q: float) -> str:
    """Write a q-value the short way (RFC 3261 §20.10: up to three decimals).

    >>> format_q(1.0), format_q(0.5), format_q(0.125), format_q(0.0)
    ('1', '0.5', '0.125', '0')
    """
    text = f"{q:.3f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True, kw_only=True, init=False)
class Binding:
    """One registered contact of an address-of-record (RFC 3261 §10.3; OpenSIPS `ucontact`).

    Attributes
    ----------
    ruid : str
        Record id, minted once when the binding is inserted and kept by refreshes (INJ-5).
    aor : str
        The address-of-record key, `user` or `user@domain` depending on `use_domain` (EVT-11).
    uri : URI
        The contact URI (with any pn-* parameters).
    contact : str
        The Contact header value as the REGISTER carried it.
    expires_at : float
        Virtual time at which the binding stops being valid (it is valid while ``now <
        expires_at``, as usrloc's ``VALID_CONTACT``).
    q : float or None
        The contact's q parameter, None when it gave none.
    instance, reg_id
        RFC 5626 `+sip.instance` (without quotes and angle brackets) and `reg-id`.
    call_id, cseq
        Of the REGISTER that last inserted or refreshed it (§10.3 step 7).
    path : tuple of str
        The Path header values of that REGISTER, in order (RFC 3327).
    received : str or None
        ``sip:host:port`` of the REGISTER's source when it differs from the contact address and
        branches go there: NAT handling on (ROUTE-2) or an RFC 5626 flow (ROUTE-3); else None.
    source : (host, port) or None
        Where the REGISTER that last inserted or refreshed it came from.
    transport : str
        The transport it came over ("UDP", "TCP", "TLS", ...).
    connection : int or None
        The driver's id of the connection it came on (`Received.connection`); None over UDP
        and once that connection closed.
    user_agent, socket, bflags
        OpenSIPS contact attributes raised with the events (EVT-8).
    pn : PushParams or None
        RFC 8599 push parameters of the contact URI.
    pnsreg : bool
        The contact carried the `+sip.pnsreg` feature tag (RFC 8599 §4.1.4).
    updated_at : float
        Virtual time of the last insert or refresh.
    """

    ruid: str
    aor: str
    uri: URI
    contact: str
    expires_at: float
    q: float | None = None
    instance: str | None = None
    reg_id: int | None = None
    call_id: str = ""
    cseq: int = 0
    path: tuple[str, ...] = ()
    received: str | None = None
    source: Address | None = None
    transport: str = "UDP"
    connection: int | None = None
    user_agent: str | None = None
    socket: str = ""
    bflags: int = 0
    pn: PushParams | None = None
    pnsreg: bool = False
    updated_at: float = 0.0

    def __init__(
        self, *, ruid: str, aor: str, uri: URI, contact: str, expires_at: float,
        q: float | None = None, instance: str | None = None, reg_id: int | None = None,
        call_id: str = "", cseq: int = 0, path: tuple[str, ...] = (),
        received: str | None = None, source: Address | None = None, transport: str = "UDP",
        connection: int | None = None, user_agent: str | None = None, socket: str = "",
        bflags: int = 0, pn: PushParams | None = None, pnsreg: bool = False,
        updated_at: float = 0.0,
    ) -> None:
        put = object.__setattr__  # the fields in their declared order
        put(self, "ruid", ruid)
        put(self, "aor", aor)
        put(self, "uri", uri)
        put(self, "contact", contact)
        put(self, "expires_at", expires_at)
        put(self, "q", q)
        put(self, "instance", instance)
        put(self, "reg_id", reg_id)
        put(self, "call_id", call_id)
        put(self, "cseq", cseq)
        put(self, "path", path)
        put(self, "received", received)
        put(self, "source", source)
        put(self, "transport", transport)
        put(self, "connection", connection)
        put(self, "user_agent", user_agent)
        put(self, "socket", socket)
        put(self, "bflags", bflags)
        put(self, "pn", pn)
        put(self, "pnsreg", pnsreg)
        put(self, "updated_at", updated_at)

    def valid(self, now: float) -> bool:
        """True while ``now < expires_at`` (usrloc ``VALID_CONTACT``)."""
        return now < self.expires_at

    def remaining(self, now: float) -> int:
        """Seconds left, rounded up, as the 200 to a REGISTER lists them (§10.3 step 8)."""
        return max(0, math.ceil(self.expires_at - now))

    def uri_without_pn(self) -> URI:
        """The contact URI with the RFC 8599 pn-* parameters removed, as OpenSIPS forwards a
        woken push contact (OSIPS-17; RFC 8599 §4.1 keeps them out of other requests)."""
        without = getattr(self.uri, "without_params", None)
        if without is None:
            return self.uri
        result: URI = without(*PN_PARAMS, "pn-purr")
        return result

    def contact_value(self, now: float) -> str:
        """The Contact value a 200 to REGISTER lists for this binding (§10.3 step 8).

        The URI, its q when given, its instance and reg-id, and the remaining expires.
        """
        text = f"<{self.uri}>"
        if self.q is not None:
            text += f";q={format_q(self.q)}"
        if self.instance is not None:
            text += f';+sip.instance="<{self.instance}>"'
        if self.reg_id is not None:
            text += f";reg-id={self.reg_id}"
        left = math.ceil(self.expires_at - now)  # `remaining`, written out
        return f"{text};expires={left if left > 0 else 0}"

    def __repr__(self) -> str:
        return f"Binding({self.ruid} {self.aor} -> {self.uri}, expires_at={self.expires_at:g})"
