"""The capture lab's scenarios: who takes part, when each device registers, what must happen.

Every scenario is one call from the caller (``alice``, 127.0.0.1:5070) to ``bob`` (or
``carol``, whose registrations the OpenSIPS lab challenges) through the proxy (127.0.0.1:5060).
Each INVITE makes the proxy send one push (a SIP MESSAGE to the push gateway, 127.0.0.1:5090).
Device *n* answers INVITEs on 127.0.0.1:507\\ *n* (user ``devn``); its REGISTER is sent for it
from 127.0.0.1:508\\ *n* (the device's own port is taken by its answering UA). Times are seconds
from the caller's INVITE; a negative time registers the device before the call starts.

This module holds the Kamailio lab's scenarios, S1-S14 (`pushinject.lab.opensips_scenarios`
the OpenSIPS lab's). The expected facts are those of the manifest
(`data/kamailio/manifest.toml`): the final status the caller gets and one `ExpectedBranch` per
INVITE the proxy forwards. A branch is
*injected* when its INVITE left the proxy after a registration of its contact that arrived
after the caller's INVITE (INJ-1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = [
    "AUTH_CALLEE",
    "AUTH_PASSWORD",
    "CALLEE",
    "CALLER_PORT",
    "Device",
    "ExpectedBranch",
    "LAB_IP",
    "PROXY_PORT",
    "PUSH_PORT",
    "SCENARIOS",
    "Scenario",
    "branch_to",
    "device_port",
    "register_port",
    "role_of_port",
    "lab_party",
]

LAB_IP = "127.0.0.1"
PROXY_PORT = 5060
CALLER_PORT = 5070
PUSH_PORT = 5090
CALLEE = "bob"
#: the callee whose REGISTERs the OpenSIPS lab answers with a digest challenge (401) first
AUTH_CALLEE = "carol"
AUTH_PASSWORD = "lab-secret"


def device_port(index: int) -> int:
    """The port device ``index`` (1-based) answers INVITEs on."""
    return 5070 + index


def register_port(index: int) -> int:
    """The port device ``index``'s REGISTER is sent from."""
    return 5080 + index


def role_of_port(port: int) -> str:
    """Name the lab party bound to ``port``: proxy, caller, push, devN or regN (else ``?``).

    >>> [role_of_port(p) for p in (5060, 5070, 5072, 5081, 5090, 9)]
    ['proxy', 'caller', 'dev2', 'reg1', 'push', '?']
    """
    if port == PROXY_PORT:
        return "proxy"
    if port == CALLER_PORT:
        return "caller"
    if port == PUSH_PORT:
        return "push"
    if 5071 <= port <= 5079:
        return f"dev{port - 5070}"
    if 5081 <= port <= 5089:
        return f"reg{port - 5080}"
    return "?"


def lab_party(address: tuple[str, int]) -> str:
    """The ladder column of a lab address, named for a reader: its role (`role_of_port`), the
    push gateway as the ``push service`` (the column the simulator's ladders use), and a
    device's REGISTER port as ``devN (REGISTER)``; ``host:port`` when the port has no role.

    >>> [lab_party(("127.0.0.1", p)) for p in (5060, 5070, 5090, 5072, 5082, 9)]
    ['proxy', 'caller', 'push service', 'dev2', 'dev2 (REGISTER)', '127.0.0.1:9']
    """
    from pushinject.sim.views import PUSH_SERVICE

    host, port = address
    role = role_of_port(port)
    if role == "?":
        return f"{host}:{port}"
    if role == "push":
        return PUSH_SERVICE
    if role.startswith("reg"):
        return f"dev{role[3:]} (REGISTER)"
    return role


