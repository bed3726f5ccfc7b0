"""An in-memory harness for the proxy core: a caller, the proxy and N devices on one virtual
clock (house style, principle 10; h11 `ConnectionPair`, aioquic `TICK`).

Nothing here reads a clock: `now` only moves through `advance_to` / `advance`, which fire the
proxy's timers in deadline order, as a driver would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pushinject.core.actions import Action, Log, Push, Send
from pushinject.core.events import Received
from pushinject.core.ids import CountingIds
from pushinject.core.proxy import Proxy, ProxyConfig
from pushinject.scripts.opensips_seed import SeedScript
from pushinject.sip import Request, Response, make_request, make_response

PROXY = ("127.0.0.1", 5060)
CALLER = ("192.0.2.10", 5060)
DOMAIN = "example.com"


@dataclass
class Harness:
    """Drive a `Proxy` by hand. Every action the proxy returns is kept in `log` with its time."""

    script: Any = field(default_factory=SeedScript)
    config: ProxyConfig = field(default_factory=ProxyConfig)
    now: float = 0.0
    log: list[tuple[float, Action]] = field(default_factory=list)
    invite: Request | None = None

    def __post_init__(self) -> None:
        self.ids = CountingIds("px")
        self.proxy = Proxy(self.config, self.ids, self.script)

    # ------------------------------------------------------------------ plumbing
    def _record(self, actions: list[Action]) -> list[Action]:
        self.log += [(self.now, a) for a in actions]
        return actions

    def deliver(self, message: Request | Response, source: tuple[str, int],
                transport: str = "UDP", connection: int | None = None) -> list[Action]:
        event = Received(message=message, source=source, transport=transport,
                         connection=connection)
        return self._record(self.proxy.handle(event, self.now))

    def advance_to(self, t: float) -> list[Action]:
        """Move the clock to `t`, firing every proxy timer due on the way."""
        out: list[Action] = []
        while (at := self.proxy.get_timer()) is not None and at <= t:
            self.now = max(self.now, at)
            out += self._record(self.proxy.handle_timer(self.now))
        self.now = t
        return out

    def advance(self, dt: float) -> list[Action]:
        return self.advance_to(self.now + dt)

    # ------------------------------------------------------------------ caller
    def call(self, user: str = "bob", call_id: str = "call-1", branch: str = "z9hG4bK-caller-1",
             *, transport: str = "UDP", connection: int | None = None) -> list[Action]:
        """The caller sends an INVITE for `user` (over `transport`, on `connection`)."""
        self.invite = make_request(
            "INVITE", f"sip:{user}@{DOMAIN}",
            via=f"SIP/2.0/{transport} {CALLER[0]}:{CALLER[1]};branch={branch}",
            from_=f"<sip:alice@{DOMAIN}>;tag=alice-1", to=f"<sip:{user}@{DOMAIN}>",
            call_id=call_id, cseq=1, contact=f"<sip:alice@{CALLER[0]}:{CALLER[1]}>")
        return self.deliver(self.invite, CALLER, transport, connection)

    def cancel(self) -> list[Action]:
        """The caller CANCELs its INVITE (RFC 3261 §9.1)."""
        assert self.invite is not None
        inv = self.invite
        cancel = make_request("CANCEL", inv.uri, via=str(inv.top_via), from_=inv.get("From"),
                              to=inv.get("To"), call_id=inv.call_id, cseq=inv.cseq.number)
        return self.deliver(cancel, CALLER)

    def ack(self, response: Response) -> list[Action]:
        """The caller ACKs a non-2xx final response (same branch as the INVITE)."""
        assert self.invite is not None
        inv = self.invite
        ack = make_request("ACK", inv.uri, via=str(inv.top_via), from_=inv.get("From"),
                           to=response.get("To"), call_id=inv.call_id, cseq=inv.cseq.number)
        return self.deliver(ack, CALLER)

    # ------------------------------------------------------------------ devices
    def register(self, user: str = "bob", port: int = 5070, *, host: str = "192.0.2.20",
                 expires: int = 3600, instance: str | None = None, pn: str | None = None,
                 call_id: str | None = None, cseq: int = 1, reg_id: int | None = None,
                 source: tuple[str, int] | None = None, transport: str = "UDP",
                 connection: int | None = None) -> list[Action]:
        """A device of `user` registers the contact `sip:user@host:port` (pn: a pn-prid),
        from `source` (default: the contact's own address) over `transport`/`connection`."""
        contact = f"<sip:{user}@{host}:{port}"
        if pn is not None:
            contact += f";pn-provider=fcm;pn-prid={pn};pn-param=proj"
        if transport != "UDP":
            contact += f";transport={transport.lower()}"
        contact += ">"
        if instance is not None:
            contact += f';+sip.instance="<urn:uuid:{instance}>"'
        if reg_id is not None:
            contact += f";reg-id={reg_id}"
        request = make_request(
            "REGISTER", f"sip:{DOMAIN}",
            via=f"SIP/2.0/{transport} {host}:{port};branch=z9hG4bK-reg-{port}-{cseq}-{self.now:g}",
            from_=f"<sip:{user}@{DOMAIN}>;tag=reg-{port}", to=f"<sip:{user}@{DOMAIN}>",
            call_id=call_id or f"reg-{user}-{port}", cseq=cseq, contact=contact,
            extra=[("Expires", str(expires))])
        return self.deliver(request, source or (host, port), transport, connection)

    def answer(self, send: Send, status: int, to_tag: str | None = None) -> list[Action]:
        """The device that got `send` (an INVITE) answers `status`."""
        request = send.message
        assert isinstance(request, Request)
        tag = to_tag or f"dev-{send.destination[1]}"
        response = make_response(request, status, to_tag=tag if status > 100 else None)
        return self.deliver(response, send.destination)

    # ------------------------------------------------------------------ reading the log
    @staticmethod
    def sends(actions: list[Action], *, to: tuple[str, int] | None = None,
              method: str | None = None) -> list[Send]:
        out = [a for a in actions if isinstance(a, Send)]
        if to is not None:
            out = [a for a in out if a.destination == to]
        if method is not None:
            out = [a for a in out if getattr(a.message, "method", None) == method]
        return out

    @staticmethod
    def statuses(actions: list[Action], to: tuple[str, int] = CALLER) -> list[int]:
        """Statuses of the responses sent to `to` (the caller by default)."""
        return [a.message.status for a in actions
                if isinstance(a, Send) and a.destination == to and hasattr(a.message, "status")]

    @staticmethod
    def invites(actions: list[Action]) -> list[Send]:
        return Harness.sends(actions, method="INVITE")

    @staticmethod
    def pushes(actions: list[Action]) -> list[Push]:
        return [a for a in actions if isinstance(a, Push)]

    @staticmethod
    def logs(actions: list[Action]) -> list[str]:
        return [a.text for a in actions if isinstance(a, Log)]
