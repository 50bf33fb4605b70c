"""Loading ``script:`` YAML files and ``replay:`` recordings."""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class ScriptLine:
    text: str
    tone: float | None = None  # Hz: a tone line instead of speech
    ms: float = 400.0  # tone length
    wait: bool = True  # wait for the visitor before this line
    delay: float = 0.0  # seconds of pause before speaking
    hang: bool = False  # send a 'hang' event before the pause
    end_call: bool = False  # end the call (assistant-ended-call) once spoken
    tool: str | None = None  # call this client-side tool (tool-calls) before speaking
    arguments: dict[str, Any] | None = None  # ... with these arguments
    transfer: str | None = None  # once spoken, transfer to this number or sip: URI


@dataclass(frozen=True)
class ReplayEvent:
    at_s: float
    event: dict[str, Any]


KEYS = ("say", "text", "tone", "ms", "wait", "delay", "hang", "endCall", "tool", "arguments",
        "transfer")


def _number(item: dict[str, Any], key: str, default: float, where: str, *,
            low: float = 0.0) -> float:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not low <= value < math.inf:
        raise ValueError(f"{where}: '{key}' must be a finite number of at least {low:g}, "
                         f"not {value!r}")
    return float(value)


def _flag(item: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: '{key}' must be true or false, not {value!r}")
    return value


def _line(item: Any, where: str) -> ScriptLine:
    if isinstance(item, str):
        return ScriptLine(item)
    if not isinstance(item, dict):
        raise ValueError(f"{where}: a line is a string or a mapping")
    unknown = sorted(map(str, set(item) - set(KEYS)))
    if unknown:
        near = [k for u in unknown for k in KEYS if k.lower() == u.lower()] or [
            m for u in unknown for m in difflib.get_close_matches(u, KEYS, n=1)]
        hint = f"did you mean {', '.join(near)}?" if near else f"a line takes {', '.join(KEYS)}"
        raise ValueError(f"{where}: unknown keys {unknown} — {hint}")
    text = item.get("say", item.get("text", ""))
    if not isinstance(text, str) or (not text and "tone" not in item and "tool" not in item):
        raise ValueError(f"{where}: 'say' must be a non-empty string (or give 'tone' or "
                         f"'tool')")
    tool, arguments = item.get("tool"), item.get("arguments", {})
    if tool is not None and (not isinstance(tool, str) or not tool):
        raise ValueError(f"{where}: 'tool' must be a tool's name")
    if not isinstance(arguments, dict):
        raise ValueError(f"{where}: 'arguments' must be a mapping")
    if "arguments" in item and tool is None:
        raise ValueError(f"{where}: 'arguments' belong to a 'tool'")
    transfer = item.get("transfer")
    if transfer is not None and (not isinstance(transfer, str) or not transfer or not text):
        raise ValueError(f"{where}: 'transfer' is a number or sip: URI, on a line with 'say'")
    if item.get("endCall") and not text and "tone" not in item:
        raise ValueError(f"{where}: 'endCall' ends the call once the line is spoken: give "
                         f"it 'say' or 'tone'")
    if transfer is not None and ("tone" in item or item.get("endCall")):
        raise ValueError(f"{where}: a 'transfer' line is spoken, then transfers: no 'tone' "
                         f"or 'endCall' with it")
    return ScriptLine(
        text=text,
        tone=_number(item, "tone", 0, where, low=1) if "tone" in item else None,
        ms=_number(item, "ms", 400, where, low=1),
        wait=_flag(item, "wait", True, where),
        delay=_number(item, "delay", 0, where),
        hang=_flag(item, "hang", False, where),
        end_call=_flag(item, "endCall", False, where),
        tool=tool,
        arguments=arguments if tool else None,
        transfer=transfer,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text; save it as UTF-8") from None


def load_script(path: Path) -> list[ScriptLine]:
    """A YAML list of lines (or a mapping with ``lines:``); a ValueError names the file and
    the line (the script's line number, or the YAML line of a syntax error)."""
    try:
        data = yaml.safe_load(_read(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "a syntax error"
        raise ValueError(f"{path}: not valid YAML{at}: {problem}") from None
    if isinstance(data, dict):
        data = data.get("lines")
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a non-empty list of lines")
    return [_line(item, f"{path}: line {i + 1}") for i, item in enumerate(data)]


def _event(item: Any, where: str) -> ReplayEvent:
    at = item.get("at_s") if isinstance(item, dict) else None
    event = item.get("event") if isinstance(item, dict) else None
    if isinstance(at, bool) or not isinstance(at, int | float) or not isinstance(event, dict):
        raise ValueError(f"{where}: expected {{at_s: SECONDS, event: {{...}}}}")
    return ReplayEvent(float(at), dict(event))


def load_replay(path: Path) -> list[ReplayEvent]:
    """A recording with ``events: [{at_s, event}]`` (like transport_ack_dropped_by_vapi.json);
    a ValueError names the file and the event."""
    try:
        data = json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None
    items = data.get("events") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected 'events': [...]")
    out = [_event(e, f"{path}: event {i + 1}") for i, e in enumerate(items)]
    return sorted(out, key=lambda e: e.at_s)


def replay_segments(events: list[ReplayEvent]) -> dict[int, tuple[str, float]]:
    """index of each 'speech-update assistant started' -> (text spoken, seconds until stopped)."""
    segments: dict[int, tuple[str, float]] = {}
    for i, e in enumerate(events):
        ev = e.event
        if not (
            ev.get("type") == "speech-update"
            and ev.get("role") == "assistant"
            and ev.get("status") == "started"
        ):
            continue
        later = events[i + 1 :]
        stop_at = next(
            (
                x.at_s
                for x in later
                if x.event.get("type") == "speech-update"
                and x.event.get("role") == "assistant"
                and x.event.get("status") == "stopped"
            ),
            None,
        )
        said = [
            str(x.event.get("transcript", ""))
            for x in later
            if x.event.get("type") == "transcript" and x.event.get("role") == "assistant"
        ]
        finals = [
            str(x.event.get("transcript", ""))
            for x in later
            if x.event.get("type") == "transcript"
            and x.event.get("role") == "assistant"
            and x.event.get("transcriptType") == "final"
        ]
        text = finals[0] if finals else (said[-1] if said else "")
        segments[i] = (
            text or "Hello.",
            (stop_at if stop_at is not None else e.at_s + 2.0) - e.at_s,
        )
    return segments
