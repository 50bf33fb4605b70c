"""The kiosk's profile sections, declared as `bridge/profile/sections.py` declares the
call's: `trigger` (the wake word), `http` (the kiosk screen and metrics), `sounds` (what
the kiosk itself plays)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bridge.audio import wakeword
from bridge.errors import ProfileError
from bridge.extras import missing_extra
from bridge.profile.fields import Invalid, Num, Str, key, suggest
from bridge.profile.listen import Listen, split_listen
from bridge.profile.sounds import Sound
from bridge.vapi.plaintext import is_loopback_host


@dataclass(frozen=True)
class WakeWordModel(Str):
    """A bundled microWakeWord model's name or a path to a model's JSON; the library must
    import (the [wake] extra), so a kiosk without it fails at start, not at the wake word."""

    def check(self, value: Any) -> str:
        text = super().check(value)
        if text not in wakeword.BUNDLED and not text.endswith(".json"):
            hint = suggest(text, wakeword.BUNDLED)
            raise Invalid(f"{text!r} is neither a bundled model ({', '.join(wakeword.BUNDLED)})"
                          f" nor a path to a model's .json"
                          + (f" (did you mean '{hint}'?)" if hint else ""))
        missing = wakeword.unavailable()
        if missing:
            raise Invalid(missing_extra("wake", "a wake word", missing))
        return text


@dataclass(frozen=True)
class TriggerSettings:
    HELP: ClassVar[str] = "standby mode: what else places a call besides ctl call and SIGUSR1"
    wake_word: str | None = key(
        WakeWordModel(),
        "off when null. Standby mode places a call when the visitor says it (heard on the "
        "open microphone, only while waiting and the speaker is silent: nothing of the "
        "microphone leaves the kiosk before it). okay_nabu, hey_jarvis, alexa, "
        "hey_mycroft (microWakeWord's bundled models), or a model's .json (relative to "
        "this file's directory); needs the extra wake (without it, the error names "
        "the pip command for this copy)", example="okay_nabu", commented=True)
    threshold: float | None = key(
        Num(lo=0.01, hi=0.999),
        "the probability above which the wake word counts; default the model's own "
        "(okay_nabu 0.85, hey_jarvis 0.97, alexa 0.9, hey_mycroft 0.95): lower hears more "
        "and mistakes more", example=0.85, commented=True)
    refractory_seconds: float = key(
        Num(default=wakeword.DEFAULT_REFRACTORY_S, lo=0, hi=600),
        "after a wake word, ignore the next one for this long (within one wait: a word "
        "said as soon as a call or the offline line ends is heard)")


@dataclass(frozen=True)
class HttpSettings:
    HELP: ClassVar[str] = ("the kiosk screen (/), /events and /metrics (README: Kiosk screen "
                           "and metrics); needs the [http] extra (aiohttp, prometheus-client)")
    listen: str | None = key(
        Listen(), "off when null. HOST:PORT to serve on: 127.0.0.1:8080 for the kiosk's own "
                  "browser; any other address (0.0.0.0:8080) needs token_env. Read at start "
                  "(a reload does not move it). A port another process holds, or an address "
                  "not yet up at boot, leaves the kiosk taking calls without its screen, "
                  "trying again every 5 s (warning)", example="127.0.0.1:8080", commented=True)
    token_env: str | None = key(
        Str(), "env var holding the access token (16+ characters; required off loopback, "
               "checked whenever set): send it as Authorization: Bearer TOKEN, or open "
               "/?token=TOKEN once (it becomes a cookie)",
        example="VAPI_BRIDGE_HTTP_TOKEN", commented=True)

    def __post_init__(self) -> None:
        if self.listen and not self.token_env and \
                not is_loopback_host(split_listen(self.listen)[0]):
            raise ProfileError(
                f"http.token_env: required when http.listen is not a loopback address "
                f"({self.listen}) — set http.token_env to the name of an environment variable "
                f"holding a long random token (openssl rand -hex 32), or listen on "
                f"127.0.0.1")
@dataclass(frozen=True)
class SoundSettings:
    HELP: ClassVar[str] = ("what the kiosk itself plays to the visitor, on a speaker only (a "
                           "file: or null output plays none); each: default (the bundled "
                           "sound), a 16-bit PCM WAV file (relative to this file's "
                           "directory), or null (none)")
    triggered: str | None = key(Sound(default="default"), "a short chime when a call is "
                                "triggered")
    connecting: str | None = key(
        Sound(default="default"),
        "a soft tone, repeated while the call is created and connected (after the chime); "
        "it fades out the moment the call is up, before the greeting")
    hang: str | None = key(
        Sound(), "when Vapi says the assistant stalled (hang). Off by default: it plays into "
                 "a live call, where what the echo control lets through reaches Vapi as the "
                 "visitor talking; default is a very soft double tap", example="default",
        commented=True)
    offline: str | None = key(
        Sound(default="default"),
        "played when a call cannot be placed (network down, API unreachable, retries "
        "exhausted, 402/403) or drops mid-call; default says \"Sorry, I can't connect right "
        "now. Please ask at the front desk.\" (pre-rendered: no network or TTS needed)")
    volume_db: float = key(Num(default=0.0, lo=-40, hi=20),
                           "the sounds' level, on top of audio.output_gain_db")
