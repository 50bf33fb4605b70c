"""Calls Vapi would hold on its own, ended through their controlUrl now.

A call stopped while its socket was still connecting (Ctrl-C, SIGTERM: `place_call`):
Vapi holds such a call, queued, until its own timeout ends it as
`call.in-progress.error-vapifault-transport-never-connected` some 20 s later, and the
summary says what happened rather than "ended". A socket that fails to connect is not
stopped: its error says what happened.

A call whose socket was lost (closed without a close frame or Vapi's last words) while
Vapi, asked, says it is in progress: Vapi has not noticed, and would bill it until it did
or the call's `maxDurationSeconds` ran out (Vapi no longer has a silence timeout). It
stays a lost call. A call Vapi says is being forwarded (a transfer) is left to it.

A call whose link the watchdog found dead or silent (`watchdog.py`; the socket closed from
here) is asked about and ended the same way, after its summary, so that the offline line
does not wait for it: the network is most likely down, and then the look fails, said
once. Vapi does not notice a link that died without a close either.

A call an earlier daemon on this profile was in when it stopped without ending it (a power
cut: no FIN reaches Vapi) is found, asked about and ended by the next daemon's spending
settler (`bridge.service.cut_off`), with `end_left`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from bridge.call.state import ASKED_AGAIN, DAEMON_FOLLOW_UP, VapiStatus
from bridge.call.summary import CONNECTION_LOST, OUTCOME_TIMEOUT_S, STOPPED_CONNECTING
from bridge.errors import BridgeError
from bridge.inert import inert
from bridge.profile import Profile
from bridge.profile.sections import CallSettings
from bridge.vapi import messages
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo
from bridge.vapi.commands import CallCommands, ControlRefused

log = logging.getLogger("bridge.call")

# a 4xx to an end-call: the call may be over at Vapi (its answer for a call it no longer runs
# is 400) while its own look still says in progress (after an `ended` said late): Vapi is
# asked again, every `LOOK_EVERY_S`, for `LOOK_AGAIN_S` at most
OVER = (400, 404, 409, 410)
LOOK_AGAIN_S = 3.0
LOOK_EVERY_S = 0.5


async def _end(commands: CallCommands, settings: CallSettings, label: str, done: str,
               failed: str, level: int = logging.WARNING, look_again: bool = True) -> bool:
    """`end-call` through the controlUrl, within `end_timeout_seconds`; `done` said once
    it is accepted, else `failed` (with why, at `level`). Whether it was accepted, or (a
    call that was in progress: `look_again`) refused as over and said ended when Vapi is
    asked again."""
    try:
        async with asyncio.timeout(settings.end_timeout_seconds):
            await commands.post_control(messages.end_call())  # (`hangup`: the socket's alone)
    except ControlRefused as exc:
        if look_again and exc.status in OVER and await ended_after_all(commands):
            log.info("call %s: Vapi had ended it already: its controlUrl answered %d to the "
                     "end-call, and Vapi, asked again, says it ended", label, exc.status)
            return True
        log.log(level, "call %s: %s", label, failed.format(why=exc))
        return False
    except (BridgeError, TimeoutError) as exc:
        why = str(exc) or f"no answer within {settings.end_timeout_seconds:g} s"
        log.log(level, "call %s: %s", label, failed.format(why=why))
        return False
    log.info("call %s: %s", label, done)
    return True


async def ended_after_all(commands: CallCommands) -> bool:
    """Whether Vapi, asked again (`GET /call/{id}`), says the call ended: after a refused
    end-call, which alone does not say so (400 is also Vapi's answer to a bad command)."""
    info = commands.info
    if info is None:
        return False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LOOK_AGAIN_S):
            while True:
                await asyncio.sleep(LOOK_EVERY_S)
                with contextlib.suppress(BridgeError):  # (one look failed: the next one)
                    if (await commands.api.get_call(info.id, attempts=1)).raw.get(
                            "status") == "ended":
                        return True
    return False


