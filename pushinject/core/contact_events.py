"""Contact events as OpenSIPS usrloc raises them (EVT-8 to EVT-10).

- `E_UL_CONTACT_INSERT`: a binding new to the AoR was created (`mem_insert_ucontact`).
- `E_UL_CONTACT_UPDATE`: an existing binding was refreshed or changed (`mem_update_ucontact`),
  also when RFC 8599 pn-* matching (PUSH-4) joined a contact whose IP or port changed (EVT-9).
- `E_UL_CONTACT_DELETE`: a binding was removed (``expires=0``, ``Contact: *``) or expired.
- `E_UL_CONTACT_REFRESH`: only for RFC 8599 contacts, when a push is to be sent (EVT-10).

The parameters carry the OpenSIPS names, in the OpenSIPS order, all as strings (integers in
decimal, EVT-3):

======================  ==================================================================
``domain``              the usrloc table the contact lives in (``location``), not a SIP domain
``aor``                 the AoR key: user, or user@domain with ``use_domain`` (EVT-11)
``uri``                 the contact URI
``received``            ``sip:host:port`` of the source, empty when it equals the contact
``path``                the Path header values joined by ``,``
``qval``                q in thousandths, as usrloc keeps it (`qvalue_t`); -1 unspecified
``user_agent``          the REGISTER's User-Agent
``socket``              the listening socket, e.g. ``udp:127.0.0.1:5060``
``bflags``              branch flags saved with the contact
``expires``             absolute expiry time (virtual clock, whole seconds)
``callid``, ``cseq``    of the REGISTER that last wrote the contact
``attr``, ``latency``,  OpenSIPS extras: empty, 0, empty
``shtag``
======================  ==================================================================

The refresh event has ``domain aor uri received user_agent socket bflags expires callid attr
shtag reason req_callid`` (EVT-10).

usrloc raises every event whether or not anyone listens: a binding that expires raises DELETE
although most scripts subscribe to INSERT only. The location service therefore gives its
INSERT/UPDATE/DELETE events a `ContactParams`, which writes the strings on first read and then
reads as the dict `contact_params` returns.
"""

from __future__ import annotations

import math
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, Sequence, ValuesView
from dataclasses import dataclass

from pushinject.core.bindings import Binding

__all__ = [
    "E_UL_CONTACT_INSERT",
    "E_UL_CONTACT_UPDATE",
    "E_UL_CONTACT_DELETE",
    "E_UL_CONTACT_REFRESH",
    "CONTACT_EVENTS",
    "ContactEvent",
    "ContactParams",
    "contact_params",
    "refresh_params",
    "qval",
    "text_table",
    "events_table",
]

E_UL_CONTACT_INSERT = "E_UL_CONTACT_INSERT"
E_UL_CONTACT_UPDATE = "E_UL_CONTACT_UPDATE"
E_UL_CONTACT_DELETE = "E_UL_CONTACT_DELETE"
E_UL_CONTACT_REFRESH = "E_UL_CONTACT_REFRESH"

#: every contact event name the location service raises
CONTACT_EVENTS = (E_UL_CONTACT_INSERT, E_UL_CONTACT_UPDATE, E_UL_CONTACT_DELETE,
                  E_UL_CONTACT_REFRESH)


def qval(q: float | None) -> int:
    """The usrloc integer form of a q-value: thousandths, -1 when unspecified (`qvalue.h`).

    >>> qval(1.0), qval(0.5), qval(0.001), qval(None)
    (1000, 500, 1, -1)
    """
    return -1 if q is None else int(round(q * 1000))


def _expires(binding: Binding) -> str:
    # usrloc keeps time_t: whole seconds of the (virtual) clock
    return str(math.floor(binding.expires_at))


def contact_params(binding: Binding, *, domain: str = "location") -> dict[str, str]:
    """The parameters of an INSERT/UPDATE/DELETE event for `binding` (EVT-8, `ul_evi.c`)."""
    return {
        "domain": domain,
        "aor": binding.aor,
        "uri": str(binding.uri),
        "received": binding.received or "",
        "path": ",".join(binding.path),
        "qval": str(qval(binding.q)),
        "user_agent": binding.user_agent or "",
        "socket": binding.socket,
        "bflags": str(binding.bflags),
        "expires": _expires(binding),
        "callid": binding.call_id,
        "cseq": str(binding.cseq),
        "attr": "",
        "latency": "0",
        "shtag": "",
    }


