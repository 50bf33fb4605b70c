"""The ``long-history`` fault: conversation-updates as a long call's are, hundreds of KiB.

Vapi's `conversation-update` (in the default `clientMessages`) carries the whole
conversation each time: every turn in its own shape (`messages`: role, text, times) and in
OpenAI's (`messagesOpenAIFormatted`), the system prompt and tool results included, so it
grows each turn. Here each one carries `kib` KiB of earlier turns ahead of the call's own,
one turn more each time (a deterministic text: the same sizes on every run); the call's
record keeps a line of it, not the megabyte.
"""

from __future__ import annotations

import functools
import json
import random
from typing import Any

WORDS = ("the", "lift", "is", "on", "left", "past", "cafe", "your", "parcel", "at", "desk",
         "a", "taxi", "will", "be", "here", "in", "ten", "minutes", "please", "sign", "meeting",
         "room", "second", "floor", "thank", "you", "where", "who", "are", "to", "see")
T0_MS = 1_733_560_000_000  # the earlier turns' wall clock (ms)


def _turn(i: int, rnd: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    role = "user" if i % 2 else "bot"
    text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 40)))
    at = 2.5 * i + rnd.random()
    said = {"role": role, "message": text, "time": T0_MS + int(at * 1000),
            "endTime": T0_MS + int((at + 2) * 1000), "secondsFromStart": round(at, 3),
            "duration": 2000 + rnd.randint(0, 999)}
    if role == "user":
        said["metadata"] = {"wordLevelConfidence": [
            {"word": w, "start": round(at, 2), "end": round(at + 0.3, 2), "confidence": 0.97,
             "punctuated_word": w} for w in text.split()[:3]]}
    return said, {"role": "assistant" if role == "bot" else "user", "content": text}


@functools.cache
def earlier(kib: float) -> tuple[str, str]:
    """Turns whose JSON comes to about `kib` KiB, in the two shapes: each list's items as
    JSON text (built once: a megabyte's `json.dumps` per frame held the simulator's loop
    up, and with it its clock of the uplink's arrivals)."""
    rnd, turns, size, i = random.Random(kib), [], 0, 0
    while size < kib * 1024:
        turn = [json.dumps(t, separators=(",", ":")) for t in _turn(i, rnd)]
        turns.append(turn)
        size += sum(len(t) + 1 for t in turn)
        i += 1
    return ",".join(t[0] for t in turns), ",".join(t[1] for t in turns)


def padded(event: dict[str, Any], kib: float, grown: int) -> tuple[str, dict[str, Any]]:
    """`event` (a conversation-update) as JSON text, with `kib` KiB of earlier turns and
    `grown` more, and what the call's record keeps instead of it."""
    said, openai = earlier(kib)
    rnd = random.Random(grown)
    more = [[json.dumps(t, separators=(",", ":")) for t in _turn(10_000 + k, rnd)]
            for k in range(grown)]
    text = (json.dumps(event)[:-1] + ',"messages":[' + ",".join([said, *(t[0] for t in more)])
            + '],"messagesOpenAIFormatted":[' + ",".join([openai, *(t[1] for t in more)])
            + "]}")
    return text, {"type": event.get("type"), "longHistoryBytes": len(text)}
