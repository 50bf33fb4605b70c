"""`vapi-bridge run`: open the devices, place one call, show it, end it cleanly.

The first SIGINT/SIGTERM asks the call to end (`end-call`, a short wait, close) and the
process exits 0; a second one exits at once with the conventional signal code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable

from bridge import statusline
from bridge.audio.backends import open_sink, open_source
from bridge.audio.base import AudioSink, AudioSource
from bridge.call import Call, CallSummary
from bridge.errors import ExitCode
from bridge.profile import Profile, api_key
from bridge.record import Recorder
from bridge.vapi import messages
from bridge.vapi.api import RetryPolicy, VapiApi

log = logging.getLogger("bridge.run")

EventHook = Callable[[messages.Event], None]
ROLE_NAMES = {"assistant": "assistant", "user": "visitor"}


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def handler(signum: int) -> None:
        if stop.is_set():
            os._exit(ExitCode.SIGINT if signum == signal.SIGINT else ExitCode.SIGTERM)
        log.info("%s: ending the call", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, handler, signum)


def transcript_printer(mode: str) -> EventHook:
    def show(event: messages.Event) -> None:
        if mode == "off" or not isinstance(event, messages.Transcript):
            return
        if event.final or mode == "all":
            who = ROLE_NAMES.get(event.role, event.role or "?")
            mark = "" if event.final else " …"
            print(f"{statusline.clear_prefix(sys.stdout)}{who}: {event.text}{mark}", flush=True)

    return show


def make_api(profile: Profile) -> VapiApi:
    a = profile.api
    return VapiApi(a.base_url, api_key(profile), timeout=a.timeout_seconds,
                   retry=RetryPolicy(attempts=a.retry_attempts,
                                     max_delay=a.retry_max_delay_seconds),
                   allow_plaintext=a.allow_plaintext)


async def place_call(call: Call, stop: asyncio.Event, hooks: list[EventHook]) -> CallSummary:
    """Run one call until it ends or `stop` is set; always returns its summary."""
    stopper = asyncio.create_task(stop.wait())
    starter = asyncio.create_task(call.start())
    try:
        await asyncio.wait({starter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not starter.done():
            starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starter
        else:
            starter.result()
            watcher = asyncio.create_task(_dispatch(call, hooks))
            status = asyncio.create_task(statusline.show(call)) if statusline.wanted() else None
            await asyncio.wait({watcher, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if status is not None:
                status.cancel()
    finally:
        stopper.cancel()
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


def open_audio(profile: Profile) -> tuple[AudioSource, AudioSink]:
    source = open_source(profile.audio, profile.wire.sample_rate)
    sink = open_sink(profile.audio, profile.wire.sample_rate)
    return source, sink


async def run_once(profile: Profile, *, hooks: list[EventHook] | None = None,
                   stop: asyncio.Event | None = None, fault: str | None = None,
                   audio: tuple[AudioSource, AudioSink] | None = None) -> int:
    stop = stop or asyncio.Event()
    install_stop_signals(stop)
    api = make_api(profile)
    source, sink = audio or open_audio(profile)
    try:
        source.start()
        sink.start()
        recorder = (Recorder(profile.record.path, profile.name, profile.wire.sample_rate)
                    if profile.record.path else None)
        call = Call(profile, api, source, sink, recorder=recorder, fault=fault)
        all_hooks = [transcript_printer(profile.transcript.print), *(hooks or [])]
        summary = await place_call(call, stop, all_hooks)
    finally:
        with contextlib.suppress(Exception):
            source.close()
        sink.close()
        await api.aclose()
    print(summary.line(), file=sys.stdout, flush=True)
    log.debug("uplink: %s; playout: %s", summary.uplink, summary.playout)
    return ExitCode.NETWORK if summary.connection_lost else ExitCode.OK