class ContactParams(Mapping[str, str]):
    """`contact_params(binding, domain=domain)`, written on first read (EVT-8).

    A read-only mapping equal to that dict: the same keys in the same order, the same values,
    `==` with any mapping (and not hashable), the dict's repr. The binding is frozen, so the
    strings do not depend on when they are written.

    >>> from pushinject.sip import parse_uri
    >>> bob = Binding(ruid="r1", aor="bob", uri=parse_uri("sip:bob@h"), contact="<sip:bob@h>",
    ...               expires_at=60.5)
    >>> params = ContactParams(bob, "location")
    >>> params["expires"], list(params)[:3], params == contact_params(bob), len(params)
    ('60', ['domain', 'aor', 'uri'], True, 15)
    """

    __slots__ = ("_binding", "_domain", "_params")

    def __init__(self, binding: Binding, domain: str = "location") -> None:
        self._binding = binding
        self._domain = domain
        self._params: dict[str, str] | None = None

    def _read(self) -> dict[str, str]:
        params = self._params
        if params is None:
            params = self._params = contact_params(self._binding, domain=self._domain)
        return params

    def as_dict(self) -> dict[str, str]:
        """A dict of its own with these parameters (their names are lower case, their values
        strings: the form subscriptions match on, EVT-3). Not read yet, it is made for the
        caller alone and nothing is kept (an event is usually published once, then dropped)."""
        params = self._params
        if params is None:
            return contact_params(self._binding, domain=self._domain)
        return dict(params)

    def __getitem__(self, key: str) -> str:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def __contains__(self, key: object) -> bool:
        return key in self._read()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        return self._read().get(key, default)

    def keys(self) -> KeysView[str]:
        return self._read().keys()

    def items(self) -> ItemsView[str, str]:
        return self._read().items()

    def values(self) -> ValuesView[str]:
        return self._read().values()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ContactParams):
            other = other._read()
        if isinstance(other, dict):
            return self._read() == other
        if isinstance(other, Mapping):
            return self._read() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # as a dict

    def __repr__(self) -> str:
        return repr(self._read())


def refresh_params(
    binding: Binding, *, reason: str, req_callid: str, domain: str = "location"
) -> dict[str, str]:
    """The parameters of an `E_UL_CONTACT_REFRESH` event (EVT-10).

    `reason` is ``reg-refresh``, ``ini-<METHOD>`` or ``mid-<METHOD>``; `req_callid` is the
    Call-ID of the request that wants the device woken.
    """
    return {
        "domain": domain,
        "aor": binding.aor,
        "uri": str(binding.uri),
        "received": binding.received or "",
        "user_agent": binding.user_agent or "",
        "socket": binding.socket,
        "bflags": str(binding.bflags),
        "expires": _expires(binding),
        "callid": binding.call_id,
        "attr": "",
        "shtag": "",
        "reason": reason,
        "req_callid": req_callid,
    }


@dataclass(frozen=True, init=False)
class ContactEvent:
    """A usrloc contact event: its name, the binding, the OpenSIPS parameters, the time.

    The registrar raises one per binding change, so `__init__` is written out as `Binding`'s:
    one local name for ``object.__setattr__``. Equality, hashing and immutability are the
    dataclass's own.
    """

    name: str
    binding: Binding
    params: Mapping[str, str]
    at: float

    def __init__(self, name: str, binding: Binding, params: Mapping[str, str],
                 at: float) -> None:
        put = object.__setattr__  # the fields in their declared order
        put(self, "name", name)
        put(self, "binding", binding)
        put(self, "params", params)
        put(self, "at", at)

    @property
    def short_name(self) -> str:
        """``INSERT``, ``UPDATE``, ``DELETE`` or ``REFRESH``."""
        return self.name.rsplit("_", 1)[-1]

    def __repr__(self) -> str:
        uri = self.params["uri"]
        return f"ContactEvent({self.short_name} {self.binding.aor} {uri} at {self.at:g})"


def text_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Rows as a plain-text table with aligned columns (for notebooks and reports).

    >>> print(text_table(["a", "bb"], [[1, "x"], [22, "yyy"]]))
    a   bb
    --  ---
    1   x
    22  yyy
    """
    table = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def events_table(
    events: Iterable[ContactEvent],
    columns: Sequence[str] = ("aor", "uri", "received", "qval", "expires", "callid", "cseq"),
) -> str:
    """Contact events as a text table: time, short name, then the chosen parameters."""
    rows = [[f"{e.at:g}", e.short_name, *(e.params.get(c, "") for c in columns)]
            for e in events]
    return text_table(["at", "event", *columns], rows)
