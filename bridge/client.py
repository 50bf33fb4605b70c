"""A small Python API for scripts: place a call with a profile, steer it, listen to it.

```python
import asyncio
from bridge.client import AudioChunk, Transcript, listen, open_call

async def main() -> None:
    async with open_call("frontdesk") as call:          # devices from the profile
        await call.say("Hello! How can I help?")
        async for event in call.events():               # until the call is over
            if isinstance(event, Transcript) and event.final:
                print(f"{event.role}: {event.text}")

asyncio.run(main())
```

Any command `bridge.vapi.messages` builds goes through `call.send(command)`; the methods
below are shorthands for the common ones.

`open_call` is the daemon's own path (the same `bridge.call.lifecycle.Call`, API client and audio
backends), so a script behaves exactly like `vapi-bridge run`: real-time uplink with
silence, barge-in, clean end (`end-call`) when the block is left, the summary in
`call.summary`. Commands go over the call socket or the controlUrl as the profile says
(`call.commands_via`; `handoff` always by controlUrl), as with `vapi-bridge ctl`.

`listen(url)` (from `bridge.vapi.listen`) yields `AudioChunk`s (`.samples` is (frames,
channels) int16) and `ListenEvent`s (JSON text frames); `call.listen()` does it for the
call at hand.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bridge.audio.base import AudioSink, AudioSource
from bridge.call.lifecycle import Call, ensure_live
from bridge.call.state import SCRIPT_FOLLOW_UP
from bridge.call.summary import CallSummary
from bridge.call.tail import play_out
from bridge.call.wiring import calling_api, close_audio, make_recorder, start_audio
from bridge.control.commands import ROLES, listen_url
from bridge.errors import (
    ApiRequestError,
    AudioDeviceError,
    AuthError,
    BridgeError,
    NetworkError,
    ProfileError,
    Refused,
    Unsure,
)
from bridge.profile import Profile, load_profile, public_key
from bridge.vapi import messages
from bridge.vapi.listen import AudioChunk, ListenEvent, listen
from bridge.vapi.messages import (
    AssistantSpeechStarted,
    Event,
    Hang,
    SpeechUpdate,
    StatusUpdate,
    ToolCalls,
    Transcript,
    TransferUpdate,
    UnknownEvent,
    UserInterrupted,
)

__all__ = ["ApiRequestError", "AssistantSpeechStarted", "AudioChunk", "AudioDeviceError",
           "AuthError", "BridgeError", "CallHandle", "Event", "Hang", "ListenEvent",
           "NetworkError", "Profile", "ProfileError", "Refused", "SpeechUpdate", "StatusUpdate",
           "ToolCalls", "Transcript", "TransferUpdate", "UnknownEvent", "Unsure",
           "UserInterrupted", "listen", "open_call"]


def _words(text: str, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what}: the text is empty — give the words to send")
    return text


class CallHandle:
    """A live call placed by `open_call`. `.call` is the underlying `bridge.call.lifecycle.Call`."""

    def __init__(self, call: Call) -> None:
        self.call = call

    @property
    def id(self) -> str:
        return self.call.info.id if self.call.info else ""

    @property
    def status(self) -> str:
        return self.call.status

    @property
    def done(self) -> bool:
        return self.call.done

    @property
    def summary(self) -> CallSummary | None:
        """Set once the call is closed (after the `async with` block)."""
        return self.call.summary

    def events(self) -> AsyncIterator[Event]:
        """Every server event until the call is over (read it from one task only)."""
        return self.call.events()

    async def send(self, command: dict[str, Any]) -> str:
        """Any client command (see `bridge.vapi.messages`); returns "socket" or
        "control-url". Raises `Refused` when the call is over or Vapi says 4xx, `Unsure`
        (a `NetworkError`) when the controlUrl's answer did not come in time."""
        return await self.call.commands.send(command)

    async def say(self, text: str, *, end_after: bool = False, interruptions: bool = True,
                  interrupt_assistant: bool = False) -> str:
        """ValueError for an empty text, as `ctl say` refuses it."""
        return await self.send(messages.say(_words(text, "say"), end_after, interruptions,
                                            interrupt_assistant))

    async def add_message(self, text: str, role: str = "system",
                          trigger_response: bool = True) -> str:
        """ValueError for an empty text or another role than `ROLES`, as `ctl add-message`
        refuses them."""
        if role not in ROLES:
            raise ValueError(f"add_message: role {role!r} is not one of {', '.join(ROLES)}")
        return await self.send(messages.add_message(_words(text, "add_message"), role,
                                                    trigger_response))

    async def control(self, name: str) -> str:
        """mute-assistant, unmute-assistant, mute-customer, unmute-customer,
        say-first-message."""
        return await self.send(messages.control(name))

    def mute_mic(self, muted: bool = True) -> None:
        """Local: send silence instead of the microphone (the 20 ms cadence goes on)."""
        ensure_live(self.call).uplink.mute(muted)

    async def transfer(self, destination: str, message: str | None = None,
                       extension: str | None = None) -> str:
        return await self.send(messages.transfer(destination, message, extension))

    async def handoff(self, assistant_id: str, context: str = "all",
                      message: str | None = None) -> str:
        return await self.send(messages.handoff(assistant_id, context, message))

    async def end(self) -> None:
        """End the call now (`end-call`, a short wait for Vapi, close)."""
        await self.call.end()

    async def listen_url(self) -> str:
        """The call's listenUrl (a bearer secret: do not log it)."""
        return await listen_url(ensure_live(self.call), attempts=None)

    async def listen(self, *, auth: bool | None = None, channels: int | None = None,
                     rate: int | None = None) -> AsyncIterator[AudioChunk | ListenEvent]:
        """This call's listen stream; `auth` (default: `call.control_auth`) sends the
        public key."""
        p = self.call.profile
        use_key = p.call.control_auth if auth is None else auth
        async for item in listen(await self.listen_url(),
                                 public_key=public_key(p) if use_key else None,
                                 channels=channels, rate=rate,
                                 allow_plaintext=p.api.allow_plaintext):
            yield item