@dataclass(frozen=True)
class Device:
    """One of the callee's devices.

    ``behaviour`` is what its answering UA does: ``answer`` (180, then 200 after ``pause_ms``),
    ``busy`` (180, then 486 after ``pause_ms``), ``decline`` (the same with 603),
    ``slow`` (silent for ``pause_ms``, then 180, then 200 500 ms later), ``cancelled`` (180,
    then waits for CANCEL), ``silent`` (takes the INVITE and sends nothing at all, not even a
    100, for ``pause_ms``) or ``absent`` (no answering UA: the device registers but must never
    be sent an INVITE).
    ``register_at`` is when its REGISTER is sent (seconds from the INVITE; negative: before);
    ``refresh_at``, if set, when it refreshes that registration: with the same Call-ID and the
    next CSeq, or, when ``new_call_id`` is true, with a new Call-ID (as a restarted phone does).
    """

    index: int
    behaviour: str
    register_at: float
    pause_ms: int = 0
    refresh_at: float | None = None
    new_call_id: bool = False

    @property
    def user(self) -> str:
        return f"dev{self.index}"

    @property
    def port(self) -> int:
        return device_port(self.index)

    @property
    def contact(self) -> str:
        return f"sip:{self.user}@{LAB_IP}:{self.port}"


@dataclass(frozen=True)
class ExpectedBranch:
    """One INVITE the proxy forwards, as the capture must show it (``final_status`` 0: the
    device sends no final response)."""

    target: str
    injected: bool
    cancelled: bool
    final_status: int


@dataclass(frozen=True)
class Scenario:
    """One capture: the caller's behaviour, the devices, and the facts it must show.

    ``caller`` is the caller's SIPp scenario: ``answered``, ``rejected`` (any final error) or
    ``cancel`` (CANCEL after ``caller_pause_ms``). ``callee`` is the user called and registered
    (`AUTH_CALLEE`: every REGISTER is challenged, then sent again with credentials); ``limit``
    the longest the scenario may take, in seconds; ``verdict`` what `pushinject check` must
    say of the capture under the lab proxy's preset, ``violations`` the rules it must name;
    ``violations_without_preset``, when set, the rules `pushinject check` with no option (which
    judges only what no script decides) must name instead, for a proxy that departs from
    RFC 3261 in a way its preset models. ``tm`` sets tm timer parameters for this scenario
    alone, in the proxy's own names and units (Kamailio ``retr_timer1``, ``retr_timer2``,
    ``fr_timer``, ``fr_inv_timer`` in ms; OpenSIPS ``T1_timer``, ``T2_timer`` in ms,
    ``fr_timeout``, ``fr_inv_timeout`` in s); empty, the lab config's timers stand.
    """

    name: str
    title: str
    description: str
    caller: str
    devices: tuple[Device, ...]
    final_status: int
    branches: tuple[ExpectedBranch, ...]
    caller_pause_ms: int = 0
    pushes: int = 1
    callee: str = CALLEE
    limit: float = 30.0
    verdict: str = "conformant"
    violations: tuple[str, ...] = ()
    violations_without_preset: tuple[str, ...] | None = None
    tm: tuple[tuple[str, int], ...] = ()

    @property
    def call_id(self) -> str:
        return f"{self.name}-call@{LAB_IP}"

    @property
    def registrations(self) -> int:
        """REGISTER transactions sent: one per registration, two when it is challenged."""
        sent = sum(1 if d.refresh_at is None else 2 for d in self.devices)
        return 2 * sent if self.callee == AUTH_CALLEE else sent

    @property
    def file(self) -> str:
        """The capture's path in its folder: ``pitfalls/`` holds those expected to break rules,
        ``timers/`` those made with their own tm timers (``tm``), which a check of the folder
        with the lab's timers as knobs must leave aside."""
        if self.verdict != "conformant":
            return f"pitfalls/{self.name}.pcap"
        return f"timers/{self.name}.pcap" if self.tm else f"{self.name}.pcap"


def branch_to(device: Device, injected: bool, cancelled: bool, final_status: int) -> ExpectedBranch:
    """The expected branch whose INVITE goes to ``device``'s contact."""
    return ExpectedBranch(device.contact, injected, cancelled, final_status)


