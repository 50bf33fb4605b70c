"""One call of the daemon: its devices opened, the call placed, what the kiosk and the front
end see of it as it goes, and its end said (the `ended` event, the summary line, the
goodbye played out). A network failure ends it with code 5, a device missing with 4 (fatal
only in `once` mode)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from functools import partial
from typing import Protocol

from bridge import events
from bridge.audio.base import AudioSink, AudioSource
from bridge.call import wiring
from bridge.call.abandon import end_if_lost
from bridge.call.destination import DestinationError
from bridge.call.lifecycle import Call
from bridge.call.summary import CallSummary
from bridge.call.tail import play_out
from bridge.errors import AudioDeviceError, BridgeError, ExitCode, NetworkError
from bridge.events import EventBus
from bridge.profile import Profile
from bridge.service import kiosk_events
from bridge.service.jobs import Jobs
from bridge.service.placing import CallWatcher, EventHook, place_call, waits_for_devices
from bridge.service.progress import call_status
from bridge.service.spending import SpendingGuard
from bridge.vapi import messages
from bridge.vapi.api import VapiApi

log = logging.getLogger("bridge.daemon")


class CallView(Protocol):
    """What a front end shows of each call (the CLI's transcript lines and status line):
    given to the daemon, so the service layer knows nothing of terminals."""

    def hooks(self, profile: Profile) -> list[EventHook]: ...
    def watchers(self, call: Call) -> list[CallWatcher]: ...


class CallHost(Protocol):
    """What of the daemon a call uses (`bridge.service.daemon.Daemon`)."""

    profile: Profile
    api: VapiApi | None
    source: AudioSource | None
    sink: AudioSink | None
    fault: str | None
    hooks: list[EventHook]
    view: CallView | None
    call: Call | None
    transcript: deque[tuple[str, str]]  # `ctl status`: this call's final lines
    last_summary: CallSummary | None
    stopping: asyncio.Event
    events: EventBus
    spending: SpendingGuard
    jobs: Jobs

    def open_audio(self, *, at_start: bool = False) -> None: ...

    def close_audio(self) -> None: ...

    def set_state(self, state: str, *, again: bool = False) -> None: ...

    def cut_tail(self) -> bool: ...


async def call_once(host: CallHost) -> int:
    """One call; network failures end it with code 5, a device missing with 4 (fatal
    only in `once` mode)."""
    try:
        host.open_audio()
    except AudioDeviceError as exc:
        if not waits_for_devices(host.profile, exc):
            raise
        log.error("%s; no call placed: the devices are looked for again at the next "
                  "call", exc)
        kiosk_events.publish_error(host.events, exc)
        return exc.exit_code
    assert host.api is not None and host.source is not None and host.sink is not None
    p = host.profile
    if not host.source.is_device and not p.trigger.wake_word:  # not heard in standby:
        host.source.start()  # a `file:` visitor speaks from its start at each call
    call = Call(p, host.api, host.source, host.sink,
                recorder=wiring.make_recorder(p, host.cut_tail), fault=host.fault)
    host.call = call
    call.turns.publish = host.events.publish  # turn{heard_gap_ms, turn}
    host.transcript.clear()  # `ctl status` shows this call's lines, not the last one's
    host.set_state("calling")
    host.events.publish(events.CONNECTING)
    status = asyncio.create_task(call_status(call, host.set_state, host.events.publish))
    hooks: list[EventHook] = [*(host.view.hooks(p) if host.view else []),
                              partial(_remember, host.transcript), *host.hooks,
                              kiosk_events.publisher(host.events)]
    watchers = host.view.watchers(call) if host.view else []
    try:
        summary = await place_call(call, host.stopping, hooks, watchers,
                                   started=partial(_in_call, host))
    except BridgeError as exc:  # could not place it, or the record directory went away
        kiosk_events.publish_error(host.events, exc)  # with its cause
        if p.service.mode == "once" or not isinstance(exc, NetworkError | DestinationError):
            raise
        log.error("%s", exc)
        return exc.exit_code
    finally:
        status.cancel()
    if call.info is None:  # stopped while the call was being created
        log.info("stopped while the call was being created: a call Vapi made meanwhile "
                 "ends by itself once Vapi gives up waiting for its socket")
        host.events.publish(events.ENDED, reason="stopped", outcome="not placed", exit=0)
        return ExitCode.OK
    host.last_summary = summary
    host.events.publish(events.ENDED, reason=summary.ended_reason,
                        outcome=summary.outcome, seconds=round(summary.duration_s, 1),
                        cost=summary.cost, exit=int(summary.exit_code))
    host.set_state(f"call ended: {summary.ended_reason}")
    print(summary.line(), file=sys.stdout, flush=True)
    host.jobs.ending(end_if_lost(call, host.spending.settler.lost))  # (offline line first)
    log.debug("uplink: %s; playout: %s", summary.uplink, summary.playout)
    if summary.exit_code == ExitCode.AUDIO:
        host.close_audio()  # reopened (or reported missing) before the next call
    elif p.service.mode != "standby" and host.sink is not None:
        await play_out(host.sink, host.cut_tail)  # a goodbye sent whole, heard whole
    return summary.exit_code


def _in_call(host: CallHost, call: Call) -> None:
    host.spending.opened(call.info)  # counted, should the daemon die in the call
    host.events.publish(events.IN_CALL, call=call.short_id)


def _remember(transcript: deque[tuple[str, str]], event: messages.Event) -> None:
    if isinstance(event, messages.Transcript) and event.final and event.text:
        transcript.append((event.role, event.text))  # (a final with no text: none)
