"""One line of `vapi-bridge check`: passed, failed (with its exit code) or a warning."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import ExitCode


@dataclass
class Item:
    ok: bool
    what: str
    detail: str = ""
    code: int = ExitCode.OK
    warn: bool = False  # passed, but worth a look: shown with !


def line(item: Item, colour: bool) -> str:
    mark, hue = ("!", 33) if item.warn else ("✓", 32) if item.ok else ("✗", 31)
    if colour:
        mark = f"\033[{hue}m{mark}\033[0m"
    return f" {mark} {item.what}" + (f" — {item.detail}" if item.detail else "")
