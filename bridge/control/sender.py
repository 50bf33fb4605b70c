"""A Vapi client command to a live call: over the call socket, or POSTed to its controlUrl.

`call.commands_via: control-url` in the profile sends every command as a POST; `handoff`
always goes that way (it is a controlUrl-only command in Vapi's docs). The controlUrl is
fetched with `GET /call/{id}` when the create response lacked it, and sent the public key
when `call.control_auth` is on. 2xx means accepted, not spoken: Vapi may speak a `say`
seconds later or never. 4xx is a refusal; Vapi answers 400 (not 404) once the call is over.
"""

from __future__ import annotations

import json
import logging
import weakref
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from bridge import USER_AGENT, redact
from bridge.call.lifecycle import Call
from bridge.errors import NetworkError, ProfileError, Refused
from bridge.profile import public_key
from bridge.vapi.api import check_plaintext, response_message
from bridge.vapi.net import http_client, untrusted

log = logging.getLogger("bridge.control")

CONTROL_URL_ONLY = ("handoff",)
_control_urls: weakref.WeakKeyDictionary[Call, str] = weakref.WeakKeyDictionary()


def ensure_live(call: Call | None) -> Call:
    """The call, if commands can go to it now; else a one-line refusal."""
    if call is None:
        raise Refused("no call in progress")
    if call.done or call.status in ("ending", "ended"):
        reason = call.ended_reason or call.status
        raise Refused(f"no call in progress (call {call.short_id} ended: {reason})")
    if call.info is None or call.status in ("creating", "connecting"):
        raise Refused("the call is still being set up; try again in a moment")
    return call


def route(call: Call, command: dict[str, Any]) -> str:
    if command.get("type") in CONTROL_URL_ONLY:
        return "control-url"
    return call.profile.call.commands_via


async def send(call: Call, command: dict[str, Any]) -> str:
    """Deliver `command` to the call; returns the path used ("socket" or "control-url")."""
    ensure_live(call)
    via = route(call, command)
    if via == "control-url":
        await post_control(call, command)
        return via
    try:
        await call.send_command(command)
    except NetworkError:
        raise Refused(f"no call in progress (call {call.short_id} is over)") from None
    except ConnectionClosed:
        raise Refused(f"call {call.short_id}: the call socket is closed") from None
    except TimeoutError:
        raise NetworkError(f"call {call.short_id}: the call socket did not take the "
                           f"command within 5 s") from None
    return via


async def control_url(call: Call) -> str:
    cached = _control_urls.get(call)
    if cached:
        return cached
    assert call.info is not None
    url = call.info.control_url
    if not url:
        url = (await call.api.get_call(call.info.id, attempts=2)).control_url
    if not url:
        raise Refused(f"Vapi gave no controlUrl for call {call.short_id} (is the assistant's "
                      f"monitorPlan.controlEnabled off?)")
    redact.register_url(url, "control URL")
    check_plaintext(url, call.profile.api.allow_plaintext, "the call's controlUrl")
    _control_urls[call] = url
    return url


def control_headers(call: Call) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
    if call.profile.call.control_auth:
        key = public_key(call.profile)
        if not key:
            raise ProfileError("call.control_auth is on but no public key is set (env "
                               f"{call.profile.api.public_key_env}, api.public_key_file or the "
                               f"credential vapi-public-key)")
        redact.register(key, "public key")
        headers["Authorization"] = f"Bearer {key}"
    return headers


async def post_control(call: Call, command: dict[str, Any]) -> None:
    url = await control_url(call)
    kind = command.get("type", "?")
    timeout = call.profile.api.timeout_seconds
    try:
        async with http_client(timeout=timeout) as client:
            response = await client.post(url, content=json.dumps(command),
                                         headers=control_headers(call))
    except httpx.TimeoutException:
        raise NetworkError(f"call {call.short_id}: the controlUrl did not answer {kind} "
                           f"within {timeout:.0f} s") from None
    except httpx.TransportError as exc:
        refusal = untrusted(exc, "the controlUrl")
        if refusal is not None:
            raise refusal from None
        raise NetworkError(f"call {call.short_id}: cannot reach the controlUrl "
                           f"({exc.__class__.__name__})") from None
    status = response.status_code
    if status < 300:
        log.info("call %s: %s accepted by the controlUrl", call.short_id, kind)
        return
    detail = redact.scrub_urls(response_message(response))
    if status == 401:
        raise Refused(f"the controlUrl refused {kind} (401 {detail}) — it needs the public "
                      f"key: set call.control_auth: true and VAPI_PUBLIC_KEY")
    if status in (400, 404, 409, 410):
        # Vapi answers 400 for a call it no longer runs as well as for a bad command
        raise Refused(f"the controlUrl refused {kind} ({status}: {detail}) — the call may "
                      f"have ended, or Vapi does not take this command")
    if 400 <= status < 500:
        raise Refused(f"the controlUrl refused {kind} ({status}): {detail}")
    raise NetworkError(f"the controlUrl failed on {kind} (HTTP {status})")
