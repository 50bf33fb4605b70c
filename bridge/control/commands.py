"""One control request → one action on the host (the daemon) or its call → one answer
(`request` has the protocol's shapes).

The daemon is seen only as a `Host`: its call, a way to request one, a snapshot of its
state; everything else is read from the `Call` (the call layer below).

A new Vapi command is its wire form in `bridge.vapi.messages` plus one `@vapi(NAME)`
entry here, reading the request into that form and saying what was done; `ctl` gets it
from one entry in `bridge/cli/ctl.py`'s table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bridge import events, redact
from bridge.call.hangup import hang_up, reason_of, send_noted, stall_note
from bridge.call.lifecycle import Call, ensure_live
from bridge.call.state import CallState
from bridge.control import no_call, status
from bridge.control.request import Answer, Request, error, kind_of, unknown_field
from bridge.errors import BridgeError, Refused, UsageError
from bridge.events import EventBus
from bridge.vapi import messages

log = logging.getLogger("bridge.control")

CALL_WAIT_S = 15.0


class Host(Protocol):
    """What the control socket needs of the daemon (`bridge.service.daemon.Daemon`)."""

    @property
    def call(self) -> Call | None:
        """The call in progress, or the last one (None before the first)."""
        ...

    @property
    def events(self) -> EventBus:
        """The kiosk's events (`bridge.events`), for `events` subscribers."""
        ...

    def request_call(self, cause: str = "ctl") -> str | None:
        """Place a call now (standby mode): None when accepted, else why not (one line)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The `status` answer as JSON values: `profile`, `mode`, `state`, `wire`,
        `devices`, `call`, `playout`, `transcript` (the current call's last final lines),
        `lastCall` (the last summary line). Never a URL or a key."""
        ...


Handler = Callable[[Host, Request], Awaitable[Answer]]
HANDLERS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    """Register a handler for requests with `cmd` NAME."""
    def register(handler: Handler) -> Handler:
        HANDLERS[name] = handler
        return handler

    return register


async def _vapi(host: Host, command: dict[str, Any], what: str) -> Answer:
    call = ensure_live(host.call)
    via = await send_noted(call, command)
    message = f"call {call.short_id}: {what} ({via}){stall_note(call)}"  # (a dead link)
    return {"message": message, "call": call.short_id, "via": via, "sent": command}


def vapi(name: str) -> Callable[[Callable[[Request], tuple[dict[str, Any], str]]], Handler]:
    """Register a Vapi command: the decorated function reads the request into the
    command's wire form (`bridge.vapi.messages`) and says what it does."""
    def register(build: Callable[[Request], tuple[dict[str, Any], str]]) -> Handler:
        async def handler(host: Host, req: Request) -> Answer:
            return await _vapi(host, *build(req))

        return command(name)(handler)

    return register


@command("status")
async def do_status(host: Host, req: Request) -> Answer:
    answer = host.snapshot()
    answer.setdefault("message", "\n".join(status.lines(answer)))  # as every ok answer
    return answer


@vapi("say")
def do_say(req: Request) -> tuple[dict[str, Any], str]:
    cmd = messages.say(req.text(), end_after=req.flag("end_after", False),
                       interruptions=req.flag("interruptions", True),
                       interrupt_assistant=req.flag("interrupt_assistant", False))
    return cmd, "say sent" + (", the call ends after it" if cmd["endCallAfterSpoken"] else "")


ROLES = ("system", "user", "assistant")  # an add-message's


@vapi("add-message")
def do_add_message(req: Request) -> tuple[dict[str, Any], str]:
    role = req.choice("role", ROLES, "system")
    trigger = req.flag("trigger_response", True)
    return (messages.add_message(req.text(), role=role, trigger_response=trigger),
            f"{role} message added" + ("" if trigger else " (no response)"))


for _name in messages.CONTROLS:
    vapi(_name)(lambda req, name=_name: (messages.control(name), f"{name} sent"))

# the mute commands' kiosk events, published once the command succeeded: who is not heard
MUTES = {"mute-assistant": (events.MUTED, "assistant"),
         "unmute-assistant": (events.UNMUTED, "assistant"),
         "mute-customer": (events.MUTED, "visitor"), "unmute-customer": (events.UNMUTED, "visitor"),
         "mute-mic": (events.MUTED, "visitor"), "unmute-mic": (events.UNMUTED, "visitor")}


def _mic(muted: bool) -> Handler:
    async def handler(host: Host, req: Request) -> Answer:
        call = ensure_live(host.call)
        call.uplink.mute(muted)
        what = "muted: silence is sent instead" if muted else "unmuted"
        return {"message": f"call {call.short_id}: microphone {what}", "call": call.short_id}

    return handler


command("mute-mic")(_mic(True))
command("unmute-mic")(_mic(False))


@command("end")
async def do_end(host: Host, req: Request) -> Answer:
    call = host.call
    message = await hang_up(call)
    assert call is not None  # (hang_up refuses None)
    return {"message": message, "call": call.short_id, "endedReason": reason_of(call)}


@vapi("transfer")
def do_transfer(req: Request) -> tuple[dict[str, Any], str]:
    try:
        cmd = messages.transfer(req.text("destination"), req.opt_text("message"),
                                req.opt_text("extension"))
    except ValueError as exc:
        raise UsageError(f"transfer: {exc}") from None
    dest = cmd["destination"]
    kind, where = ("SIP URI", dest["sipUri"]) if dest["type"] == "sip" else \
        ("number", dest["number"] + (f" extension {dest['extension']}"
                                     if "extension" in dest else ""))
    return cmd, f"transfer to {kind} {where} requested"


