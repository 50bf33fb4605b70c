"""One control request → one action on the daemon or its call → one answer.

A request is a JSON object with `cmd` and that command's arguments; the answer is
`{"ok": true, "message": "…", …}` or `{"ok": false, "error": "…", "kind": KIND}` with KIND
one of `usage`, `refused`, `network`, `internal` (the `ctl` exit codes 2, 1, 5, 1).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bridge import redact
from bridge.call.lifecycle import ensure_live
from bridge.control.status import status
from bridge.errors import BridgeError, ExitCode, Refused, UsageError
from bridge.vapi import messages

if TYPE_CHECKING:
    from bridge.service.daemon import Daemon

log = logging.getLogger("bridge.control")

Answer = dict[str, Any]
Handler = Callable[["Daemon", dict[str, Any]], Awaitable[Answer]]
ROLES = ("system", "user", "assistant")
CALL_WAIT_S = 15.0


def _text(req: dict[str, Any], key: str = "text") -> str:
    value = req.get(key)
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{req.get('cmd')} needs a non-empty {key!r}")
    return value


def _opt_text(req: dict[str, Any], key: str) -> str | None:
    value = req.get(key)
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{key!r} must be a string")
    return value or None


def _flag(req: dict[str, Any], key: str, default: bool) -> bool:
    value = req.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"{key!r} must be true or false")
    return value


async def _vapi(daemon: Daemon, command: dict[str, Any], what: str) -> Answer:
    call = ensure_live(daemon.call)
    via = await call.commands.send(command)
    return {"message": f"call {call.short_id}: {what} ({via})", "call": call.short_id,
            "via": via, "sent": command}


async def do_say(daemon: Daemon, req: dict[str, Any]) -> Answer:
    cmd = messages.say(_text(req), end_after=_flag(req, "end_after", False),
                       interruptions=_flag(req, "interruptions", True),
                       interrupt_assistant=_flag(req, "interrupt_assistant", False))
    return await _vapi(daemon, cmd, "say sent" + (", the call ends after it"
                                                  if cmd["endCallAfterSpoken"] else ""))


async def do_add_message(daemon: Daemon, req: dict[str, Any]) -> Answer:
    role = req.get("role", "system")
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}")
    trigger = _flag(req, "trigger_response", True)
    cmd = messages.add_message(_text(req), role=role, trigger_response=trigger)
    return await _vapi(daemon, cmd, f"{role} message added"
                       + ("" if trigger else " (no response)"))


def _control(name: str) -> Handler:
    async def handler(daemon: Daemon, req: dict[str, Any]) -> Answer:
        return await _vapi(daemon, messages.control(name), f"{name} sent")

    return handler


def _mic(muted: bool) -> Handler:
    async def handler(daemon: Daemon, req: dict[str, Any]) -> Answer:
        call = ensure_live(daemon.call)
        call.uplink.mute(muted)
        what = "muted: silence is sent instead" if muted else "unmuted"
        return {"message": f"call {call.short_id}: microphone {what}", "call": call.short_id}

    return handler


async def do_end(daemon: Daemon, req: dict[str, Any]) -> Answer:
    call = ensure_live(daemon.call)
    await call.end()
    await asyncio.sleep(0)  # let the call's own tasks see the close
    reason = call.ended_reason or "ended"
    return {"message": f"call {call.short_id} ended ({reason})", "call": call.short_id,
            "endedReason": reason}


async def do_transfer(daemon: Daemon, req: dict[str, Any]) -> Answer:
    destination = _text(req, "destination")
    cmd = messages.transfer(destination, _opt_text(req, "message"))
    kind = "SIP URI" if cmd["destination"]["type"] == "sip" else "number"
    return await _vapi(daemon, cmd, f"transfer to {kind} {destination} requested")


async def do_handoff(daemon: Daemon, req: dict[str, Any]) -> Answer:
    context = req.get("context", "all")
    valid = context in ("none", "all") or (
        isinstance(context, str) and context.startswith("last:")
        and context[5:].isdigit() and int(context[5:]) > 0)
    if not valid:
        raise UsageError("context must be none, all or last:N (N > 0)")
    assistant = _text(req, "assistant_id")
    cmd = messages.handoff(assistant, context, _opt_text(req, "message"))
    return await _vapi(daemon, cmd, f"handoff to assistant {assistant} requested")


async def do_call(daemon: Daemon, req: dict[str, Any]) -> Answer:
    before = daemon.call
    refused = daemon.request_call()
    if refused:
        raise Refused(refused)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CALL_WAIT_S
    while loop.time() < deadline:
        call = daemon.call
        if call is not None and call is not before:
            if call.done:
                raise Refused(f"the call could not be placed ({call.ended_reason or 'failed'}; "
                              f"see the daemon's log)")
            if call.info is not None and not call.state.setting_up:
                return {"message": f"call {call.short_id} started", "call": call.short_id}
        await asyncio.sleep(0.05)
    return {"message": "call requested (still connecting)", "call": None}


async def do_status(daemon: Daemon, req: dict[str, Any]) -> Answer:
    controls = daemon.call.commands.sent_controls if daemon.call is not None else {}
    return status(daemon, controls)


async def do_monitor(daemon: Daemon, req: dict[str, Any]) -> Answer:
    """For `listen`: the call's id and listenUrl, and this daemon's own recording of it."""
    call = ensure_live(daemon.call)
    assert call.info is not None
    url = call.info.listen_url or (await call.api.get_call(call.info.id, attempts=2)).listen_url
    if not url:
        raise Refused(f"Vapi gave no listenUrl for call {call.short_id} (is the assistant's "
                      f"monitorPlan.listenEnabled off?)")
    redact.register_url(url, "listen URL")
    recorder = call.recorder
    wav = recorder.wav_path if recorder is not None else None
    return {"message": f"call {call.short_id}", "call": call.short_id, "callId": call.info.id,
            "listenUrl": url, "allowPlaintext": call.profile.api.allow_plaintext,
            "auth": call.profile.call.control_auth,
            "recording": str(wav.resolve()) if wav else None,
            "recordingRate": call.profile.wire.sample_rate,
            "sentSeconds": call.uplink.stats.sent_seconds}


HANDLERS: dict[str, Handler] = {
    "status": do_status, "say": do_say, "add-message": do_add_message,
    **{name: _control(name) for name in messages.CONTROLS},
    "mute-mic": _mic(True), "unmute-mic": _mic(False), "end": do_end,
    "transfer": do_transfer, "handoff": do_handoff, "call": do_call, "monitor": do_monitor,
}


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


async def handle(daemon: Daemon, request: Any) -> Answer:
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        return error('a request is a JSON object with a "cmd" string', "usage")
    handler = HANDLERS.get(request["cmd"])
    if handler is None:
        return error(f"unknown command {request['cmd']!r}; known: {', '.join(HANDLERS)}",
                     "usage")
    try:
        return {"ok": True, **await handler(daemon, request)}
    except BridgeError as exc:
        return error(str(exc), kind_of(exc))
    except Exception as exc:
        log.exception("control command %s failed", request["cmd"])
        return error(f"internal error: {exc!r}", "internal")
