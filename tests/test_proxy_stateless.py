"""Requests forwarded without a transaction (RFC 3261 §16.11, CTX-12): a retransmission goes on
with the branch its first copy got from the id source, a new request with a new one, and the
proxy remembers a bounded number of them."""

from __future__ import annotations

import pytest

from harness import CALLER, DOMAIN, Harness
from pushinject.core.actions import Send
from pushinject.core.proxy import Proxy
from pushinject.sip import Request, make_request

REMOTE = ("203.0.113.9", 5080)
BOB = f"sip:bob@{REMOTE[0]}:{REMOTE[1]}"


def _request(method: str, *, cseq: int = 2, via: str = "branch=z9hG4bK-b1",
             to_tag: str | None = "bob-1", call_id: str = "dlg-1", uri: str = BOB) -> Request:
    """A request of the caller's; `via` is what follows its sent-by (empty: RFC 2543, none)."""
    sent_by = f"SIP/2.0/UDP {CALLER[0]}:{CALLER[1]}"
    to = f"<sip:bob@{DOMAIN}>" + (f";tag={to_tag}" if to_tag else "")
    return make_request(method, uri, via=f"{sent_by};{via}" if via else sent_by,
                        from_=f"<sip:alice@{DOMAIN}>;tag=alice-1", to=to, call_id=call_id,
                        cseq=cseq)


def _forwarded(h: Harness, request: Request) -> tuple[str, str]:
    """Deliver `request` from the caller; the top Via branch and method of the one request the
    proxy sends on, which must go to the remote party above the caller's Via."""
    [sent] = h.deliver(request, CALLER)
    assert isinstance(sent, Send) and isinstance(sent.message, Request)
    assert sent.destination == REMOTE
    vias = sent.message.vias
    assert [str(v) for v in vias[1:]] == [str(v) for v in request.vias]
    return str(vias[0].branch), sent.message.method


class ForwardAll:
    """A script that forwards every request statelessly (`forward()`), an INVITE too."""

    def request_route(self, sip) -> None:  # noqa: ANN001 - a ScriptContext
        sip.forward()


@pytest.mark.parametrize("method", ["BYE", "ACK"])
def test_ctx_12_a_retransmission_goes_on_with_the_first_copys_branch(method: str) -> None:
    h = Harness()
    first = _forwarded(h, _request(method))
    again = _forwarded(h, _request(method))  # Timer E's BYE; the ACK of a retransmitted 2xx
    assert (first, again) == (("z9hG4bK-px-1", method), ("z9hG4bK-px-1", method))


def test_ctx_12_a_new_request_of_the_dialog_gets_a_new_branch() -> None:
    h = Harness()
    assert _forwarded(h, _request("INFO", cseq=2, via="branch=z9hG4bK-i2")) \
        == ("z9hG4bK-px-1", "INFO")
    assert _forwarded(h, _request("INFO", cseq=3, via="branch=z9hG4bK-i3")) \
        == ("z9hG4bK-px-2", "INFO")
    assert _forwarded(h, _request("INFO", cseq=2, via="branch=z9hG4bK-i2")) \
        == ("z9hG4bK-px-1", "INFO")
    # a branch reused against the rules by the next request: its CSeq tells them apart
    assert _forwarded(h, _request("BYE", cseq=4, via="branch=z9hG4bK-i3")) \
        == ("z9hG4bK-px-3", "BYE")


def test_ctx_12_cancel_and_non_2xx_ack_share_the_stateless_invites_branch() -> None:
    h = Harness(script=ForwardAll())
    assert _forwarded(h, _request("INVITE", cseq=1, to_tag=None)) == ("z9hG4bK-px-1", "INVITE")
    assert _forwarded(h, _request("CANCEL", cseq=1, to_tag=None)) == ("z9hG4bK-px-1", "CANCEL")
    # the ACK of the 487, with the INVITE's branch (RFC 3261 §17.1.1.3)
    assert _forwarded(h, _request("ACK", cseq=1, to_tag="bob-487")) == ("z9hG4bK-px-1", "ACK")
    # the ACK of a 2xx is a transaction of its own, with its own branch (RFC 3261 §13.2.2.4)
    assert _forwarded(h, _request("ACK", cseq=1, via="branch=z9hG4bK-ack2xx")) \
        == ("z9hG4bK-px-2", "ACK")


