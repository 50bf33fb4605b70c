"""What Vapi said in an error answer: NestJS's `message` (a list of its validator's lines, or
one), else the body's text, else the status line's reason; its echoed secrets masked, inert,
cut. A 400 to a request's body keeps the validator's lines one by one (`BodyRefused.said`),
for the caller that built the body to name them in its own keys (`run`: the profile's)."""

from __future__ import annotations

from bridge import redact
from bridge.errors import BodyRefused
from bridge.inert import inert
from bridge.vapi import safejson

MAX_BODY = 16 * 2**20  # a long call's object (messages, artifact) stays far below this:
# a 2xx body is read no further (`net.read_answer`), an error body 64 KiB at most
MAX_LINES = 20  # of a validator's list


def _messages(body: bytes) -> list[str] | None:
    """NestJS's `message` (or `error`) as its lines; None when the body is no JSON."""
    try:
        parsed = safejson.loads(body, max_bytes=MAX_BODY)
    except ValueError:
        return None
    if isinstance(parsed, dict):
        msg = parsed.get("message", parsed.get("error", ""))
        return [str(m) for m in msg[:MAX_LINES]] if isinstance(msg, list) else [str(msg)]
    return [str(parsed)]


def response_message(body: bytes, reason: str) -> str:
    """Vapi's error text from an answer's body: NestJS `message` (joined when a list), or
    the text, or the status line's reason when there is none."""
    return _text(body, reason, _messages(body))


def _text(body: bytes, reason: str, lines: list[str] | None) -> str:
    """`response_message`, the body's `_messages` read already."""
    if lines is None:
        return _said(body.decode("utf-8", "replace").strip() or reason)
    return _said("; ".join(lines))


def _said(text: str) -> str:
    """Server text, its echoed secrets masked before the cut that could split one."""
    return inert(redact.mask(text[:MAX_BODY]), 300)


def body_refused(what: str, body: bytes, reason: str) -> BodyRefused:
    """The error for a 400: Vapi's words, and its validator's lines one by one."""
    said = _messages(body)  # (parsed once: up to a 64 KiB body)
    text = _text(body, reason, said)
    lines = tuple(_said(line) for line in said or () if line.strip())
    return BodyRefused(f"Vapi refused {what} (400 Bad Request): {text} — fix the "
                       f"assistant/overrides in the profile or the --set that gave them "
                       f"(`vapi-bridge check` names each in the profile's keys)",
                       what=what, said=lines)
