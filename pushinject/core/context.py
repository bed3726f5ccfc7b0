"""The response context of RFC 3261 §16.7: one INVITE server transaction and its branches.

Theory of operation
-------------------
A `ResponseContext` owns the server transaction towards the caller and a list of `Branch`es:
real ones (a forwarded INVITE with its client transaction), the OpenSIPS placeholder ("phony",
`t_wait_for_new_branches`, OSIPS-1) and the Kamailio blind UAC ("blind", `t_suspend`, KAM-5).

Rules, each in one place:
- provisional responses other than 100 are forwarded while no final was sent (CTX-4,
  `_on_provisional`);
- every 2xx is forwarded at once, then pending branches are CANCELled (CTX-4, CTX-6,
  `_forward_2xx`); the first moves the server transaction to Accepted, where later ones pass
  through it until Timer L (RFC 6026, TXN-7, TXN-8);
- a 6xx is held, pending branches are CANCELled, no new branch may be created (CTX-5); under
  the OpenSIPS selection the 6xx is relayed at once, then the pending branches CANCELled, as
  OpenSIPS does (`_forward_6xx`);
- the best final response is chosen once no branch is pending (CTX-7, OSIPS-6, OSIPS-7, `settle`);
- a branch is pending until it has a final status; a placeholder also stops being pending once
  the context holds as many branches as its limit (OSIPS-4);
- per-branch FR timers: `fr_timeout` until the first provisional, then `fr_inv_timeout`,
  restarted by each provisional above 100 (TXN-1, OSIPS-3); on expiry a branch that rang is
  CANCELled with `Reason: SIP;cause=480;text="NO_ANSWER"` and gets a faked 408, one that did
  not ring just gets 408 (TXN-2); the placeholder's deadline is `fr_inv_timeout` from its
  creation and is never moved by injections (OSIPS-2, OSIPS-14);
- the caller's CANCEL: pending branches are CANCELled, the placeholder gets a faked 487 at once,
  so a context with only the placeholder answers 487 at once (CTX-9, OSIPS-10); with
  `cancel_skips_placeholder` a placeholder beside other branches is spared instead and left out
  of the choice until its own timer ends it (OSIPS-28);
- with `cancelled_local_final_is_487`, a final response of the proxy's own (a timeout's 408)
  chosen for a call the caller CANCELled goes to the caller as 487 (KAM-12).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pushinject.core.cancel_txn import NonInviteClientTransaction, NonInviteState
from pushinject.core.client_txn import TRANSITIONS as CLIENT_TRANSITIONS
from pushinject.core.client_txn import ClientInput, ClientState, ClientTransaction, Outcome
from pushinject.core.messages import build_cancel, forwarded_request, via_value
from pushinject.core.selection import best_response, status_to_send
from pushinject.core.server_txn import ServerInput, ServerState, ServerTransaction
from pushinject.core.summary import BranchSummary, CallSummary
from pushinject.core.timers import TimerValues
from pushinject.core.types import BranchKind, Selection
from pushinject.errors import LocalProtocolError
from pushinject.sip import header_key, make_response

if TYPE_CHECKING:
    from pushinject.core.actions import Action
    from pushinject.core.ids import IdSource
    from pushinject.core.location import Binding
    from pushinject.core.types import Address, TxnId
    from pushinject.sip import URI, Request, Response

__all__ = ["REASON_ELSEWHERE", "REASON_NO_ANSWER", "ContextConfig", "Branch", "ResponseContext"]

#: RFC 3326 Reason of the CANCELs sent after a 2xx or by the `cancel` flag (OSIPS-12)
REASON_ELSEWHERE = 'SIP ;cause=200 ;text="Call completed elsewhere"'
#: Reason of the CANCEL sent when a ringing branch's FR timer expires (OSIPS-3)
REASON_NO_ANSWER = 'SIP;cause=480;text="NO_ANSWER"'


@dataclass(frozen=True, kw_only=True)
class ContextConfig:
    """The knobs a response context reads; `ProxyConfig` adds the rest of a proxy's. The
    defaults are OpenSIPS's where it has one."""

    #: the proxy's address (Via, Record-Route, "is this Route mine?")
    host: str = "127.0.0.1"
    port: int = 5060
    #: FR timer of a branch until its first provisional (OpenSIPS `fr_timeout`, OSIPS-3)
    fr_timeout: float = 30.0
    #: FR timer after a provisional, and the placeholder's deadline (`fr_inv_timeout`, OSIPS-2)
    fr_inv_timeout: float = 120.0
    #: how the final response is chosen: RFC 3261 (CTX-7) or OpenSIPS (OSIPS-7)
    selection: Selection = Selection.RFC3261
    #: RFC 3261 timer base values of the transactions
    timers: TimerValues = field(default_factory=TimerValues)
    #: Kamailio `max_inv_lifetime`: a cap on the whole INVITE transaction, whatever the
    #: branches' timers say (KAM-5); None: no cap
    max_inv_lifetime: float | None = None
    #: a final response the proxy makes up itself (a branch's FR timeout 408, a 503), once
    #: chosen for a call the caller CANCELled, is sent as 487, as Kamailio's tm does (KAM-12)
    cancelled_local_final_is_487: bool = False
    #: the caller's CANCEL fakes the placeholder's 487 only when it is the only branch;
    #: otherwise the placeholder gets nothing, stops holding the final response back, keeps
    #: its own timer and is left out of the choice until that timer gives it a 408, as
    #: OpenSIPS's tm does (OSIPS-28)
    cancel_skips_placeholder: bool = False
    #: once the call's final response has left (a 2xx; a 6xx or a response of the proxy's own
    #: when it goes at once), a real branch that had no response at all, which RFC 3261 §9.1
    #: does not let the proxy CANCEL, stops its INVITE retransmissions and its FR timer and is
    #: sent nothing more; a provisional that still comes on it gets the CANCEL. So do both tm
    #: modules: when the transaction's final goes upstream they stop the retransmission and FR
    #: timers of every branch (`cleanup_uac_timers`), and their `cancel_uacs` then sends no
    #: CANCEL to a branch that never answered: Kamailio drops it (`cancel_branch` with its
    #: "kill" flag), OpenSIPS marks it to be CANCELled if a reply ever comes (KAM-11,
    #: OSIPS-26, TXN-9). The caller's CANCEL, before any final, does not stop it (KAM-12,
    #: OSIPS-27). False: RFC 3261 §17.1.1.2, copies go on until Timer B or the FR timer.
    final_stops_unanswered_branches: bool = False