@pytest.mark.parametrize("via", ["", "branch=1234", "branch=1234;maddr=192.0.2.10"])
def test_ctx_12_an_rfc_2543_via_is_keyed_on_the_request_itself(via: str) -> None:
    h = Harness()
    assert _forwarded(h, _request("BYE", via=via)) == ("z9hG4bK-px-1", "BYE")
    assert _forwarded(h, _request("BYE", via=via)) == ("z9hG4bK-px-1", "BYE")
    # any of the fields RFC 3261 §16.11 names makes another request
    assert _forwarded(h, _request("BYE", via=via, cseq=3)) == ("z9hG4bK-px-2", "BYE")
    assert _forwarded(h, _request("BYE", via=via, to_tag="bob-2")) == ("z9hG4bK-px-3", "BYE")
    assert _forwarded(h, _request("BYE", via=via, call_id="dlg-2")) == ("z9hG4bK-px-4", "BYE")
    assert _forwarded(h, _request("BYE", via=via, uri=BOB + ";x=1")) == ("z9hG4bK-px-5", "BYE")
    # the CANCEL of an RFC 2543 INVITE repeats all of them, the method aside
    assert _forwarded(h, _request("CANCEL", via=via)) == ("z9hG4bK-px-1", "CANCEL")


def test_ctx_12_the_memory_is_bounded_least_recently_used_forgotten_first() -> None:
    h = Harness()
    h.proxy.stateless_memory = 3
    known = h.proxy._stateless

    def bye(cseq: int) -> str:
        branch, _ = _forwarded(h, _request("BYE", cseq=cseq, via=f"branch=z9hG4bK-c{cseq}"))
        assert len(known) <= 3
        return branch

    assert [bye(1), bye(2), bye(3)] == ["z9hG4bK-px-1", "z9hG4bK-px-2", "z9hG4bK-px-3"]
    assert bye(1) == "z9hG4bK-px-1"  # a retransmission: 1 is now the most recently used
    assert bye(4) == "z9hG4bK-px-4"  # 2, the least recently used, is forgotten
    assert len(known) == 3
    assert bye(2) == "z9hG4bK-px-5"  # too old: a new branch; 3 is forgotten in turn
    assert [bye(1), bye(4), bye(2)] == ["z9hG4bK-px-1", "z9hG4bK-px-4", "z9hG4bK-px-5"]
    assert bye(3) == "z9hG4bK-px-6"


def test_ctx_12_the_default_bound_holds_4096_requests_of_any_size() -> None:
    h = Harness()
    known = h.proxy._stateless
    long_id = "x" * 10_000  # a hostile Call-ID: the proxy keeps a 16-byte digest of it
    for cseq in range(1, Proxy.stateless_memory + 2):
        _forwarded(h, _request("BYE", cseq=cseq, via=f"branch=z9hG4bK-c{cseq}", call_id=long_id))
    assert len(known) == 4096
    assert {len(key) for key in known} == {16}
    last = Proxy.stateless_memory + 1
    assert _forwarded(h, _request("BYE", cseq=last, via=f"branch=z9hG4bK-c{last}",
                                  call_id=long_id)) == ("z9hG4bK-px-4097", "BYE")
    assert _forwarded(h, _request("BYE", cseq=2, via="branch=z9hG4bK-c2", call_id=long_id)) \
        == ("z9hG4bK-px-2", "BYE")
    # the first was forgotten when the 4097th came: it goes on as a new request
    assert _forwarded(h, _request("BYE", cseq=1, via="branch=z9hG4bK-c1", call_id=long_id)) \
        == ("z9hG4bK-px-4098", "BYE")
    assert len(known) == 4096
