"""Model-free conformance rules: one small pure function per rule, each citing its catalogue rule.

A rule looks at one `CallRecord` (with the `RuleSettings` in force) and returns the
`Violation`s it finds, each naming the capture frame at fault. `RULES` lists them all, in the
order reports show them; `run_rules(call, settings)` runs every one and stamps each violation
with the id of the catalogue rule it breaks (`pushinject/catalogue/`).

Times: `tolerance` is how long a reaction may lag its cause on the wire (forwarding a response,
CANCELling after the final, two events racing); `inject_within` is how long after a
registration the injected branch may leave the proxy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pushinject.catalogue import Entry, lookup
from pushinject.conformance.calls import BranchRecord, CallRecord, Seen
from pushinject.conformance.capture import Order
from pushinject.core.selection import best_response
from pushinject.core.timers import T1
from pushinject.core.types import Selection
from pushinject.sip import parse_uri

__all__ = ["Violation", "RuleSettings", "Rule", "RULES", "RULE_IDS", "run_rules", "accepted_finals",
           "citation"]


@dataclass(frozen=True)
class Violation:
    """A rule broken by the frame `frame` (0 when no single frame is at fault); `catalogue_id`
    is the catalogue rule it breaks (``CTX-6``), set by `run_rules` or the replay."""

    rule: str
    message: str
    frame: int
    catalogue_id: str = ""

    def to_json(self) -> dict[str, object]:
        return {"rule": self.rule, "catalogue_id": self.catalogue_id, "message": self.message,
                "frame": self.frame}

    def citation(self) -> str:
        """Where the broken rule is written: ``CTX-6 (pushinject/catalogue/ctx.md)``."""
        return citation(self.catalogue_id)


def citation(catalogue_id: str) -> str:
    """A catalogue id with the file that defines it (`UnknownRule` if none does).

    >>> citation("CTX-9")
    'CTX-9 (pushinject/catalogue/ctx.md)'
    """
    return f"{catalogue_id} ({lookup(catalogue_id).where})"


@dataclass(frozen=True)
class RuleSettings:
    """What the rules may assume about the proxy (from the preset) and the clock."""

    #: how the final response is chosen (CTX-7 or OSIPS-7)
    selection: Selection = Selection.RFC3261
    #: seconds a reaction may lag its cause
    tolerance: float = 0.5
    #: seconds within which a registered contact must be injected
    inject_within: float = 2.0
    #: the proxy's T1 (RFC 3261 Table 4; TIMING-3), which its Timer L counts in
    t1: float = T1


Check = Callable[[CallRecord, RuleSettings], list[Violation]]


@dataclass(frozen=True)
class Rule:
    """A named check: its short id (``cancel-pending``), a one-line title, the catalogue rule
    it enforces (``CTX-6``) and the check itself."""

    id: str
    title: str
    catalogue_id: str
    check: Check

    def __call__(self, call: CallRecord, settings: RuleSettings) -> list[Violation]:
        found = self.check(call, settings)
        return [replace(v, catalogue_id=self.catalogue_id) for v in found] if found else found

    @property
    def entry(self) -> Entry:
        """The catalogue entry of the rule enforced."""
        return lookup(self.catalogue_id)

    @property
    def reference(self) -> str:
        """Where the rule is written: ``CTX-6 (pushinject/catalogue/ctx.md)``."""
        return citation(self.catalogue_id)


# ------------------------------------------------------------------------------------ helpers

def _end(call: CallRecord) -> tuple[float, Order, str] | None:
    """When the call stopped accepting branches: final sent, caller CANCEL or a 6xx received
    (time, place in capture order, what), the earliest."""
    ends = []
    if call.final is not None:
        ends.append((call.final.time, call.final.order, f"the final {call.final.status}"))
    if call.cancel is not None:
        ends.append((call.cancel.time, call.cancel.order, "the caller's CANCEL"))
    for b in call.branches:
        f = b.final
        if f is not None and f.status >= 600:
            ends.append((f.time, f.order, f"a {f.status}"))
    return min(ends) if ends else None


def _pending_at(b: BranchRecord, t: float) -> bool:
    final = b.final
    return b.opened_at <= t and (final is None or final.time > t)


def _relay_fault(call: CallRecord, r: Seen, tolerance: float) -> str | None:
    """Why the response `r` was not relayed upstream in time (same status and To tag), or
    None when it was."""
    relayed = [u for u in call.upstream
               if u.status == r.status and u.to_tag == r.to_tag and u.time >= r.time]
    if not relayed:
        return "was not forwarded to the caller"
    delay = relayed[0].time - r.time
    if delay > tolerance:
        return f"reached the caller only {delay:.3f} s later (frame {relayed[0].frame})"
    return None


def _firsts(responses: Sequence[Seen]) -> list[Seen]:
    """Responses without their retransmissions (same status and To tag, §17.1.1.2)."""
    seen: set[tuple[int, str | None]] = set()
    out = []
    for r in responses:
        if (r.status, r.to_tag) not in seen:
            seen.add((r.status, r.to_tag))
            out.append(r)
    return out


# -------------------------------------------------------------------------------------- rules

def inject_registered(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """A contact registered while the INVITE waits becomes a new branch within `inject_within`
    seconds, unless it already has a branch (a URI is added once, INJ-2, INJ-5) or the call ends
    before that limit without it."""
    out = []
    end = _end(call)
    for reg in call.registrations:
        if end is not None and end[:2] < (reg.time, reg.order):
            continue
        earlier = [b for b in call.branches
                   if b.order < reg.order and reg.registers(_uri(b.target))]
        if earlier:
            continue  # the contact already has a branch (INJ-5)
        later = [b for b in call.branches if b.order > reg.order
                 and reg.registers(_uri(b.target))]
        if later and later[0].opened_at - reg.time <= s.inject_within:
            continue
        if end is not None and end[0] - reg.time <= s.inject_within and not later:
            continue  # the call ended before the proxy was due to inject
        contact = reg.contacts[0]
        if later:
            delay = later[0].opened_at - reg.time
            out.append(Violation("inject-registered", f"{contact} registered (frame {reg.frame}) "
                                 f"but was injected only {delay:.3f} s later, limit "
                                 f"{s.inject_within:g} s", later[0].frame))
        else:
            out.append(Violation("inject-registered", f"{contact} registered (frame {reg.frame}) "
                                 "while the INVITE waited and was never injected", reg.frame))
    return out


def _uri(text: str) -> object:
    return parse_uri(text)


def no_duplicate_branch(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """No second branch to a contact that already has one (URI equality, RFC 3261 §19.1.4)."""
    out = []
    for i, b in enumerate(call.branches):
        target = _uri(b.target)
        first = next((a for a in call.branches[:i] if _uri(a.target) == target), None)
        if first is not None:
            out.append(Violation("no-duplicate-branch", f"branch {b.index} to {b.target} "
                                 f"duplicates branch {first.index} (frame {first.frame})",
                                 b.frame))
    return out


def unique_via_branch(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """Each branch has its own Via branch parameter, different from the caller's."""
    out = []
    for i, b in enumerate(call.branches):
        if b.via_branch == call.via_branch:
            out.append(Violation("unique-via-branch", f"branch {b.index} re-uses the caller's "
                                 f"Via branch {b.via_branch}", b.frame))
            continue
        first = next((a for a in call.branches[:i] if a.via_branch == b.via_branch), None)
        if first is not None:
            out.append(Violation("unique-via-branch", f"branch {b.index} to {b.target} re-uses "
                                 f"the Via branch of branch {first.index} (frame {first.frame})",
                                 b.frame))
    return out


