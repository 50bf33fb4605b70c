"""The pieces of running one call: the API client, the audio backends, the transcript
lines, and `place_call`, which runs a call until it ends or a stop is asked for and always
returns its summary. The daemon (`bridge/daemon.py`) composes them into modes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from bridge import statusline
from bridge.audio.backends import open_sink, open_source
from bridge.audio.base import AudioSink, AudioSource
from bridge.call import Call
from bridge.inert import inert
from bridge.logsetup import under_journal
from bridge.profile import Profile, api_key
from bridge.record import Recorder
from bridge.summary import CallSummary
from bridge.vapi import messages
from bridge.vapi.api import RetryPolicy, VapiApi

log = logging.getLogger("bridge.run")

EventHook = Callable[[messages.Event], None]
ROLE_NAMES = {"assistant": "assistant", "user": "visitor"}


def transcript_mode(mode: str) -> str:
    """`auto`: final lines in a terminal; none when stdout or stderr is the journal (under
    systemd what visitors say must not land in the system log; `record.path` keeps it,
    in a file of its own)."""
    if mode != "auto":
        return mode
    return "off" if under_journal(1) or under_journal() else "finals"


def transcript_printer(mode: str) -> EventHook:
    """Prints transcript lines to stdout, one line each: the text is inert (already so from
    the parser; again here, as this is where it meets the terminal or the journal), and a
    role we do not know is shown in brackets, so no server text starts a line."""
    mode = transcript_mode(mode)

    def show(event: messages.Event) -> None:
        if mode == "off" or not isinstance(event, messages.Transcript) or not event.text:
            return
        if event.final or mode == "all":
            who = ROLE_NAMES.get(event.role) or f"[{inert(event.role or '?', 20)}]"
            mark = "" if event.final else " …"
            print(f"{statusline.clear_prefix(sys.stdout)}{who}: {inert(event.text)}{mark}",
                  flush=True)

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


def start_audio(profile: Profile, audio: tuple[AudioSource, AudioSink] | None = None
                ) -> tuple[AudioSource, AudioSink]:
    """Open the profile's backends (or take `audio`) and start both; if either fails to
    start, both are closed before the error goes on."""
    source, sink = audio or open_audio(profile)
    try:
        source.start()
        sink.start()
    except BaseException:
        close_audio(source, sink)
        raise
    return source, sink


def close_audio(*parts: AudioSource | AudioSink | None) -> None:
    for part in parts:
        if part is not None:
            with contextlib.suppress(Exception):
                part.close()


def record_template(p: Profile) -> str | None:
    """`record.path`, a relative stem anchored to the profile's directory like every other
    relative path in a profile — unless systemd's $STATE_DIRECTORY takes it (record.py)."""
    if not p.record.path:
        return None
    stem = Path(p.record.path).expanduser()
    if not stem.is_absolute() and not os.environ.get("STATE_DIRECTORY"):
        stem = p.directory / stem
    return str(stem)


def make_recorder(p: Profile) -> Recorder | None:
    template = record_template(p)
    return Recorder(template, p.name, p.wire.sample_rate) if template else None