_S1_RINGING = Device(1, "cancelled", register_at=-0.5)
_S1_LATE = Device(2, "answer", register_at=1.0, pause_ms=1000)
_S2_LATE = Device(1, "answer", register_at=1.0, pause_ms=1000)
_S5_FIRST = Device(1, "cancelled", register_at=1.0)
_S5_SECOND = Device(2, "answer", register_at=1.5, pause_ms=1000)
_S6_RINGING = Device(1, "busy", register_at=-0.5, pause_ms=2500)
_S6_LATE = Device(2, "busy", register_at=1.0, pause_ms=500)
_S7_REFRESHING = Device(1, "answer", register_at=-0.5, pause_ms=2500, refresh_at=1.0)
_S8_DECLINING = Device(1, "decline", register_at=-0.5, pause_ms=2000)
_S8_RINGING = Device(2, "cancelled", register_at=1.0)
_S8_TOO_LATE = Device(3, "absent", register_at=2.6)
_S9_TOO_LATE = Device(1, "absent", register_at=3.0)
_S10_SLOW = Device(1, "slow", register_at=1.0, pause_ms=1800)
_S11_SILENT = Device(1, "silent", register_at=-0.5, pause_ms=14000)
_S11_LATE = Device(2, "answer", register_at=1.0, pause_ms=2000)
_S12_SILENT = Device(1, "silent", register_at=-0.5, pause_ms=14000)
#: listens past S13's fr_timer (20 s)
_S13_SILENT = Device(1, "silent", register_at=-0.5, pause_ms=24000)
_S13_LATE = Device(2, "answer", register_at=1.0, pause_ms=15500)
#: S13's tm timers: T1 at 250 ms, and FR timers long enough for the silent branch to reach
#: the copies at T2 intervals before dev2's 200 ends the call
S13_TM = (("retr_timer1", 250), ("fr_timer", 20000), ("fr_inv_timer", 30000))
#: S14's tm timers: T2 at 2 s (T1 at its default 500 ms), FR timers as S13's
S14_TM = (("retr_timer2", 2000), ("fr_timer", 20000), ("fr_inv_timer", 30000))

