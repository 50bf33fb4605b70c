"""A created call as the bridge keeps it: its id and the three URLs that open it, taken
from Vapi's answer only when each has the type and form a call's id and URLs have.

The id goes into URL paths (`GET /call/{id}`), file names (`record.path: rec/{call_id}`),
the summary line on the terminal and in the journal, and the controls' answers. Vapi's ids
are UUIDs; anything else (a control character, a `/`, a `..`, a number, null) is not a
call this client can address, and is refused as the answer of something other than Vapi,
before any of it is used or printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeGuard

from bridge import redact
from bridge.errors import ApiRequestError

# letters, digits, `-` and `_`: a UUID (36), or any id Vapi might move to, but no path,
# no control character, and long enough that the tail logs show of it (its last 8
# characters) is not the whole id
_CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{15,127}")
MAX_URL = 2048


def is_call_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _CALL_ID.fullmatch(value) is not None


def call_id(value: object, what: str = "POST /call") -> str:
    """`value` if it is a call id; else `ApiRequestError` (the answer is not Vapi's)."""
    if is_call_id(value):
        return value
    shape = "no id" if value is None or value == "" else (
        f"an id of {len(value)} characters that is not a call id" if isinstance(value, str)
        else f"an id that is a JSON {_json_type(value)}, not a string")
    raise ApiRequestError(f"Vapi's answer to {what} had {shape} — is api.base_url a Vapi "
                          f"API?")


def _json_type(value: object) -> str:
    return {bool: "boolean", int: "number", float: "number", list: "array",
            dict: "object"}.get(type(value), "value")


def _url(value: object) -> str | None:
    """A URL string from the answer, or None (anything else is as good as absent)."""
    return value if isinstance(value, str) and 0 < len(value) <= MAX_URL else None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class CallInfo:
    id: str
    websocket_url: str
    listen_url: str | None
    control_url: str | None
    raw: dict[str, Any]

    @classmethod
    def from_body(cls, body: dict[str, Any], what: str = "POST /call") -> CallInfo:
        """The call in a Vapi answer; `ApiRequestError` when its id is not a call id."""
        transport, monitor = _object(body.get("transport")), _object(body.get("monitor"))
        info = cls(
            id=call_id(body.get("id"), what),
            websocket_url=_url(transport.get("websocketCallUrl")) or "",
            listen_url=_url(monitor.get("listenUrl")),
            control_url=_url(monitor.get("controlUrl")),
            raw=body,
        )
        redact.register_url(info.websocket_url, "call socket URL")
        redact.register_url(info.listen_url, "listen URL")
        redact.register_url(info.control_url, "control URL")
        # a live call's id opens it too: logs show only its tail (`Call.short_id`)
        redact.register(info.id, shown=f"…{info.id[-8:]}")
        return info

    def release_secrets(self) -> None:
        """The call is over: its URLs and id open nothing now; stop masking them, so the
        redactor does not grow with every call (URLs are still shortened by pattern)."""
        for url in (self.websocket_url, self.listen_url, self.control_url):
            redact.release_url(url)
        redact.release_call(self.id)  # and URLs learnt later (GET /call), which hold the id
