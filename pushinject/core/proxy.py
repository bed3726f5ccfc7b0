"""The proxy: a stateful SIP proxy with a registrar, event subscriptions and a routing script.

Theory of operation
-------------------
`Proxy.handle(event, now)` takes one input and returns the actions to perform;
`get_timer()` / `handle_timer(now)` drive every deadline (house style, principles 1 and 2).

What the core does by itself, before any script runs:
- an INVITE retransmission goes to its server transaction; the ACK of a non-2xx final goes to
  it too (RFC 3261 §17.2.1, §17.2.3); after a 2xx the transaction stays Accepted until Timer L
  and absorbs INVITE retransmissions without an answer, while an ACK is forwarded as the end
  to end request it is (RFC 6026 §7.1, TXN-7);
- a CANCEL that matches a context is answered 200 at once and the context cancels its branches
  (RFC 3261 §16.10, CTX-9); one that matches nothing is forwarded statelessly;
- responses are matched to branches by the top Via branch (RFC 3261 §17.1.3); responses that
  match no transaction are forwarded statelessly (RFC 3261 §16.11); a request forwarded
  statelessly again (a retransmission) goes on with the branch its first copy had (CTX-12);
- a request with Max-Forwards 0 is answered 483 (RFC 3261 §16.3 step 3); the top Via gets
  `received`/`rport` (RFC 3261 §18.2.1, RFC 3581); the proxy's own top Route is removed
  (loose routing, RFC 3261 §16.4);
- a request whose Request-URI is the proxy's own address with no Route left is for the proxy
  itself (RFC 3261 §16.4, §16.5): inside a dialog (To tag) it is answered 481, an ACK dropped
  (CTX-10); a request forwarded to the proxy's own address is never sent (CTX-11);
- a retransmission of a non-INVITE request the proxy answered itself (REGISTER...) is absorbed
  by its non-INVITE server transaction, which sends the last response again (TXN-6).
Every other request runs the script's `request_route` (see `pushinject.core.script_api`).

Connections: a response goes back on the transport and connection its request came on
(ROUTE-5); a branch to a binding goes to its Contact, or to the REGISTER's source with NAT
handling or for an RFC 5626 flow, reusing the REGISTER's connection when it goes back there
(ROUTE-1 to ROUTE-4); `ConnectionClosed` fails the branches sent on it (ROUTE-6).

Contexts are retired, and their transaction ids freed (so a late `t_inject_branches` gets -1,
OSIPS-8, and tsilo records go, KAM-2), once the final response was sent and every transaction has
terminated. Their `CallSummary` stays available through `summaries()`.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

from pushinject.core.actions import Log, Send
from pushinject.core.admission import (
    Defect, InputCounts, rejection, request_defect, response_defect, salvage, unreadable,
)
from pushinject.core.context import ContextConfig, ResponseContext
from pushinject.core.events import ConnectionClosed, TransportFailed, Unparsed
from pushinject.core.ids import MAGIC_COOKIE
from pushinject.core.injection import contact_route, duplicate_reason
from pushinject.core.location import LocationService, RegistrarConfig
from pushinject.core.messages import (
    forwarded_request, host_port, received_via, record_route_value, response_destination,
    top_via, top_via_text, uri_address, via_value, with_top_via,
)
from pushinject.core.script_api import ScriptContext
from pushinject.core.server_nict import NistState, NonInviteServerTransaction
from pushinject.core.server_txn import TRANSITIONS as SERVER_TRANSITIONS
from pushinject.core.server_txn import ServerInput, ServerTransaction
from pushinject.core.subscriptions import Subscriptions
from pushinject.core.timers import TimerQueue, TimerValues
from pushinject.core.types import Dedup, Selection
from pushinject.sip import make_response, parse_uri, parse_via

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pushinject.core.actions import Action
    from pushinject.core.events import Event
    from pushinject.core.ids import IdSource
    from pushinject.core.location import Binding, ContactEvent
    from pushinject.core.script_api import Script
    from pushinject.core.summary import CallSummary
    from pushinject.core.types import Address, TxnId
    from pushinject.sip import Request, Response, Via

__all__ = ["ProxyConfig", "Proxy"]

_RELIABLE = frozenset({"tcp", "tls", "sctp", "ws", "wss"})


@dataclass(frozen=True, kw_only=True)
class ProxyConfig(ContextConfig):
    """Everything a preset can change: the knobs of its response contexts (`ContextConfig`,
    whose defaults are OpenSIPS's) and those of the proxy around them."""

    #: the registrar's settings (`use_domain`, expiry bounds, pn providers...)
    registrar: RegistrarConfig = field(default_factory=RegistrarConfig)
    #: which injected contacts are skipped as duplicates (OSIPS-11, INJ-3 to INJ-5)
    dedup: Dedup = Dedup.NONE
    #: `lookup()` asks for a push for every contact with pn-* parameters (EVT-10 `ini-INVITE`)
    push_on_lookup: bool = True
    #: tsilo `use_domain`: key stored transactions by full URI instead of user (KAM-2)
    tsilo_use_domain: bool = False
    #: keep the summaries of retired calls
    keep_summaries: bool = True
    #: answer a copy of the INVITE that comes after the 2xx with that 2xx again, as Kamailio's
    #: and OpenSIPS's tm do, where RFC 6026 absorbs it in silence (TXN-7)
    resend_2xx: bool = False


#: configs moved to another address by `Proxy.set_address`, by (id of the config, host, port):
#: (the config, the moved one). Both are frozen: a driver that builds a
#: proxy per call from one config (a replay) moves it once.
_MOVED: dict[tuple[int, str, int], tuple[ProxyConfig, ProxyConfig]] = {}


def _via_key(via: Via) -> tuple[str, str, int | None]:
    """The server transaction key: branch and sent-by of the top Via (RFC 3261 §17.2.3)."""
    return (str(via.branch), via.host.lower(), via.port)


class Proxy:
    """A sans-I/O SIP proxy running a routing script (see the module docstring).

    Parameters
    ----------
    config
        `ProxyConfig`.
    ids
        Where branches, tags and record ids come from (`CountingIds` for determinism).
    script
        The routing script: an object with `request_route(sip)` and its named routes.
    """

    #: how many requests forwarded statelessly the proxy remembers the branch of, so that a
    #: retransmission goes on with the same one (RFC 3261 §16.11, CTX-12)
    stateless_memory: int = 4096

    def __init__(self, config: ProxyConfig, ids: IdSource, script: Script) -> None:
        self.config = config
        self.ids = ids
        self.script = script
        self.location = LocationService(config.registrar, ids)
        self.subscriptions = Subscriptions(ids)
        self._servers: dict[tuple[str, str, int | None], ResponseContext] = {}
        self._clients: dict[str, ResponseContext] = {}
        #: the Via text the proxy put on top of each live branch's request -> its branch id:
        #: every response on the branch, and on its CANCEL, carries that text on top again,
        #: so it needs no parsing to be recognised (RFC 3261 §17.1.3)
        self._own_vias: dict[str, str] = {}
        self._by_txn: dict[TxnId, ResponseContext] = {}
        self._tsilo: dict[str, list[TxnId]] = {}
        #: the tsilo keys each transaction is stored under, so retiring it scans no others
        self._tsilo_keys: dict[TxnId, list[str]] = {}
        self._timers = TimerQueue()
        #: non-INVITE server transactions of the requests the proxy answered itself, by their
        #: §17.2.3 key (top Via branch, sent-by, method), until Timer J (TXN-6)
        self._nists: dict[tuple[str, str, int | None, str], NonInviteServerTransaction] = {}
        #: digest of a statelessly forwarded request's key -> the branch it went on with,
        #: least recently used first (CTX-12)
        self._stateless: OrderedDict[bytes, str] = OrderedDict()
        self._labels = itertools.count(1)
        self._retired: list[CallSummary] = []
        #: every input by outcome: processed, answered 400/416, dropped by reason (INPUT-1)
        self.inputs = InputCounts()
        #: the other (host, port) the proxy listens on, each as much its own as its address
        self._aliases: frozenset[tuple[str, int]] = frozenset()
        #: transport -> the (host, port) of the proxy's interface of that transport (a live
        #: shell's listeners); a transport not named is on the proxy's own address (ROUTE-9)
        self._interfaces: dict[str, tuple[str, int]] = {}

    def set_interfaces(self, interfaces: dict[str, tuple[str, int]]) -> None:
        """The proxy's interface (host, port) of each transport, for its Record-Route: a live
        shell's first listener of each kind (ROUTE-9). Each is also an alias (CONN-14)."""
        self._interfaces = {t.upper(): (h.strip("[]"), p) for t, (h, p) in interfaces.items()}
        self.add_aliases(self._interfaces.values())

    def interface(self, transport: str) -> tuple[str, str, int]:
        """(transport, host, port) of the proxy's interface of `transport` (ROUTE-9)."""
        transport = transport.upper()
        host, port = self._interfaces.get(transport, (self.config.host, self.config.port))
        return transport, host, port

    def own_record_route(self, transport: str) -> str:
        """The single Record-Route the proxy writes for a request that came over
        `transport`: its interface there (RFC 3261 §16.6 step 4; ROUTE-9)."""
        kind, host, port = self.interface(transport)
        return record_route_value(host, port, kind)

    def _double_record_route(self, ctx: ResponseContext, transport: str
                             ) -> tuple[str, tuple[str, ...]] | None:
        """When a branch leaves over another interface than its INVITE came in on (transport,
        address or port), the proxy's Record-Route becomes two: the outgoing interface's on
        top, then the incoming one's, both with `r2=on` (RFC 5658 §3, RFC 3261 §16.6 step 4;
        ROUTE-9). None when the interfaces are the same or the INVITE has no Record-Route of
        the proxy."""
        inbound = self.interface(ctx.server.transport)
        outbound = self.interface(transport)
        if inbound == outbound:
            return None
        own = self.own_record_route(inbound[0])
        if ctx.request.get("Record-Route") != own:  # its own line, on top of the others
            return None
        return own, (record_route_value(outbound[1], outbound[2], outbound[0], double=True),
                     record_route_value(inbound[1], inbound[2], inbound[0], double=True))

    def add_aliases(self, addresses: Iterable[tuple[str, int]]) -> None:
        """Other addresses of the proxy (a live shell's other listeners): a Route or
        Request-URI naming one names the proxy, as its own address does (RFC 3261 §16.4;
        CONN-14)."""
        self._aliases = self._aliases | {(host.strip("[]"), port) for host, port in addresses}

    def set_address(self, host: str, port: int) -> None:
        """Move the proxy to `host:port` (its Via, Record-Route and "is this mine?" checks);
        for a live shell that learns its port only once its socket is bound."""
        key = (id(self.config), host, port)
        moved = _MOVED.get(key)
        if moved is None or moved[0] is not self.config:
            from dataclasses import replace

            if len(_MOVED) >= 64:
                _MOVED.clear()
            config = replace(self.config, host=host, port=port)
            moved = _MOVED[key] = (self.config, config)
        self.config = moved[1]

    # ================================================================== inputs
    def handle(self, event: Event, now: float) -> list[Action]:
        """Process one input; returns the actions to perform, in order.

        Never raises (INPUT-1): a message is checked before anything changes (INPUT-8) and is
        processed whole, refused with 400/416 or dropped; `inputs` counts each outcome."""
        counts = self.inputs
        counts.received += 1
        refused = counts.refused
        try:
            actions = self._handle(event, now)
        except Exception as exc:  # noqa: BLE001 - INPUT-1: a fault of the core is counted
            detail = f"{type(exc).__name__}: {exc}"
            counts.drop("internal-error", detail)
            return [Log(text=f"input dropped on an internal error: {detail}")]
        if counts.refused == refused:
            counts.processed += 1
        return actions

    def _handle(self, event: Event, now: float) -> list[Action]:
        if isinstance(event, TransportFailed):
            return self._transport_failed(event, now)
        if isinstance(event, ConnectionClosed):
            return self._connection_closed(event.connection, now)
        if isinstance(event, Unparsed):
            return self._unparsed(event)
        message = event.message
        if hasattr(message, "status"):
            dropped = response_defect(message)  # type: ignore[arg-type]
            if dropped is not None:  # INPUT-6
                self.inputs.drop(*dropped)
                return []
            return self._response(message, now)  # type: ignore[arg-type]
        request: Request = message
        missing = unreadable(request)
        if missing is not None:  # INPUT-2, INPUT-5
            reason = "malformed-ack" if request.method == "ACK" else "unreadable-request"
            self.inputs.drop(reason, f"{request.method}: its {missing} cannot be read")
            return []
        defect = request_defect(request)
        if defect is not None:  # INPUT-3, INPUT-4
            return self._refuse(request, defect, event.source, event.transport, event.connection)
        return self._request(request, event.source, event.transport, event.connection, now)

    def _refuse(self, request: Request, defect: Defect, source: Address, transport: str,
                connection: int | None) -> list[Action]:
        """Answer a refused request (INPUT-3, INPUT-4), or drop an ACK (INPUT-5), where its top
        Via says, marked with its source (RFC 3261 §18.2.2, RFC 3581)."""
        if request.method == "ACK":
            self.inputs.drop("malformed-ack", defect.detail)
            return []
        self.inputs.answer(defect)
        response = rejection(request, defect, host_port(self.config.host, self.config.port),
                             self.ids.tag())
        via = received_via(parse_via(top_via_text(request), strict=False), source)
        return [Send(message=response, destination=response_destination((via,)) or source,
                     connection=connection, transport=transport.upper())]

    def _unparsed(self, event: Unparsed) -> list[Action]:
        """Bytes the driver could not parse (INPUT-7): 400 when they hold a request that can
        be answered, else a counted drop."""
        request = salvage(event.data)
        error = event.error or "not a SIP message"
        if request is None:
            self.inputs.drop("unparsable", error)
            return []
        missing = unreadable(request)
        if missing is not None:
            reason = "malformed-ack" if request.method == "ACK" else "unreadable-request"
            self.inputs.drop(reason, f"{error}; its {missing} cannot be read")
            return []
        return self._refuse(request, Defect("Request-Line", error), event.source,
                            event.transport, event.connection)

    def _request(self, msg: Request, source: Address, transport: str, connection: int | None,
                 now: float) -> list[Action]:
        via_text = top_via_text(msg)
        via = parse_via(via_text)
        marked = received_via(via, source)
        # read before the Via is marked: the copy takes the value along
        exhausted = msg.method != "ACK" and msg.max_forwards == 0
        if marked is not via:
            via_text = str(marked)
            msg = with_top_via(msg, via_text)
        if exhausted:  # RFC 3261 §16.3 step 3
            response = make_response(msg, 483, to_tag=self.ids.tag())
            return [Send(message=response, destination=self._reply_address(response, source),
                         connection=connection, transport=transport.upper())]
        msg = self._strip_own_route(msg)
        key = _via_key(via)
        if msg.method not in ("INVITE", "ACK", "CANCEL"):
            nist = self._nists.get((*key, msg.method))
            if nist is not None:  # a retransmission (RFC 3261 §17.2.2, §17.2.3; TXN-6)
                out = nist.retransmission(now)
                self._timers.schedule(nist)
                return out
        ctx = self._servers.get(key)
        if msg.method == "INVITE" and ctx is not None:  # a retransmission (RFC 3261 §17.2.3)
            if (ctx.server.state, ServerInput.RECV_INVITE) not in SERVER_TRANSITIONS:
                return []
            return self.track(ctx, ctx.server.process(ServerInput.RECV_INVITE, now))
        if msg.method == "ACK":
            if ctx is not None and not ctx.server.passes(ServerInput.RECV_ACK):
                return self.track(ctx, ctx.caller_ack(now))
            # TXN-7: an ACK matching a transaction in Accepted acknowledges a 2xx, end to end
            if self._for_me(msg):  # CTX-10: no dialog here, and an ACK is never answered
                self.inputs.drop("ack-to-proxy", f"ACK {msg.uri}: no dialog at the proxy")
                return []
            return self.forward_stateless(msg)
        if msg.method == "CANCEL":
            if ctx is None:
                if self._for_me(msg):  # CTX-10: nothing to cancel here
                    return self._answer(msg, 481, key, marked, source, transport,
                                        connection, now)
                return self.forward_stateless(msg)
            ok = make_response(msg, 200, to_tag=ctx.to_tag or self.ids.tag())
            sent: list[Action] = [Send(message=ok, destination=ctx.server.source,
                                       connection=connection, transport=transport.upper())]
            return sent + self.track(ctx, ctx.caller_cancel(now))
        if msg.to.tag and self._for_me(msg):  # CTX-10: a dialog the proxy does not have
            return self._answer(msg, 481, key, marked, source, transport, connection, now)
        sc = ScriptContext(self, now, msg, source, transport)
        sc.connection = connection
        sc.via_key = key
        sc.top_via = (via_text, marked)
        self.script.request_route(sc)
        if sc.ctx is not None:
            return sc.actions + self.track(sc.ctx, [])
        if msg.method != "INVITE":
            self._answered(msg, key, via_text, source, transport, connection, sc.actions, now)
        return sc.actions

    def _for_me(self, msg: Request) -> bool:
        """The request is for the proxy itself: no Route left (the proxy's own was removed)
        and a Request-URI naming the proxy's address (RFC 3261 §16.4, §16.5; CTX-10)."""
        if msg.has("Route") and msg.routes:
            return False
        uri: Any = msg.uri
        host = uri.params.get("maddr") or getattr(uri, "host", None)
        return host is not None and self._is_me(str(host), getattr(uri, "port", None))

    def _answer(self, msg: Request, status: int, key: tuple[str, str, int | None], via: Via,
                source: Address, transport: str, connection: int | None,
                now: float) -> list[Action]:
        """Answer `msg` as a UAS would, through a non-INVITE server transaction (TXN-6)."""
        response = make_response(msg, status, to_tag=self.ids.tag())
        out: list[Action] = [Send(message=response,
                                  destination=response_destination((via,)) or source,
                                  connection=connection, transport=transport.upper())]
        self._answered(msg, key, top_via_text(response), source, transport, connection, out,
                       now)
        return out

    def _answered(self, msg: Request, key: tuple[str, str, int | None], via_text: str,
                  source: Address, transport: str, connection: int | None,
                  actions: list[Action], now: float) -> None:
        """Open the non-INVITE server transaction of `msg` when the proxy answered it itself
        (a response carrying its top Via among `actions`), so that its retransmissions get the
        last response again until Timer J (RFC 3261 §17.2.2; TXN-6). Over a reliable transport
        Timer J is 0: the transaction ends at once and nothing is kept."""
        if transport.lower() in _RELIABLE:
            return
        nist: NonInviteServerTransaction | None = None
        for action in actions:
            if not isinstance(action, Send) or not hasattr(action.message, "status"):
                continue
            response: Response = action.message  # type: ignore[assignment]
            if response.cseq.method != msg.method or top_via_text(response) != via_text:
                continue
            if nist is not None and nist.state is not NistState.PROCEEDING:
                continue  # a second final response: the first one stands (figure 8)
            if nist is None:
                nist = NonInviteServerTransaction(
                    (*key, msg.method), source, transport=transport.upper(),
                    connection=connection, values=self.config.timers)
            nist.record(action, now)
        if nist is not None:
            self._nists[nist.key] = nist
            self._timers.schedule(nist)

    def _response(self, response: Response, now: float) -> list[Action]:
        text = top_via_text(response)
        branch = self._own_vias.get(text)
        if branch is None:  # not a Via of a live branch: check it is ours at all
            via = parse_via(text)
            if not self._is_me(via.host, via.port):
                return [Log(text=f"dropped a response whose top Via is not ours: {via}")]
            branch = str(via.branch)
        ctx = self._clients.get(branch)
        if ctx is None:
            upstream = response.without_top_via()
            vias = upstream.vias
            dst = response_destination(vias)
            if dst is None:
                return []
            # RFC 3261 §18.2.2: over the transport the next Via names
            return [Send(message=upstream, destination=dst, transport=vias[0].transport.upper())]
        if response.cseq.method != "INVITE":  # the answer to our CANCEL ends its transaction
            ctx.cancel_answered(ctx.client_index[branch], response.status, now)
            return self.track(ctx, [])
        return self.track(ctx, ctx.receive(ctx.client_index[branch], response, now))

    def _transport_failed(self, event: TransportFailed, now: float) -> list[Action]:
        ctx = self._clients.get(event.branch)
        if ctx is None:
            return []
        branch = ctx.client_index[event.branch]
        if branch.txn is None:
            return []
        return self.track(ctx, ctx.transport_failed(branch, now))

    def _connection_closed(self, connection: int, now: float) -> list[Action]:
        """The driver's connection closed: bindings registered over it are no longer routed
        over it, and the branches sent over it without a final response fail (RFC 3261
        §16.9: 503)."""
        self.location.connection_closed(connection)
        out: list[Action] = []
        for ctx in self.contexts():
            out += self.track(ctx, ctx.connection_closed(connection, now))
        return out

    # ================================================================== timers
    def get_timer(self) -> float | None:
        """The earliest deadline of the proxy: transactions, branches, bindings, subscriptions."""
        best = self._timers.get_timer()
        at = self.location.get_timer()
        if at is not None and (best is None or at < best):
            best = at
        at = self.subscriptions.get_timer()
        if at is not None and (best is None or at < best):
            best = at
        return best

    def handle_timer(self, now: float) -> list[Action]:
        """Fire everything due at `now`."""
        out: list[Action] = []
        at = self.location.get_timer()
        if at is not None and at <= now:
            for event in self.location.handle_timer(now):
                out += self.publish(event, now)
        at = self.subscriptions.get_timer()
        if at is not None and at <= now:
            for sub in self.subscriptions.handle_timer(now):
                if sub.expire_notify and sub.route:  # EVT-5: an empty notification on expiry
                    out += self._notify(sub, {}, None, now)
        for owner in self._timers.pop_due(now):
            if isinstance(owner, NonInviteServerTransaction):  # Timer J (TXN-6)
                out += owner.handle_timer(now)
                if owner.terminated:
                    self._nists.pop(owner.key, None)
                else:
                    self._timers.schedule(owner)
                continue
            assert isinstance(owner, ResponseContext)
            out += self.track(owner, owner.handle_timer(now))
        return out

    def server_transactions(self) -> list[NonInviteServerTransaction]:
        """The live non-INVITE server transactions (TXN-6), oldest first."""
        return list(self._nists.values())

    # ================================================================== contexts
    def new_context(
        self, msg: Request, source: Address, transport: str, now: float,
        key: tuple[str, str, int | None] | None = None, connection: int | None = None,
    ) -> tuple[ResponseContext, list[Action]]:
        """Create the server transaction and response context of an INVITE and send 100 Trying
        (RFC 3261 §16.2, TXN-4). `key` is its top Via key when already known; responses go
        back over `transport` and `connection` (RFC 3261 §18.2.2)."""
        label = next(self._labels)
        txn_id = (label % 4096, label)
        server = ServerTransaction(msg, source, reliable=transport.upper() != "UDP",
                                   values=self.config.timers, transport=transport.upper(),
                                   connection=connection, resend_2xx=self.config.resend_2xx)
        ctx = ResponseContext(txn_id, server, self.config, self.ids, now)
        ctx.server_key = key if key is not None else _via_key(top_via(msg))
        self._servers[ctx.server_key] = ctx
        self._by_txn[txn_id] = ctx
        trying = make_response(msg, 100)
        return ctx, server.respond(trying, now)

    def track(self, ctx: ResponseContext, actions: list[Action]) -> list[Action]:
        """Re-arm `ctx`'s timer, and retire it once it is finished; returns `actions`."""
        if ctx.finished:
            self._timers.discard(ctx)
            self._retire(ctx)
        else:
            self._timers.schedule(ctx)
        return actions

    def _retire(self, ctx: ResponseContext) -> None:
        if self._by_txn.pop(ctx.txn_id, None) is None:
            return
        self._servers.pop(ctx.server_key, None)
        for branch in ctx.client_index:
            self._clients.pop(branch, None)
        for sent in ctx.branches:
            if sent.request is not None:
                self._own_vias.pop(sent.request.headers[0][1], None)
        for key in self._tsilo_keys.pop(ctx.txn_id, ()):
            self._tsilo[key].remove(ctx.txn_id)
            if not self._tsilo[key]:
                del self._tsilo[key]
        if self.config.keep_summaries:
            self._retired.append(ctx.summary())

    def context(self, txn_id: TxnId) -> ResponseContext | None:
        """The live context of a transaction id (None once it was retired)."""
        return self._by_txn.get(txn_id)

    def contexts(self) -> list[ResponseContext]:
        """The live contexts, oldest first."""
        return sorted(self._by_txn.values(), key=lambda c: c.txn_id[1])

    def summaries(self) -> list[CallSummary]:
        """A `CallSummary` for every call seen: retired ones, then live ones (oldest first)."""
        return self._retired + [c.summary() for c in self.contexts()]

    def summary(self, call_id: str) -> CallSummary:
        """The summary of the most recent call with `call_id` (KeyError if none)."""
        for s in reversed(self.summaries()):
            if s.call_id == call_id:
                return s
        raise KeyError(call_id)

    # ================================================================== forwarding
    def _is_me(self, host: str, port: int | None) -> bool:
        """`host:port` is the proxy's address or one of its aliases (CONN-14)."""
        host, port = host.strip("[]"), port or 5060
        return ((host == self.config.host and port == self.config.port)
                or (host, port) in self._aliases)

    def _strip_own_route(self, msg: Request) -> Request:
        """Route processing (RFC 3261 §16.4): a Request-URI the proxy put in a Record-Route
        (its own address with `lr`) comes from a strict router: the last Route becomes the
        Request-URI and is removed; then every top Route naming the proxy is removed (CTX-10):
        both of its double Record-Route (RFC 5658 §3; ROUTE-9)."""
        if not msg.has("Route"):
            return msg
        routes = msg.routes
        uri: Any = msg.uri
        if (routes and "lr" in getattr(uri, "params", {})
                and self._is_me(str(getattr(uri, "host", "")), getattr(uri, "port", None))):
            msg = msg.with_uri(routes[-1].uri).without_header("Route")
            for value in reversed([str(r) for r in routes[:-1]]):
                msg = msg.with_header_prepended("Route", value)
            if not routes[:-1]:
                return msg
            routes = msg.routes
        own = 0
        while own < len(routes) and self._is_me(str(getattr(routes[own].uri, "host", "")),
                                                getattr(routes[own].uri, "port", None)):
            own += 1
        if own:
            rest = [str(r) for r in routes[own:]]
            msg = msg.without_header("Route")
            for value in reversed(rest):
                msg = msg.with_header_prepended("Route", value)
        return msg

    @staticmethod
    def _reply_address(response: Response, source: Address) -> Address:
        return response_destination(response.vias) or source

    def _next_hop(self, request: Request) -> Address:
        """Where a request goes: its first Route, else its Request-URI (RFC 3261 §16.6 step 7,
        RFC 3263 reduced to literal addresses)."""
        uri: Any = request.routes[0].uri if request.routes else request.uri
        host = uri.params.get("maddr") or uri.host
        return uri_address(str(host), uri.port)

    def forward_stateless(self, msg: Request, connection: int | None = None) -> list[Action]:
        """Forward a request without a transaction (RFC 3261 §16.11), over the transport its
        next hop's URI names (RFC 3261 §18.1.1, RFC 3263 reduced to the `transport` parameter).
        Never to the proxy itself (CTX-11): `connection` is the one `msg` came on, for the
        answer then. A retransmission goes on with the branch of the first copy, which alone
        draws one from the id source (RFC 3261 §16.11, CTX-12; see `_stateless_branch`)."""
        uri: Any = msg.routes[0].uri if msg.routes else msg.uri
        transport = str(getattr(uri, "params", {}).get("transport") or "udp").upper()
        destination = self._next_hop(msg)
        if self._is_me(*destination):  # CTX-11: never to itself
            return self._not_to_self(msg, destination, connection)
        via = via_value(self.config.host, self.config.port, self._stateless_branch(msg),
                        transport)
        out = forwarded_request(msg, msg.uri, via)
        return [Send(message=out, destination=destination, transport=transport)]

    def _stateless_branch(self, msg: Request) -> str:
        """The branch of the Via the proxy puts on `msg` forwarded statelessly: the one its
        first copy got again when `msg` is a retransmission of it (RFC 3261 §16.11, CTX-12).

        A stateless proxy cannot tell a retransmission from the original, so the branch must
        follow from what a retransmission repeats. The key of `msg`, in the RFC's terms:
        - top Via branch with the magic cookie: that branch and the Via's sent-by, with the
          Call-ID and CSeq number (which a branch reused against the rules then tells apart);
        - otherwise (an RFC 2543 element): the whole top Via, the To and From tags, Call-ID,
          CSeq number and Request-URI.
        The method is not in the key: a CANCEL and the ACK of a non-2xx share the branch of
        the INVITE they belong to (RFC 3261 §8.1.1.7, §9.1, §17.1.1.3), so forwarded after a
        stateless INVITE they get its branch, as the next hop needs to match them to it. The
        ACK of a 2xx is a transaction of its own with a new branch, so it gets a new one.

        The first copy's branch comes from the id source; the proxy remembers it in a map of
        at most `stateless_memory` keys (16-byte digests, so hostile header lengths cost
        nothing), least recently used forgotten first: a retransmission that comes after that
        many other requests were forwarded statelessly gets a new branch, as if it were new."""
        via = top_via(msg)
        branch = via.branch
        fields: tuple[object, ...]
        if branch is not None and branch.startswith(MAGIC_COOKIE):
            fields = (branch, via.host.lower(), via.port, msg.call_id, msg.cseq.number)
        else:
            fields = (top_via_text(msg), msg.to.tag, msg.from_.tag, msg.call_id,
                      msg.cseq.number, str(msg.uri))
        key = blake2b(repr(fields).encode(), digest_size=16).digest()
        known = self._stateless
        ours = known.get(key)
        if ours is not None:
            known.move_to_end(key)
            return ours
        ours = known[key] = self.ids.branch()
        if len(known) > self.stateless_memory:
            known.popitem(last=False)
        return ours

    def _not_to_self(self, msg: Request, destination: Address,
                     connection: int | None) -> list[Action]:
        """A request the script would forward to the proxy's own address (CTX-11): not sent.

        An ACK is dropped and counted; any other request is answered 404 Not Found, as the
        proxy acting as the UAS of its own address (RFC 3261 §16.5): the Request-URI is one
        the proxy is responsible for and it has nothing there to route to, which is what both
        presets' `lookup` answers for an unknown user (RFC 3261 §21.4.5). 483 would only be
        what a loop reaches after Max-Forwards hops; no hop is taken here."""
        where = f"{destination[0]}:{destination[1]}"
        if msg.method == "ACK":
            self.inputs.drop("ack-to-proxy", f"ACK {msg.uri}: next hop {where} is the proxy")
            return []
        response = make_response(msg, 404, to_tag=self.ids.tag())
        return [Log(text=f"not forwarding {msg.method} {msg.uri} to the proxy itself ({where})"),
                Send(message=response, destination=self._reply_address(response, destination),
                     connection=connection, transport=response.vias[0].transport.upper())]

    def _fork(self, ctx: ResponseContext, uri: Any, destination: Address, now: float,
              binding: Binding | None, injected: bool, routes: tuple[str, ...] = (),
              flow: tuple[str, int | None] | None = None) -> list[Action]:
        """A new branch; `flow` is the (transport, connection) of the registration it goes
        back over (ROUTE-4), else the transport is the URI's (RFC 3263 §4.1 reduced to its
        `transport` parameter) on no particular connection."""
        if self._is_me(*destination):  # CTX-11: never to itself
            return [Log(text=f"no branch to {uri}: its next hop "
                             f"{destination[0]}:{destination[1]} is the proxy itself")]
        if flow is not None:
            transport, connection = flow
        else:
            transport, connection = str(uri.params.get("transport") or "udp"), None
        branch, actions = ctx.fork(uri, destination, now, routes=routes, injected=injected,
                                   binding=binding, reliable=transport.lower() in _RELIABLE,
                                   transport=transport.upper(), connection=connection,
                                   record_route=self._double_record_route(ctx, transport))
        assert branch.txn is not None and branch.request is not None
        self._clients[branch.txn.branch] = ctx
        self._own_vias[branch.request.headers[0][1]] = branch.txn.branch  # `ctx.fork`'s Via
        return self.track(ctx, actions)

    def fork_binding(self, ctx: ResponseContext, binding: Binding, now: float, *,
                     injected: bool = False) -> list[Action]:
        """A branch to a registered contact (OSIPS-9, ROUTE-1 to ROUTE-4): R-URI, destination,
        Path, and the REGISTER's transport and connection when it goes back where that REGISTER
        came from."""
        if ctx.refusal():
            return []
        uri, destination, routes = contact_route(binding)
        flow = None
        if not routes and destination == binding.source:  # ROUTE-4
            flow = (binding.transport, binding.connection)
            if self.location.flow_failed(binding):  # ROUTE-7
                return self._flow_failed(ctx, uri, destination, binding, injected, now)
        return self._fork(ctx, uri, destination, now, binding, injected, routes, flow)

    def _flow_failed(self, ctx: ResponseContext, uri: Any, destination: Address,
                     binding: Binding, injected: bool, now: float) -> list[Action]:
        """A branch to an RFC 5626 flow whose connection is gone: nothing is sent (a new
        connection would not reach a device behind a NAT) and the branch ends with 430 Flow
        Failed as soon as the current input is handled, for response selection as any other
        (RFC 5626 §5.3, §11; ROUTE-7)."""
        branch, _unsent = ctx.fork(uri, destination, now, injected=injected, binding=binding,
                                   reliable=True, transport=binding.transport.upper())
        ctx.fail_branch(branch, 430, now)
        return self.track(ctx, [Log(text=f"430 Flow Failed for {uri}: its connection is gone")])

    def fork_uri(self, ctx: ResponseContext, now: float) -> list[Action]:
        """A branch to the Request-URI of the stored request itself (next hop: its first
        Route, else the Request-URI)."""
        if ctx.refusal():
            return []
        destination = self._next_hop(ctx.request)
        if self._is_me(*destination) and ctx.final_status is None and not any(
                ctx.pending(b) for b in ctx.branches):  # CTX-11: 404 as `_not_to_self` says
            return self.track(ctx, ctx.respond(404, now))
        return self._fork(ctx, ctx.request.uri, destination, now, None, False)

    def fork_to(self, ctx: ResponseContext, uri: Any, destination: Address, now: float, *,
                injected: bool = False) -> list[Action]:
        """A branch to `uri` sent to `destination`, both chosen by the script (a replay that
        takes its targets from a capture)."""
        if ctx.refusal():
            return []
        return self._fork(ctx, uri, destination, now, None, injected)

    def gruu_instance(self, ctx: ResponseContext) -> str | None:
        """The instance a GRUU Request-URI names (`gr` parameter, INJ-4), else None."""
        params = getattr(ctx.request.uri, "params", {})
        if "gr" in params and params["gr"]:
            return str(params["gr"]).strip("<>\"")
        return None

    # ================================================================== events
    def publish(self, event: ContactEvent, now: float) -> list[Action]:
        """Deliver a contact event to the subscriptions and run each matching notification
        route with the transaction id of its subscription (EVT-4, EVT-6)."""
        out: list[Action] = []
        for note in self.subscriptions.publish(event, now):
            # each notification has its own parameters, made for it and read by no one else:
            # they become the route's AVPs without another copy
            params: Any = note.params
            out += self._notify(note.subscription, params, event, now)
        return out

    def _notify(self, sub: Any, params: dict[str, str], event: ContactEvent | None,
                now: float) -> list[Action]:
        """Run the route of `sub` with the event's parameters as AVPs and the subscription's
        transaction, nothing else from the INVITE (EVT-6)."""
        ctx = self._by_txn.get(sub.txn) if sub.txn is not None else None
        sc = ScriptContext(self, now, ctx=ctx, avp=params, event=event)
        getattr(self.script, sub.route)(sc)
        if ctx is not None:
            self.track(ctx, [])
        return sc.actions

    # ================================================================== Kamailio tsilo
    def _ts_key(self, uri: str) -> str:
        parsed: Any = parse_uri(uri.strip("<>"))
        if self.config.tsilo_use_domain:
            return f"{parsed.user}@{parsed.host}" if parsed.user else str(parsed.host)
        return str(parsed.user or "")

    def ts_store(self, ctx: ResponseContext, uri: str) -> None:
        """Store `ctx` under the key of `uri` (KAM-2)."""
        key = self._ts_key(uri)
        stored = self._tsilo.setdefault(key, [])
        if ctx.txn_id not in stored:
            stored.append(ctx.txn_id)
            self._tsilo_keys.setdefault(ctx.txn_id, []).append(key)

    def tsilo_records(self) -> dict[str, list[TxnId]]:
        return {k: list(v) for k, v in sorted(self._tsilo.items())}

    def ts_append(self, ruri: str, now: float, *, contact: str | None = None
                  ) -> tuple[int, list[Action]]:
        """Kamailio `ts_append` / `ts_append_by_contact` (KAM-3, KAM-4, INJ-5)."""
        key = self._ts_key(ruri)
        stored = self._tsilo.get(key)
        if not stored:
            return -1, [Log(text=f"ERROR: ts_append: transaction not found for {key}")]
        out: list[Action] = []
        for txn_id in list(stored):
            out += self._append(txn_id, ruri, now, contact)
        return 1, out

    def ts_append_to(self, txn_id: TxnId, ruri: str, now: float) -> tuple[int, list[Action]]:
        """Kamailio `ts_append_to(tindex, tlabel, domain, uri)`: the contacts of `ruri` into one
        given transaction (KAM-1); -1 when it is gone."""
        if txn_id not in self._by_txn:
            return -1, []
        return 1, self._append(txn_id, ruri, now, None)

    def _append(self, txn_id: TxnId, ruri: str, now: float, contact: str | None
                ) -> list[Action]:
        """Append the registered contacts of `ruri` to a stored transaction, as tsilo does:
        not to a cancelled or answered one, not twice to a location record (KAM-3, INJ-5)."""
        ctx = self._by_txn.get(txn_id)
        if ctx is None or ctx.refusal():
            return []
        out: list[Action] = []
        aor = self.location.aor_of(parse_uri(ruri.strip("<>")))
        for binding in self.location.lookup(aor, now):
            if contact is not None and contact not in str(binding.uri):
                continue
            if duplicate_reason(Dedup.BY_LOCATION, ctx.branches, binding) is not None:
                continue
            out += self.fork_binding(ctx, binding, now, injected=True)
        return out

    def t_continue(self, txn_id: TxnId, route: str, now: float) -> tuple[int, list[Action]]:
        """Kamailio `t_continue` (KAM-5): end the blind branch, run `route` on the stored INVITE."""
        ctx = self._by_txn.get(txn_id)
        if ctx is None:
            return -1, []
        for branch in ctx.branches:
            if str(branch.kind) == "blind":
                ctx.cancel_branch(branch, now)
        sc = ScriptContext(self, now, ctx.request, ctx.server.source, ctx=ctx)
        getattr(self.script, route)(sc)
        out = sc.actions + ctx.settle(now)
        return 1, self.track(ctx, out)

    def __repr__(self) -> str:
        return f"<Proxy {self.config.host}:{self.config.port} calls={len(self._by_txn)}>"

