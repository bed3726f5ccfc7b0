"""Which worker of `pushinject serve --workers N` takes a datagram: the partition rule.

Each worker runs its own core on its own part of the state (bindings, transactions, stored
INVITEs waiting for a push). Everything that must meet the same state goes to the same worker,
read from the datagram's bytes with a light scan (no full parse; the worker parses):

- a request outside a dialog (no To tag) goes to the owner of the AoR of its Request-URI, a
  REGISTER to the owner of the AoR of its To (RFC 3261 §10.3); the AoR is the registrar's own
  key (`LocationService.aor_of`), so whatever the registrar treats as one AoR (case of the
  host, URI parameters, the domain when `use_domain` is off) has one owner. An INVITE for a
  callee, its retransmissions and its CANCEL (same Request-URI, RFC 3261 §9.1) and the
  REGISTERs of that callee thus meet at one worker: a phone that registers while its INVITE
  waits for a push is injected there (WORK-1);
- an ACK that carries the branch and Call-ID of an INVITE dispatched within the last
  `REMEMBER` seconds acknowledges a non-2xx response to it (RFC 3261 §17.1.1.3: same top Via)
  and goes to that INVITE's worker; the partition remembers the INVITEs' branches for that
  long (WORK-7);
- a request inside a dialog (To tag: BYE, re-INVITE, the ACK of a 2xx, ...) goes by its
  Call-ID, so the ACK of a 2xx and the BYE after it pass one worker in their order, and the
  dialogs of one busy contact spread over the workers (WORK-3);
- a response goes to the worker named in the branch of its top Via: every branch a worker
  mints reads `z9hG4bKw<worker>-...` (`WorkerIds`), so the answers to the requests a worker
  sent come back to it (WORK-2);
- what has no such key (no readable Request-URI or To, a response whose branch names no
  worker) goes by the Call-ID, else by the whole datagram: the same bytes always go to the same
  worker, so a retransmission meets the transaction that absorbs it (WORK-3).

The owner of a key is `crc32(key) % N`, the same in every run and every process.
"""

from __future__ import annotations

import re
import secrets
import time
import zlib
from collections.abc import Callable

from pushinject.core.ids import MAGIC_COOKIE, RandomIds
from pushinject.sip import SIPParseError
from pushinject.sip.uri import URI, parse_uri

__all__ = ["REMEMBER", "WorkerIds", "worker_of_branch", "Partition", "owner_of_key"]

_WORKER_COOKIE = MAGIC_COOKIE + "w"
#: how long an INVITE's branch is remembered for its non-2xx ACK, at least (seconds): 64*T1,
#: the time its server transaction waits for that ACK (Timer H, RFC 3261 §17.2.1)
REMEMBER = 32.0
#: INVITEs remembered per period at most (a flood forgets sooner rather than grows)
REMEMBERED = 200_000
#: header lines by name or compact form, any case (RFC 3261 §7.3.1); a leading LF (rather
#: than `^`) lets the regular expression engine skip to line starts quickly
_VIA = re.compile(rb"\n(?:[Vv][Ii][Aa]|[Vv])[ \t]*:([^\r\n]*)")
_BRANCH = re.compile(rb";[ \t]*branch[ \t]*=[ \t]*([^;, \t]+)", re.I)
_TO = re.compile(rb"\n(?:[Tt][Oo]|[Tt])[ \t]*:[ \t]*([^\r\n]*)")
_CALL_ID = re.compile(rb"\n(?:[Cc][Aa][Ll][Ll]-[Ii][Dd]|[Ii])[ \t]*:[ \t]*([^\r\n]*)")


class WorkerIds(RandomIds):
    """`RandomIds` whose branches name worker `index`: ``z9hG4bKw<index>-<random>`` (WORK-2).

    >>> WorkerIds(3).branch().startswith("z9hG4bKw3-")
    True
    """

    def __init__(self, index: int) -> None:
        self.index = index
        self._prefix = f"{_WORKER_COOKIE}{index}-"

    def branch(self) -> str:
        return self._prefix + secrets.token_hex(8)


def worker_of_branch(branch: str) -> int | None:
    """The worker a `WorkerIds` branch names, or None.

    >>> worker_of_branch("z9hG4bKw12-ab"), worker_of_branch("z9hG4bKab"), worker_of_branch("x")
    (12, None, None)
    """
    if not branch.startswith(_WORKER_COOKIE):
        return None
    number, sep, _ = branch[len(_WORKER_COOKIE):].partition("-")
    return int(number) if sep and number.isdigit() and len(number) < 6 else None


def owner_of_key(key: str | bytes, workers: int) -> int:
    """The worker owning `key`: ``crc32(key) % workers``.

    >>> owner_of_key("bob", 2), owner_of_key("alice", 2)
    (0, 1)
    """
    data = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
    return zlib.crc32(data) % workers


