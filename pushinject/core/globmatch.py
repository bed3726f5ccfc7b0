"""Shell-glob matching exactly as C `fnmatch(pattern, string, 0)` does it.

OpenSIPS `event_routing` matches every filter value against the event parameter with
`fnmatch(pattern, value, 0)` (EVT-3): a POSIX shell glob with no flags, so

- matching is case-sensitive (no `FNM_CASEFOLD`);
- `*` and `?` also match `/` and a leading `.` (no `FNM_PATHNAME`, no `FNM_PERIOD`);
- a backslash quotes the next character, also inside brackets (no `FNM_NOESCAPE`);
- `[...]` is a bracket expression: `!` or `^` first negates it, `]` first is a member,
  `a-z` is a range, `[:alpha:]` style classes are understood; a `[` with no closing `]` is an
  ordinary character.

Python's `fnmatch.fnmatchcase` differs on the last two points (it has no backslash quoting and
no `^` negation), so the pattern is translated here to a regular expression with those rules.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["glob_match", "glob_regex"]

#: POSIX character classes usable inside a bracket expression, as regex fragments
_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "xdigit": "0-9A-Fa-f",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "cntrl": "\\x00-\\x1f\\x7f",
    "print": "\\x20-\\x7e",
    "graph": "\\x21-\\x7e",
}


def _bracket(pattern: str, start: int) -> tuple[str, int] | None:
    """Translate the bracket expression opening at `pattern[start] == "["`.

    Returns the regex fragment and the index just after the closing `]`, or None when the
    bracket is not closed (the `[` is then an ordinary character).
    """
    i = start + 1
    negate = False
    if i < len(pattern) and pattern[i] in "!^":
        negate = True
        i += 1
    parts: list[str] = []
    first = True
    while i < len(pattern):
        ch = pattern[i]
        if ch == "]" and not first:
            body = "".join(parts)
            return ("[^" if negate else "[") + body + "]", i + 1
        first = False
        if ch == "[" and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2 : end] if end != -1 else ""
            if name in _CLASSES:
                parts.append(_CLASSES[name])
                i = end + 2
                continue
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
            ch = pattern[i]
        # a range a-z (the "-" is literal when it ends the expression)
        if i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            high = pattern[i + 2]
            step = 3
            if high == "\\" and i + 3 < len(pattern):
                high = pattern[i + 3]
                step = 4
            if ord(high) >= ord(ch):
                parts.append(re.escape(ch) + "-" + re.escape(high))
            i += step
            continue
        parts.append(re.escape(ch))
        i += 1
    return None


#: characters that make a pattern more than a literal string
_SPECIAL = frozenset("*?[\\")


@lru_cache(maxsize=4096)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob pattern (C `fnmatch` with flags 0) into an anchored regular expression.

    >>> glob_regex("a*[!0-9]?").pattern
    '(?s:a.*[^0-9].)\\\\Z'
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
            while i + 1 < len(pattern) and pattern[i + 1] == "*":
                i += 1
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            bracket = _bracket(pattern, i)
            if bracket is None:
                out.append(re.escape("["))
            else:
                fragment, i = bracket
                out.append(fragment)
                continue
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("(?s:" + "".join(out) + ")\\Z")


def glob_match(pattern: str, value: str) -> bool:
    """True when `value` matches the glob `pattern` as C `fnmatch(pattern, value, 0)` decides.

    EVT-3 (OpenSIPS `ebr_filter_match_evp`): case-sensitive, whole-value match.

    Parameters
    ----------
    pattern : str
        The filter value, e.g. ``alice*`` or ``sip:*@10.0.0.[0-9]*``.
    value : str
        The event parameter, integers already written as decimal strings.

    Examples
    --------
    >>> glob_match("alice", "alice"), glob_match("alice", "Alice"), glob_match("al*", "alice")
    (True, False, True)
    >>> glob_match("sip:*", "sip:a/b"), glob_match("[^a]*", "bob"), glob_match("\\\\*", "*")
    (True, True, True)
    >>> glob_match("[abc", "[abc"), glob_match("q[0-5]", "q7")
    (True, False)
    """
    if _SPECIAL.isdisjoint(pattern):
        return pattern == value  # no glob character: the pattern only matches itself
    return glob_regex(pattern).match(value) is not None
