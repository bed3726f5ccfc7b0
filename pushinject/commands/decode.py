"""`pushinject decode FILE`: list the SIP messages of a capture, then the frame accounting.

One line per message: frame, time, source, destination, transport, method or status, Call-ID,
CSeq, top Via branch, From tag, To tag. With `--json`, one JSON object per message and a last
object `{"summary": ...}`. A progress bar is drawn on stderr only when stderr is a terminal, so
piping or redirecting the output costs nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Iterator
from itertools import islice

HELP = "list the SIP messages of a pcap/pcapng capture and count every frame"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="pcap or pcapng capture")
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
    from pushinject.capture.decoder import Decoder

    # the decoder makes no reference cycles as it goes: collect them 50 times less often
    gc.set_threshold(35_000, 10, 10)
    decoder = Decoder(full=args.full)
    wanted = args.call_id
    lines: Iterator[str]
    if args.json and not sys.stderr.isatty():
        lines = decoder.json_lines(args.file, wanted)
    else:
        messages = decoder.decode_file(args.file)
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
        write(dumps({"summary": summary.to_json()}) + "\n")
    else:
        write(summary.line() + "\n")
    out.flush()
    return 0


def _with_progress(decoder: object, messages: object) -> object:
    """Yield the messages while a rich progress bar on stderr follows the file position."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = None
        for count, msg in enumerate(messages, 1):  # type: ignore[call-overload]
            reader = decoder.reader  # type: ignore[attr-defined]
            if task is None:
                task = progress.add_task("decoding", total=reader.size)
            if count % 1000 == 0:
                progress.update(task, completed=reader.position)
            yield msg
        if task is not None:
            progress.update(task, completed=decoder.reader.size)  # type: ignore[attr-defined]