async def abandon(commands: CallCommands, settings: CallSettings, label: str) -> str:
    """Ask Vapi to end a call stopped while connecting; the call's ended reason."""
    await _end(commands, settings, label,
               "stopped before its socket connected: ended through its controlUrl",
               "stopped before its socket connected, and could not be ended through its "
               "controlUrl ({why}): Vapi ends it on its own, about 20 s after it was created",
               look_again=False)  # (a 400 there: not connected yet, as often as over)
    return STOPPED_CONNECTING


LEFT = "left in progress when the daemon last stopped"


async def end_lost(commands: CallCommands, settings: CallSettings, label: str,
                   follow_up: str = DAEMON_FOLLOW_UP) -> bool:
    """Ask Vapi to end a call whose socket was lost while Vapi says it goes on; `follow_up`
    what becomes of it if it cannot be (`VapiStatus.follow_up`)."""
    return await _end(commands, settings, label,
                      "ended through its controlUrl, so that Vapi stops billing it",
                      "could not be ended through its controlUrl either ({why}): " + follow_up)


LOST = "lost with its link and still in progress now that Vapi answers"
# one whose end Vapi did not confirm on a link that carried on (Vapi slow to say it ended:
# said "lost with its link", which it was not)
UNCONFIRMED = "ended here with no word from Vapi that it ended, and still in progress when asked"


async def end_left(commands: CallCommands, settings: CallSettings, label: str,
                   again: bool = False, why: str = LEFT) -> bool:
    """Ask Vapi to end a call nobody is on, which Vapi says goes on: one an earlier daemon
    on this profile was in when it stopped without ending it (a power cut, a frozen
    kiosk), or (`LOST`) one this daemon lost with a link too dead to end it then, or
    (`UNCONFIRMED`) one whose end Vapi did not confirm and then said went on; whether
    it was accepted (a failure said at warning level the first time, not `again`)."""
    return await _end(commands, settings, label,
                      f"{why}: ended through its controlUrl, so that Vapi stops billing it",
                      f"{why}, could not be ended through its controlUrl ({{why}}): asked "
                      f"again {ASKED_AGAIN}",
                      logging.DEBUG if again else logging.WARNING)


class Lost(Protocol):
    """What `end_if_lost` takes of a call (`bridge.call.lifecycle.Call`)."""

    api: VapiApi
    commands: CallCommands
    profile: Profile
    info: CallInfo | None
    short_id: str
    vapi: VapiStatus
    ended_reason: str | None


async def end_if_lost(call: Lost, unsettled: Callable[[str, bool], None]) -> None:
    """A call the watchdog found lost, its summary given (the daemon runs this in the
    background): asked of Vapi (`GET /call/{id}`), and ended through its controlUrl while
    Vapi says it is in progress. The call's secrets, learnt again by the look, are let go
    after it. A call Vapi could not be asked about, or not told to end (the network is
    down: it goes on billing once the link is back, if Vapi never saw it go, as when the
    kiosk's address changed), is handed to `unsettled` (the spending settler, which asks
    every 30 s and ends it then), with whether the call was lost with its link (not: an
    end Vapi did not confirm, the summary's look then saying it went on). Any other
    call: nothing."""
    info, label = call.info, call.short_id
    if info is None or not (call.vapi.watch_lost or call.vapi.left_open):
        return
    if call.vapi.left_open:  # asked, and told to end, by the summary already (1006)
        unsettled(info.id, call.ended_reason == CONNECTION_LOST)
        return
    settled = False
    try:
        try:
            async with asyncio.timeout(OUTCOME_TIMEOUT_S):
                status = (await call.api.get_call(info.id, attempts=1)).raw.get("status")
        except Exception as exc:
            log.warning("call %s: Vapi could not be asked whether the lost call goes on (%s): "
                        "asked again %s, and ended if it does", label,
                        str(exc) or exc.__class__.__name__, ASKED_AGAIN)
            return
        settled = status != "in-progress"  # not "forwarding": a transfer goes on
        if not settled:
            log.warning("call %s: Vapi says the lost call is still %s", label,
                        inert(str(status), 40))
            settled = await end_lost(call.commands, call.profile.call, label)
    finally:
        info.release_secrets()
        if not settled:
            unsettled(info.id, True)
