"""`assistantOverrides.variableValues` filled into the assistant's text, as Vapi does
(LiquidJS) for its first message and system prompt: `{{ name }}`, `{{ visitor.name }}` for a
nested mapping. Only plain names are filled; an expression with a filter or tag
(`{{ "now" | date: … }}`, `{% if %}`) and a name variableValues lacks are left as written —
Vapi renders the first and leaves the second empty — so a placeholder no value reached shows.
"""

from __future__ import annotations

import json
import re
from typing import Any

PLAIN = re.compile(r"\{\{\s*([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)\s*\}\}")


def variable_values(body: dict[str, Any]) -> dict[str, Any]:
    """The inline assistant's variableValues with the overrides' on top."""
    found: dict[str, Any] = {}
    for key in ("assistant", "assistantOverrides"):
        part = body.get(key)
        values = part.get("variableValues") if isinstance(part, dict) else None
        if isinstance(values, dict):
            found.update(values)
    return found


def _shown(value: Any) -> str:
    if value is None:  # Liquid's nil: nothing (`desk:` left empty, or `--set …desk=`)
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def render(text: str | None, values: dict[str, Any]) -> str | None:
    """`text` with each `{{ name }}` that `values` holds replaced by its value."""
    if not text or not values:
        return text

    def fill(match: re.Match[str]) -> str:
        value: Any = values
        for part in match[1].split("."):
            if not isinstance(value, dict) or part not in value:
                return match[0]
            value = value[part]
        return _shown(value)

    return PLAIN.sub(fill, text)
