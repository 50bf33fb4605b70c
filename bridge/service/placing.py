"""`place_call`: run one call until it ends or a stop is asked for, feeding its events to
the hooks and its progress to the watchers; always returns its summary. And whether a
device missing as a call is placed leaves the daemon up (`waits_for_devices`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bridge.call.abandon import abandon
from bridge.call.lifecycle import Call
from bridge.call.state import CallState
from bridge.call.summary import CallSummary
from bridge.errors import AudioDeviceError, AudioFileError
from bridge.profile import Profile
from bridge.vapi import messages

log = logging.getLogger("bridge.run")

EventHook = Callable[[messages.Event], None]
CallWatcher = Callable[[Call], Awaitable[None]]


async def place_call(call: Call, stop: asyncio.Event, hooks: list[EventHook],
                     watchers: list[CallWatcher] = (),  # type: ignore[assignment]
                     started: Callable[[Call], None] | None = None) -> CallSummary:
    """Run one call until it ends or `stop` is set; always returns its summary.
    `started` is told once the call is up (audio flowing both ways)."""
    stopper = asyncio.create_task(stop.wait())
    starter = asyncio.create_task(call.start())
    hung_up = asyncio.create_task(call.stop_setup.wait())  # `hangup`: while setting up
    try:
        await asyncio.wait({starter, stopper, hung_up}, return_when=asyncio.FIRST_COMPLETED)
        if not starter.done():
            starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starter
            if call.state is CallState.CONNECTING and call.info is not None:  # stopped
                call.state = CallState.ENDING  # before its socket connected: `abandon`
                call.ended_reason = await abandon(call.commands, call.profile.call,
                                                  call.short_id)
        else:
            starter.result()
            if started is not None:
                started(call)
            watcher = asyncio.create_task(_dispatch(call, hooks))
            shown = [asyncio.create_task(watch(call)) for watch in watchers]
            await asyncio.wait({watcher, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in shown:
                task.cancel()
    finally:
        stopper.cancel()
        hung_up.cancel()
        await call.close()
    assert call.summary is not None
    return call.summary


async def _dispatch(call: Call, hooks: list[EventHook]) -> None:
    async for event in call.events():
        for hook in hooks:
            try:
                hook(event)
            except Exception:
                log.exception("an event hook failed")


def waits_for_devices(profile: Profile, exc: AudioDeviceError) -> bool:
    """Whether a device missing (a USB one unplugged a while) leaves the daemon up, looking
    for it again at the next call: in `standby` and `loop`, where exit 4 again and again
    ran into the unit's StartLimitBurst and left the kiosk down for good (a wake word
    looks for the microphone each second meanwhile: `standby.py`). Not in `once` mode, nor
    for a `file:` (a profile problem, exit 2)."""
    return profile.service.mode != "once" and not isinstance(exc, AudioFileError)