def _no_branch_after(rule: str, what: Callable[[CallRecord], Sequence[tuple[float, int, str]]]
                     ) -> Check:
    def check(call: CallRecord, s: RuleSettings) -> list[Violation]:
        marks = what(call)
        if not marks:
            return []
        t, frame, name = min(marks)
        return [Violation(rule, f"branch {b.index} to {b.target} opened after {name} "
                          f"(frame {frame})", b.frame)
                for b in call.branches if b.opened_at > t]
    return check


def _finals_sent(call: CallRecord) -> list[tuple[float, int, str]]:
    f = call.final
    return [(f.time, f.frame, f"the final {f.status} to the caller")] if f else []


def _six_xx(call: CallRecord) -> list[tuple[float, int, str]]:
    return [(f.time, f.frame, f"the {f.status} on branch {b.index}") for b in call.branches
            if (f := b.final) is not None and f.status >= 600]


def _cancelled(call: CallRecord) -> list[tuple[float, int, str]]:
    c = call.cancel
    return [(c.time, c.frame, "the caller's CANCEL")] if c else []


def cancel_pending(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """After the final response, or the caller's CANCEL, every branch still pending (one that
    had a provisional and no final) is CANCELled."""
    marks = _finals_sent(call) + _cancelled(call)
    if not marks:
        return []
    t, frame, name = min(marks)
    out = []
    for b in call.branches:
        if not _pending_at(b, t) or not b.provisional or b.cancelled:
            continue
        final = b.final
        if final is not None and final.time <= t + s.tolerance:
            continue  # its own final crossed the proxy's CANCEL
        out.append(Violation("cancel-pending", f"branch {b.index} to {b.target} was pending at "
                             f"{name} (frame {frame}) and never CANCELled", b.frame))
    return out


def no_forwarded_100(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """A 100 Trying is never forwarded: each 100 the proxy sends the caller answers a copy of
    the INVITE, and carries no To tag of a device."""
    out = []
    arrivals = sorted([call.invite_at] + [r.time for r in call.retransmissions])
    used = 0
    for u in call.upstream:
        if u.status != 100:
            continue
        if u.to_tag is not None:
            out.append(Violation("no-forwarded-100", f"a 100 with a device's To tag {u.to_tag} "
                                 "was forwarded to the caller", u.frame))
            continue
        due = sum(1 for t in arrivals if t <= u.time)
        if due > used:
            used += 1
            continue
        out.append(Violation("no-forwarded-100", "a 100 reached the caller with no INVITE copy "
                             "to answer: a device's 100 was forwarded", u.frame))
    return out


#: how soon after a provisional response arrives a final response sent upstream may have
#: overtaken it: a proxy reading its datagrams on several processes may handle the final first,
#: and then forwards no provisional (RFC 3261 §16.7 step 5; KAM-16)
OVERTAKEN_WITHIN = 0.01


def overtaken(arrived: float, final: float | None) -> bool:
    """Whether a provisional response that arrived at `arrived` may have been overtaken by the
    final response sent upstream at `final` (`OVERTAKEN_WITHIN`).

    >>> overtaken(18.2868, 18.2879), overtaken(18.2868, 19.0), overtaken(18.2868, None)
    (True, False, False)
    """
    return final is not None and final - arrived < OVERTAKEN_WITHIN


def forward_provisional(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """Every provisional response other than 100 received before the final was sent upstream is
    forwarded to the caller (same status and To tag) within `tolerance`, unless the final
    overtook it (`overtaken`)."""
    final = call.final
    out = []
    for b in call.branches:
        for r in _firsts(b.provisional):
            if r.status == 100 or overtaken(r.time, final.time if final is not None else None):
                continue
            fault = _relay_fault(call, r, s.tolerance)
            if fault is not None:
                out.append(Violation("forward-provisional",
                                     f"the {r.status} of branch {b.index} {fault}", r.frame))
    return out


def forward_2xx(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """Every 2xx received on a branch is forwarded to the caller within `tolerance`, even after
    another final was sent."""
    out = []
    for b in call.branches:
        for r in _firsts(b.responses):
            fault = _relay_fault(call, r, s.tolerance) if 200 <= r.status < 300 else None
            if fault is not None:
                out.append(Violation("forward-2xx",
                                     f"the {r.status} of branch {b.index} {fault}", r.frame))
    return out


def accepted_finals(statuses: Sequence[int], selection: Selection, *,
                    cancelled: bool = False) -> set[int]:
    """The non-2xx statuses a proxy may send when its branches ended with `statuses`.

    Any status that ranks as well as the best one is accepted (RFC 3261 leaves ties open);
    with no final at all, 408 or 480 (CTX-1, OSIPS-6); a 503 may go out as 500 (CTX-7).

    >>> sorted(accepted_finals([486, 404, 603], Selection.RFC3261))
    [603]
    >>> sorted(accepted_finals([486, 404], Selection.RFC3261))
    [404, 486]
    >>> sorted(accepted_finals([408, 486], Selection.OPENSIPS))
    [486]
    >>> sorted(accepted_finals([], Selection.RFC3261))
    [408, 480]
    """
    if not statuses:
        return {408, 480}
    best = statuses[best_response(statuses, selection, cancelled=cancelled) or 0]
    same = {x for x in statuses
            if best_response([x, best], selection, cancelled=cancelled) == 0
            and best_response([best, x], selection, cancelled=cancelled) == 0}
    if 503 in same:
        same.add(500)
    return same


def _branch_outcomes(call: CallRecord, t: float) -> list[int]:
    """The statuses the branches stand for when the proxy answers upstream at `t`: finals
    received by then in arrival order; a branch the proxy itself CANCELled (its timer, not
    the caller) counts as the 408 its timer fakes (§16.8, OSIPS-3); a branch still
    pending counts as 408 too."""
    caller_cancelled = call.cancel is not None and call.cancel.time <= t
    ended = []
    for b in call.branches:
        f = b.final
        if f is not None and f.time <= t:
            proxy_cancel = b.cancelled and b.cancels[0].time <= f.time and not caller_cancelled
            ended.append((f.time, 408 if proxy_cancel and f.status == 487 else f.status))
    return [s for _, s in sorted(ended)] + [408 for b in call.branches if _pending_at(b, t)]


def best_final(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """A non-2xx final sent to the caller is the best of the branches' outcomes (RFC 3261
    §16.7 step 6, or the preset's ranking); after the caller's CANCEL, 487 is also right
    (§16.10). With no branch at all the proxy answers as it likes (404, 480, 408: CTX-1,
    OSIPS-6)."""
    final = call.final
    if final is None or 200 <= final.status < 300 or not call.branches:
        return []
    statuses = _branch_outcomes(call, final.time)
    cancelled = call.cancel is not None and call.cancel.time <= final.time
    ok = accepted_finals(statuses, s.selection, cancelled=cancelled)
    if cancelled:
        ok.add(487)
    if final.status in ok:
        return []
    return [Violation("best-final", f"the caller got {final.status} but the branches ended "
                      f"with {statuses}: expected one of {sorted(ok)}", final.frame)]


def cancel_answered(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """The caller's CANCEL gets 200 and the INVITE 487, unless a branch's 2xx or a better
    final reached the caller first (a race the caller cannot win). A branch pending at the
    CANCEL that had no provisional response cannot be CANCELled (RFC 3261 §9.1) and may hold
    the 487 back until its own timer ends it, so a capture that stops while one is pending
    shows no final response, and that is no fault (CTX-9)."""
    c = call.cancel
    if c is None or (call.final is not None and call.final.time < c.time):
        return []
    out = []
    if not any(200 <= a.status < 300 for a in call.cancel_answers):
        got = [a.status for a in call.cancel_answers]
        out.append(Violation("cancel-answered", f"the caller's CANCEL got {got or 'no answer'}, "
                             "not 200", c.frame))
    final = call.final
    if final is None:
        if not any(_pending_at(b, c.time) and not b.provisional for b in call.branches):
            out.append(Violation("cancel-answered", "the INVITE got no final response after "
                                 "the caller's CANCEL", c.frame))
    elif final.status != 487 and not 200 <= final.status < 300:
        statuses = _branch_outcomes(call, final.time)
        if not statuses or final.status not in accepted_finals(statuses, s.selection,
                                                               cancelled=True):
            out.append(Violation("cancel-answered", f"the cancelled INVITE got {final.status}, "
                                 "not 487", final.frame))
    return out


def retransmission_not_branch(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """A retransmission of the caller's INVITE is absorbed by the server transaction: it does
    not open a branch (a branch opened right after a copy, to a target already tried)."""
    out = []
    for copy in call.retransmissions:
        for i, b in enumerate(call.branches):
            if not copy.time <= b.opened_at <= copy.time + s.tolerance:
                continue
            if any(a.target == b.target for a in call.branches[:i]):
                out.append(Violation("retransmission-not-branch", f"the INVITE retransmission "
                                     f"(frame {copy.frame}) opened branch {b.index} to "
                                     f"{b.target} again", b.frame))
    return out


def copy_after_2xx_absorbed(call: CallRecord, s: RuleSettings) -> list[Violation]:
    """A copy of the caller's INVITE that arrives after the first 2xx went to the caller, until
    Timer L (64*T1, `RuleSettings.t1`), meets the server transaction in Accepted and is
    absorbed (TXN-7): it must not be answered as a new request (a provisional response) or
    routed again (a branch).
    The 2xx itself sent again is no fault: Kamailio resends the last relayed response then."""
    ok = next((u for u in call.upstream if 200 <= u.status < 300), None)
    if ok is None:
        return []
    copies = [c for c in call.retransmissions
              if c.order > ok.order and c.time <= ok.time + 64 * s.t1]

    def cause(order: Order, time: float) -> Seen | None:
        """The latest copy before `order` (CAP-9) that `time` may be a reaction to."""
        before = [c for c in copies if c.order < order and time - c.time <= s.tolerance]
        return before[-1] if before else None

    out = []
    for u in call.upstream:
        copy = cause(u.order, u.time) if u.status < 200 else None
        if copy is not None:
            out.append(Violation("copy-after-2xx-absorbed", f"the INVITE copy (frame "
                                 f"{copy.frame}) that came after the {ok.status} was answered "
                                 f"{u.status} as a new request", u.frame))
    for b in call.branches:
        copy = cause(b.order, b.opened_at)
        if copy is not None:
            out.append(Violation("copy-after-2xx-absorbed", f"the INVITE copy (frame "
                                 f"{copy.frame}) that came after the {ok.status} was routed "
                                 f"again: branch {b.index} to {b.target}", b.frame))
    return out


RULES: tuple[Rule, ...] = (
    Rule("inject-registered", "a contact registered while the INVITE waits is injected",
         "INJ-1", inject_registered),
    Rule("no-duplicate-branch", "no duplicate branch to one contact", "INJ-2",
         no_duplicate_branch),
    Rule("unique-via-branch", "each branch has its own Via branch", "CTX-2", unique_via_branch),
    Rule("no-branch-after-final", "no new branch after the final response", "INJ-8",
         _no_branch_after("no-branch-after-final", _finals_sent)),
    Rule("no-branch-after-6xx", "no new branch after a 6xx", "CTX-5",
         _no_branch_after("no-branch-after-6xx", _six_xx)),
    Rule("no-branch-after-cancel", "no new branch after the caller's CANCEL", "INJ-8",
         _no_branch_after("no-branch-after-cancel", _cancelled)),
    Rule("cancel-pending", "pending branches are CANCELled after the final response or CANCEL",
         "CTX-6", cancel_pending),
    Rule("no-forwarded-100", "a 100 Trying is never forwarded", "CTX-4", no_forwarded_100),
    Rule("forward-provisional", "provisional responses are forwarded", "CTX-4",
         forward_provisional),
    Rule("forward-2xx", "2xx responses are forwarded", "CTX-4", forward_2xx),
    Rule("best-final", "the final response is the best one", "CTX-7", best_final),
    Rule("cancel-answered", "the caller's CANCEL gets 200 and the INVITE 487", "CTX-9",
         cancel_answered),
    Rule("retransmission-not-branch", "a retransmitted INVITE does not open a branch", "TXN-5",
         retransmission_not_branch),
    Rule("copy-after-2xx-absorbed", "a copy of the INVITE after the 2xx is absorbed", "TXN-7",
         copy_after_2xx_absorbed),
)

#: every rule id, in report order
RULE_IDS: tuple[str, ...] = tuple(r.id for r in RULES)


#: each rule id's place in report order
_ORDER = {rid: i for i, rid in enumerate(RULE_IDS)}


def run_rules(call: CallRecord, settings: RuleSettings) -> list[Violation]:
    """Every rule's violations for `call`, ordered by frame then rule order."""
    found = [v for rule in RULES for v in rule(call, settings)]
    if len(found) > 1:
        found.sort(key=lambda v: (v.frame, _ORDER[v.rule]))
    return found