def _to_uri(value: bytes) -> tuple[str, bool]:
    """The URI of a To header value (inside `<>`, else up to its parameters), and whether the
    header has a tag parameter (RFC 3261 §19.3).

    >>> _to_uri(b'"B" <sip:bob@b;x=1>;tag=9'), _to_uri(b"sip:bob@b ; TAG=1"), _to_uri(b"<sip:b>")
    (('sip:bob@b;x=1', True), ('sip:bob@b', True), ('sip:b', False))
    """
    start = value.find(b"<")
    if start >= 0:
        end = value.find(b">", start)
        end = end if end > 0 else len(value)
        uri, params = value[start + 1:end], value[end + 1:]
    else:
        uri, _, params = value.partition(b";")
        params = b";" + params
    tagged = b"tag" in params.lower() and any(
        param.strip().lower().partition(b"=")[0].strip() == b"tag"
        for param in params.split(b";")[1:])
    return uri.strip().decode("utf-8", "replace"), tagged


class Partition:
    """The partition rule over `workers` workers; `aor_of` is the registrar's AoR key, `clock`
    the monotonic clock by which INVITE branches are forgotten (WORK-7)."""

    def __init__(self, workers: int, aor_of: Callable[[URI], str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self.workers = workers
        self.aor_of = aor_of
        self.clock = clock
        #: INVITE (branch, Call-ID) -> its worker: those of this period, and of the last one
        self._invites: dict[bytes, int] = {}
        self._older: dict[bytes, int] = {}
        self._period_end = clock() + REMEMBER

    def owner(self, data: bytes) -> int:
        """The worker that takes datagram `data` (WORK-1, WORK-2, WORK-3, WORK-7)."""
        if self.workers == 1:
            return 0
        start = 0
        while data[start:start + 1] in (b"\r", b"\n"):  # CRLFs before a message (§7.5)
            start += 1
        end = data.find(b"\r\n\r\n", start)
        if end < 0:
            end = data.find(b"\n\n", start)
        if end < 0:
            end = len(data)
        line_end = data.find(b"\n", start, end)
        if line_end < 0:
            line_end = end
        first = data[start:line_end].rstrip(b"\r")
        call_id = _CALL_ID.search(data, start, end)
        call = call_id.group(1).strip() if call_id is not None else b""
        if first.startswith(b"SIP/2.0 "):
            branch = _top_branch(data, line_end, end)
            if branch is not None:
                index = worker_of_branch(branch.decode("ascii", "replace"))
                if index is not None and index < self.workers:
                    return index
            return owner_of_key(call or data, self.workers)
        parts = first.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"SIP/"):
            return owner_of_key(call or data, self.workers)
        method = parts[0]
        if method == b"ACK":
            branch = _top_branch(data, line_end, end)
            if branch is not None:
                key = branch + b" " + call
                index = self._invites.get(key)
                if index is None:
                    index = self._older.get(key)
                if index is not None:
                    return index
            return owner_of_key(call or data, self.workers)
        aor = self._aor(method, parts[1], data, line_end, end)
        index = owner_of_key(aor if aor is not None else call or data, self.workers)
        if method == b"INVITE":
            branch = _top_branch(data, line_end, end)
            if branch is not None:
                self._remember(branch + b" " + call, index)
        return index

    def _remember(self, key: bytes, index: int) -> None:
        """Note an INVITE's worker for `REMEMBER` to `2 * REMEMBER` seconds (at most
        `REMEMBERED` INVITEs a period)."""
        if self.clock() >= self._period_end or len(self._invites) >= REMEMBERED:
            self._older, self._invites = self._invites, {}
            self._period_end = self.clock() + REMEMBER
        self._invites[key] = index

    def _aor(self, method: bytes, uri: bytes, data: bytes, line_end: int, end: int
             ) -> str | None:
        """The registrar's key of the AoR a request outside a dialog is for (its To for a
        REGISTER); None inside a dialog (a To tag) or when there is none to read."""
        to = _TO.search(data, line_end, end)
        if to is None:
            return None
        to_uri, tagged = _to_uri(to.group(1))
        if tagged:
            return None
        text = to_uri if method == b"REGISTER" else uri.decode("utf-8", "replace")
        try:
            return self.aor_of(parse_uri(text))
        except (SIPParseError, ValueError):
            return None


def _top_branch(data: bytes, line_end: int, end: int) -> bytes | None:
    """The branch of the first Via value of a message's header, if it has one."""
    via = _VIA.search(data, line_end, end)
    if via is None:
        return None
    branch = _BRANCH.search(via.group(1).split(b",", 1)[0])
    return branch.group(1) if branch is not None else None
