"""Text from elsewhere made safe to print: one line, no terminal or journal control.

Server text (transcripts, statuses, error bodies) reaches the terminal, the log and the
journal. A newline in it would forge a second log line, an ANSI escape would repaint the
terminal, a bidi override would reorder what is shown, a lone surrogate cannot even be
encoded, and `<3>` at a line's start is an error priority to journald. `inert` escapes all
of those as visible `\\n`, `\\x1b`, `\\u202e`…, and a backslash as `\\\\` (so the two
characters `\\n` the server sent read apart from an escaped line break), and keeps every
other character (accents, emoji, any script) as it is. The standard library has no such
escape: `repr` and the `unicode_escape` codec escape all non-ASCII text too, which would
garble any language but English.

`inert` is applied once, where server text comes in (`bridge.vapi.messages`, REST error
bodies and statuses): applied again, each backslash would double. Where text that is
already inert (or JSON) meets the terminal, the journal or the event bus once more,
`printable` is the safety net: controls escaped, backslashes kept, so it changes nothing
of inert text.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 and C1 controls and DEL; line/paragraph separators; bidi embeddings, overrides,
# isolates and marks; surrogates (only lone ones can be in a str)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
                     "\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSAFE_OR_BACKSLASH = re.compile(f"\\\\|{_UNSAFE.pattern}")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
ELLIPSIS = "…"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


_ESCAPE = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|.)?", re.S)  # one of `inert`'s


def _cut(text: str, limit: int | None, *, escaped: bool = False) -> str:
    """`text` cut to `limit` characters (+ …); `escaped` (text already inert): never inside
    an escape, whose half (`\\x1`, a lone `\\`) would read as garbage."""
    if limit is None or len(text) <= limit:
        return text
    cut = limit
    if escaped:  # the escapes read from the start (`\\\\x1b` is a backslash, then x1b)
        for match in _ESCAPE.finditer(text, 0, limit + 6):
            if match.start() >= limit:
                break
            if match.end() > limit:
                cut = match.start()
    return text[:cut] + ELLIPSIS


def inert(text: str, limit: int | None = None) -> str:
    """`text` as one printable line: controls and backslashes escaped, cut to `limit`
    characters (+ …). Unambiguous: a line break reads `\\n`, the two characters `\\n` read
    `\\\\n`."""
    return _UNSAFE_OR_BACKSLASH.sub(_escape, _cut(text, limit))


def printable(text: str, limit: int | None = None) -> str:
    """`text` as one printable line, for text that is already inert (or JSON): controls
    escaped, backslashes kept, cut to `limit` characters (+ …), never inside an escape. It
    changes nothing of inert text, and still keeps any other text from forging a line."""
    return _UNSAFE.sub(_escape, _cut(text, limit, escaped=True))


def is_inert(text: str) -> bool:
    """No control, line break, bidi mark or lone surrogate: safe to print as it is."""
    return _UNSAFE.search(text) is None


def inert_json(value: Any) -> str:
    """`value` as one line of JSON that a JSON reader reads back exactly (tabs, line breaks,
    bidi marks and all) and that a terminal shows inert: every character `inert` escapes is
    a JSON escape (`\\u200f`), and every other character stays as it is (any script). A
    lone surrogate, which no UTF-8 text holds and strict readers (jq) refuse even escaped,
    is U+FFFD."""
    text = _SURROGATE.sub("\ufffd", json.dumps(value, ensure_ascii=False))
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def shortened(text: str, limit: int) -> str:
    """`text` (already inert) as one printable line of at most `limit` characters: a longer
    one loses its middle (…), not its end, where a message says its fix. A message `cause —
    fix` keeps the fix whole (up to half the room) and the cause's start and end (the
    setting, and why: `api.key_file: cannot read … x.key: No such file or directory`)."""
    text = printable(text)
    cause, dash, fix = text.rpartition(" — ")
    room = limit - len(dash) - len(fix)  # the cause's (none at all: the whole cut instead)
    if len(text) <= limit or not dash or len(fix) > limit // 2 or room < 0:
        return _middle(text, limit)
    return _middle(cause, room) + dash + fix


def _middle(text: str, limit: int) -> str:
    """Escaped `text` cut to `limit` characters with its middle left out, never inside one
    of its escapes (read from the start, as `_cut` reads them)."""
    if len(text) <= limit:
        return text
    if limit <= 0:  # (no room even for the ellipsis)
        return ""
    start = (limit - 1) * 3 // 5  # a little more of the start: it names what failed
    end = len(text) - (limit - 1 - start)
    for match in _ESCAPE.finditer(text):
        if match.start() < start < match.end():
            start = match.start()
        if match.start() < end < match.end():
            end = match.end()
    return text[:start] + ELLIPSIS + text[end:]