@vapi("handoff")
def do_handoff(req: Request) -> tuple[dict[str, Any], str]:
    context = req.data.get("context", "all")
    assistant = req.text("assistant_id")
    try:
        command = messages.handoff(assistant, context if isinstance(context, str) else "?",
                                   req.opt_text("message"))
    except ValueError:
        raise UsageError(f"context must be {messages.HANDOFF_CONTEXT_HELP} (N > 0)") from None
    return command, f"handoff to assistant {assistant} requested"


class NotPlaced(Refused):
    """The call is over without having been placed; its cause, the `error` event, is
    published once it has closed (`CAUSE_WAIT_S`)."""


CAUSE_WAIT_S = 3.0


def _not_placed(event: events.KioskEvent) -> bool:
    return event.kind == events.ERROR  # a spending limit's refusal, or why it failed


def _why(event: events.KioskEvent) -> str:
    message = str(event.fields.get("message") or "")
    if event.fields.get("cause") == events.SPENDING_LIMIT:
        return message or "spending limit reached"
    return f"the call could not be placed: {message}" if message else \
        "the call could not be placed (see the daemon's log)"


@command("call")
async def do_call(host: Host, req: Request) -> Answer:
    before = host.call
    # the limit is looked at again as the call is about to be placed, once Vapi has said
    # what the calls not yet counted cost: a refusal then is this request's answer too
    with host.events.subscribe(4, replay_state=False, keep=_not_placed) as refusals:
        refused = host.request_call()
        if refused:
            raise Refused(refused)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CALL_WAIT_S
        failed = None  # when the call was seen over, not placed: its `error` event follows
        while loop.time() < deadline:  # once the call has closed (its summary made)
            if (late := refusals.get_nowait()) is not None:
                raise Refused(_why(late))
            call = host.call
            try:
                if call is not None and call is not before and (answer := _placed(call)):
                    return answer
            except NotPlaced:
                failed = failed or loop.time()
                if loop.time() - failed > CAUSE_WAIT_S:
                    raise
            await asyncio.sleep(0.05)
        # the wait is over: what is known now answers, not "still connecting" (a call that
        # failed in its last 3 s, its cause not out yet, was taken for one being placed)
        if (late := refusals.get_nowait()) is not None:
            raise Refused(_why(late))
        call = host.call
        if call is not None and call is not before and (answer := _placed(call)):
            return answer
    return {"message": "call requested (still connecting)", "call": None}


def _placed(call: Call) -> Answer | None:
    """`ctl call`'s answer once its call is up, over already or not placed; None while it
    is being set up."""
    if call.done and call.info is not None and call.clock.started:  # connected, and over
        # already (a goodbye sent whole, its end straight after)
        return {"message": f"call {call.short_id} started and has ended "
                           f"({call.ended_reason or 'ended'})", "call": call.short_id}
    if call.done and call.stop_setup.is_set():  # `end` while it was being placed
        raise Refused(f"the call was ended while it was being set up "
                      f"({call.ended_reason or 'not placed'})")
    if call.done:
        raise NotPlaced(f"the call could not be placed ({call.ended_reason or 'failed'}; "
                        f"see the daemon's log)")
    if call.state is CallState.IN_CALL:
        return {"message": f"call {call.short_id} started", "call": call.short_id}
    return None


@command("events")
async def do_events(host: Host, req: Request) -> Answer:
    """Only reached where the server does not stream (`bridge.control.stream` answers it)."""
    raise Refused("this control socket does not stream events")


async def listen_url(call: Call, attempts: int | None = 2) -> str:
    """The live call's listenUrl (a bearer secret: registered for redaction, never logged),
    from the create answer or else `GET /call/{id}`."""
    assert call.info is not None
    url = call.info.listen_url or (await call.api.get_call(call.info.id,
                                                           attempts=attempts)).listen_url
    if not url:
        raise Refused(f"Vapi gave no listenUrl for call {call.short_id} (is the assistant's "
                      f"monitorPlan.listenEnabled off?)")
    redact.register_url(url, "listen URL")
    return url


@command("monitor")
async def do_monitor(host: Host, req: Request) -> Answer:
    """For `listen`: the call's id and listenUrl, and this daemon's own recording of it."""
    call = ensure_live(host.call)
    assert call.info is not None
    url = await listen_url(call)
    wav = call.recorder.wav_path if call.recorder is not None else None
    return {"message": f"call {call.short_id}", "call": call.short_id, "callId": call.info.id,
            "listenUrl": url, "allowPlaintext": call.profile.api.allow_plaintext,
            "auth": call.profile.call.control_auth,
            "recording": str(wav.resolve()) if wav else None,
            "recordingRate": call.profile.wire.sample_rate,
            "sentSeconds": call.uplink.stats.sent_seconds}


async def handle(host: Host, request: Any) -> Answer:
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        return error('a request is a JSON object with a "cmd" string', "usage")
    handler = HANDLERS.get(request["cmd"])
    if handler is None:
        return error(f"unknown command {request['cmd']!r}; known: {', '.join(HANDLERS)}",
                     "usage")
    if (problem := unknown_field(request)) is not None:
        return error(problem, "usage")
    try:
        answer = {"ok": True, **await handler(host, Request(request))}
        if request["cmd"] in MUTES:
            kind, who = MUTES[request["cmd"]]
            host.events.publish(kind, who=who, via="mic" if request["cmd"].endswith("-mic")
                                else "vapi")
        return answer
    except BridgeError as exc:  # (no call: with how one starts)
        return error(no_call.worded(exc, host.snapshot), kind_of(exc))
    except Exception as exc:
        log.exception("control command %s failed", request["cmd"])
        return error(f"internal error: {exc!r}", "internal")
