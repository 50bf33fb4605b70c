"""A call stopped while its socket was still connecting (Ctrl-C, SIGTERM: `place_call`):
Vapi holds such a call, queued, until its own timeout ends it as
`call.in-progress.error-vapifault-transport-never-connected` some 20 s later. Its
controlUrl ends it now, and the summary says what happened rather than "ended". A socket
that fails to connect is not stopped: its error says what happened."""

from __future__ import annotations

import asyncio
import logging

from bridge.errors import BridgeError
from bridge.profile.sections import CallSettings
from bridge.vapi import messages
from bridge.vapi.commands import CallCommands

log = logging.getLogger("bridge.call")

STOPPED_CONNECTING = "stopped-while-connecting"


async def abandon(commands: CallCommands, settings: CallSettings, label: str) -> str:
    """Ask Vapi to end the call through its controlUrl (within `end_timeout_seconds`);
    the call's ended reason."""
    try:
        async with asyncio.timeout(settings.end_timeout_seconds):
            await commands.post_control(messages.end_call(settings.end_command))
    except (BridgeError, TimeoutError) as exc:
        why = str(exc) or f"no answer within {settings.end_timeout_seconds:g} s"
        log.warning("call %s: stopped before its socket connected, and could not be ended "
                    "through its controlUrl (%s): Vapi ends it on its own, about 20 s after "
                    "it was created", label, why)
    else:
        log.info("call %s: stopped before its socket connected: ended through its "
                 "controlUrl", label)
    return STOPPED_CONNECTING
