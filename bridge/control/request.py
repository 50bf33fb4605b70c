"""The control protocol's shapes: a request's arguments read with their types checked, and
the error answer.

A request is one line (UTF-8 JSON, at most `MAX_LINE` bytes with its newline): an object
with `cmd` and that command's arguments; the answer is
`{"ok": true, "message": "…", …}` or `{"ok": false, "error": "…", "kind": KIND}` with KIND
one of `usage`, `refused`, `network`, `internal` (the `ctl` exit codes 2, 1, 5, 1).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from bridge import redact
from bridge.errors import BridgeError, ExitCode, Refused, UsageError

Answer = dict[str, Any]
MAX_LINE = 64 * 1024  # the longest request line the daemon reads


class Request:
    """A request's arguments, each read with its type checked (a usage error if not)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.cmd: str = data["cmd"]

    def text(self, key: str = "text") -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{self.cmd} needs a non-empty {key!r}")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{key!r} must be a string")
        return value or None

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise UsageError(f"{key!r} must be true or false")
        return value

    def choice(self, key: str, choices: Collection[str], default: str) -> str:
        value = self.data.get(key, default)
        if value not in choices:
            raise UsageError(f"{key} must be one of {', '.join(choices)}")
        return str(value)


def error(message: str, kind: str) -> Answer:
    return {"ok": False, "error": redact.scrub_urls(message), "kind": kind}


def kind_of(exc: BridgeError) -> str:
    if isinstance(exc, Refused):
        return "refused"
    if exc.exit_code == ExitCode.NETWORK:
        return "network"
    if exc.exit_code == ExitCode.PROFILE:
        return "usage"
    return "refused"
