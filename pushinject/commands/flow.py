"""`pushinject flow FILE`: the call flow of a capture as a ladder diagram (like sngrep).

Parties are the `host:port` addresses in order of first appearance; each SIP message is an
arrow labelled with its method, or its status and the CSeq method; arrows are grouped by their
top Via branch (one group per client transaction, RFC 3261 §17.1.3), so the branches a proxy
forks are distinguishable. Text goes to stdout; `--svg OUT.svg` writes the SVG picture instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable

from pushinject.errors import UsageError

HELP = "draw the SIP call flow of a capture as a ladder diagram (text or SVG)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="pcap or pcapng capture")
    parser.add_argument("--call-id", metavar="ID", help="only messages of this Call-ID")
    parser.add_argument("--svg", metavar="OUT.svg", help="write the ladder as SVG to this file")


def arrows_of(messages: Iterable[object], call_id: str | None = None,
              party: Callable[[tuple[str, int]], str] | None = None) -> list[object]:
    """One `Arrow` per decoded message (optionally of one Call-ID); `party` names the column of
    an address (default ``host:port``, an IPv6 host in brackets), e.g. the lab's
    `pushinject.lab.scenarios.lab_party`."""
    from pushinject.ladder import Arrow

    name = party or _party
    out: list[object] = []
    for m in messages:
        f = m.fields  # type: ignore[attr-defined]
        if call_id is not None and f.call_id != call_id:
            continue
        label = f.method if f.method is not None else f"{f.status} ({f.cseq_method})"
        src, dst = m.source, m.destination  # type: ignore[attr-defined]
        when = m.time  # type: ignore[attr-defined]
        out.append(Arrow(when, name(src), name(dst), label, f.branch))
    return out


def _party(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run(args: argparse.Namespace) -> int:
    from pushinject.capture import decode
    from pushinject.ladder import ladder_svg, ladder_text

    arrows = arrows_of(decode(args.file), args.call_id)
    if not arrows:
        which = f" with Call-ID {args.call_id}" if args.call_id else ""
        raise UsageError(f"no SIP messages{which}")
    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as handle:
            handle.write(ladder_svg(arrows, title=args.call_id))  # type: ignore[arg-type]
        print(f"wrote {args.svg} ({len(arrows)} messages)")
    else:
        print(ladder_text(arrows))  # type: ignore[arg-type]
    return 0
