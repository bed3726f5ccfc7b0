"""The OpenSIPS lab's scenarios, O1-O16: the seed's routes on a real OpenSIPS 3.x.

O1-O10 are the Kamailio lab's S1-S10 (same parties, same times, taken from
`pushinject.lab.scenarios.SCENARIOS`) with what OpenSIPS running the seed does in each: its
placeholder branch (`t_wait_for_new_branches`) keeps every call open until ``fr_inv_timeout``
(120 s by default) unless a 2xx, a 6xx or the caller's CANCEL ends it, so a call where nobody
answers ends 120 s after its INVITE, not at a branch's timer. O3 adds the seed's first pitfall
(the device registers 21 s into the call, after the 20 s subscription: it is never sent the
call) and O7 its second (a refresh REGISTER updates the binding and raises no
E_UL_CONTACT_INSERT, so nothing is injected). O11 is a device registering again with a new
Call-ID while its branch rings, O12 a REGISTER challenged with 401 before its 200, O13 a
device that never answers beside an injected one that does, O14 the same device alone when the
caller CANCELs, O15 such a pair with tm's T1 at 250 ms and O16 with its T2 at 2 s (the only
scenarios that set tm timers).

Times are seconds from the proxy's handling of the caller's INVITE, as in
`pushinject.lab.scenarios`, whose `Scenario`, `Device` and `ExpectedBranch` these are.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pushinject.lab.scenarios import AUTH_CALLEE, SCENARIOS, Device, Scenario, branch_to

__all__ = ["OPENSIPS_SCENARIOS", "PLACEHOLDER_LIMIT"]

#: the longest a scenario ended by the placeholder's 120 s timer may take
PLACEHOLDER_LIMIT = 140.0


def _as_kamailio(number: int, title: str, description: str, **changes: Any) -> Scenario:
    """Scenario O`number`: the Kamailio lab's S`number` (its caller, devices and expected
    branches) with OpenSIPS's own title, description and whatever else `changes` names."""
    return replace(SCENARIOS[f"S{number}"], name=f"O{number}", title=title,
                   description=description, **changes)


_O3_TOO_LATE = Device(1, "absent", register_at=21.0)
_O11_RESTARTED = Device(1, "answer", register_at=1.0, pause_ms=2500, refresh_at=2.0,
                        new_call_id=True)
_O12_CHALLENGED = Device(1, "answer", register_at=1.0, pause_ms=1000)
#: listens past fr_timeout (30 s) and Timer B (32 s), so no retransmission meets a closed port
_O13_SILENT = Device(1, "silent", register_at=-0.5, pause_ms=40000)
_O13_LATE = Device(2, "answer", register_at=1.0, pause_ms=2000)
#: the longest a scenario with a silent device may take
SILENT_LIMIT = 60.0
_O15_LATE = Device(2, "answer", register_at=1.0, pause_ms=15500)
#: O15's tm timers: T1 at 250 ms (fr_timeout stays 30 s, past dev2's 200 at about 16.5 s)
O15_TM = (("T1_timer", 250),)
#: O16's tm timers: T2 at 2 s (T1 and fr_timeout stay 500 ms and 30 s)
O16_TM = (("T2_timer", 2000),)