@dataclass(slots=True, eq=False)
class Branch:
    """One branch of a response context (RFC 3261 §16.6)."""

    index: int
    kind: BranchKind
    opened_at: float
    injected: bool = False
    target: str = ""
    request: Request | None = None
    destination: Address | None = None
    txn: ClientTransaction | None = None
    cancel_txn: NonInviteClientTransaction | None = None
    binding: Binding | None = None
    provisional: list[int] = field(default_factory=list)
    final_status: int | None = None
    final_response: Response | None = None
    final_at: float | None = None
    cancelled: bool = False
    cancelled_at: float | None = None
    cancel_wanted: str | None = None
    fr_at: float | None = None
    limit: int | None = None
    #: the status the branch ends with when its FR timer fires, when not 408 (`fail_branch`)
    fail_status: int | None = None

    @property
    def via_branch(self) -> str | None:
        return self.txn.branch if self.txn is not None else None

    def set_final(self, status: int, now: float, response: Response | None = None) -> None:
        self.final_status, self.final_response, self.final_at = status, response, now
        self.fr_at = None

    def summary(self) -> BranchSummary:
        return BranchSummary(
            index=self.index,
            target=self.target,
            via_branch=self.via_branch,
            kind=str(self.kind),
            injected=self.injected,
            opened_at=self.opened_at,
            provisional=tuple(self.provisional),
            final_status=self.final_status,
            final_at=self.final_at,
            cancelled=self.cancelled,
            cancelled_at=self.cancelled_at,
        )

    def __repr__(self) -> str:
        state = self.final_status if self.final_status is not None else "pending"
        return f"<Branch {self.index} {self.kind} {self.target or '-'} {state}>"


_CHALLENGES = ("www-authenticate", "proxy-authenticate")


