"""Simulated user agents: the caller and the callee's devices, sans-I/O on the virtual clock.

Each agent follows the driver contract of the core (house style, principle 2):
`handle(message, source, now) -> list[Outgoing]` for a message that arrived,
`get_timer() -> float | None` and `handle_timer(now) -> list[Outgoing]` for what it does later
(send the INVITE, ring, answer, register, wake up). Agents talk only through bytes-level SIP
messages built with `pushinject.sip`, so the wire carries exactly what a real UA would send.

Behaviour (each line a UA rule of RFC 3261 or RFC 8599):

- caller: INVITE; ACK for a non-2xx final on the INVITE's branch (§17.1.1.3) and for each 2xx
  as a new request along the dialog's route set (§13.2.2.4, §12.1.2), then BYE for any 2xx
  after the first (§13.2.2.4: one dialog is kept); CANCEL at `cancel_at` if no final arrived
  (§9.1);
- device: REGISTER (with pn-* URI parameters when it is a push device, RFC 8599 §4.1); to an
  INVITE, 100 at once (§17.2.1) and the last response again to a retransmission, 180 after
  `ring_after`, its final after `answer_after` (180 and 2xx copy Record-Route, §12.1.1); to a
  CANCEL, 200 and then 487 to the INVITE (§9.2); to a second copy of a request it already has
  under another branch, 482 (merged request, §8.2.2.2); 200 to BYE;
- a push device is asleep: it ignores every request until pushed, then after `wake_after` it
  sends the binding-refresh REGISTER with the same pn-* parameters (RFC 8599 §4.1.3);
- where a device's REGISTER comes from need not be where it listens: `register_from_port`
  sends it from another port of the device's host (SIPp's usual recipe), `private_contact`
  puts an unreachable private address in its Contact (a device behind a NAT, reachable only
  at the address its REGISTER came from), `outbound` adds ``+sip.instance`` and ``reg-id``
  (an RFC 5626 flow, RFC 5626 §4.2); ROUTE-1 to ROUTE-3 say where the proxy's branches go.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from pushinject.core.ids import CountingIds
from pushinject.core.types import Address
from pushinject.sim.scenario import CallerSpec, DeviceSpec
from pushinject.sip import Request, Response, make_request, make_response, parse_name_addr

__all__ = [
    "DOMAIN",
    "PROXY_ADDRESS",
    "CALLER_ADDRESS",
    "PN_PROVIDER",
    "PN_PARAM",
    "Outgoing",
    "Agent",
    "Caller",
    "Device",
    "device_address",
]

#: the callee's domain; the caller calls sip:bob@DOMAIN
DOMAIN = "example.com"
#: where the proxy listens
PROXY_ADDRESS: Address = ("127.0.0.1", 5060)
#: where the caller "alice" listens
CALLER_ADDRESS: Address = ("127.0.0.2", 5060)
#: the push service a simulated push device names unless its scenario says otherwise, and the
#: app parameter every one names (RFC 8599 §4.1.1)
PN_PROVIDER = "fcm"
PN_PARAM = "pushinject-sim"


def device_address(index: int) -> Address:
    """The loopback address of the `index`-th device (0-based): 127.0.0.10, .11, ..."""
    return (f"127.0.0.{10 + index}", 5060)


@dataclass(frozen=True)
class Outgoing:
    """A message an agent sends now to `destination`, from `source` (None: the agent's own
    address)."""

    message: Request | Response
    destination: Address
    source: Address | None = None


@dataclass(order=True)
class _Job:
    at: float
    seq: int
    action: Callable[[float], list[Outgoing]] = field(compare=False)
    tag: str = field(compare=False, default="")


class Agent(ABC):
    """What the caller and the devices share: a name, an address and a queue of timed jobs."""

    def __init__(self, name: str, address: Address) -> None:
        self.name = name
        self.address = address
        self.ids = CountingIds(name)
        self._jobs: list[_Job] = []
        self._seq = 0

    def _at(self, at: float, action: Callable[[float], list[Outgoing]], tag: str = "") -> None:
        self._seq += 1
        self._jobs.append(_Job(at, self._seq, action, tag))

    def _drop_jobs(self, tag: str) -> None:
        self._jobs = [job for job in self._jobs if job.tag != tag]

    def get_timer(self) -> float | None:
        """When this agent next acts by itself (None: only when a message arrives)."""
        return min((job.at for job in self._jobs), default=None)

    def handle_timer(self, now: float) -> list[Outgoing]:
        """Run every job due at or before `now`, in the order they were scheduled."""
        due = sorted(job for job in self._jobs if job.at <= now)
        self._jobs = [job for job in self._jobs if job.at > now]
        out: list[Outgoing] = []
        for job in due:
            out.extend(job.action(now))
        return out

    def _via(self, sent_by: Address | None = None) -> str:
        host, port = sent_by or self.address
        return f"SIP/2.0/UDP {host}:{port};branch={self.ids.branch()};rport"

    @abstractmethod
    def handle(self, message: Request | Response, source: Address, now: float
               ) -> list[Outgoing]:
        """A message from `source` arrived at `now`: what this agent sends in answer."""


class Caller(Agent):
    """The caller (``alice`` unless `name` says otherwise): one INVITE to `callee`
    (``sip:bob@DOMAIN``) through the proxy."""

    def __init__(self, spec: CallerSpec, *, address: Address = CALLER_ADDRESS,
                 proxy: Address = PROXY_ADDRESS, callee: str = f"sip:bob@{DOMAIN}",
                 name: str = "alice") -> None:
        super().__init__(name, address)
        self.spec = spec
        self.proxy = proxy
        self.callee = callee
        self.invite: Request | None = None
        #: (status, time) of every response received to the INVITE, in order
        self.responses: list[tuple[int, float]] = []
        self.final: int | None = None
        self.final_at: float | None = None
        self.dialogs: list[str] = []
        self.cancelled = False
        self._at(spec.invite_at, self._send_invite)
        if spec.cancel_at is not None:
            self._at(spec.cancel_at, self._send_cancel)

    def _send_invite(self, now: float) -> list[Outgoing]:
        host, port = self.address
        self.invite = make_request(
            "INVITE", self.callee, via=self._via(),
            from_=f"<sip:{self.name}@{DOMAIN}>;tag={self.ids.tag()}", to=f"<{self.callee}>",
            call_id=self.ids.call_id(), cseq=1, contact=f"<sip:{self.name}@{host}:{port}>",
        )
        return [Outgoing(self.invite, self.proxy)]

    def _send_cancel(self, now: float) -> list[Outgoing]:
        if self.invite is None or self.final is not None:
            return []
        invite = self.invite
        self.cancelled = True
        cancel = make_request(
            "CANCEL", str(invite.uri), via=str(invite.top_via), from_=invite.get("From") or "",
            to=invite.get("To") or "", call_id=invite.call_id, cseq=invite.cseq.number,
        )
        return [Outgoing(cancel, self.proxy)]

    def _ack(self, response: Response) -> list[Outgoing]:
        """ACK a final response (RFC 3261 §17.1.1.3 for non-2xx, §13.2.2.4 for 2xx)."""
        assert self.invite is not None
        invite = self.invite
        to = response.get("To") or ""
        if response.status >= 300:
            ack = make_request("ACK", str(invite.uri), via=str(invite.top_via),
                               from_=invite.get("From") or "", to=to, call_id=invite.call_id,
                               cseq=invite.cseq.number)
            return [Outgoing(ack, self.proxy)]
        target = response.contacts[0].uri if response.contacts else invite.uri
        # §12.1.2: the route set is the Record-Route list reversed; requests go to its first hop
        routes = list(reversed(response.get_all("Record-Route")))
        hop = parse_name_addr(routes[0]).uri if routes else target
        destination = (str(getattr(hop, "host", "")), getattr(hop, "port", None) or 5060)
        extra = [("Route", ", ".join(routes))] if routes else []
        out = [Outgoing(make_request("ACK", str(target), via=self._via(),
                                     from_=invite.get("From") or "", to=to,
                                     call_id=invite.call_id, cseq=invite.cseq.number,
                                     extra=extra), destination)]
        tag = response.to.tag or ""
        if tag not in self.dialogs:
            self.dialogs.append(tag)
            if len(self.dialogs) > 1:  # §13.2.2.4: keep the first dialog, end the others
                out.append(Outgoing(make_request(
                    "BYE", str(target), via=self._via(), from_=invite.get("From") or "", to=to,
                    call_id=invite.call_id, cseq=invite.cseq.number + 1, extra=extra),
                    destination))
        return out

    def handle(self, message: Request | Response, source: Address, now: float
               ) -> list[Outgoing]:
        if not isinstance(message, Response) or message.cseq.method != "INVITE":
            return []
        self.responses.append((message.status, now))
        if message.status < 200:
            return []
        if self.final is None:
            self.final, self.final_at = message.status, now
        return self._ack(message)


@dataclass
class _ServerInvite:
    invite: Request
    source: Address
    tag: str
    final: int | None = None
    last: Response | None = None


class Device(Agent):
    """One device of the callee (`user`, ``bob`` by default; see the module docstring for its
    rules), at `address` (default: `device_address(index)`)."""

    def __init__(self, spec: DeviceSpec, index: int, *, proxy: Address = PROXY_ADDRESS,
                 user: str = "bob", address: Address | None = None) -> None:
        super().__init__(spec.name, address or device_address(index))
        self.index = index
        self.spec = spec
        self.user = user
        self.proxy = proxy
        self.asleep = spec.push
        self.prid = f"tok-{spec.name}"
        self._reg_call_id = self.ids.call_id()
        self._reg_cseq = 0
        self.registered_at: list[float] = []
        self.pushed_at: list[float] = []
        #: when the device woke up after a push (PUSH-3: it then refreshes its binding)
        self.woke_at: list[float] = []
        self._invites: dict[str, _ServerInvite] = {}
        start = spec.register_at if spec.register_at is not None else (0.0 if spec.push else None)
        if start is not None:
            self._at(start, self._register)
        for at in spec.reregister_at:
            self._at(at, self._register)

    # -- registration ------------------------------------------------------------------------

    @property
    def contact_address(self) -> Address:
        """The address its Contact names: its own, or with `private_contact` a private one
        behind its NAT that nobody else can reach (10.0.0.10 for the first device, ...)."""
        if self.spec.private_contact:
            number = 10 + self.index
            return (f"10.0.{number // 256}.{number % 256}", 5060)
        return self.address

    @property
    def register_source(self) -> Address | None:
        """Where its REGISTERs come from when that is not its own address."""
        port = self.spec.register_from_port
        return None if port is None else (self.address[0], port)

    @property
    def contact_uri(self) -> str:
        """The contact URI, with RFC 8599 pn-* parameters for a push device."""
        host, port = self.contact_address
        uri = f"sip:{self.user}@{host}:{port}"
        if self.spec.push:
            provider = self.spec.pn_provider
            uri += f";pn-provider={provider};pn-param={PN_PARAM};pn-prid={self.prid}"
        return uri

    def _register(self, now: float) -> list[Outgoing]:
        self._reg_cseq += 1
        self.registered_at.append(now)
        contact = f"<{self.contact_uri}>" + (";+sip.pnsreg" if self.spec.pnsreg else "")
        if self.spec.outbound:  # RFC 5626 §4.2: the instance and the flow's reg-id
            contact += f';+sip.instance="<{self.instance}>";reg-id=1'
        source = self.register_source
        sent_by = source or (self.contact_address if self.spec.private_contact else None)
        register = make_request(
            "REGISTER", f"sip:{DOMAIN}", via=self._via(sent_by),
            from_=f"<sip:{self.user}@{DOMAIN}>;tag={self.ids.tag()}",
            to=f"<sip:{self.user}@{DOMAIN}>",
            call_id=self._reg_call_id, cseq=self._reg_cseq, contact=contact,
            extra=[("Expires", str(self.spec.expires))],
        )
        return [Outgoing(register, self.proxy, source)]

    @property
    def instance(self) -> str:
        """Its ``+sip.instance`` URN (RFC 5626 §4.1), made from its name."""
        return f"urn:uuid:00000000-0000-4000-8000-{self.name.encode().hex()[:12]:0>12}"

    def push(self, now: float) -> None:
        """A push notification arrived: wake after `wake_after` (never, when it is None)."""
        self.pushed_at.append(now)
        if self.spec.wake_after is not None and self.asleep:
            self._drop_jobs("wake")
            self._at(now + self.spec.wake_after, self._wake, "wake")

    def _wake(self, now: float) -> list[Outgoing]:
        """RFC 8599 §4.1.3: on a push, refresh the binding with the same pn-* parameters."""
        self.asleep = False
        self.woke_at.append(now)
        if self.spec.new_port_on_wake:
            host, port = self.address
            self.address = (host, port + 2)
        return self._register(now)

    # -- answering calls ---------------------------------------------------------------------

    def _respond(self, txn: _ServerInvite, status: int) -> list[Outgoing]:
        host, port = self.contact_address
        extra: list[tuple[str, str]] = []
        if 100 < status < 300:  # dialog-creating: Record-Route copied, Contact (§12.1.1)
            extra = [("Record-Route", rr) for rr in txn.invite.get_all("Record-Route")]
            extra.append(("Contact", f"<sip:{self.user}@{host}:{port}>"))
        response = make_response(txn.invite, status, to_tag=txn.tag if status > 100 else None,
                                 extra=extra)
        if status >= 200:
            txn.final = status
        txn.last = response
        return [Outgoing(response, txn.source)]

    def _ring(self, branch: str) -> Callable[[float], list[Outgoing]]:
        def ring(now: float) -> list[Outgoing]:
            txn = self._invites[branch]
            return [] if txn.final is not None else self._respond(txn, 180)
        return ring

    def _answer(self, branch: str) -> Callable[[float], list[Outgoing]]:
        def answer(now: float) -> list[Outgoing]:
            txn = self._invites[branch]
            return [] if txn.final is not None else self._respond(txn, self.spec.answer)
        return answer

    def _on_invite(self, invite: Request, source: Address, now: float) -> list[Outgoing]:
        branch = invite.top_via.branch or ""
        if branch in self._invites:  # a retransmission: repeat the last response (§17.2.1)
            last = self._invites[branch].last
            return [] if last is None else [Outgoing(last, source)]
        merged = any(
            t.invite.call_id == invite.call_id and t.invite.cseq == invite.cseq
            and t.invite.from_.tag == invite.from_.tag for t in self._invites.values()
        )
        txn = _ServerInvite(invite, source, self.ids.tag())
        self._invites[branch] = txn
        if merged:  # RFC 3261 §8.2.2.2: the same request arrived again by another path
            return self._respond(txn, 482)
        out = self._respond(txn, 100)
        if self.spec.ring_after is not None:
            self._at(now + self.spec.ring_after, self._ring(branch), branch)
        if self.spec.answer_after is not None:
            self._at(now + self.spec.answer_after, self._answer(branch), branch)
        return out

    def _on_cancel(self, cancel: Request, source: Address) -> list[Outgoing]:
        """RFC 3261 §9.2: 200 to the CANCEL, then 487 to the INVITE if it had no final yet."""
        branch = cancel.top_via.branch or ""
        txn = self._invites.get(branch)
        if txn is None:
            return [Outgoing(make_response(cancel, 481), source)]
        out = [Outgoing(make_response(cancel, 200, to_tag=txn.tag), source)]
        if txn.final is None:
            self._drop_jobs(branch)
            out.extend(self._respond(txn, 487))
        return out

    def handle(self, message: Request | Response, source: Address, now: float
               ) -> list[Outgoing]:
        if isinstance(message, Response):
            return []
        if self.asleep or source[0] == "":  # a sleeping phone receives nothing
            return []
        if message.method == "INVITE":
            return self._on_invite(message, source, now)
        if message.method == "CANCEL":
            return self._on_cancel(message, source)
        if message.method == "BYE":
            return [Outgoing(make_response(message, 200), source)]
        return []  # ACK and anything else: nothing to answer
