"""What a hostile server can put in a frame (hypothesis strategies), and the check every
event parsed from one must pass: its strings inert, one line, bounded, valid UTF-8."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import strategies as st

from bridge.inert import is_inert
from bridge.vapi import messages

# what a hostile server can put in a string
NASTY = ["\n12:00:00 ERROR forged", "<3>journal error", "\x1b[2J\x1b[31mred", "\r\x1b[K",
         "\u202eevil\u202c", "\u2028next", "\x00", "\x85", "\ud83c", "\udfff", "\t"]
nasty_text = st.lists(st.sampled_from(NASTY) | st.text(max_size=20), max_size=6).map("".join)
json_leaf = (st.none() | st.booleans() | st.integers() | st.floats() | nasty_text
             | st.integers(min_value=10**300, max_value=10**400))
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=4)
                          | st.dictionaries(nasty_text, c, max_size=4), max_leaves=12)
TYPES = ["status-update", "speech-update", "user-interrupted", "transcript",
         "transcript[transcriptType=\"final\"]", "hang", "conversation-update", "model-output"]
KEYS = ["status", "endedReason", "role", "turn", "turnId", "transcriptType", "transcript",
        "message", "type"]


def strings_of(event: messages.Event) -> list[str]:
    """Every string an event carries for printing (`raw`, and a transcript's `exact` text,
    kept as sent for the recording's JSONL, which escapes it, are not)."""
    out: list[str] = []
    for f in fields(event):
        if f.name in ("raw", "exact"):
            continue
        value = getattr(event, f.name)
        if isinstance(value, str):
            out.append(value)
    return out


def check(event: messages.Event) -> None:
    assert isinstance(event, messages.Event)
    for text in strings_of(event):
        assert is_inert(text), repr(text)
        assert len(text.splitlines()) <= 1
        text.encode("utf-8")  # strict: a lone surrogate would raise here
        assert len(text) <= 6 * messages.MAX_TEXT + 1
    if isinstance(event, messages.Transcript):
        assert len(event.exact) <= messages.MAX_EXACT
    if isinstance(event, messages.SpeechUpdate) and event.turn is not None:
        assert type(event.turn) is int and 0 <= event.turn < messages.MAX_TURN