#: scenario name -> scenario, in the issue's order (S14 is S13's parties with another tm)
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "S1",
            "one device ringing, a second injected that answers",
            "dev1 is registered before the call and rings; the proxy pushes, dev2 registers 1 s "
            "into the call and Kamailio ts_append_by_contact() injects it as a second branch "
            "(the INVITE leaves about 0.5 ms after the REGISTER, right after its 200); dev2 "
            "answers, the proxy forwards the 200 to the caller, then CANCELs dev1 (487).",
            "answered",
            (_S1_RINGING, _S1_LATE),
            200,
            (branch_to(_S1_RINGING, False, True, 487), branch_to(_S1_LATE, True, False, 200)),
        ),
        Scenario(
            "S2",
            "nobody registered, one device injected that answers",
            "No contact when the INVITE arrives: the proxy pushes and t_suspend()s the "
            "transaction; dev1 registers 1 s later, its REGISTER t_continue()s the call, which "
            "is relayed to dev1; dev1 answers and the caller gets the 200. As in every capture, "
            "Kamailio's 100 Trying leaves after the push MESSAGE: tm sends it when the script "
            "relays or suspends, not at t_newtran(). The relayed INVITE's Via branch ends in .1: "
            "branch 0 is the hidden one t_suspend() made, never sent on the wire.",
            "answered",
            (_S2_LATE,),
            200,
            (branch_to(_S2_LATE, True, False, 200),),
        ),
        Scenario(
            "S3",
            "nobody ever registers: timeout",
            "No contact and no registration: the proxy pushes and suspends the transaction; "
            "the hidden branch t_suspend() creates runs on fr_timer (8 s) and the caller gets "
            "408 Request Timeout about 8 s after its INVITE. The push is answered 200 but "
            "no device ever registers.",
            "rejected",
            (),
            408,
            (),
        ),
        Scenario(
            "S4",
            "the caller cancels while waiting",
            "No contact: the proxy pushes and suspends the transaction; nobody registers and "
            "the caller CANCELs after 2 s. Kamailio, having no branch to cancel, answers the "
            "INVITE with 487 'Request canceled' first and then the CANCEL with 200 'ok -- no "
            "more pending branches' (the opposite of the usual 200-then-487 order; both are "
            "sent within a millisecond).",
            "cancel",
            (),
            487,
            (),
            caller_pause_ms=2000,
        ),
        Scenario(
            "S5",
            "two late devices, the first 200 wins",
            "No contact: the proxy pushes and suspends; dev1 registers at 1 s (t_continue(), "
            "relayed, rings), dev2 at 1.5 s (ts_append_by_contact() injects it); dev2 answers "
            "first, the proxy forwards its 200 to the caller, then CANCELs dev1 (487). The two "
            "INVITEs carry Via branches .1 and .2 (branch 0 is t_suspend()'s hidden one).",
            "answered",
            (_S5_FIRST, _S5_SECOND),
            200,
            (branch_to(_S5_FIRST, True, True, 487), branch_to(_S5_SECOND, True, False, 200)),
        ),
        Scenario(
            "S6",
            "the callee busy on every branch",
            "dev1 is registered before the call and rings; dev2 registers at 1 s and is "
            "injected; dev2 answers 486 at about 1.5 s, dev1 486 at about 2.6 s; the proxy "
            "ACKs each and sends the caller one 486 only after the last branch has answered.",
            "rejected",
            (_S6_RINGING, _S6_LATE),
            486,
            (branch_to(_S6_RINGING, False, False, 486), branch_to(_S6_LATE, True, False, 486)),
        ),
        Scenario(
            "S7",
            "a ringing device refreshes its registration: no duplicate branch",
            "dev1 is registered before the call and rings; 1 s into the call it refreshes its "
            "registration (same Call-ID, CSeq 2, same contact). Kamailio's "
            "ts_append_by_contact() runs on that REGISTER but adds no second branch to the "
            "contact already being tried (its log says 't_append_branches(): failure to add "
            "branches (-1)'; nothing goes on the wire); dev1 answers at about 2.6 s and the "
            "caller gets the 200.",
            "answered",
            (_S7_REFRESHING,),
            200,
            (branch_to(_S7_REFRESHING, False, False, 200),),
        ),
        Scenario(
            "S8",
            "a 603 Decline ends the call: no branch after it",
            "dev1 is registered before the call and rings; dev2 registers at 1 s and is "
            "injected (rings); dev1 declines with 603 at about 2.1 s: the proxy does not "
            "forward the 603 at once but CANCELs dev2, and sends the caller 603 only after "
            "dev2's 487. dev3 registers at 2.6 s, after the final response, and is not sent an "
            "INVITE.",
            "rejected",
            (_S8_DECLINING, _S8_RINGING, _S8_TOO_LATE),
            603,
            (branch_to(_S8_DECLINING, False, False, 603), branch_to(_S8_RINGING, True, True, 487)),
        ),
        Scenario(
            "S9",
            "the caller cancels, then a device registers: no branch after the CANCEL",
            "No contact: the proxy pushes and suspends; the caller CANCELs at 2 s (487 then 200, "
            "as in S4); dev1 registers at 3 s. Its REGISTER still finds the suspended call in "
            "the htable (nothing removed it when the call was cancelled) and t_continue()s "
            "it; Kamailio logs 't_continue_helper(): active transaction not found' and sends "
            "no INVITE.",
            "cancel",
            (_S9_TOO_LATE,),
            487,
            (),
            caller_pause_ms=2000,
        ),
        Scenario(
            "S10",
            "a slow injected device: retransmissions are not branches",
            "No contact: the proxy pushes and suspends; dev1 registers at 1 s and the call is "
            "resumed to it, but dev1 stays silent for 1.8 s, so Kamailio retransmits that INVITE "
            "(same Via branch, RFC 3261 Timer A: after 0.5 s and 1 s more); dev1 then rings and "
            "answers, and the caller gets the 200. One branch, sent three times.",
            "answered",
            (_S10_SLOW,),
            200,
            (branch_to(_S10_SLOW, True, False, 200),),
        ),
        Scenario(
            "S11",
            "a device that never answers and an injected one that does: the silent branch is dropped",
            "dev1 is registered before the call and never answers (no 100, no final response); "
            "the proxy relays the INVITE to it and retransmits it after 0.5 s and 1.5 s (RFC "
            "3261 Timer A). dev2 registers at 1 s and is injected (ts_append_by_contact()), "
            "rings and answers at about 3.1 s. Kamailio forwards the 200 and sends dev1 nothing "
            "more: no INVITE copy at 3.5 s or later, though dev1 listens for 14 s, past fr_timer "
            "(8 s), and no CANCEL (RFC 3261 §9.1: none before a provisional response). tm gives "
            "up the unreplied branch when the 200 ends the transaction.",
            "answered",
            (_S11_SILENT, _S11_LATE),
            200,
            (branch_to(_S11_SILENT, False, False, 0), branch_to(_S11_LATE, True, False, 200)),
        ),
        Scenario(
            "S12",
            "a device that never answers, the caller cancels: 487 at the branch's fr_timer",
            "dev1 is registered before the call and never answers (no 100, no final response); "
            "the proxy relays the INVITE to it and retransmits it after 0.5, 1.5, 3.5 and 7.5 s "
            "(RFC 3261 Timer A). The caller CANCELs at 2 s: Kamailio answers the CANCEL with 200 "
            "at once, sends dev1 no CANCEL (RFC 3261 §9.1: none before a provisional response) "
            "and goes on retransmitting its INVITE (tm's default cancel_b_method); when the "
            "branch's fr_timer fires, 8 s after the INVITE, the caller gets 487, not 408 (the "
            "transaction was cancelled), and ACKs it.",
            "cancel",
            (_S12_SILENT,),
            487,
            (branch_to(_S12_SILENT, False, False, 0),),
            caller_pause_ms=2000,
        ),
        Scenario(
            "S13",
            "T1 at 250 ms: a device that never answers, its copies capped at T2, and one that does",
            "For this capture alone tm runs with retr_timer1 250 ms (T1), fr_timer 20 s and "
            "fr_inv_timer 30 s. dev1 is registered before the call and never answers (no 100, no "
            "final response): the proxy relays the INVITE to it and retransmits it 0.25, 0.75, "
            "1.75, 3.75 and 7.75 s after the INVITE (RFC 3261 Timer A with T1 = 0.25 s), then at "
            "11.75 and 15.75 s: the interval stops doubling at T2 (4 s), where RFC 3261 "
            "§17.1.1.2 sends the copy after 7.75 s at 15.75 s (TXN-10). dev2 registers at about "
            "1.1 s, is injected (ts_append_by_contact()), rings and answers at about 16.6 s; "
            "Kamailio forwards the 200 and sends dev1 nothing more, and no CANCEL (KAM-11). "
            "`pushinject check` reads t1 = 0.25 s from dev1's copies (TIMING-3); with no option "
            "it names the copy at 11.75 s (replay), which the kamailio-tsilo preset expects.",
            "answered",
            (_S13_SILENT, _S13_LATE),
            200,
            (branch_to(_S13_SILENT, False, False, 0), branch_to(_S13_LATE, True, False, 200)),
            limit=40.0,
            violations_without_preset=("replay",),
            tm=S13_TM,
        ),
    )
}

