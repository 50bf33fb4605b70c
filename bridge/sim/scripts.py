"""Loading ``script:`` YAML files and ``replay:`` recordings."""

from __future__ import annotations

import json
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


def _line(item: Any, where: str) -> ScriptLine:
    if isinstance(item, str):
        return ScriptLine(item)
    if not isinstance(item, dict):
        raise ValueError(f"{where}: a line is a string or a mapping")
    unknown = set(item) - {"say", "text", "tone", "ms", "wait", "delay", "hang", "endCall",
                           "tool", "arguments", "transfer"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    text = item.get("say", item.get("text", ""))
    if not isinstance(text, str) or (not text and "tone" not in item and "tool" not in item):
        raise ValueError(f"{where}: 'say' must be a non-empty string (or give 'tone' or "
                         f"'tool')")
    tool, arguments = item.get("tool"), item.get("arguments", {})
    if tool is not None and (not isinstance(tool, str) or not tool):
        raise ValueError(f"{where}: 'tool' must be a tool's name")
    if not isinstance(arguments, dict):
        raise ValueError(f"{where}: 'arguments' must be a mapping")
    transfer = item.get("transfer")
    if transfer is not None and (not isinstance(transfer, str) or not transfer or not text):
        raise ValueError(f"{where}: 'transfer' is a number or sip: URI, on a line with 'say'")
    return ScriptLine(
        text=text,
        tone=float(item["tone"]) if "tone" in item else None,
        ms=float(item.get("ms", 400)),
        wait=bool(item.get("wait", True)),
        delay=float(item.get("delay", 0)),
        hang=bool(item.get("hang", False)),
        end_call=bool(item.get("endCall", False)),
        tool=tool,
        arguments=arguments if tool else None,
        transfer=transfer,
    )


def load_script(path: Path) -> list[ScriptLine]:
    """A YAML list of lines (or a mapping with ``lines:``)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("lines")
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a non-empty list of lines")
    return [_line(item, f"{path}: line {i + 1}") for i, item in enumerate(data)]


def load_replay(path: Path) -> list[ReplayEvent]:
    """A recording with ``events: [{at_s, event}]`` (like transport_ack_dropped_by_vapi.json)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data.get("events") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected 'events': [...]")
    out = [ReplayEvent(float(e["at_s"]), dict(e["event"])) for e in items]
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
