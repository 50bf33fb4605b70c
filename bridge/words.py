"""Counts in words: `1 attempt`, `3 attempts`, `0 audible underruns`."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n noun`, with the plural form (`noun + s`, or `many`) unless n is 1."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"