#: scenario name -> scenario (O16 is O15's parties with another tm)
OPENSIPS_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _as_kamailio(
            1,
            "one device ringing, a second injected that answers",
            "dev1 is registered before the call: lookup() relays to it and it rings; dev2 "
            "registers 1 s into the call, its E_UL_CONTACT_INSERT runs fork_call and "
            "t_inject_branches() sends it the call; dev2 answers, the proxy forwards the 200 "
            "and CANCELs dev1 (487).",
        ),
        _as_kamailio(
            2,
            "nobody registered, one device injected that answers",
            "No contact when the INVITE arrives: only the placeholder branch waits; dev1 "
            "registers 1 s later and is injected; it answers and the caller gets the 200.",
        ),
        Scenario(
            "O3",
            "a device registers after the 20 s subscription: never called, 408 at 120 s",
            "The seed's pitfall: no contact, so only the placeholder waits; dev1 registers 21 s "
            "into the call, after the 20 s notify_on_event subscription has ended, and gets its "
            "200 but no INVITE; the caller waits for the placeholder's fr_inv_timeout and gets "
            "408 about 120.5 s after its INVITE (tm runs its FR timers on a one-second tick, "
            "so they fire up to 1 s late). The proxy does what the seed says (the "
            "opensips preset's replay agrees), and the checker's inject-registered rule (RFC "
            "3261 §16.5) points at the REGISTER the call never reached.",
            "rejected",
            (_O3_TOO_LATE,),
            408,
            (),
            limit=PLACEHOLDER_LIMIT,
            verdict="violations",
            violations=("inject-registered",),
        ),
        _as_kamailio(
            4,
            "the caller cancels while waiting",
            "No contact: only the placeholder waits; the caller CANCELs after 2 s and the proxy "
            "ends the call at once, 200 to the CANCEL, then 487 to the INVITE.",
        ),
        _as_kamailio(
            5,
            "two late devices, the first 200 wins",
            "No contact: dev1 registers at 1 s and is injected (rings), dev2 at 1.5 s and is "
            "injected too; dev2 answers first, the proxy forwards its 200 and CANCELs dev1.",
        ),
        _as_kamailio(
            6,
            "the callee busy on every branch: 486 only when the placeholder ends, at 120 s",
            "dev1 is registered before the call and rings; dev2 registers at 1 s and is "
            "injected; both answer 486 within 3 s, the proxy ACKs each and keeps waiting: "
            "the placeholder holds the call until fr_inv_timeout, and only then does the caller "
            "get the best response, 486 (the placeholder's own 408 ranks below it), 120 s and "
            "part of a one-second timer tick after the INVITE.",
            limit=PLACEHOLDER_LIMIT,
        ),
        _as_kamailio(
            7,
            "a ringing device refreshes its registration: no INSERT, no second branch",
            "dev1 is registered before the call and rings; 1 s into the call it refreshes its "
            "registration (same Call-ID, CSeq 2, same contact): usrloc updates the binding and "
            "raises E_UL_CONTACT_UPDATE, not INSERT, so fork_call does not run and no second "
            "INVITE leaves; dev1 answers at about 2.5 s.",
        ),
        _as_kamailio(
            8,
            "a 603 Decline ends the call: no branch after it",
            "dev1 is registered before the call and rings; dev2 registers at 1 s and is "
            "injected (rings); dev1 declines with 603 at about 2 s and OpenSIPS relays the 603 "
            "to the caller at once, then CANCELs dev2 (tm picks a 6xx the moment it arrives). "
            "RFC 3261 §16.7 step 5 holds a 6xx until the other branches end (as Kamailio does in "
            "S8): this is the proxy departing from the RFC, which the opensips preset models "
            "(conformant under --preset opensips) and `pushinject check` with no option reports "
            "as a replay divergence. dev3 registers at 2.6 s, inside the subscription: "
            "fork_call runs but t_inject_branches() refuses a call that has its final response, "
            "and dev3 is sent no INVITE.",
            violations_without_preset=("replay",),
        ),
        _as_kamailio(
            9,
            "the caller cancels, then a device registers within the subscription",
            "No contact: the caller CANCELs at 2 s (200, then 487); dev1 registers at 3 s, "
            "while the 20 s subscription still lives: fork_call runs, t_inject_branches() "
            "refuses the cancelled call, and no INVITE leaves the proxy.",
        ),
        _as_kamailio(
            10,
            "a slow injected device: retransmissions are not branches",
            "No contact: dev1 registers at 1 s and is injected, but stays silent for 1.8 s, so "
            "the proxy retransmits that INVITE (same Via branch, RFC 3261 Timer A); dev1 then "
            "rings and answers, and the caller gets the 200. One branch, sent three times.",
        ),
        Scenario(
            "O11",
            "a ringing device registers again with a new Call-ID",
            "No contact: dev1 registers at 1 s and is injected (rings); at 2 s it registers "
            "the same contact again with a new Call-ID, as a restarted phone does; usrloc "
            "matches the binding by its contact URI and updates it (no INSERT), so dev1 gets "
            "no second INVITE; it answers at about 3.5 s.",
            "answered",
            (_O11_RESTARTED,),
            200,
            (branch_to(_O11_RESTARTED, True, False, 200),),
        ),
        Scenario(
            "O12",
            "a REGISTER challenged with 401 before its 200: one branch",
            f"The callee is {AUTH_CALLEE}, whose REGISTERs must carry digest credentials. No "
            "contact: dev1 registers at 1 s, is challenged (401, nothing saved, no event), "
            "sends the REGISTER again with credentials, gets its 200 and is injected once; it "
            "answers and the caller gets the 200.",
            "answered",
            (_O12_CHALLENGED,),
            200,
            (branch_to(_O12_CHALLENGED, True, False, 200),),
            callee=AUTH_CALLEE,
        ),
        Scenario(
            "O13",
            "a device that never answers and an injected one that does: the silent branch is dropped",
            "dev1 is registered before the call and never answers (no 100, no final response): "
            "lookup() relays the INVITE to it, retransmitted after 0.5 s and 1.5 s (RFC 3261 "
            "Timer A). dev2 registers at 1 s, is injected, rings and answers at about 3.1 s. "
            "OpenSIPS forwards the 200 and sends dev1 nothing more: no INVITE copy at 3.5 s or "
            "later, though dev1 listens for 40 s, past fr_timeout (30 s) and Timer B (32 s), "
            "and no CANCEL (RFC 3261 §9.1: none before a provisional response).",
            "answered",
            (_O13_SILENT, _O13_LATE),
            200,
            (branch_to(_O13_SILENT, False, False, 0), branch_to(_O13_LATE, True, False, 200)),
            limit=SILENT_LIMIT,
        ),
        Scenario(
            "O14",
            "a device that never answers, the caller cancels: 408 at the branch's fr_timeout",
            "dev1 is registered before the call and never answers (no 100, no final response); "
            "lookup() relays the INVITE to it. The caller CANCELs at 2 s: OpenSIPS answers the "
            "CANCEL with 200 at once, sends dev1 no CANCEL (RFC 3261 §9.1: none before a "
            "provisional response) and goes on retransmitting its INVITE, the interval doubling "
            "up to T2 (4 s) and then staying there (copies at 0.5, 1.5, 3.5, 7.5, 11.5 ... 27.5 "
            "s), where RFC 3261 §17.1.1.2 doubles it without a cap: `pushinject check` with no "
            "option names that copy at 11.5 s (replay). When the branch's fr_timeout (30 s) "
            "fires, about 30.5 s after the INVITE (tm's one-second timer tick), the caller gets "
            "the timed-out branch's 408 (RFC 3261 §16.8), not 487, and ACKs it.",
            "cancel",
            (_O13_SILENT,),
            408,
            (branch_to(_O13_SILENT, False, False, 0),),
            caller_pause_ms=2000,
            limit=SILENT_LIMIT,
            violations_without_preset=("replay",),
        ),
        Scenario(
            "O15",
            "T1 at 250 ms: a device that never answers, its copies T1, 2*T1, 4*T1 then T2 apart",
            "For this capture alone tm runs with T1_timer 250 ms (T2_timer and fr_timeout at their "
            "defaults, 4 s and 30 s). dev1 is registered before the call and never answers (no "
            "100, no final response): lookup() relays the INVITE to it and OpenSIPS retransmits "
            "it 0.35, 0.85 and 1.85 s after the INVITE (the first copy 0.34 s after the INVITE "
            "left, not 0.25 s, then 0.5 and 1 s apart), then at 5.8, 9.8 and 13.9 s: after the "
            "4*T1 interval comes T2 (4 s) at once, with no 8*T1 (2 s) step, where RFC 3261 "
            "§17.1.1.2 and TXN-10 put the fourth copy at 3.75 s (OSIPS-29). dev2 registers at "
            "about 1.1 s, is injected, rings and answers at about 16.6 s; OpenSIPS forwards the "
            "200 and sends dev1 nothing more, and no CANCEL (OSIPS-26). `pushinject check` reads "
            "t1 from these copies (TIMING-3); the opensips preset grows the interval as tm does "
            "(TXN-10) and finds the capture conformant, while with no preset RFC 3261's doubling "
            "expects a copy at 3.75 s and names its absence (replay).",
            "answered",
            (_O13_SILENT, _O15_LATE),
            200,
            (branch_to(_O13_SILENT, False, False, 0), branch_to(_O15_LATE, True, False, 200)),
            limit=SILENT_LIMIT,
            violations_without_preset=("replay",),
            tm=O15_TM,
        ),
    )
}

