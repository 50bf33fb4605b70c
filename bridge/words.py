"""Words people read: counts (`1 attempt`, `3 attempts`) and the parties' names."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n noun`, with the plural form (`noun + s`, or `many`) unless n is 1."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"


ROLE_NAMES = {"assistant": "assistant", "user": "visitor"}  # Vapi's roles, as people read them
