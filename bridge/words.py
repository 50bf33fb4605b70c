"""Words people read: counts (`1 attempt`, `3 attempts`), the parties' names, what a path
is when it is not a file."""

from __future__ import annotations

import stat
from pathlib import Path


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n noun`, with the plural form (`noun + s`, or `many`) unless n is 1."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"


ROLE_NAMES = {"assistant": "assistant", "user": "visitor"}  # Vapi's roles, as people read them


def speaker(role: str) -> str:
    """Who said a transcript line, as people read it: a role Vapi's schema does not give
    (`ClientMessageTranscript.role`: assistant, user) in brackets, so that no server text
    (a role "visitor") passes for one of the parties. `role` printable already (`inert`)."""
    return ROLE_NAMES.get(role) or f"[{role or '?'}]"


def not_a_file(path: Path) -> str | None:
    """What `path` is when it exists and is no regular file ("a directory", "a character
    device", …), in words; None for a regular file, or a path that is not there."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return None
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
             (stat.S_ISSOCK, "a socket"))
    return next((words for test, words in kinds if test(mode)),
                None if stat.S_ISREG(mode) else "not a regular file")