OPENSIPS_SCENARIOS["O16"] = replace(
    OPENSIPS_SCENARIOS["O15"],
    name="O16",
    title="T2 at 2 s: a device that never answers, its copies T1, 2*T1, 4*T1 then 2 s apart",
    description=(
        "For this capture alone tm runs with T2_timer 2000 ms (T1_timer and fr_timeout at "
        "their defaults, 500 ms and 30 s). dev1 is registered before the call and never "
        "answers (no 100, no final response): lookup() relays the INVITE to it and OpenSIPS "
        "retransmits it 0.45, 1.55 and 3.55 s after it left (T1, 2*T1 and 4*T1 apart, on tm's "
        "100 ms timer tick: 0.446, 1.102 and 2.005 s), then every T2, 1.95 to 2.05 s apart, "
        "at 5.5, 7.5 ... 15.5 s: T2 caps each step (4*T1 equals T2 here), where RFC 3261 "
        "§17.1.1.2, and OpenSIPS with the default T2 (4 s), put the copy after 3.55 s at "
        "7.55 s (OSIPS-29, OSIPS-30). dev2 registers at about 1.1 s, is injected, rings and "
        "answers at about 16.6 s; OpenSIPS forwards the 200 and sends dev1 nothing more, and "
        "no CANCEL (OSIPS-26). `pushinject check` reads t2 = 2 s from these copies "
        "(TIMING-4): the opensips preset then finds the capture conformant with no knob, "
        "while with no preset RFC 3261's doubling names the copy at 5.5 s (replay)."
    ),
    tm=O16_TM,
)
