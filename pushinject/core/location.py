"""The location service: a registrar (RFC 3261 §10.3) raising OpenSIPS usrloc contact events.

Theory of operation. `LocationService.register(request, source, now)` runs the steps of RFC
3261 §10.3 on one REGISTER and returns a `RegisterResult`: the response to send and the
`ContactEvent` list it caused, in the order usrloc raises them (EVT-8 to EVT-10). Nothing is changed
unless the whole request succeeds (§10.3 step 7: all bindings or none).

1. The AoR comes from the To URI; `aor_of` keys it as ``user`` or ``user@domain`` (EVT-11). A
   registrar with a `RegistrarConfig.domain` answers 404 for another domain (§10.3 step 3/5).
2. ``Contact: *`` must be alone and come with ``Expires: 0``, else 400; it removes every
   binding of the AoR (§10.3 step 6). No Contact at all is a query: 200 with the bindings.
   Refusals carry OpenSIPS's `P-Registrar-Error` text where it has one.
3. Each contact's expiry is its ``expires`` parameter, else the Expires header, else
   `default_expires`; a non-zero value below `min_expires` is refused with 423 and a
   Min-Expires header (§10.3 step 7; OpenSIPS instead raises it to the minimum, which
   `raise_short_expires` models); above `max_expires` it is shortened.
4. A contact finds its existing binding by, in this order: RFC 8599 pn-* parameters when push
   support is on and the contact carries every `match_pn_params` (PUSH-4, OpenSIPS
   ``pn_ct_match_params``); ``+sip.instance`` and ``reg-id`` (RFC 5626 §6, whose 200 then
   carries ``Require: outbound``; the instance alone with `outbound` off, or without
   ``reg-id``: RFC 5627, Kamailio, KAM-18; not with `match_instance` off, as in OpenSIPS,
   OSIPS-33); the URI compared by RFC 3261 §19.1.4. Found and the Call-ID equal with a CSeq
   not higher: the update is aborted and the request fails with 500 (§10.3 step 7;
   `stale_cseq="opensips"` gives OpenSIPS's 400 for a lower CSeq and ignores a repeated one).
   Otherwise expires 0 removes it (DELETE), a found one is refreshed (UPDATE, keeping its
   `ruid`) and a new one inserted (INSERT) — EVT-9: a pn-matched contact whose host or port
   changed is an UPDATE.
5. RFC 8599 (PUSH-8 to PUSH-10), when `pn_providers` is not empty: an unsupported
   ``pn-provider`` value, or a supported one missing a matching parameter, gets 555;
   ``pn-provider`` with no value (a capability query) lists every supported PNS in
   Feature-Caps; a supported PNS gets
   ``Feature-Caps: *;+sip.pns="<pns>"`` on the 200, with ``+sip.pnsreg="<seconds>"`` when
   the contact carried ``+sip.pnsreg``. A REGISTER whose Feature-Caps already names the PNS
   is handled upstream: no Feature-Caps, no 555, still matched on pn-* parameters.
6. Path (RFC 3327 §5.3): stored with the binding; echoed on the 200 when the UA lists
   ``path`` in Supported (``lazy``); ``strict`` rejects a Path without it with 420.
7. The 200 lists every valid binding with its remaining seconds (§10.3 step 8).
8. Each binding records where its REGISTER came from (source, transport, the driver's
   connection). It keeps that source as its `received` address, where branches go, only with
   `route_to_source` (NAT handling, ROUTE-2) or for an RFC 5626 flow (ROUTE-3); otherwise
   branches go to the Contact URI (ROUTE-1). `connection_closed` forgets a closed connection
   (ROUTE-6) and marks the RFC 5626 flows over it failed (`flow_failed`, ROUTE-7) until a
   refresh or their removal.

Bindings are valid while ``now < expires_at``; `get_timer()` is the earliest deadline and
`handle_timer(now)` removes what has expired, raising DELETE events. A REGISTER first expires
the stale bindings of its own AoR, so a binding that lapsed and comes back is an INSERT. With
`refresh_before` set, a push binding that does not refresh itself (no ``+sip.pnsreg``) raises
one `E_UL_CONTACT_REFRESH` (``reg-refresh``) that many seconds before it expires (RFC 8599
§5.5, EVT-10). `max_contacts` caps the bindings of an AoR (503). `refresh_event` builds the
``ini-<METHOD>`` refresh a waiting request asks for, `needs_push` says whether to (OSIPS-16).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple

from pushinject.core.bindings import PN_PARAMS, Binding, PushParams
from pushinject.core.contact_events import (
    E_UL_CONTACT_DELETE,
    E_UL_CONTACT_INSERT,
    E_UL_CONTACT_REFRESH,
    E_UL_CONTACT_UPDATE,
    ContactEvent,
    ContactParams,
    refresh_params,
)
from pushinject.errors import LocalProtocolError
from pushinject.sip import make_response

if TYPE_CHECKING:
    from pushinject.core.ids import IdSource
    from pushinject.core.types import Address
    from pushinject.sip import URI, Contact, NameAddr, Request, Response

__all__ = [
    "PushParams",
    "Binding",
    "ContactEvent",
    "RegistrarConfig",
    "RegisterResult",
    "LocationService",
]


@dataclass
class RegistrarConfig:
    """How the registrar behaves; defaults follow OpenSIPS registrar/usrloc where it has one."""

    #: the domain this registrar is responsible for; None accepts any (RFC 3261 §10.3 step 3)
    domain: str | None = None
    #: usrloc `use_domain`: the AoR key is user@domain instead of user (EVT-11)
    use_domain: bool = False
    #: expiry when the REGISTER gives none (OpenSIPS `default_expires`)
    default_expires: int = 3600
    #: shortest accepted non-zero expiry (OpenSIPS `min_expires`); below it: 423 (§10.3 step 7)
    min_expires: int = 60
    #: longest expiry granted; None for no limit (OpenSIPS `max_expires` 0)
    max_expires: int | None = None
    #: OpenSIPS behaviour: raise a short expiry to `min_expires` instead of answering 423
    raise_short_expires: bool = False
    #: RFC 8599 push notification services supported (OpenSIPS `pn_providers`); () is off
    pn_providers: tuple[str, ...] = ()
    #: contact URI parameters a push binding is identified by (OpenSIPS `pn_ct_match_params`)
    match_pn_params: tuple[str, ...] = PN_PARAMS
    #: seconds advertised in `+sip.pnsreg` (OpenSIPS `pn_pnsreg_interval`, RFC 8599 §5.5)
    pnsreg_interval: int = 130
    #: a push contact refreshed less than this many seconds ago is branched without a push
    #: (OpenSIPS `pn_skip_pn_interval`, OSIPS-15, OSIPS-16)
    pn_skip_interval: float = 0.0
    #: raise `E_UL_CONTACT_REFRESH` (reason ``reg-refresh``) this many seconds before a push
    #: binding without `+sip.pnsreg` expires, so that a push makes the device refresh in time
    #: (RFC 8599 §5.5: at least 120 s; OpenSIPS `contact_refresh_timer` with
    #: `pn_trigger_interval`, EVT-10, OSIPS-15); None: off, as in OpenSIPS
    refresh_before: float | None = None
    #: most bindings an AoR may hold (OpenSIPS `max_contacts`); more is refused with 503
    max_contacts: int | None = None
    #: a refresh from the same Call-ID whose CSeq is not higher: "rfc3261" fails the request
    #: with 500 (§10.3 step 7); "opensips" answers a lower CSeq 400 and treats the same CSeq
    #: as a retransmission that changes nothing (registrar `update_contacts`)
    stale_cseq: str = "rfc3261"
    #: RFC 3327 Path handling: "off", "lazy" or "strict" (OpenSIPS `path_mode`)
    path_mode: str = "lazy"
    #: RFC 5626 outbound: a binding is one flow, ``+sip.instance`` plus ``reg-id``, and the 200
    #: says ``Require: outbound``; off, ``reg-id`` is ignored and the instance alone identifies
    #: the binding (RFC 5627)
    outbound: bool = True
    #: NAT handling (ROUTE-2): keep the REGISTER's source as the binding's `received` address
    #: when it differs from the contact's, and send branches there, over the REGISTER's
    #: connection (OpenSIPS `fix_nated_register` with registrar `received_avp`, Kamailio
    #: nathelper with `received_avp`); off, as in both proxies unless a script turns it on:
    #: branches go to the Contact URI (ROUTE-1). RFC 5626 flows ignore it (ROUTE-3).
    route_to_source: bool = False
    #: a contact with ``+sip.instance`` that is no RFC 5626 flow refreshes the binding of the
    #: same instance whatever its URI (RFC 5627; Kamailio's registrar, KAM-18); off, only an
    #: equal Contact URI does, and a device back from another address gets a second binding
    #: and raises INSERT (OpenSIPS's usrloc, `matching_mode` 0, OSIPS-33)
    match_instance: bool = True
    #: the usrloc table name, raised as the events' `domain` parameter (EVT-8)
    table: str = "location"
    #: the listening socket raised as the events' `socket` parameter (EVT-8)
    socket: str = "udp:127.0.0.1:5060"

    def __post_init__(self) -> None:
        if self.stale_cseq not in ("rfc3261", "opensips"):
            raise ValueError(f"stale_cseq must be rfc3261 or opensips, not {self.stale_cseq!r}")
        if self.path_mode not in ("off", "lazy", "strict"):
            raise ValueError(f"path_mode must be off, lazy or strict, not {self.path_mode!r}")
        if self.min_expires < 0 or (self.max_expires is not None
                                    and self.max_expires < self.min_expires):
            raise ValueError("expiry limits must satisfy 0 <= min_expires <= max_expires")


#: OpenSIPS registrar names the reason of a refusal in this header (`P-Registrar-Error`)
_ERROR_HEADER = "P-Registrar-Error"
_STAR_CONTACTS = "* used in contact and more than 1 contact"
_STAR_EXPIRES = "* used in contact and expires is not zero"
_INVALID_CSEQ = "Invalid CSeq number"
_TOO_MANY = "Too many registered contacts"


@dataclass(frozen=True, init=False)
class RegisterResult:
    """What one REGISTER produced: the response to send and the events raised, in order."""

    response: Response
    events: tuple[ContactEvent, ...] = ()

    def __init__(self, response: Response, events: tuple[ContactEvent, ...] = ()) -> None:
        put = object.__setattr__  # as `Binding.__init__`
        put(self, "response", response)
        put(self, "events", events)


class _Plan(NamedTuple):
    """One binding change a REGISTER asks for, applied only if all of them are valid."""

    kind: str  # INSERT / UPDATE / DELETE
    old: Binding | None
    new: Binding | None


class _Shared(NamedTuple):
    """What each binding a REGISTER creates takes from the request itself (§10.3 step 7)."""

    call_id: str
    cseq: int
    path: tuple[str, ...]
    user_agent: str | None


class _Reject(Exception):
    """A REGISTER that fails as a whole: status, reason and extra headers of the reply."""

    def __init__(self, status: int, reason: str | None = None,
                 extra: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(status)
        self.status = status
        self.reason = reason
        self.extra = tuple(extra)


def _has_option(request: Request, header: str, tag: str) -> bool:
    return any(v.strip().lower() == tag for value in request.get_all(header)
               for v in value.split(","))


def _default_port(uri: URI) -> int:
    return 5061 if getattr(uri, "scheme", "sip") == "sips" else 5060


def _received(uri: URI, source: Address, transport: str) -> str | None:
    """``sip:host:port`` of the REGISTER's `source` when it differs from the contact's
    address, else None (usrloc leaves `received` empty when it equals the contact; ROUTE-2)."""
    host, port = source
    c_host = str(getattr(uri, "host", "")).lower()
    c_port = getattr(uri, "port", None) or _default_port(uri)
    if port == c_port and host.lower() == c_host:
        return None
    received = f"sip:{host}:{port}"
    if transport.upper() != "UDP":
        received += f";transport={transport.lower()}"
    return received


def _position(bindings: list[Binding], binding: Binding) -> int:
    """The index of `binding` itself in `bindings` (bindings are unique by `ruid`, so this is
    the index `==` would find, without comparing the bindings before it field by field)."""
    for i, held in enumerate(bindings):
        if held is binding:
            return i
    raise ValueError(f"{binding!r} is not held")


def _q_rank(binding: Binding) -> float:
    """Sort key putting the highest q first; no q ranks below every explicit q (usrloc
    `Q_UNSPECIFIED` is -1)."""
    return -(binding.q if binding.q is not None else -1.0)


class LocationService:
    """The registrar and location table (RFC 3261 §10.3), sans-I/O.

    >>> from pushinject.core.ids import CountingIds
    >>> from pushinject.sip import parse_uri
    >>> loc = LocationService(RegistrarConfig(), CountingIds("reg"))
    >>> loc.aor_of(parse_uri("sip:bob@b.example")), loc.get_timer()
    ('bob', None)
    """

    def __init__(self, config: RegistrarConfig, ids: IdSource) -> None:
        self.config = config
        self.ids = ids
        self._records: dict[str, list[Binding]] = {}
        self._order: dict[str, int] = {}
        self._seq = 0
        self._refreshed: set[tuple[str, float]] = set()
        #: ruid -> its binding, and a heap of (deadline, tie-break, ruid): expiry and refresh
        #: deadlines, checked against the binding when they come up (stale ones are skipped)
        self._live: dict[str, Binding] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._pushed = 0
        #: connection id -> the ruids of the bindings registered over it
        self._by_connection: dict[int, set[str]] = {}
        #: ruids of RFC 5626 flows whose connection closed, until refreshed or removed (ROUTE-7)
        self._failed_flows: set[str] = set()

    # -- keys ----------------------------------------------------------------------------------

    def aor_of(self, uri: URI) -> str:
        """The AoR key of a URI: the user part, or ``user@domain`` with `use_domain` (EVT-11).

        A URI without a user part is keyed by its host alone.
        """
        user: str | None = getattr(uri, "user", None)
        if user is not None and not self.config.use_domain:
            return user
        host = str(getattr(uri, "host", "")).lower()
        return host if user is None else f"{user}@{host}"

    # -- REGISTER ------------------------------------------------------------------------------

    def register(self, request: Request, source: Address, now: float, *,
                 transport: str = "UDP", bflags: int = 0,
                 connection: int | None = None) -> RegisterResult:
        """Process one REGISTER received from `source` at `now` (RFC 3261 §10.3).

        Returns the response (200 with the current bindings, or the error) and the contact
        events it raised. Expired bindings of the AoR are deleted first (DELETE events). Each
        binding records where the REGISTER came from: `source`, `transport` and the driver's
        `connection` (None over UDP).
        """
        if request.method != "REGISTER":
            raise LocalProtocolError(f"the registrar takes REGISTER, not {request.method}")
        aor = self.aor_of(request.to.uri)
        events = self._expire_aor(aor, now)
        try:
            plans, caps, outbound, paths = self._plan(request, aor, source, now, transport,
                                                      bflags, connection)
        except _Reject as rej:
            response = self._reply(request, rej.status, rej.reason, rej.extra)
            return RegisterResult(response, tuple(events))
        events += self._commit(aor, plans, now)
        extra: list[tuple[str, str]] = [("Contact", b.contact_value(now))
                                        for b in self.lookup(aor, now)]
        if paths is None:  # not read by `_plan` (``Contact: *``)
            paths = request.paths
        if paths and self.config.path_mode != "off" and _has_option(
            request, "Supported", "path"
        ):
            extra += [("Path", str(p)) for p in paths]
        extra += [("Feature-Caps", c) for c in caps]
        if outbound:
            extra.append(("Require", "outbound"))  # RFC 5626 §6: outbound was applied
        return RegisterResult(self._reply(request, 200, None, extra), tuple(events))

    def _reply(self, request: Request, status: int, reason: str | None,
               extra: Sequence[tuple[str, str]]) -> Response:
        return make_response(request, status, reason, to_tag=self.ids.tag(), extra=tuple(extra))

    def _plan(self, request: Request, aor: str, source: Address, now: float,
              transport: str, bflags: int, connection: int | None = None
              ) -> tuple[list[_Plan], list[str], bool, list[NameAddr] | None]:
        """The changes the REGISTER asks for, the Feature-Caps of its 200, whether RFC 5626
        outbound was applied (`outbound` on and a contact with both ``+sip.instance`` and
        ``reg-id``), and the Path values (None when not read). One pass over the contacts;
        raises `_Reject` when the request fails as a whole."""
        cfg = self.config
        if cfg.domain is not None and (
            str(getattr(request.to.uri, "host", "")).lower() != cfg.domain.lower()
        ):
            raise _Reject(404, "Not Found")
        contacts = request.contacts  # a list of its own
        if any(c.star for c in contacts):
            if len(contacts) != 1:
                raise _Reject(400, "Bad Request", [(_ERROR_HEADER, _STAR_CONTACTS)])
            if request.expires != 0:
                raise _Reject(400, "Bad Request", [(_ERROR_HEADER, _STAR_EXPIRES)])
            return self._plan_star(request, aor), [], False, None
        paths = request.paths
        if paths and cfg.path_mode == "strict" and not _has_option(
            request, "Supported", "path"
        ):
            raise _Reject(420, "Bad Extension", [("Unsupported", "path")])
        working = list(self._records.get(aor, ()))
        plans: list[_Plan] = []
        caps: list[str] = []
        outbound = False
        shared: _Shared | None = None  # what every new binding takes from the request
        for contact in contacts:
            expires = self._expires(request, contact)
            pn_match, contact_caps = self._inspect_pn(request, contact)
            for cap in contact_caps:
                if cap not in caps:
                    caps.append(cap)
            instance = contact.instance
            reg_id = contact.reg_id
            if instance is not None and reg_id is not None and cfg.outbound:
                outbound = True
            old = self._find(working, contact, pn_match, instance, reg_id) if working else None
            if old is not None and old.call_id == request.call_id and (
                request.cseq.number <= old.cseq
            ):
                if cfg.stale_cseq == "rfc3261":
                    raise _Reject(500, "Server Internal Error")
                if request.cseq.number < old.cseq:
                    raise _Reject(400, "Bad Request", [(_ERROR_HEADER, _INVALID_CSEQ)])
                continue  # OpenSIPS: the same CSeq again is a retransmission, left alone
            if expires == 0:
                if old is not None:
                    del working[_position(working, old)]
                    plans.append(_Plan("DELETE", old, None))
                continue
            if shared is None:
                shared = _Shared(request.call_id, request.cseq.number,
                                 tuple(map(str, paths)),
                                 request.get("User-Agent"))
            new = self._binding(shared, contact, instance, reg_id, aor, old, source, now,
                                expires, transport, bflags, connection)
            if old is None:
                working.append(new)
                plans.append(_Plan("INSERT", None, new))
            else:
                working[_position(working, old)] = new
                plans.append(_Plan("UPDATE", old, new))
        if cfg.max_contacts is not None and len(working) > cfg.max_contacts:
            raise _Reject(503, "Service Unavailable", [(_ERROR_HEADER, _TOO_MANY)])
        return plans, caps, outbound, paths

    def _plan_star(self, request: Request, aor: str) -> list[_Plan]:
        """§10.3 step 6: ``Contact: *`` removes each binding unless its CSeq check fails."""
        plans = []
        for old in self._records.get(aor, []):
            if old.call_id == request.call_id and request.cseq.number <= old.cseq:
                raise _Reject(500, "Server Internal Error")
            plans.append(_Plan("DELETE", old, None))
        return plans

    def _expires(self, request: Request, contact: Contact) -> int:
        cfg = self.config
        expires = contact.expires
        if expires is None:
            expires = request.expires
        if expires is None:
            expires = cfg.default_expires
        if expires != 0 and expires < cfg.min_expires:
            if not cfg.raise_short_expires:
                raise _Reject(423, "Interval Too Brief",
                              [("Min-Expires", str(cfg.min_expires))])
            expires = cfg.min_expires
        if cfg.max_expires is not None and expires > cfg.max_expires:
            expires = cfg.max_expires
        return expires

    def _inspect_pn(self, request: Request, contact: Contact) -> tuple[bool, list[str]]:
        """RFC 8599 §5.6.1 / OpenSIPS `pn_inspect_ct_params`: (match on pn-*?, Feature-Caps).

        Raises 555 for an unsupported PNS or a supported one missing a match parameter.
        """
        providers = self.config.pn_providers
        params = getattr(contact.uri, "params", {})
        if not providers or "pn-provider" not in params:
            return False, []
        upstream = self._handled_upstream(request)
        value = params.get("pn-provider")
        if not value:  # capability query for every PNS (PUSH-9)
            return False, [f'*;+sip.pns="{p}"' for p in providers if p not in upstream]
        if value in upstream:
            has_all = all(name in params for name in self.config.match_pn_params)
            return has_all, []
        if value not in providers:
            raise _Reject(555, "Push Notification Service Not Supported")
        is_query = "pn-prid" not in params and "pn-param" not in params
        if is_query:  # capability query for one PNS (PUSH-9)
            return False, [f'*;+sip.pns="{value}"']
        if not all(name in params for name in self.config.match_pn_params):
            raise _Reject(555, "Push Notification Service Not Supported")
        cap = f'*;+sip.pns="{value}"'
        if "+sip.pnsreg" in contact.params:
            cap += f';+sip.pnsreg="{self.config.pnsreg_interval}"'
        return True, [cap]

    @staticmethod
    def _handled_upstream(request: Request) -> set[str]:
        """The PNS names another proxy already announced in the REGISTER's Feature-Caps."""
        names: set[str] = set()
        for value in request.get_all("Feature-Caps"):
            for part in value.split(";"):
                key, _, val = part.strip().partition("=")
                if key.strip().lower() == "+sip.pns" and val:
                    names.add(val.strip().strip('"'))
        return names

    def _find(self, working: list[Binding], contact: Contact, pn_match: bool,
              instance: str | None, reg_id: int | None) -> Binding | None:
        """The existing binding this contact refreshes, if any (EVT-9, PUSH-4; RFC 5626 §6).

        `instance` and `reg_id` are the contact's own."""
        uri = contact.uri
        uri_params = getattr(uri, "params", {})
        flow = reg_id is not None and self.config.outbound
        by_instance = instance is not None and (flow or self.config.match_instance)
        for binding in working:
            if pn_match:
                other = getattr(binding.uri, "params", {})
                if all(name in other and other.get(name) == uri_params.get(name)
                       for name in self.config.match_pn_params):
                    return binding
                continue
            if by_instance:
                same_flow = (binding.reg_id == reg_id) or not self.config.outbound
                if binding.instance == instance and same_flow:
                    return binding
                continue
            if binding.uri == uri:
                return binding
        return None

    def _binding(self, shared: _Shared, contact: Contact, instance: str | None,
                 reg_id: int | None, aor: str, old: Binding | None, source: Address,
                 now: float, expires: int, transport: str, bflags: int,
                 connection: int | None) -> Binding:
        uri = contact.uri
        if uri is None:  # the star Contact, planned apart (`_plan_star`), binds nothing
            raise ValueError("the star Contact has no binding")
        received = None
        if self.config.route_to_source or (
            self.config.outbound and instance is not None and reg_id is not None
        ):  # ROUTE-2, ROUTE-3: the source is where branches go
            received = _received(uri, source, transport)
        uri_params = getattr(uri, "params", {})
        return Binding(
            ruid=old.ruid if old is not None else self.ids.token("ruid"),
            aor=aor,
            uri=uri,
            contact=str(contact),
            expires_at=now + expires,
            q=contact.q,
            instance=instance,
            reg_id=reg_id,
            call_id=shared.call_id,
            cseq=shared.cseq,
            path=shared.path,
            received=received,
            source=source,
            transport=transport.upper(),
            connection=connection,
            user_agent=shared.user_agent,
            socket=self.config.socket,
            bflags=bflags,
            pn=PushParams.from_uri(uri) if "pn-provider" in uri_params else None,
            pnsreg="+sip.pnsreg" in contact.params,
            updated_at=now,
        )

    def _commit(self, aor: str, plans: list[_Plan], now: float) -> list[ContactEvent]:
        record = self._records.setdefault(aor, [])
        events = []
        for plan in plans:
            if plan.kind == "INSERT":
                assert plan.new is not None
                record.append(plan.new)
                self._seq += 1
                self._order[plan.new.ruid] = self._seq
                self._track(plan.new)
                events.append(self._event(E_UL_CONTACT_INSERT, plan.new, now))
            elif plan.kind == "UPDATE":
                assert plan.old is not None and plan.new is not None
                record[_position(record, plan.old)] = plan.new
                self._unindex(plan.old)
                self._track(plan.new)
                events.append(self._event(E_UL_CONTACT_UPDATE, plan.new, now))
            else:
                assert plan.old is not None
                del record[_position(record, plan.old)]
                self._order.pop(plan.old.ruid, None)
                self._live.pop(plan.old.ruid, None)
                self._unindex(plan.old)
                self._refreshed.discard((plan.old.ruid, plan.old.expires_at))
                events.append(self._event(E_UL_CONTACT_DELETE, plan.old, now))
        if not record:
            del self._records[aor]
        return events

    def _unindex(self, binding: Binding) -> None:
        """Forget that `binding` was registered over its connection (and that its flow failed)."""
        self._failed_flows.discard(binding.ruid)
        if binding.connection is None:
            return
        ruids = self._by_connection.get(binding.connection)
        if ruids is not None:
            ruids.discard(binding.ruid)
            if not ruids:
                del self._by_connection[binding.connection]

    def connection_closed(self, connection: int) -> int:
        """The connection `connection` closed: the bindings registered over it stay, without
        it (RFC 5626 §5.3: a failed flow is not used again). Raises no contact event (the
        binding itself is unchanged for usrloc). Returns how many bindings it held."""
        ruids = self._by_connection.pop(connection, set())
        for ruid in sorted(ruids):
            old = self._live[ruid]
            if self.is_flow(old):  # ROUTE-7
                self._failed_flows.add(ruid)
            new = replace(old, connection=None)
            self._live[ruid] = new
            record = self._records[old.aor]
            record[_position(record, old)] = new
        return len(ruids)

    def is_flow(self, binding: Binding) -> bool:
        """Whether `binding` is an RFC 5626 flow: `+sip.instance` and `reg-id` with outbound on
        (ROUTE-3)."""
        return self.config.outbound and binding.instance is not None \
            and binding.reg_id is not None

    def fail_flow(self, binding: Binding) -> None:
        """Mark the RFC 5626 flow `binding` failed, as the closing of its connection does; for a
        replay, which sees no connection close (ROUTE-7, ROUTE-8)."""
        if self.is_flow(binding):
            self._failed_flows.add(binding.ruid)

    def flow_failed(self, binding: Binding) -> bool:
        """Whether `binding` is an RFC 5626 flow whose connection closed and that no
        registration has refreshed since (RFC 5626 §5.3, ROUTE-7)."""
        return binding.ruid in self._failed_flows

    def _event(self, name: str, binding: Binding, now: float) -> ContactEvent:
        return ContactEvent(name, binding, ContactParams(binding, self.config.table), now)

    # -- reading -------------------------------------------------------------------------------

    def bindings(self, aor: str) -> tuple[Binding, ...]:
        """Every stored binding of the AoR in insertion order (expired ones until removed)."""
        return tuple(self._records.get(aor, ()))

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """The valid bindings of the AoR, highest q first, then oldest first (usrloc order).

        A binding without q ranks below every explicit q (usrloc `Q_UNSPECIFIED` is -1).
        A record holds its bindings in insertion order (a refresh takes the place of the
        binding it replaces), so a stable sort by q alone keeps the oldest first among equals.
        """
        valid = []
        ranked = False  # bindings that all lack q are already in order
        for binding in self._records.get(aor, ()):
            if binding.valid(now):
                valid.append(binding)
                if binding.q is not None:
                    ranked = True
        if ranked and len(valid) > 1:
            valid.sort(key=_q_rank)
        return valid

    def aors(self) -> tuple[str, ...]:
        """Every AoR with at least one stored binding, sorted."""
        return tuple(sorted(self._records))

    def sql_only_lookup(self, aor: str, now: float) -> tuple[list[Binding], list[ContactEvent]]:
        """`lookup` as usrloc in ``db_mode`` 3 (sql-only) does it: the AoR's contacts are loaded
        from the database into a fresh in-memory record, and each load raises
        `E_UL_CONTACT_INSERT` although nothing registered (pitfall PIT-2; OpenSIPS
        #1573, #2617). A waiting call subscribed to INSERT gets phantom or duplicate branches.
        The table itself is unchanged.
        """
        found = self.lookup(aor, now)
        return found, [self._event(E_UL_CONTACT_INSERT, b, now) for b in found]

    def needs_push(self, binding: Binding, now: float) -> bool:
        """True when a request to `binding` should wake it with a push first (OSIPS-15, OSIPS-16).

        Only with push support on, for a binding with pn-* parameters, refreshed at least
        `pn_skip_interval` seconds ago.
        """
        return (bool(self.config.pn_providers) and binding.pn is not None
                and now - binding.updated_at >= self.config.pn_skip_interval)

    def refresh_event(self, binding: Binding, *, reason: str, req_callid: str,
                      now: float) -> ContactEvent:
        """The `E_UL_CONTACT_REFRESH` event asking for a push to `binding` (EVT-10, OSIPS-16).

        `reason` is e.g. ``ini-INVITE``; only RFC 8599 bindings get one.
        """
        if binding.pn is None:
            raise LocalProtocolError(f"{binding.ruid} has no RFC 8599 parameters to push to")
        params = refresh_params(binding, reason=reason, req_callid=req_callid,
                                domain=self.config.table)
        return ContactEvent(E_UL_CONTACT_REFRESH, binding, params, now)

    # -- time ----------------------------------------------------------------------------------

    def _refresh_at(self, binding: Binding) -> float | None:
        """When the reg-refresh push of `binding` is due, or None (RFC 8599 §5.5)."""
        before = self.config.refresh_before
        if (before is None or not self.config.pn_providers or binding.pn is None
                or binding.pnsreg or (binding.ruid, binding.expires_at) in self._refreshed):
            return None
        return binding.expires_at - before

    def _track(self, binding: Binding) -> None:
        self._live[binding.ruid] = binding
        if binding.connection is not None:
            self._by_connection.setdefault(binding.connection, set()).add(binding.ruid)
        self._pushed += 1
        heapq.heappush(self._heap, (binding.expires_at, self._pushed, binding.ruid))
        refresh_at = self._refresh_at(binding)
        if refresh_at is not None:
            self._pushed += 1
            heapq.heappush(self._heap, (refresh_at, self._pushed, binding.ruid))

    def _current(self, at: float, ruid: str) -> Binding | None:
        """The binding a heap entry still stands for, or None when it is stale."""
        binding = self._live.get(ruid)
        if binding is None or (at != binding.expires_at and at != self._refresh_at(binding)):
            return None
        return binding

    def get_timer(self) -> float | None:
        """The earliest binding expiry or refresh-push deadline, or None when nothing waits
        (stale heap entries, as `_current` finds them, are dropped on the way)."""
        heap, live = self._heap, self._live
        while heap:
            at, _, ruid = heap[0]
            binding = live.get(ruid)
            if binding is not None and (at == binding.expires_at
                                        or at == self._refresh_at(binding)):
                return at
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> list[ContactEvent]:
        """Raise the due refresh events (``reg-refresh``, EVT-10), then remove every binding with
        ``expires_at <= now``, one DELETE event each."""
        due: list[tuple[float, int, Binding]] = []
        expired: set[str] = set()
        while self._heap and self._heap[0][0] <= now:
            at, _, ruid = heapq.heappop(self._heap)
            binding = self._current(at, ruid)
            if binding is None:
                continue
            if binding.valid(now):  # a refresh deadline may be due
                if at == self._refresh_at(binding):
                    due.append((at, self._order.get(ruid, 0), binding))
            else:
                expired.add(binding.aor)
        events: list[ContactEvent] = []
        for _, _, binding in sorted(due, key=lambda d: (d[0], d[1])):  # deadline, then age
            self._refreshed.add((binding.ruid, binding.expires_at))
            events.append(self.refresh_event(binding, reason="reg-refresh", req_callid="",
                                             now=now))
        for aor in sorted(expired):
            events += self._expire_aor(aor, now)
        return events

    def _expire_aor(self, aor: str, now: float) -> list[ContactEvent]:
        gone = [b for b in self._records.get(aor, ()) if not b.valid(now)]
        if not gone:
            return []
        return self._commit(aor, [_Plan("DELETE", b, None) for b in gone], now)

    def __repr__(self) -> str:
        count = sum(len(r) for r in self._records.values())
        return f"LocationService({len(self._records)} AoRs, {count} bindings)"
