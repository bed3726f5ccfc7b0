"""`pushinject decode FILE...`: list the SIP messages of a capture, then the frame accounting.

One line per message: frame, time, source, destination, transport, method or status, Call-ID,
CSeq, top Via branch, From tag, To tag. With `--json`, one JSON object per message and a last
object `{"summary": ...}`. A progress bar is drawn on stderr only when stderr is a terminal, so
piping or redirecting the output costs nothing.

Several files that are parts of one recording (`pushinject.capture.recording`) are listed as
one capture, merged by timestamp, frames numbered across the parts; `--merge` and `--separate`
override the rule. Each capture's list ends with its summary; when there are several, each
summary names its capture (text: ``NAME: ...``; JSON: a ``"file"`` member).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pushinject.capture.decoder import DecodedMessage, Decoder
    from pushinject.capture.recording import Recording

HELP = "list the SIP messages of a pcap/pcapng capture and count every frame"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="pcap or pcapng captures (rotated parts are merged)")
    grouping = parser.add_mutually_exclusive_group()
    grouping.add_argument("--merge", dest="grouping", action="store_const", const="merge",
                          default="auto", help="list all files as one capture, merged by time")
    grouping.add_argument("--separate", dest="grouping", action="store_const",
                          const="separate", help="list every file alone")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--call-id", metavar="ID", help="only messages of this Call-ID")
    parser.add_argument("--full", action="store_true",
                        help="dissect every frame with Scapy instead of the fast path")


def _text(msg: object) -> str:
    d = msg.to_json()  # type: ignore[attr-defined]
    label = d["method"] or str(d["status"])
    return (f"{d['frame']:>6} {d['time']:.6f} {d['source']} -> {d['destination']} "
            f"{d['transport']} {label} call-id={d['call_id']} cseq={d['cseq']} "
            f"branch={d['branch']} from-tag={d['from_tag']} to-tag={d['to_tag']}")


def run(args: argparse.Namespace) -> int:
    from pushinject.capture.recording import group_inputs

    # the decoder makes no reference cycles as it goes: collect them 50 times less often
    gc.set_threshold(35_000, 10, 10)
    recordings = group_inputs(args.files, args.grouping)
    for recording in recordings:
        _decode(args, recording, recording.name if len(recordings) > 1 else None)
    return 0


def _decode(args: argparse.Namespace, source: Recording, name: str | None) -> None:
    """List one capture's messages, then its summary (named `name` when given)."""
    from pushinject.capture.decoder import Decoder

    decoder = Decoder(full=args.full)
    wanted = args.call_id
    lines: Iterator[str]
    if args.json and not sys.stderr.isatty():
        lines = decoder.json_lines(source, wanted)
    else:
        messages = decoder.decode_file(source)
        if sys.stderr.isatty():
            messages = _with_progress(decoder, messages)
        lines = (msg.json_line() if args.json else _text(msg) for msg in messages
                 if wanted is None or msg.fields.call_id == wanted)
    out = sys.stdout
    write = out.write
    dumps = json.dumps
    while True:  # one write per 2000 lines
        batch = list(islice(lines, 2000))
        if not batch:
            break
        batch.append("")
        write("\n".join(batch))
    summary = decoder.summary
    if args.json:
        named = {"file": name} if name is not None else {}
        write(dumps({**named, "summary": summary.to_json()}) + "\n")
    else:
        write((f"{name}: " if name is not None else "") + summary.line() + "\n")
    out.flush()


def _with_progress(decoder: Decoder, messages: Iterator[DecodedMessage]
                   ) -> Iterator[DecodedMessage]:
    """Yield the messages while a rich progress bar on stderr follows the file position."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = None
        for count, msg in enumerate(messages, 1):
            reader = decoder.reader
            if reader is None:  # not open yet: nothing to follow
                yield msg
                continue
            if task is None:
                task = progress.add_task("decoding", total=reader.size)
            if count % 1000 == 0:
                progress.update(task, completed=reader.position)
            yield msg
        if task is not None and decoder.reader is not None:
            progress.update(task, completed=decoder.reader.size)