def _merge_challenges(response: Response, others: list[Response | None]) -> Response:
    """CTX-7 (RFC 3261 §16.7 step 7): a chosen 401/407 carries every WWW-Authenticate and
    Proxy-Authenticate value collected in the context."""
    have = {(header_key(n), v) for n, v in response.headers}
    for other in others:
        if other is None or other.status not in (401, 407):
            continue
        for name, value in other.headers:
            if header_key(name) in _CHALLENGES and (header_key(name), value) not in have:
                response = response.with_header_appended(name, value)
                have.add((header_key(name), value))
    return response


class ResponseContext:
    """One INVITE server transaction and its branches (RFC 3261 §16.7)."""

    __slots__ = ("txn_id", "server", "request", "config", "ids", "created_at", "branches",
                 "final_status", "final_at", "cancelled", "no_new_branches", "pushes",
                 "to_tag", "client_index", "server_key", "lifetime_at", "__weakref__")

    def __init__(
        self,
        txn_id: TxnId,
        server: ServerTransaction,
        config: ContextConfig,
        ids: IdSource,
        now: float,
    ) -> None:
        self.txn_id = txn_id
        self.server = server
        self.request: Request = server.request
        self.config = config
        self.ids = ids
        self.created_at = now
        self.branches: list[Branch] = []
        self.final_status: int | None = None
        self.final_at: float | None = None
        self.cancelled = False
        self.no_new_branches = False
        self.pushes: list[tuple[str, float]] = []
        self.to_tag: str | None = None
        self.client_index: dict[str, Branch] = {}
        #: the key the proxy files the server transaction under (RFC 3261 §17.2.3)
        self.server_key: tuple[str, str, int | None] = ("", "", None)
        self.lifetime_at: float | None = (
            None if config.max_inv_lifetime is None else now + config.max_inv_lifetime)

    # ---------------------------------------------------------------- state
    @property
    def call_id(self) -> str:
        return self.request.call_id

    def pending(self, branch: Branch) -> bool:
        """Does `branch` still hold back the final response? (OSIPS-1, OSIPS-4)"""
        if branch.final_status is not None:
            return False
        if branch.kind is BranchKind.REAL:
            return True
        if branch.cancelled:
            return False
        if (self.cancelled and self.config.cancel_skips_placeholder
                and branch.kind is BranchKind.PHONY):
            return False  # OSIPS-28: spared by the caller's CANCEL, it holds nothing back
        return branch.limit is None or len(self.branches) < branch.limit

    @property
    def placeholder(self) -> Branch | None:
        for branch in self.branches:
            if branch.kind is BranchKind.PHONY:
                return branch
        return None

    def refusal(self) -> int:
        """0 if a new branch may be created, else the OpenSIPS code: -2 after a final response
        was sent, -3 after the caller's CANCEL or a 6xx (OSIPS-8, OSIPS-10, CTX-5)."""
        if self.final_status is not None:
            return -2
        if self.cancelled or self.no_new_branches:
            return -3
        return 0

    @property
    def finished(self) -> bool:
        """True once nothing is left to do: final sent and every transaction terminated."""
        if self.final_status is None or self.server.state is not ServerState.TERMINATED:
            return False
        for b in self.branches:
            if b.txn is not None and b.txn.state is not ClientState.TERMINATED:
                return False
            if b.cancel_txn is not None and b.cancel_txn.state is not NonInviteState.TERMINATED:
                return False
        return True

    # -------------------------------------------------------------- branches
    def add_placeholder(self, now: float, n: int | None = None) -> Branch:
        """`t_wait_for_new_branches([N])`: a phony branch with deadline `fr_inv_timeout` and,
        with N, the limit current branches + N + 1 (OSIPS-1, OSIPS-2, OSIPS-4)."""
        limit = None if n is None else len(self.branches) + n + 1
        branch = Branch(index=len(self.branches), kind=BranchKind.PHONY, opened_at=now,
                        fr_at=now + self.config.fr_inv_timeout, limit=limit)
        self.branches.append(branch)
        return branch

    def add_blind(self, now: float) -> Branch:
        """`t_suspend()`: a blind UAC on `fr_timeout`, as it never gets a 1xx (KAM-5)."""
        branch = Branch(index=len(self.branches), kind=BranchKind.BLIND, opened_at=now,
                        fr_at=now + self.config.fr_timeout)
        self.branches.append(branch)
        return branch

    def cap_branches(self, limit: int, now: float) -> list[Action]:
        """Lower the placeholder's limit to `limit` branches (`t_wait_no_more_branches`, the
        `l` flag; OSIPS-4) and finish if nothing else is pending."""
        phony = self.placeholder
        if phony is not None:
            phony.limit = limit if phony.limit is None else min(phony.limit, limit)
        return self.settle(now)

    def stop_waiting(self, now: float) -> list[Action]:
        """OSIPS-5: cap the wait at the current branches and fake the 408 of a placeholder that is
        still pending, then send the final response if nothing else is pending."""
        phony = self.placeholder
        if phony is not None:
            phony.limit = len(self.branches)
            if phony.final_status is None and not phony.cancelled:
                phony.set_final(408, now)
        return self.settle(now)

    def fork(
        self,
        uri: URI,
        destination: Address,
        now: float,
        *,
        routes: tuple[str, ...] = (),
        injected: bool = False,
        binding: Binding | None = None,
        reliable: bool = False,
        transport: str = "UDP",
        connection: int | None = None,
        record_route: tuple[str, tuple[str, ...]] | None = None,
    ) -> tuple[Branch, list[Action]]:
        """Send a copy of the stored request to `uri` as a new branch with a new client
        transaction and Via branch (RFC 3261 §16.6 steps 2–10; CTX-2); `routes` is the contact's
        Path (OSIPS-9); `transport` and `connection` say how it goes (a registered flow, RFC 5626
        §5.3); `record_route` replaces the proxy's Record-Route by a double one (ROUTE-9).
        Raises `LocalProtocolError` when `refusal()` forbids it."""
        if self.refusal():
            raise LocalProtocolError(f"no new branch allowed (code {self.refusal()})")
        via_branch = self.ids.branch()
        via = via_value(self.config.host, self.config.port, via_branch, transport)
        request = forwarded_request(self.request, uri, via, routes, record_route)
        txn = ClientTransaction(request, destination, now, reliable=reliable,
                                values=self.config.timers, branch=via_branch,
                                transport=transport, connection=connection)
        branch = Branch(index=len(self.branches), kind=BranchKind.REAL, opened_at=now,
                        injected=injected, target=str(uri), request=request,
                        destination=destination, txn=txn, binding=binding,
                        fr_at=now + self.config.fr_timeout)
        self.branches.append(branch)
        self.client_index[txn.branch] = branch
        return branch, txn.start()

    def cancel_branch(self, branch: Branch, now: float, reason: str | None = None) -> list[Action]:
        """CANCEL a pending branch (RFC 3261 §9.1): at once if it rang, else as soon as its first
        provisional arrives. A placeholder or blind branch just stops waiting."""
        if branch.final_status is not None or branch.cancelled:
            return []
        if branch.kind is not BranchKind.REAL:
            branch.cancelled, branch.cancelled_at, branch.fr_at = True, now, None
            return []
        if not branch.provisional:
            branch.cancel_wanted = reason or ""
            txn = branch.txn
            if (self.final_status is not None and self.config.final_stops_unanswered_branches
                    and txn is not None and txn.state is ClientState.CALLING):
                txn.abandon()  # KAM-11, OSIPS-26: no more copies, no FR timer, no CANCEL
                branch.fr_at = None
            return []
        assert branch.request is not None and branch.destination is not None
        branch.cancelled, branch.cancelled_at = True, now
        if branch.final_status is None:  # RFC 3261 §9.1: give up after 64*T1 without a final
            branch.fr_at = now + self.config.timers.b
        cancel = build_cancel(branch.request, reason or None)
        txn = branch.txn
        branch.cancel_txn = NonInviteClientTransaction(
            cancel, branch.destination, now, reliable=txn is not None and txn.reliable,
            values=self.config.timers, transport=txn.transport if txn is not None else "UDP",
            connection=txn.connection if txn is not None else None)
        return branch.cancel_txn.start()

    def cancel_pending(self, now: float, reason: str | None = None, *,
                       rang_only: bool = False) -> list[Action]:
        """CANCEL every pending branch (CTX-5, CTX-6, CTX-9); with `rang_only`, only real
        branches that had a provisional (the `cancel` flag of `t_inject_branches`, OSIPS-12)."""
        out: list[Action] = []
        for branch in list(self.branches):
            if rang_only and (branch.kind is not BranchKind.REAL or not branch.provisional):
                continue
            out += self.cancel_branch(branch, now, reason)
        return out

    # -------------------------------------------------------------- responses
    def receive(self, branch: Branch, response: Response, now: float) -> list[Action]:
        """A response arrived on `branch`'s client transaction (RFC 3261 §16.7 steps 1–5)."""
        assert branch.txn is not None
        if branch.txn.state is ClientState.TERMINATED:
            if (response.status < 200 and branch.cancel_wanted is not None
                    and not branch.cancelled and branch.final_status is None):
                # a branch given up with the call answers at last: CANCEL it (KAM-11, OSIPS-26)
                branch.provisional.append(response.status)
                return self.cancel_branch(branch, now, branch.cancel_wanted or None)
            # after Timer M (RFC 6026 §7.2) a 2xx still goes up, as every 2xx does (§16.7 step 5)
            if 200 <= response.status < 300:
                return self._forward_2xx(response, now)
            return []
        outcome = branch.txn.receive(response, now)
        return self._outcome(branch, outcome, now)

    def _outcome(self, branch: Branch, outcome: Outcome, now: float) -> list[Action]:
        out = list(outcome.actions)
        response = outcome.response
        if outcome.failure is not None:
            out += self._branch_final(branch, outcome.failure, None, now)
        elif response is not None:
            if response.status < 200:
                out += self._on_provisional(branch, response, now)
            else:
                out += self._branch_final(branch, response.status, response, now)
        return out

    def cancel_answered(self, branch: Branch, status: int, now: float) -> None:
        """A response to our CANCEL of `branch` (hop by hop: it ends only the CANCEL's own
        transaction, RFC 3261 §9.1)."""
        if branch.cancel_txn is not None:
            branch.cancel_txn.receive(status, now)

    def transport_failed(self, branch: Branch, now: float) -> list[Action]:
        """Sending on `branch` failed: it counts as a 503 there (RFC 3261 §16.9, CTX-3)."""
        assert branch.txn is not None
        if (branch.txn.state, ClientInput.TRANSPORT_ERROR) not in CLIENT_TRANSITIONS:
            return []
        return self._outcome(branch, branch.txn.transport_error(now), now)

    def fail_branch(self, branch: Branch, status: int, now: float) -> None:
        """`branch` sends nothing and ends with `status` when its FR timer fires, due at `now`:
        after whatever else the current input forks, so that response selection sees every
        branch (a flow that failed: 430, RFC 5626 §5.3, ROUTE-7)."""
        if branch.txn is not None:
            branch.txn.abandon()
        branch.fail_status, branch.fr_at = status, now

    def connection_closed(self, connection: int, now: float) -> list[Action]:
        """The driver's connection `connection` closed: each branch sent over it that has
        no final response fails as a transport error (RFC 3261 §16.9: a 503 there)."""
        out: list[Action] = []
        for branch in list(self.branches):
            txn = branch.txn
            if txn is None or txn.connection != connection:
                continue
            cancel = branch.cancel_txn
            if cancel is not None and cancel.state is not NonInviteState.TERMINATED:
                cancel.transport_error()
            if branch.final_status is not None or txn.state is ClientState.TERMINATED:
                continue
            if (txn.state, ClientInput.TRANSPORT_ERROR) in CLIENT_TRANSITIONS:
                out += self.transport_failed(branch, now)
            else:  # Proceeding: no response can come back on a connection that is gone
                txn.abandon()
                out += self._branch_final(branch, 503, None, now)
        return out

    def _on_provisional(self, branch: Branch, response: Response, now: float) -> list[Action]:
        out: list[Action] = []
        first = not branch.provisional
        branch.provisional.append(response.status)
        if branch.final_status is None and (first or response.status > 100):
            branch.fr_at = now + self.config.fr_inv_timeout  # TXN-1, OSIPS-3
        if branch.cancel_wanted is not None and not branch.cancelled:
            reason = branch.cancel_wanted or None
            out += self.cancel_branch(branch, now, reason)
        if response.status > 100 and self.final_status is None:  # CTX-4: 100 is never forwarded
            out += self.server.respond(response.without_top_via(), now)
        return out

    def _branch_final(
        self, branch: Branch, status: int, response: Response | None, now: float
    ) -> list[Action]:
        if branch.final_status is not None:  # already faked (FR timer); a late answer
            if response is not None and 200 <= status < 300:
                return self._forward_2xx(response, now)
            return []
        branch.set_final(status, now, response)
        if 200 <= status < 300 and response is not None:
            return self._forward_2xx(response, now)
        out: list[Action] = []
        if status >= 600:  # CTX-5
            self.no_new_branches = True
            if self.config.selection is Selection.OPENSIPS and self.final_status is None:
                return self._forward_6xx(status, response, now)
            out += self.cancel_pending(now)
        return out + self.settle(now)

    def _forward_6xx(self, status: int, response: Response | None, now: float) -> list[Action]:
        """OpenSIPS picks a 6xx as the final response the moment it arrives: it is relayed to
        the caller at once, then the pending branches are CANCELled (no Reason), where RFC 3261
        §16.7 step 5 holds it until they end (CTX-5; OpenSIPS 3.6 tm `t_should_relay_response`,
        seen on the wire in the lab's capture O8)."""
        self.final_status, self.final_at = status, now
        upstream = (response.without_top_via() if response is not None
                    else self.final_response(status))
        return self.server.respond(upstream, now) + self.cancel_pending(now)

    def _forward_2xx(self, response: Response, now: float) -> list[Action]:
        """CTX-4, CTX-6: forward every 2xx at once; CANCEL pending branches after the first.

        The first 2xx moves the server transaction to Accepted; a later one (another fork's,
        or a retransmission from downstream) goes through it while it is there (RFC 6026 §7.1,
        TXN-7), and straight to the caller after a non-2xx final or once Timer L ended it
        (RFC 3261 §16.7 step 5: every 2xx is forwarded)."""
        upstream = response.without_top_via()
        if self.final_status is None:
            self.final_status, self.final_at = response.status, now
            out = self.server.respond(upstream, now)
            return out + self.cancel_pending(now, REASON_ELSEWHERE)
        if self.server.state is ServerState.ACCEPTED:
            return self.server.respond(upstream, now)
        return [self.server.send(upstream)]

    # --------------------------------------------------------------- caller
    def caller_cancel(self, now: float) -> list[Action]:
        """The caller's CANCEL matched (RFC 3261 §16.10, CTX-9, OSIPS-10); the 200 to the CANCEL
        itself is sent by the proxy before this."""
        if self.final_status is not None or self.cancelled:
            return []
        self.cancelled = True
        # OSIPS-28: beside other branches the placeholder is spared, and nothing is chosen
        # until a branch's answer or a timer comes
        spare = self.config.cancel_skips_placeholder and len(self.branches) > 1
        out: list[Action] = []
        for branch in self.branches:
            if branch.kind is BranchKind.REAL:
                out += self.cancel_branch(branch, now)
            elif spare and branch.kind is BranchKind.PHONY:
                continue
            elif branch.final_status is None and not branch.cancelled:
                branch.cancelled, branch.cancelled_at = True, now
                branch.set_final(487, now)
        return out if spare else out + self.settle(now)

    def caller_ack(self, now: float) -> list[Action]:
        """The caller's ACK to our non-2xx final response (RFC 3261 §17.2.1)."""
        if self.server.state in (ServerState.COMPLETED, ServerState.CONFIRMED):
            return self.server.process(ServerInput.RECV_ACK, now)
        return []

    def final_response(self, status: int) -> Response:
        """A final response the proxy generates itself (408, 487, 500, 480...)."""
        if self.to_tag is None:
            self.to_tag = self.ids.tag()
        return make_response(self.request, status, to_tag=self.to_tag)

    def respond(self, status: int, now: float) -> list[Action]:
        """Send a final response of the proxy's own (`t_reply`); CANCEL what is pending."""
        if self.final_status is not None:
            raise LocalProtocolError("a final response was already sent")
        self.final_status, self.final_at = status, now
        out = self.server.respond(self.final_response(status), now)
        return out + self.cancel_pending(now)

    def settle(self, now: float) -> list[Action]:
        """CTX-7, OSIPS-6, OSIPS-7: once no branch is pending, send the best final response."""
        if self.final_status is not None or any(self.pending(b) for b in self.branches):
            return []
        done = sorted((b for b in self.branches if b.final_status is not None),
                      key=lambda b: (b.final_at, b.index))
        statuses = [b.final_status for b in done]
        chosen = best_response(statuses, self.config.selection,  # type: ignore[arg-type]
                               cancelled=self.cancelled)
        status = status_to_send(None if chosen is None else statuses[chosen],
                                self.config.selection)
        best = None if chosen is None else done[chosen]
        picked = None if best is None else best.final_response
        if picked is None and self.cancelled and self.config.cancelled_local_final_is_487:
            status = 487  # KAM-12: a response of the proxy's own, to a cancelled call
        if picked is not None and picked.status == status:
            response = picked.without_top_via()
            if status in (401, 407):
                response = _merge_challenges(response, [b.final_response for b in done
                                                        if b is not best])
        else:
            response = self.final_response(status)
        self.final_status, self.final_at = status, now
        return self.server.respond(response, now) + self.cancel_pending(now)

    # ---------------------------------------------------------------- timers
    def get_timer(self) -> float | None:
        """The earliest deadline of the server transaction, the lifetime cap, the branches'
        FR timers and their transactions (one pass, no list built: it runs after every input)."""
        # a transaction's deadline is its timers' earliest (`get_timer` of each transaction)
        best = self.server.timers.next_at
        at = self.lifetime_at
        if at is not None and (best is None or at < best):
            best = at
        for branch in self.branches:
            at = branch.fr_at
            if at is not None and (best is None or at < best):
                best = at
            txn = branch.txn
            if txn is not None:
                at = txn.timers.next_at
                if at is not None and (best is None or at < best):
                    best = at
            cancel = branch.cancel_txn
            if cancel is not None:
                at = cancel.timers.next_at
                if at is not None and (best is None or at < best):
                    best = at
        return best

    def handle_timer(self, now: float) -> list[Action]:
        """Fire the transactions' RFC 3261 timers and the branches' FR timers due at `now`."""
        out: list[Action] = []
        at = self.server.timers.next_at
        if at is not None and at <= now:
            out += self.server.handle_timer(now)
        if self.lifetime_at is not None and self.lifetime_at <= now:  # KAM-5 max_inv_lifetime
            self.lifetime_at = None
            for branch in self.branches:
                if self.pending(branch):
                    branch.fr_at = now
        for branch in list(self.branches):
            txn = branch.txn
            if txn is not None:
                at = txn.timers.next_at
                if at is not None and at <= now:
                    for outcome in txn.handle_timer(now):
                        out += self._outcome(branch, outcome, now)
            cancel = branch.cancel_txn
            if cancel is not None:
                at = cancel.timers.next_at
                if at is not None and at <= now:
                    out += cancel.handle_timer(now)
            at = branch.fr_at
            if at is not None and at <= now:
                out += self._fr_expired(branch, now)
        return out

    def _fr_expired(self, branch: Branch, now: float) -> list[Action]:
        """TXN-2, OSIPS-2, OSIPS-3, KAM-5: the FR timer of a branch expired: faked 408."""
        out: list[Action] = []
        if branch.cancelled and branch.txn is not None:  # no final 64*T1 after our CANCEL
            branch.txn.abandon()
            branch.fr_at = None
            if branch.final_status is None:
                branch.set_final(408, now)
            return self.settle(now)
        if branch.kind is BranchKind.REAL and branch.provisional:
            out += self.cancel_branch(branch, now, REASON_NO_ANSWER)
        elif branch.txn is not None:  # never rang: as if it got a 408, and it is over (§16.8)
            branch.txn.abandon()
        abandon_at = branch.fr_at if branch.cancelled else None
        branch.set_final(branch.fail_status or 408, now)
        branch.fr_at = abandon_at
        return out + self.settle(now)

    # --------------------------------------------------------------- summary
    def summary(self) -> CallSummary:
        return CallSummary(
            call_id=self.call_id,
            caller=str(self.request.from_.uri),
            callee=str(self.request.uri),
            invite_at=self.created_at,
            final_status=self.final_status,
            final_at=self.final_at,
            cancelled_by_caller=self.cancelled,
            branches=tuple(b.summary() for b in self.branches),
            pushes=tuple(self.pushes),
        )

    def __repr__(self) -> str:
        return (f"<ResponseContext {self.call_id} branches={len(self.branches)} "
                f"final={self.final_status}>")
