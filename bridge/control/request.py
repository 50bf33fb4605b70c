"""The control protocol's shapes: a request's arguments read with their types checked, and
the error answer.

A request is one line (UTF-8 JSON, at most `MAX_LINE` bytes with its newline): an object
with `cmd` and that command's arguments; the answer is
`{"ok": true, "message": "…", …}` or `{"ok": false, "error": "…", "kind": KIND}` with KIND
one of `usage`, `refused`, `network`, `internal` (the `ctl` exit codes 2, 1, 5, 1).
"""

from __future__ import annotations

import difflib
import pwd
import shlex
from collections.abc import Collection
from typing import Any

from bridge import redact
from bridge.errors import BridgeError, ExitCode, Refused, UsageError
from bridge.extras import program

Answer = dict[str, Any]
MAX_LINE = 64 * 1024  # the longest request line the daemon reads

# Each command's fields besides `cmd` (none where not listed). Any other is refused rather
# than ignored: a typo, or Vapi's own name for a field (`endCallAfterSpoken` where this
# socket says `end_after`), would otherwise send a command that silently does not do it.
FIELDS: dict[str, tuple[str, ...]] = {
    "say": ("text", "end_after", "interruptions", "interrupt_assistant"),
    "add-message": ("text", "role", "trigger_response"),
    "transfer": ("destination", "message", "extension"),
    "handoff": ("assistant_id", "context", "message"),
    "events": ("partials",),
}
VAPI_NAMES = {"content": "text", "endCallAfterSpoken": "end_after",
              "interruptionsEnabled": "interruptions",
              "interruptAssistantEnabled": "interrupt_assistant",
              "triggerResponseEnabled": "trigger_response", "assistantId": "assistant_id"}


def unknown_field(request: dict[str, Any]) -> str | None:
    """Why `request` holds a field its command does not take (one line naming the fields
    it does take), or None."""
    cmd = str(request["cmd"])
    allowed = FIELDS.get(cmd, ())
    for key in request:
        if key == "cmd" or key in allowed:
            continue
        name = ascii(key[:40])
        close = [VAPI_NAMES[key]] if VAPI_NAMES.get(key) in allowed else \
            difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        takes = f"takes {', '.join(allowed)}" if allowed else "takes no fields"
        return f"{cmd}: unknown field {name}{hint} — {cmd} {takes}"
    return None


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


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def refusal(uid: int | None, allowed_uid: int) -> Answer:
    """The answer to a peer of another uid (root too, docs/control.md): the fix is `ctl` as
    the daemon's user through this installation's program by its path (the service user's
    PATH has no venv), also given alone as `ctl` (`check` beside the daemon shows it)."""
    name = user_name(allowed_uid)
    as_user = f"#{allowed_uid}" if name == f"uid {allowed_uid}" else name  # sudo's #UID
    ctl = f"sudo -u {shlex.quote(as_user)} {program()} ctl"
    answer = error(f"refused: uid {uid} is not this daemon's user ({name}) — run ctl as that "
                   f"user: {ctl} …", "refused")
    return answer | {"ctl": ctl}


def kind_of(exc: BridgeError) -> str:
    if isinstance(exc, Refused):
        return "refused"
    if exc.exit_code == ExitCode.NETWORK:
        return "network"
    if exc.exit_code == ExitCode.PROFILE:
        return "usage"
    return "refused"
