"""Was a call created after all? `POST /call` is not idempotent: when its answer is lost
(a timeout, a dropped connection, a 5xx) Vapi may still have created — and will bill — the
call. Every attempt names its call with a marker of its own (`CreateCallDTO.name`, "for
your own reference", at most 40 characters); the calls created since the first attempt
are listed (`GET /call?createdAtGt=…`, page by page) and searched for one of the markers
sent, before anything is sent again.

Why `name`: Vapi's schema has no idempotency key, and `CreateCallDTO` has no `metadata`
(only `assistantOverrides.metadata`, which would replace the assistant's own metadata for
the call — what its webhooks may rely on). `GET /call` filters by id, assistantId,
phoneNumberId and createdAt/updatedAt bounds, not by name, so the name is matched here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bridge.errors import BridgeError, NetworkError

log = logging.getLogger("bridge.api")

NAME_MAX = 40
DEFAULT_NAME = "vapi-bridge"
CLOCK_SLACK_S = 900.0  # our clock against Vapi's: look this far before the first attempt
PAGE = 100  # the schema's default `limit`: a page of full Call objects stays small
MAX_PAGES = 10

ListCalls = Callable[..., Awaitable[list[Any]]]


def marked_name(name: object, marker: str) -> str:
    """The profile's call name (shortened if need be) followed by ` #<marker>`."""
    suffix = f" #{marker}"
    base = name if isinstance(name, str) and name else DEFAULT_NAME
    return base[: NAME_MAX - len(suffix)] + suffix


# what the visitor's next try needs: a call created unseen ends by itself (Vapi ends a call
# nobody connects to, `…-transport-never-connected`, about 20 s after it was created)
RETRY_FIX = ("check the network and api.base_url, then try again (a call created unseen ends "
             "by itself within about 20 s)")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def find_created(list_calls: ListCalls, sent: list[str], since: float,
                       failure: str) -> dict[str, Any] | None:
    """The call one of the `sent` names created, if Vapi has it and it has not ended;
    None when none of them created a call. Raises NetworkError when Vapi cannot tell us,
    whatever its answer: then sending again could create a second call."""
    names = set(sent)
    params: dict[str, Any] = {"createdAtGt": _iso(since - CLOCK_SLACK_S), "limit": PAGE}
    try:
        for _ in range(MAX_PAGES):
            items = [c for c in await list_calls("the check for a created call", **params)
                     if isinstance(c, dict)]
            found = [c for c in items if isinstance(c.get("name"), str) and c["name"] in names]
            if found:
                return _usable(found)
            if len(items) < PAGE:
                return None
            stamps = [str(c.get("createdAt", "")) for c in items]
            if not all(stamps):
                break
            if stamps[0] >= stamps[-1]:  # newest first (as Vapi lists): go further back
                params["createdAtLt"] = min(stamps)
            else:  # oldest first: go forward
                params["createdAtGt"] = max(stamps)
    except BridgeError as exc:  # a refusal too (400, 403, 405 of the list): not the
        # profile's fault, nor one a restart cannot mend (exit 2 or 3 kept a kiosk down)
        why = str(exc).split(" — ")[0]  # (not a refusal's fix: that is for POST /call)
        raise NetworkError(f"POST /call: {failure}, and Vapi could not be asked whether the "
                           f"call was created ({why}); not trying again, so as not to create "
                           f"a second call — {RETRY_FIX}") from None
    raise NetworkError(f"POST /call: {failure}, and the calls created since could not all be "
                       f"listed; not trying again, so as not to create a second call — "
                       f"{RETRY_FIX}")


def _usable(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    live = [c for c in found if c.get("status") != "ended"]
    if len(found) > 1:
        log.warning("POST /call: %d attempts each created a call; using the newest, the "
                    "others end by themselves when nobody connects", len(found))
    if not live:
        log.warning("POST /call: the call created by a lost answer has already ended")
        return None
    return max(live, key=lambda c: str(c.get("createdAt", "")))
