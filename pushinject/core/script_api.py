"""The routing-script API: what a script sees while the proxy runs one of its routes.

A script is any object with a `request_route(sip)` method and one method per named route
(`route_to_user`, `fork_call`, ...). Each route gets a `ScriptContext`, here called `sip`, that
offers the OpenSIPS functions (`t_newtran`, `t_wait_for_new_branches`,
`t_wait_no_more_branches`, `notify_on_event`, `lookup`, `t_relay`, `t_inject_branches`, `save`,
`sl_send_reply`, `t_reply`, `xlog`, `record_route`) and the Kamailio tsilo / tmx ones
(`ts_store`, `ts_append`, `ts_append_by_contact`, `ts_append_to`, `t_suspend`,
`t_continue`), with the return
codes of the originals. Pseudo-variables are properties: `sip.rU` ($rU), `sip.ru` ($ru),
`sip.tu` ($tu), `sip.avp` ($avp(...)). A notification route runs with no message of its own and
only the transaction id of its subscription (EVT-6).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pushinject.core.actions import Log, Push, Send
from pushinject.core.context import REASON_ELSEWHERE
from pushinject.core.injection import contact_route, duplicate_reason
from pushinject.core.messages import response_destination, top_via_text
from pushinject.core.types import Dedup
from pushinject.sip import make_response

if TYPE_CHECKING:
    from pushinject.core.actions import Action
    from pushinject.core.context import ResponseContext
    from pushinject.core.location import Binding, ContactEvent
    from pushinject.core.proxy import Proxy
    from pushinject.core.types import Address, TxnId
    from pushinject.sip import Request, Via

__all__ = ["Script", "ScriptContext"]


class Script(Protocol):
    """A routing script: `request_route` runs for every request the core does not absorb."""

    def request_route(self, sip: ScriptContext) -> None: ...


class ScriptContext:
    """One run of a route: the message, its transaction if any, and the script functions.

    Every function appends its actions to `actions`, in order; the proxy returns them.
    """

    __slots__ = ("proxy", "now", "msg", "source", "transport", "connection", "ctx", "avp",
                 "event", "targets", "actions", "via_key", "top_via")

    def __init__(
        self,
        proxy: Proxy,
        now: float,
        msg: Request | None = None,
        source: Address | None = None,
        transport: str = "UDP",
        ctx: ResponseContext | None = None,
        avp: dict[str, str] | None = None,
        event: ContactEvent | None = None,
    ) -> None:
        self.proxy = proxy
        self.now = now
        self.msg = msg
        self.source = source
        self.transport = transport
        #: the driver's connection the message came on (None over UDP)
        self.connection: int | None = None
        self.ctx = ctx
        #: the route's AVPs; a dict handed in is kept, not copied (each notification has
        #: parameters of its own, made for it)
        self.avp: dict[str, Any] = avp if avp is not None else {}
        self.event = event
        self.targets: list[Binding] = []
        self.actions: list[Action] = []
        #: the server-transaction key of `msg` when the proxy already computed it
        self.via_key: tuple[str, str, int | None] | None = None
        #: the top Via of `msg` as the proxy parsed and marked it (received, rport), with its
        #: text, when known
        self.top_via: tuple[str, Via] | None = None

    # ------------------------------------------------------------ pseudo-variables
    @property
    def method(self) -> str:
        return self.msg.method if self.msg is not None else ""

    def is_method(self, method: str) -> bool:
        return self.method == method.upper()

    @property
    def rU(self) -> str:  # noqa: N802 - the OpenSIPS name
        """$rU: the user part of the Request-URI ("" when it has none)."""
        return str(getattr(self.msg.uri, "user", None) or "") if self.msg else ""

    @property
    def ru(self) -> str:
        """$ru: the Request-URI."""
        return str(self.msg.uri) if self.msg else ""

    @property
    def tu(self) -> str:
        """$tu: the To URI."""
        return str(self.msg.to.uri) if self.msg else ""

    @property
    def has_totag(self) -> bool:
        return bool(self.msg is not None and self.msg.to.tag)

    def route(self, name: str) -> None:
        """route(name): run another route of the script with this context."""
        getattr(self.proxy.script, name)(self)

    def xlog(self, text: str) -> None:
        self.actions.append(Log(text=text))

    # ------------------------------------------------------------ stateless
    def record_route(self) -> None:
        """Add the proxy's Record-Route: its interface of the transport the request came over
        (RFC 3261 §16.6 step 4); a branch that leaves over another gets two (ROUTE-9)."""
        assert self.msg is not None
        rr = self.proxy.own_record_route(self.transport)
        self.msg = self.msg.with_header_prepended("Record-Route", rr)

    def sl_send_reply(self, code: int, reason: str | None = None) -> int:
        """A stateless reply to the current request (RFC 3261 §8.2.6)."""
        assert self.msg is not None
        response = make_response(self.msg, code, reason, to_tag=self.proxy.ids.tag())
        self._reply(response)
        return 1

    def _reply(self, response: Any) -> None:
        """Send a response to the current request where its top Via says (RFC 3261
        §18.2.2): the Via the proxy already parsed when the response carries it unchanged."""
        known = self.top_via
        if known is not None and top_via_text(response) == known[0]:
            dst = response_destination((known[1],)) or self.source
        else:
            dst = response_destination(response.vias) or self.source
        assert dst is not None
        self.actions.append(Send(message=response, destination=dst,
                                 connection=self.connection, transport=self.transport.upper()))

    def forward(self) -> int:
        """Forward the current request statelessly (RFC 3261 §16.11), by Route or R-URI."""
        assert self.msg is not None
        self.actions += self.proxy.forward_stateless(self.msg, self.connection)
        return 1

    # ------------------------------------------------------------ transactions
    def t_newtran(self) -> int:
        """Create the INVITE server transaction and its response context; sends 100 Trying
        (RFC 3261 §16.2, TXN-4). -1 for other methods."""
        if self.ctx is not None:
            return 1
        if self.msg is None or self.source is None or self.msg.method != "INVITE":
            return -1
        self.ctx, actions = self.proxy.new_context(self.msg, self.source, self.transport, self.now,
                                                   self.via_key, self.connection)
        self.actions += actions
        return 1

    def t_reply(self, code: int, reason: str | None = None) -> int:
        """A stateful reply of the proxy's own."""
        if self.ctx is None and self.t_newtran() < 0:
            return self.sl_send_reply(code, reason)
        assert self.ctx is not None
        self.actions += self.proxy.track(self.ctx, self.ctx.respond(code, self.now))
        return 1

    def t_wait_for_new_branches(self, n: int | None = None) -> int:
        """Keep the transaction alive with a placeholder branch (OSIPS-1, OSIPS-2, OSIPS-4).
        -1 without a transaction or for a method other than INVITE (#2864)."""
        if self.ctx is None or self.method != "INVITE":
            return -1
        self.ctx.add_placeholder(self.now, n)
        self.proxy.track(self.ctx, [])
        return 1

    def t_wait_no_more_branches(self) -> int:
        """Stop waiting beyond the branches that exist now (OSIPS-4)."""
        if self.ctx is None or self.ctx.placeholder is None:
            return -1
        self.actions += self.proxy.track(
            self.ctx, self.ctx.cap_branches(len(self.ctx.branches), self.now))
        return 1

    def t_wait_no_more_branches_timeout(self) -> int:
        """The registrar's PN variant (OSIPS-5, OpenSIPS master): stop waiting and give a
        placeholder that is still pending its 408 at once, so the final response can go now."""
        if self.ctx is None or self.ctx.placeholder is None:
            return -1
        self.actions += self.proxy.track(self.ctx, self.ctx.stop_waiting(self.now))
        return 1

    def notify_on_event(self, event: str, filters: str | Sequence[str], route: str,
                        timeout: float, *, expire_notify: bool = False) -> int:
        """Subscribe `route` to `event` (EVT-1 to EVT-4); the subscription keeps this transaction.
        `expire_notify` models the API flag `EBR_SUBS_EXPIRE_NOTIFY` (not reachable from an
        OpenSIPS script): on expiry `route` runs once more with no parameters (EVT-5, OSIPS-17)."""
        txn = self.ctx.txn_id if self.ctx is not None else None
        phony = self.ctx.placeholder if self.ctx is not None else None
        deadline = phony.fr_at if phony is not None else None
        self.proxy.subscriptions.notify_on_event(
            event, filters, route, timeout, txn=txn, now=self.now, txn_deadline=deadline,
            expire_notify=expire_notify)
        return 1

    def lookup(self, table: str = "location") -> int:
        """Fill the destination set from the location table (EVT-11). 1 found, -1 none.
        With `ProxyConfig.push_on_lookup`, each contact with pn-* parameters is pushed."""
        assert self.msg is not None
        aor = self.proxy.location.aor_of(self.msg.uri)
        self.targets = list(self.proxy.location.lookup(aor, self.now))
        if not self.targets:
            return -1
        if self.proxy.config.push_on_lookup:
            for binding in self.targets:
                if binding.pn is not None:
                    self.push(binding)
        return 1

    def push(self, binding: Binding, reason: str = "ini-INVITE") -> None:
        """Ask the push service to wake the device of `binding` (RFC 8599 §5.6.2)."""
        assert self.msg is not None
        aor = self.proxy.location.aor_of(self.msg.uri)
        self.actions.append(Push(aor=aor, binding=binding, call_id=self.msg.call_id,
                                 reason=reason))
        if self.ctx is not None:
            self.ctx.pushes.append((binding.instance or str(binding.uri), self.now))

    def t_relay(self) -> int:
        """Forward statefully to the destination set, else to the Request-URI (RFC 3261 §16.6).
        1 when at least one branch went out; -2 / -3 when the context refuses (OSIPS-8,
        OSIPS-10)."""
        if self.ctx is None and self.t_newtran() < 0:
            return self.forward()
        assert self.ctx is not None
        if self.ctx.refusal():
            return self.ctx.refusal()
        if self.msg is not None and self.msg.method == "INVITE":
            self.ctx.request = self.msg  # later injections copy it with these edits (OSIPS-13)
        if self.targets:
            for binding in self.targets:
                self.actions += self.proxy.fork_binding(self.ctx, binding, self.now)
        else:
            self.actions += self.proxy.fork_uri(self.ctx, self.now)
        return 1

    # ------------------------------------------------------------ injection
    def t_inject_branches(self, source: str = "event", flags: str = "") -> int:
        """Inject the contact of the event (or the destination set, source "msg") into the
        transaction of this route (OSIPS-8 to OSIPS-13). Flags: `c`/`cancel` CANCELs the
        branches that rang (never the placeholder) after sending the new one; `l`/`last` caps
        the wait.
        Returns 1, -1 (no transaction), -2 (final sent), -3 (CANCEL / 6xx)."""
        ctx = self.ctx
        if ctx is None:
            return -1
        if ctx.refusal():
            return ctx.refusal()
        words = ({w.strip() for w in flags.replace(",", " ").split()} | set(flags)
                 if flags else set())
        if source == "event":
            if self.event is None:
                return -1
            bindings = [self.event.binding]
        else:
            bindings = list(self.targets)
        injected = 0
        dedup = self.proxy.config.dedup
        gruu = self.proxy.gruu_instance(ctx) if dedup is Dedup.BY_INSTANCE else None
        for binding in bindings:
            reason = duplicate_reason(dedup, ctx.branches, binding, gruu)
            if reason is not None:
                self.xlog(f"not injecting {binding.uri}: {reason}")
                continue
            self.actions += self.proxy.fork_binding(ctx, binding, self.now, injected=True)
            injected += 1
        if "c" in words or "cancel" in words:
            self.actions += self.proxy.track(
                ctx, ctx.cancel_pending(self.now, REASON_ELSEWHERE, rang_only=True))
        if "l" in words or "last" in words:
            self.actions += self.proxy.track(ctx, ctx.cap_branches(len(ctx.branches), self.now))
        return 1

    # ------------------------------------------------------------ registrar
    def save(self, table: str = "location") -> int:
        """Register the contacts of this REGISTER and answer it; then run the notification
        routes of the contact events it raised (after the 200, as observed: OSIPS-19).
        1 on a 2xx, -1 otherwise."""
        assert self.msg is not None and self.source is not None
        result = self.proxy.location.register(self.msg, self.source, self.now,
                                              transport=self.transport,
                                              connection=self.connection)
        self._reply(result.response)
        for event in result.events:
            self.actions += self.proxy.publish(event, self.now)
        return 1 if 200 <= result.response.status < 300 else -1

    # ------------------------------------------------------------ Kamailio tsilo / tmx
    def ts_store(self, uri: str | None = None) -> int:
        """Store this transaction under the R-URI user (or full URI with `use_domain`) (KAM-2)."""
        if self.ctx is None:
            return -1
        self.proxy.ts_store(self.ctx, uri or self.ru)
        return 1

    def ts_append(self, table: str, ruri: str) -> int:
        """Append the contacts of `ruri` to every stored transaction (KAM-3): 1 when the key is
        found, -1 when none is stored (Kamailio 5.6.3)."""
        code, actions = self.proxy.ts_append(ruri, self.now)
        self.actions += actions
        return code

    def ts_append_by_contact(self, table: str, ruri: str, contact: str | None = None) -> int:
        """As `ts_append`, only location records whose URI contains `contact` (default: the
        REGISTER's Contact URI) (KAM-4)."""
        if contact is None and self.msg is not None and self.msg.contacts:
            contact = str(self.msg.contacts[0].uri)
        code, actions = self.proxy.ts_append(ruri, self.now, contact=contact)
        self.actions += actions
        return code

    def ts_append_to(self, tindex: int, tlabel: int, table: str, uri: str | None = None) -> int:
        """Append the contacts of `uri` (default: this request's To URI) to the one stored
        transaction (tindex, tlabel) (KAM-1). 1, or -1 when it is gone."""
        code, actions = self.proxy.ts_append_to((tindex, tlabel), uri or self.tu, self.now)
        self.actions += actions
        return code

    def t_suspend(self) -> TxnId | None:
        """Suspend the transaction with a blind UAC on `fr_timeout` (KAM-5); returns
        (tindex, tlabel), or None without a transaction."""
        if self.ctx is None:
            return None
        self.ctx.add_blind(self.now)
        self.proxy.track(self.ctx, [])
        return self.ctx.txn_id

    def t_continue(self, tindex: int, tlabel: int, route: str) -> int:
        """Resume a suspended transaction in `route` (KAM-5): its blind branch stops waiting and
        the route runs on the stored INVITE. -1 if the transaction is gone."""
        code, actions = self.proxy.t_continue((tindex, tlabel), route, self.now)
        self.actions += actions
        return code

