"""A call's parts built from a profile: the API client, the audio backends and the
recorder. The one place (with `backends`) where the call layer reads a `Profile`; the
daemon (`bridge/service/daemon.py`, each call in `one_call.py`) composes them into modes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from bridge.audio import device_stream
from bridge.audio.base import AudioSink, AudioSource
from bridge.call.backends import open_sink, open_source
from bridge.call.recording import Recorder
from bridge.errors import (
    ApiRequestError,
    AudioDeviceError,
    AuthError,
    BodyRefused,
    InTheWay,
    NetworkError,
    ProfileError,
)
from bridge.profile import Profile, api_key
from bridge.profile.key_origin import key_fix
from bridge.profile.refusals import in_profile_keys
from bridge.retry import RetryPolicy
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo

log = logging.getLogger("bridge.run")
LEARN_TIMEOUT_S = 10.0

def make_api(profile: Profile) -> VapiApi:
    a = profile.api
    return VapiApi(a.base_url, api_key(profile), timeout=a.timeout_seconds,
                   retry=RetryPolicy(attempts=a.retry_attempts,
                                     max_delay=a.retry_max_delay_seconds),
                   allow_plaintext=a.allow_plaintext, create_within=a.create_within_seconds,
                   key_fix=key_fix(profile))


def calling_api(profile: Profile) -> VapiApi:
    """The API client of a daemon or a call: a profile whose assistant.id is still the
    example's placeholder is refused first (exit 2), before Vapi is asked."""
    profile.refuse_placeholder()
    return make_api(profile)


async def create_call(api: VapiApi, profile: Profile, fault: str | None = None) -> CallInfo:
    """POST /call with the profile's body; Vapi's 400 to it said in the profile's keys (the
    ones the user wrote), not the body's, for the daemon and a script alike."""
    try:
        return await api.create_call(profile.create_body(), fault=fault)
    except BodyRefused as exc:
        raise in_profile_keys(profile, exc) from None


async def learn_assistant(api: VapiApi, profile: Profile) -> AuthError | None:
    """For a dashboard assistant (`assistant.id`): its clientMessages, kept by `api` for the
    barge-in rule of the calls that name it (`BargeIn`); without one, outside `once` mode,
    the key alone is tried (`check_key`). In the background, once per API client. Returns
    Vapi's refusal of the key or of this client (401, 403: a kiosk that would refuse every
    visitor, `bridge.service.key_check`); any other failure leaves Vapi's default list
    assumed, as before — a network down at boot is no bad key."""
    once = profile.service.mode == "once"  # there the call's own refusal comes next
    if not profile.assistant.id and once:
        return None
    try:
        async with asyncio.timeout(LEARN_TIMEOUT_S):
            if profile.assistant.id:
                await api.get_assistant(str(profile.assistant.id))
            else:
                await api.check_key()
    except AuthError as exc:  # an answer from Vapi (or a proxy's 403), not the network
        return exc
    except (ApiRequestError, ProfileError) as exc:  # said now, not at a visitor's first
        # call (ProfileError: a proxy that wants a login)
        what = f"assistant.id {str(profile.assistant.id)[:64]}" if profile.assistant.id \
            else "the key check"
        log.log(logging.DEBUG if once else logging.WARNING,
                "%s: %s: %s; calls will be refused until it is fixed (vapi-bridge check "
                "names the fix)", profile.origin, what, exc)
    except InTheWay as exc:  # a captive portal at boot: no profile error, but worth a line
        log.warning("%s; the first call tries Vapi again", exc)
    except (NetworkError, TimeoutError) as exc:  # the network down at boot: no bad key, but
        # an operator looking finds "waiting for trigger" and no hint until a visitor tries
        if api.closed:  # the daemon stopping (its own line says why) cut the request: no
            return None  # network to blame (a second `run` of a profile warned of one)
        log.log(logging.DEBUG if once else logging.WARNING, "Vapi was not reached as the "
                "daemon started (the first call tries again): %s",
                str(exc) or f"no answer within {LEARN_TIMEOUT_S:.0f} s")
    except Exception as exc:  # the call goes on; `check` names a bad id
        log.debug("the key was not checked at start (%s): the first call tries it; Vapi's "
                  "default clientMessages are assumed", exc.__class__.__name__)
    return None


def open_audio(profile: Profile) -> tuple[AudioSource, AudioSink]:
    source = open_source(profile.audio, profile.wire.sample_rate)
    sink = open_sink(profile.audio, profile.wire.sample_rate)
    return source, sink


RESCAN_EVERY_S = 10.0
_missing = False  # the last open found a device missing: PortAudio looks again first,
_rescanned_at = -RESCAN_EVERY_S  # at most every RESCAN_EVERY_S (a wake word tries each second)


def start_audio(profile: Profile, audio: tuple[AudioSource, AudioSink] | None = None
                ) -> tuple[AudioSource, AudioSink]:
    """Open the profile's backends (or take `audio`) and start both; if either fails to
    start, both are closed before the error goes on. After an open that found a device
    missing (a daemon waiting for it), PortAudio lists the devices again first: nothing
    of ours is open then."""
    global _missing, _rescanned_at
    if _missing and audio is None and time.monotonic() - _rescanned_at >= RESCAN_EVERY_S:
        _rescanned_at = time.monotonic()  # (each restart costs ~16 ms, and on some ALSA
        device_stream.rescan()  # setups ~12 KB that PortAudio never gives back)
    try:
        source, sink = audio or open_audio(profile)
        try:
            source.start()
            sink.start()
        except BaseException:
            close_audio(source, sink)
            raise
    except AudioDeviceError:
        _missing = audio is None
        raise
    _missing = False
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


def make_recorder(p: Profile, stop: Callable[[], bool] | None = None) -> Recorder | None:
    """The profile's recorder, if it records; once `stop()` is true (the daemon stopping, a
    new call asked for) it fades out a goodbye it would otherwise wait to record."""
    template = record_template(p)
    return Recorder(template, p.name, p.wire.sample_rate, stop=stop) if template else None
