"""Which worker of `pushinject serve --workers N` takes a datagram: the partition rule.

Each worker runs its own core on its own part of the state (bindings, transactions, stored
INVITEs waiting for a push). Everything that must meet the same state goes to the same worker,
read from the datagram's bytes with a light scan (no full parse; the worker parses):

- a request goes to the owner of the AoR of its Request-URI, a REGISTER to the owner of the
  AoR of its To (RFC 3261 §10.3); the AoR is the registrar's own key
  (`LocationService.aor_of`), so whatever the registrar treats as one AoR (case of the host,
  URI parameters, the domain when `use_domain` is off) has one owner. An INVITE for a callee,
  its retransmissions, its CANCEL and non-2xx ACK (same Request-URI, RFC 3261 §9.1, §17.1.1.3)
  and the REGISTERs of that callee thus meet at one worker: a phone that registers while its
  INVITE waits for a push is injected there; the ACK of a 2xx and the BYE after it name the
  same remote target, so they pass one worker in their order (WORK-1);
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
import zlib
from collections.abc import Callable

from pushinject.core.ids import MAGIC_COOKIE, RandomIds
from pushinject.sip import SIPParseError
from pushinject.sip.uri import URI, parse_uri

__all__ = ["WorkerIds", "worker_of_branch", "Partition", "owner_of_key"]

_WORKER_COOKIE = MAGIC_COOKIE + "w"
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


def _uri_text(value: bytes) -> str:
    """The URI of a To header value: inside `<>`, else up to its parameters."""
    text = value.decode("utf-8", "replace")
    start = text.find("<")
    if start >= 0:
        end = text.find(">", start)
        return text[start + 1:end if end > 0 else len(text)].strip()
    return text.partition(";")[0].strip()


class Partition:
    """The partition rule over `workers` workers; `aor_of` is the registrar's AoR key."""

    def __init__(self, workers: int, aor_of: Callable[[URI], str]) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self.workers = workers
        self.aor_of = aor_of

    def owner(self, data: bytes) -> int:
        """The worker that takes datagram `data` (WORK-1, WORK-2, WORK-3)."""
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
        if first.startswith(b"SIP/2.0 "):
            via = _VIA.search(data, line_end, end)
            if via is not None:
                branch = _BRANCH.search(via.group(1).split(b",", 1)[0])
                if branch is not None:
                    index = worker_of_branch(branch.group(1).decode("ascii", "replace"))
                    if index is not None and index < self.workers:
                        return index
        else:
            aor = self._aor(first, data, line_end, end)
            if aor is not None:
                return owner_of_key(aor, self.workers)
        call_id = _CALL_ID.search(data, start, end)
        if call_id is not None and call_id.group(1).strip():
            return owner_of_key(call_id.group(1).strip(), self.workers)
        return owner_of_key(data, self.workers)

    def _aor(self, first: bytes, data: bytes, line_end: int, end: int) -> str | None:
        """The registrar's key of the AoR a request is for (its To for a REGISTER)."""
        parts = first.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"SIP/"):
            return None
        if parts[0] == b"REGISTER":
            to = _TO.search(data, line_end, end)
            if to is None:
                return None
            text = _uri_text(to.group(1))
        else:
            text = parts[1].decode("utf-8", "replace")
        try:
            return self.aor_of(parse_uri(text))
        except (SIPParseError, ValueError):
            return None