def _profile(profile: str | Profile, overrides: str | list[str] | None) -> Profile:
    """The profile to call with; `overrides` (one `"SECTION.KEY=VALUE"` or a list) apply
    when it is loaded here. An error names the override, not a `--set` never typed."""
    if isinstance(profile, Profile):
        if overrides:
            raise ProfileError("overrides apply to a profile loaded by name or path: pass "
                               "its name, or change the Profile (dataclasses.replace)")
        return profile
    try:
        return load_profile(profile, [overrides] if isinstance(overrides, str) else overrides)
    except ProfileError as exc:
        raise ProfileError(str(exc).replace("--set ", "override ")) from None


@contextlib.asynccontextmanager
async def open_call(profile: str | Profile, *, overrides: str | list[str] | None = None,
                    audio: tuple[AudioSource, AudioSink] | None = None,
                    record: bool = True) -> AsyncIterator[CallHandle]:
    """Place a call with a profile (a NAME, a PATH or a loaded `Profile`; `overrides` like
    `["audio.input=null"]`), yield it live, end it cleanly on leaving. `audio` replaces
    the profile's devices with your own source and sink (started and closed here);
    `record=False` skips the profile's `record.path`. What a call Vapi ended left queued
    (a goodbye sent ahead of time) plays out before the speaker closes; leaving a live
    call ends it, and its assistant stops at once."""
    p = _profile(profile, overrides)
    api = calling_api(p)
    source: AudioSource | None = None
    sink: AudioSink | None = None
    try:
        source, sink = start_audio(p, audio)
        call = Call(p, api, source, sink, recorder=make_recorder(p) if record else None)
        call.vapi.follow_up = SCRIPT_FOLLOW_UP  # no daemon's settler asks again after it
        try:
            await call.start()  # Vapi's 400 said in the profile's keys (`create_call`)
            yield CallHandle(call)
        finally:
            await call.close()
        await play_out(sink)  # a goodbye Vapi sent ahead of time is heard whole
    finally:
        close_audio(source, sink)
        await api.aclose()
