"""`pushinject parse FILE...`: decode files holding one raw SIP message each.

Prints the start line, then every header with its typed meaning where one exists (Via parts,
name-addr parts, Contact with RFC 8599 pn-* parameters, CSeq, numbers), then the body size.
`--lenient` accepts recoverable faults and prints them as defects; in strict mode a file that
does not parse is a one-line error (exit 2). `--json` prints one JSON object per file.
"""

from __future__ import annotations

import argparse
import json

from pushinject.errors import UsageError

HELP = "decode files holding one raw SIP message each (start line, typed headers, body)"

__all__ = ["HELP", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", metavar="FILE", nargs="+", help="file with one SIP message")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    parser.add_argument("--lenient", action="store_true",
                        help="accept recoverable faults and list them as defects")


def run(args: argparse.Namespace) -> int:
    from pushinject.sip import SIPParseError, parse_message
    from pushinject.sip.describe import describe, format_description

    for path in args.files:
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            msg = parse_message(data, strict=not args.lenient)
        except SIPParseError as exc:
            raise UsageError(f"{path}: {exc}") from None
        desc = describe(msg)
        if args.json:
            print(json.dumps({"file": path, **desc}, ensure_ascii=False))
        else:
            print(f"== {path}")
            print("\n".join(format_description(desc)))
    return 0
