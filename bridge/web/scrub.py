"""What leaves the HTTP server is scrubbed once more: the call's registered secrets
masked and any URL with a path cut to its scheme and host (`bridge.redact.scrub_urls`), so
no event, state or label can carry a call URL, whatever text reached it."""

from __future__ import annotations

import json
from typing import Any

from bridge.events import KioskEvent
from bridge.redact import scrub_urls

WITHHELD = "[withheld: an unreadable URL]"


def text(value: str) -> str:
    try:
        return scrub_urls(value)
    except ValueError:  # a URL urllib cannot read (a port out of range, say)
        return WITHHELD


def values(data: Any) -> Any:
    """Every string in a JSON value, scrubbed."""
    if isinstance(data, str):
        return text(data)
    if isinstance(data, dict):
        return {k: values(v) for k, v in data.items()}
    if isinstance(data, list):
        return [values(v) for v in data]
    return data


def event_json(event: KioskEvent) -> str:
    """The event as `ctl events` shows it, one line, scrubbed."""
    return json.dumps(values(event.as_dict()), separators=(",", ":"), ensure_ascii=False)