SCENARIOS["S14"] = replace(
    SCENARIOS["S13"],
    name="S14",
    title="T2 at 2 s: a device that never answers, its copies capped at 2 s, and one that does",
    description=(
        "For this capture alone tm runs with retr_timer2 2000 ms (T2; T1 stays 500 ms), "
        "fr_timer 20 s and fr_inv_timer 30 s. dev1 is registered before the call and never "
        "answers (no 100, no final response): the proxy relays the INVITE to it and "
        "retransmits it 0.48, 1.48 and 3.48 s after it left (0.48, 1 and 2 s apart: Kamailio's "
        "timer runs on ticks), then every 2 s, at 5.48, 7.48 ... 15.48 s: the interval stops "
        "doubling at this T2 (TXN-10, KAM-14), where RFC 3261 §17.1.1.2, and Kamailio "
        "with the default T2 (4 s), put the copy after 3.48 s at 7.48 s. dev2 registers at "
        "about 1.1 s, is injected (ts_append_by_contact()), rings and answers at about 16.6 s; "
        "Kamailio forwards the 200 and sends dev1 nothing more, and no CANCEL (KAM-11). "
        "`pushinject check` reads t2 = 2 s from dev1's copies (TIMING-4): the kamailio-tsilo "
        "preset then finds the capture conformant with no knob, while with no option "
        "RFC 3261's doubling names the copy at 5.48 s (replay)."
    ),
    tm=S14_TM,
)
