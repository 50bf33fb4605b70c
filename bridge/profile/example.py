"""The commented example profile, rendered from the key declarations in `sections.py`.

`config/frontdesk.yaml` is this module's output (`vapi-bridge init NAME` writes it with
`call.name` set to NAME), so every key is shown with its default and help as declared;
`tests/unit/test_profile_example.py` fails when they drift. Regenerate it with:

    python -m bridge.profile.example > config/frontdesk.yaml
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from typing import Any

import yaml

from bridge.profile.fields import has_example
from bridge.profile.model import SECTIONS

HEADER = """\
# Kiosk profile: the desk's microphone and speaker talking to a Vapi assistant.
# Every key a profile may hold is shown here with its default; unknown keys are errors.
# Run it:   VAPI_API_KEY=... vapi-bridge run --profile {name}
# (a bare name is looked up as ./NAME.yaml, ./config/NAME.yaml,
# ~/.config/vapi-bridge/NAME.yaml, then /etc/vapi-bridge/NAME.yaml). Relative paths in
# this file are relative to the file's own directory. `vapi-bridge init NAME` writes a copy.
# This file is generated from the key declarations in bridge/profile/sections.py.
"""

COMMENT_COLUMN = 36  # where each key's help starts
WIDTH = 94  # longest line, help included
_GUTTER = "  #" + " " * (COMMENT_COLUMN - 3)  # continuation: still a comment if uncommented


def scalar(value: Any) -> str:
    """A value as YAML reads it back: plain where plain is unambiguous, else quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    plain = yaml.safe_load(text) == text and ": " not in text and " #" not in text
    return text if plain else json.dumps(text)


def _wrap(words: list[str], width: int) -> tuple[str, list[str]]:
    """The words that fit on a line of `width`, and the rest."""
    line: list[str] = []
    while words and (not line or len(" ".join([*line, words[0]])) <= width):
        line.append(words.pop(0))
    return " ".join(line), words


def commented_line(code: str, help_text: str) -> list[str]:
    """`code` with `help_text` beside it from COMMENT_COLUMN, continued on gutter lines."""
    if not help_text:
        return [code]
    lead = code.ljust(COMMENT_COLUMN - 1) + " "
    first, rest = _wrap(help_text.split(), WIDTH - len(lead) - 2)
    out = [f"{lead}# {first}"]
    while rest:
        line, rest = _wrap(rest, WIDTH - COMMENT_COLUMN - 2)
        out.append(f"{_GUTTER}# {line}")
    return out


def render(examples: dict[str, Any] | None = None, profile: str | None = None) -> str:
    """The example profile; `examples` ({"call.name": "lobby"}) replaces shown values;
    `profile`: the name its header runs (else call.name's)."""
    out = [HEADER.format(name=profile or (examples or {}).get("call.name", "frontdesk"))]
    for section, cls in SECTIONS.items():
        out += commented_line(f"{section}:", cls.HELP)
        for f in fields(cls):
            meta = f.metadata
            value = meta["example"] if has_example(meta) else meta["spec"].default
            value = (examples or {}).get(f"{section}.{f.name}", value)
            shown = "" if meta["block"] else f" {scalar(value)}"
            mark = "# " if meta["commented"] else ""
            out += commented_line(f"  {mark}{f.name}:{shown}", meta["help"])
            for line in meta["block"].splitlines():
                out.append(f"  {mark or '  '}{'  ' if mark else ''}{line}".rstrip())
        out.append("")
    return "\n".join(out[:-1]) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
