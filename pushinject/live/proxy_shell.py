"""A preset's proxy as a live UDP element; pushes go out as SIP MESSAGE to a push gateway.

The shell adds nothing to the proxy's behaviour: every datagram becomes
`Received(message, source)`, every `Send` becomes a datagram, timers fire at `get_timer()`.
A `Push` action (RFC 8599 §5.6.2, "the proxy requests a push") becomes a MESSAGE to the push
gateway whose body names the pn-provider, pn-prid and pn-param of the binding and the waiting
request's Call-ID; the gateway's final answer, or its silence for `push_timeout` seconds, is the
push result handed back to the driver (a failed push request ends an RFC 8599 bucket request
with 404 or 480). Without a gateway, pushes are logged and reported as failed.

A datagram the parser rejects goes to the core as `Unparsed` (400 when it can be answered).
Inputs the core refuses are logged one line per reason, at most once per `report_every`
seconds each, with how many came since the last line (INPUT-9); never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pushinject.core.actions import Log, Push, Send
from pushinject.core.events import Received, Unparsed
from pushinject.core.ids import IdSource
from pushinject.live.endpoint import Address, DatagramEndpoint, LiveClock
from pushinject.presets.base import Driver
from pushinject.push.service import PushResult
from pushinject.sip import Request, Response, SIPParseError, make_request

__all__ = ["PUSH_CONTENT_TYPE", "push_body", "parse_push_body", "ProxyShell"]

#: the body type of the push MESSAGE (one `key=value` per line)
PUSH_CONTENT_TYPE = "text/plain"


def push_body(push: Push) -> bytes:
    """The MESSAGE body asking the gateway to push the device behind `push.binding`.

    Lines `pn-provider=`, `pn-prid=`, `pn-param=` (RFC 8599 §4.1.1), then `aor=` and `call-id=`.
    """
    pn = push.binding.pn
    fields = [
        ("pn-provider", (pn.provider if pn else None) or ""),
        ("pn-prid", (pn.prid if pn else None) or ""),
        ("pn-param", (pn.param if pn else None) or ""),
        ("aor", push.aor),
        ("call-id", push.call_id),
        ("reason", push.reason),
    ]
    return "".join(f"{key}={value}\r\n" for key, value in fields).encode()


def parse_push_body(body: bytes) -> dict[str, str]:
    """The fields of a push MESSAGE body (see `push_body`).

    >>> parse_push_body(b"pn-prid=tok-B\\r\\ncall-id=c1\\r\\n")
    {'pn-prid': 'tok-B', 'call-id': 'c1'}
    """
    out: dict[str, str] = {}
    for line in body.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


@dataclass
class _PendingPush:
    push: Push
    deadline: float


class ProxyShell(DatagramEndpoint):
    """Run `driver` (a preset's proxy) on a UDP socket bound to `address`."""

    def __init__(self, driver: Driver, clock: LiveClock, ids: IdSource, *, address: Address,
                 push_gateway: Address | None = None, push_timeout: float = 5.0,
                 log: Callable[[float, str], None] | None = None,
                 report_every: float = 10.0) -> None:
        super().__init__("proxy", clock)
        self.driver = driver
        self.ids = ids
        self.address = address
        self.push_gateway = push_gateway
        self.push_timeout = push_timeout
        self.log = log or (lambda now, text: None)
        self._pending: dict[str, _PendingPush] = {}
        #: (time, Push, result) for every push requested, in order
        self.pushes: list[tuple[float, Push, PushResult | None]] = []
        self.report_every = report_every
        #: refusal reason -> (time of its last log line, its count then)
        self._reported: dict[str, tuple[float, int]] = {}
        self._refused_seen = 0

    # -- proxy I/O -----------------------------------------------------------------------------
    def on_message(self, message: Request | Response, source: Address, now: float
                   ) -> Iterable[tuple[Request | Response, Address]]:
        if isinstance(message, Response) and self._pending:
            branch = self._push_branch(message)
            if branch is not None:
                return self._push_answered(message, branch, now)
        return self._handle(Received(message=message, source=source), now)

    def on_unparsable(self, data: bytes, source: Address, error: str, now: float
                      ) -> Iterable[tuple[Request | Response, Address]]:
        self.counts["unparsable"] += 1
        return self._handle(Unparsed(data=data, source=source, error=error), now)

    def _handle(self, event: Received | Unparsed, now: float
                ) -> list[tuple[Request | Response, Address]]:
        out = self._perform(self.driver.handle(event, now), now)
        if self.driver.proxy.inputs.refused != self._refused_seen:
            self._report(now)
        return out

    def _report(self, now: float) -> None:
        """One log line per refusal reason whose count grew, at most every `report_every`
        seconds per reason (INPUT-9)."""
        inputs = self.driver.proxy.inputs
        self._refused_seen = inputs.refused
        for key, count in (*inputs.answered.items(), *inputs.dropped.items()):
            at, logged = self._reported.get(key, (None, 0))
            if count == logged or (at is not None and now - at < self.report_every):
                continue
            what = f"answered {key}" if key in inputs.answered else f"dropped ({key})"
            self.log(now, f"refused input: {what}, {count - logged} since the last line, "
                          f"{count} in all; last: {inputs.last.get(key, '')}")
            self._reported[key] = (now, count)

    def input_summary(self) -> str:
        """One line: the core's input counters (INPUT-1), e.g. for when the shell stops."""
        inputs = self.driver.proxy.inputs
        parts = [f"{key} {n}" for key, n in sorted((*inputs.answered.items(),
                                                     *inputs.dropped.items()))]
        return (f"inputs: {inputs.received} received, {inputs.processed} processed, "
                f"{sum(inputs.answered.values())} answered, {sum(inputs.dropped.values())} "
                f"dropped" + (f" ({', '.join(parts)})" if parts else ""))

    def _push_branch(self, response: Response) -> str | None:
        """The branch of a pending push MESSAGE this response answers, if any."""
        try:
            branch = str(response.top_via.branch)
        except SIPParseError:
            return None
        return branch if branch in self._pending else None

    def on_timer(self, now: float) -> Iterable[tuple[Request | Response, Address]]:
        out = []
        for branch, pending in sorted(self._pending.items()):
            if pending.deadline <= now:
                del self._pending[branch]
                out += self._push_done(pending.push, PushResult(
                    ok=False, detail="the push gateway did not answer"), now)
        at = self.driver.get_timer()
        if at is not None and at <= now:
            out += self._perform(self.driver.handle_timer(now), now)
        return out

    def next_deadline(self) -> float | None:
        deadlines = [p.deadline for p in self._pending.values()]
        at = self.driver.get_timer()
        if at is not None:
            deadlines.append(at)
        return min(deadlines, default=None)

    def _perform(self, actions: Iterable[object], now: float
                 ) -> list[tuple[Request | Response, Address]]:
        out: list[tuple[Request | Response, Address]] = []
        for action in actions:
            if isinstance(action, Send):
                out.append((action.message, action.destination))
            elif isinstance(action, Push):
                out += self._push(action, now)
            elif isinstance(action, Log):
                self.log(now, action.text)
        return out

    # -- pushes --------------------------------------------------------------------------------
    def _push(self, push: Push, now: float) -> list[tuple[Request | Response, Address]]:
        if self.push_gateway is None:
            self.log(now, f"push for {push.binding.uri} not sent: no push gateway configured")
            return self._push_done(push, PushResult(ok=False, detail="no push gateway"), now)
        host, port = self.address
        branch = self.ids.branch()
        gw_host, gw_port = self.push_gateway
        message = make_request(
            "MESSAGE", f"sip:push@{gw_host}:{gw_port}",
            via=f"SIP/2.0/UDP {host}:{port};branch={branch}",
            from_=f"<sip:pushinject@{host}>;tag={self.ids.tag()}",
            to=f"<sip:push@{gw_host}>", call_id=self.ids.call_id(), cseq=1,
            body=push_body(push), content_type=PUSH_CONTENT_TYPE,
        )
        self._pending[branch] = _PendingPush(push, now + self.push_timeout)
        self.pushes.append((now, push, None))
        return [(message, self.push_gateway)]

    def _push_answered(self, response: Response, branch: str, now: float
                       ) -> list[tuple[Request | Response, Address]]:
        if response.status < 200:
            return []
        pending = self._pending.pop(branch)
        ok = 200 <= response.status < 300
        result = PushResult(ok=ok, permanent=response.status == 404,
                            detail=f"{response.status} {response.reason}")
        return self._push_done(pending.push, result, now)

    def _push_done(self, push: Push, result: PushResult, now: float
                   ) -> list[tuple[Request | Response, Address]]:
        for index, (at, recorded, answer) in enumerate(self.pushes):
            if recorded is push and answer is None:
                self.pushes[index] = (at, recorded, result)
                break
        else:
            self.pushes.append((now, push, result))
        return self._perform(self.driver.push_result(push, result, now), now)
